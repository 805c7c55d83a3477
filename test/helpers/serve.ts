/**
 * Runs `ssh-x509 serve` (the command, test/helpers/cli-bin.ts) in a child
 * process on a free loopback port, for tests and benches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cliArgs } from './cli-bin.js';
import { waitForLog } from './wait.js';

export interface ServeProcess {
  port: number;
  child: ChildProcess;
  log(): string;
  /**
   * Resolves with the log once it matches `re` (the server's stderr reaches
   * the test through a pipe, after the client may already have its answer);
   * rejects after `timeoutMs` with the log so far.
   */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `ssh-x509 serve` in a child process on a free loopback port. */
export async function startServe(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...cliArgs(), 'serve', '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 20_000);
    const onData = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${c}: ${err}`));
    });
  });
  return {
    port,
    child,
    log: () => err,
    waitForLog: async (re, timeoutMs = 5_000) => {
      const log = await waitForLog(() => err, re, timeoutMs);
      if (!re.test(log)) throw new Error(`the serve log did not match ${re} within ${timeoutMs} ms:\n${log}`);
      return log;
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
        child.kill('SIGTERM');
      }),
  };
}

