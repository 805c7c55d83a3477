import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (measured, longest first): they start first,
 * so that no long file is left running alone at the end. vitest's own order
 * (longest first by its cache of the last run, larger files first without
 * one) follows for the rest; its cache is empty in CI and skewed by partial
 * runs (`-t`, one file) on a developer's machine.
 */
const LONG_FIRST = [
  'connect-openssh',
  'host-certs',
  'pkcs11-connect',
  'pkcs11-piv-sessions',
  'pkcs11-piv-signer',
  'ocsp-form',
  'pkijs-form',
  'docs',
  'sftp-cli',
  'raw-key',
  'serve-host-keys',
  'package',
  'host-keys',
  'connect-tty',
  'stapling',
  'ssh2-client',
  'messages',
  'examples.pkcs11',
  'pkcs11-piv-select',
].map((name) => `${name}.test.ts`);

class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONG_FIRST.indexOf(basename(f.moduleId));
      return i === -1 ? LONG_FIRST.length : i;
    };
    const sorted = await super.sort(files);
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Two files at once even on 2 cores (vitest's default there is one): most
    // of a file's time is spent waiting on its peers (sshd, AsyncSSH, SoftHSM,
    // the command's processes), which the other file fills.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongFirstSequencer },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
