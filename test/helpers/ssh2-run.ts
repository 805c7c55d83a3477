/**
 * Runs a command over an ssh2 Client and collects its output, for tests.
 */
import { spawn } from 'node:child_process';
import { Client, type ConnectConfig } from 'ssh2';
import { cliArgs } from './cli-bin.js';

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Connects, runs `command`, and resolves with its output; rejects with the client's error. */
export function ssh2Exec(config: ConnectConfig, command: string, timeoutMs = 20_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const timer = setTimeout(() => {
      client.end();
      reject(new Error(`ssh2Exec timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      client.end();
      fn();
    };
    client.on('error', (err) => done(() => reject(err)));
    client.on('ready', () => {
      client.exec(command, (err, stream) => {
        if (err) return done(() => reject(err));
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('exit', (c: number | null) => (code = c));
        stream.on('close', () => done(() => resolve({ code, stdout, stderr })));
      });
    });
    client.connect({ readyTimeout: timeoutMs, ...config });
    // As the command does: without it, each back-to-back packet pair waits ~40 ms for a delayed ACK.
    client.setNoDelay(true);
  });
}

/** Runs the `ssh-x509` command (this run's bundle of the source, test/helpers/cli-bin.ts) in `cwd` (default: the repository) and collects its output. */
export function runCommand(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; stdin?: string; cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliArgs(), ...args], {
      cwd: opts.cwd ?? new URL('../..', import.meta.url).pathname,
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ssh-x509 ${args.join(' ')} timed out; stderr so far: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
