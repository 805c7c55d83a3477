/** Shared measuring helpers for `npm run bench`. */
import { spawn } from 'node:child_process';

/** One printed row: a measurement, and optionally its ratio to a named baseline. */
export interface BenchRow {
  name: string;
  opsPerSec?: number;
  ms?: number;
  ratio?: number;
  baseline?: string;
  /** The most the ratio may be; printed as met or not. */
  target?: number;
  /** A measurement that is neither a rate nor a time, printed with its unit (`KiB`, ...). */
  value?: { amount: number; unit: string };
}

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up; returns operations per second. */
export function opsPerSecond(fn: () => unknown, ms = 500): number {
  for (let i = 0; i < 200; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Wall time of one awaited call, milliseconds. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** One command to time: the program, its arguments, and optionally a changed environment. */
export type Run = { cmd: string; args: readonly string[]; env?: NodeJS.ProcessEnv };

/** Wall time of one process, start to exit; rejects on a non-zero exit. */
export function timeProcess(r: Run): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(r.cmd, r.args, { stdio: ['ignore', 'ignore', 'pipe'], env: r.env ?? process.env });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${r.cmd} ${r.args.join(' ')} exited ${code}: ${err.trim().split('\n').slice(-2).join(' / ')}`));
    });
  });
}

/**
 * Runs the measurements in turn, `n` rounds after two warm-up rounds, the
 * order reversed every other round (so that none always follows the same
 * one), and returns their median times, in the order given.
 */
export async function alternate(fns: ReadonlyArray<() => Promise<number>>, n: number): Promise<number[]> {
  for (let i = 0; i < 2; i++) for (const f of fns) await f();
  const times = fns.map(() => [] as number[]);
  for (let i = 0; i < n; i++) {
    const order = fns.map((_, j) => j);
    if (i % 2) order.reverse();
    for (const j of order) times[j]!.push(await fns[j]!());
  }
  return times.map((t) => median(t));
}

/** {@link alternate} over whole processes: the median wall time of each command. */
export function alternateRuns(runs: readonly Run[], n: number): Promise<number[]> {
  return alternate(runs.map((r) => () => timeProcess(r)), n);
}
