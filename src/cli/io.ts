import type { Readable, Writable } from 'node:stream';

/** What a command reads and writes; the real process in main.ts, captured streams in tests. */
export interface CliIo {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /**
   * Whether standard input or standard error is a terminal, answered without
   * making the stream (main.ts: `isatty`, so that `connect` makes the
   * process's stdin, stdout and stderr streams only once it uses them).
   * Without it, the stream's own `isTTY`.
   */
  readonly isTerminal?: (stream: 'stdin' | 'stderr') => boolean;
}

/** Whether `io`'s standard input or standard error is a terminal ({@link CliIo.isTerminal}, else the stream's `isTTY`). */
export function isTerminal(io: Pick<CliIo, 'stdin' | 'stderr' | 'isTerminal'>, stream: 'stdin' | 'stderr'): boolean {
  return io.isTerminal ? io.isTerminal(stream) : (io[stream] as { isTTY?: boolean }).isTTY === true;
}

/** A command: takes its own argv (after the command name), returns the exit status. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;
