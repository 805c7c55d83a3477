import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Options } from 'tsup';

const library = { index: 'src/index.ts', pkcs11: 'src/pkcs11.ts' };
const common: Options = {
  shims: true,
  target: 'node20',
  external: ['ssh2', 'graphene-pk11', 'pkcs11js', 'node-ssh', 'ssh2-sftp-client'],
};

// The command is CommonJS (dist/cli/package.json says so): dist/cli/main.js
// (the usage text and the dispatch), dist/cli/connect.js (connect) and
// dist/cli/commands.js (every other subcommand), each required for the first
// subcommand run, and dist/cli/verify-host.js (below). Node loads that in
// about 20 ms less CPU than the same code as some 25 ESM chunks shared with
// the library, and the dependencies stay lazy: a CommonJS bundle requires each
// where it is first used, where an ESM bundle would import them all at the start.
const command: Options = {
  ...common,
  format: ['cjs'],
  splitting: false,
  outExtension: () => ({ js: '.js' }),
  // Every `import()` (of a subcommand, of a dependency such as ssh-config or cli-progress) becomes a `require`: a
  // dynamic import would start Node's ESM loader and load the package's ESM build, some milliseconds of a start.
  esbuildOptions: (o) => {
    o.supported = { ...o.supported, 'dynamic-import': false };
  },
};

/** The host-certificate verifier, which dist/cli/connect.js requires as the separate dist/cli/verify-host.js. */
const VERIFY_HOST = fileURLToPath(new URL('./src/verify/host.ts', import.meta.url));

/** Writes <outDir>/cli/package.json, which makes the command's .js files CommonJS (whatever outDir a build is given). */
const commonJsCli = {
  name: 'cli-package-json',
  setup: (b: { initialOptions: { outdir?: string }; onEnd: (f: () => void) => void }) =>
    b.onEnd(() => {
      const dir = join(b.initialOptions.outdir ?? 'dist', 'cli');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    }),
};

// No source maps in the package (they were most of its size). ESM and
// CommonJS for the two entry points.
export default defineConfig([
  { ...common, entry: library, format: ['esm'], dts: { entry: library } },
  { ...common, entry: library, format: ['cjs'], dts: { entry: library } },
  {
    ...command,
    entry: { 'cli/main': 'src/cli/main.ts' },
    // src/cli/run.ts imports ./commands/<name>.js: here, connect is dist/cli/connect.js, every other one
    // dist/cli/commands.js, required.
    esbuildPlugins: [
      commonJsCli,
      {
        name: 'commands',
        setup: (b) => void b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$/ }, (a) => ({ path: a.path === './commands/connect.js' ? './connect.js' : './commands.js', external: true })),
      },
    ],
  },
  {
    ...command,
    entry: { 'cli/commands': 'src/cli/commands/index.ts' },
    esbuildPlugins: [commonJsCli],
  },
  // `connect` alone (the command run most, and timed against ssh): dist/cli/connect.js holds what it needs and
  // nothing of serve, list, export-pub, sftp or the login verifier, and the X.509 host-certificate verifier
  // (src/verify/host.ts, needed only when a server shows an X.509 host key under --host-trust) is a third file,
  // dist/cli/verify-host.js, required when first met. Node compiles the whole of a file it loads: 290 kB instead
  // of 440 kB at every connect. The verifier file crosses into connect.js only through plain data (options, the
  // host key bytes, a result object), so its own copies of the lower layers hold no state connect.js reads.
  {
    ...command,
    entry: { 'cli/connect': 'src/cli/commands/connect.ts' },
    esbuildPlugins: [
      commonJsCli,
      {
        name: 'verify-host',
        setup: (b) =>
          void b.onResolve({ filter: /\/verify\/host\.js$/ }, (a) =>
            resolve(dirname(a.importer), a.path.replace(/\.js$/, '.ts')) === VERIFY_HOST ? { path: './verify-host.js', external: true } : undefined,
          ),
      },
    ],
  },
  {
    ...command,
    entry: { 'cli/verify-host': 'src/verify/host.ts' },
    esbuildPlugins: [commonJsCli],
  },
]);
