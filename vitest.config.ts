import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Two files at once even on 2 cores (vitest's default there is one): most
    // of a file's time is spent waiting on its peers (sshd, AsyncSSH, SoftHSM,
    // the command's processes), which the other file fills.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
