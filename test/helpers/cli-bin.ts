/**
 * How the tests start the `ssh-x509` command as a process.
 *
 * The global setup (test/global-setup.ts) bundles the current source once per
 * run, with tsup and the command's builds in tsup.config.ts (the package's,
 * without type declarations), into a fresh directory under
 * node_modules/.cache, and names its cli/main.js in SSH_X509_TEST_CLI. A
 * process then starts in about half the time it takes through tsx, which
 * transpiles and resolves every module on each start. Outside vitest (a
 * bench or a script), the command runs from source through tsx, as before.
 */
import { fileURLToPath } from 'node:url';

/** The repository root (the working directory the commands run in). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The environment variable the global setup names the bundled command in. */
export const TEST_CLI_ENV = 'SSH_X509_TEST_CLI';

/** The node arguments that start the command (before its own arguments): the run's bundle, or src/cli/main.ts through tsx. */
export function cliArgs(): string[] {
  const bundle = process.env[TEST_CLI_ENV];
  return bundle ? [bundle] : ['--import', 'tsx', fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))];
}

/** The same as one shell command line (node and its arguments, quoted), for scripts run on a terminal. */
export function cliShell(): string {
  return [process.execPath, ...cliArgs()].map((a) => `'${a}'`).join(' ');
}
