/** Shared measuring helpers for `npm run bench`. */

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
