import type { Readable, Writable } from 'node:stream';

/** What a command reads and writes; the real process in main.ts, captured streams in tests. */
export interface CliIo {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
}

/** A command: takes its own argv (after the command name), returns the exit status. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;
