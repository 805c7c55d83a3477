#!/usr/bin/env node
/**
 * The `ssh-x509` command: a thin layer over the library.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type { CliIo } from './io.js';
import { runCli } from './run.js';

// The process's streams are made when first used (each costs a few milliseconds to make): `connect` uses them
// only once its session runs, and asks whether they are terminals without them.
const io: CliIo = {
  get stdin() {
    return process.stdin;
  },
  get stdout() {
    return process.stdout;
  },
  get stderr() {
    return process.stderr;
  },
  env: process.env,
  // node:tty (and node:net under it) is loaded only when asked: --help needs neither.
  isTerminal: (stream) => (createRequire(import.meta.url)('node:tty') as typeof import('node:tty')).isatty(stream === 'stdin' ? 0 : 2),
};

runCli(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`ssh-x509: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 255;
  },
);
