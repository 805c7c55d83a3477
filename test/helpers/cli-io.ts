/**
 * A captured CliIo for running a command in-process in tests.
 */
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';

/** An io whose stdout and stderr are collected as text. */
export function captureIo(env: NodeJS.ProcessEnv = {}): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  return { stdin: new PassThrough(), stdout, stderr, env, out: () => o, err: () => e };
}
