#!/usr/bin/env node
/**
 * The `ssh-x509` command: a thin layer over the library.
 *
 * @module
 */
import { runCli } from './run.js';

runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`ssh-x509: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 255;
  },
);
