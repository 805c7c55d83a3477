// Runs test/harness.test.ts without the project-wide globalSetup:
//   npx vitest run -c test/helpers/vitest.harness.config.ts
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/harness.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
