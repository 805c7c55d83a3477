import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    pkcs11: 'src/pkcs11.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
  external: ['ssh2', 'graphene-pk11', 'pkcs11js', 'node-ssh', 'ssh2-sftp-client'],
});
