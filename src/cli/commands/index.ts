/**
 * Every subcommand but `connect`, for the command's build only: tsup.config.ts
 * bundles this into dist/cli/commands.js, which dist/cli/main.js requires for
 * the first subcommand it runs (so that `--help` reads a small file; `connect`
 * is dist/cli/connect.js, a file of its own). Each one is loaded when called,
 * as src/cli/run.ts loads them from the source, so that a subcommand loads
 * nothing of another's.
 *
 * @module
 */
import type { Command } from '../io.js';

export const runExportPub: Command = async (argv, io) => (await import('./export-pub.js')).runExportPub(argv, io);
export const runList: Command = async (argv, io) => (await import('./list.js')).runList(argv, io);
export const runServe: Command = async (argv, io) => (await import('./serve.js')).runServe(argv, io);
export const runSftp: Command = async (argv, io) => (await import('./sftp.js')).runSftp(argv, io);
