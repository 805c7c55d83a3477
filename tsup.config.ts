import { defineConfig, type Options } from 'tsup';

const library = { index: 'src/index.ts', pkcs11: 'src/pkcs11.ts' };
const common: Options = {
  shims: true,
  target: 'node20',
  external: ['ssh2', 'graphene-pk11', 'pkcs11js', 'node-ssh', 'ssh2-sftp-client'],
};

// No source maps in the package (they were most of its size). The command is
// ESM only (it shares the library's chunks); CommonJS is for the two entry points.
export default defineConfig([
  { ...common, entry: { ...library, 'cli/main': 'src/cli/main.ts' }, format: ['esm'], dts: { entry: library } },
  { ...common, entry: library, format: ['cjs'], dts: { entry: library } },
]);
