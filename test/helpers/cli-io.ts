/**
 * A captured CliIo for running a command in-process in tests.
 */
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';

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

/**
 * Runs `ssh-x509 <args>` in this process on a terminal-like stdin that types `pin` at every PIN prompt; returns the
 * exit code, what it wrote, and the prompts it showed (each without its trailing ': ').
 */
export async function runOnTerminal(args: string[], pin: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; prompts: string[] }> {
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  const prompts: string[] = [];
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d: Buffer) => {
    err += d;
    const m = /(PIN for [^\n]*): $/.exec(d.toString());
    if (m) {
      prompts.push(m[1]!);
      setImmediate(() => stdin.write(`${pin}\r`));
    }
  });
  const code = await runCli(args, { stdin, stdout, stderr, env });
  return { code, stdout: out, stderr: err, prompts };
}
