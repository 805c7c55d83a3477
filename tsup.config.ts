import { mkdirSync, writeFileSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

const library = { index: 'src/index.ts', pkcs11: 'src/pkcs11.ts' };
const common: Options = {
  shims: true,
  target: 'node20',
  external: ['ssh2', 'graphene-pk11', 'pkcs11js', 'node-ssh', 'ssh2-sftp-client'],
};

// No source maps in the package (they were most of its size). ESM and
// CommonJS for the two entry points. The command is one CommonJS file,
// dist/cli/main.js (CommonJS by dist/cli/package.json): Node loads it in
// about 25 ms less CPU than the same code as some 25 ESM chunks, and its
// dependencies stay lazy (a CommonJS bundle requires them where first
// used; an ESM bundle would import them all at the start).
export default defineConfig([
  { ...common, entry: library, format: ['esm'], dts: { entry: library } },
  { ...common, entry: library, format: ['cjs'], dts: { entry: library } },
  {
    ...common,
    entry: { 'cli/main': 'src/cli/main.ts' },
    format: ['cjs'],
    splitting: false,
    outExtension: () => ({ js: '.js' }),
    onSuccess: async () => {
      mkdirSync('dist/cli', { recursive: true });
      writeFileSync('dist/cli/package.json', '{ "type": "commonjs" }\n');
    },
  },
]);
