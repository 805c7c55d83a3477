/**
 * The command's one map from error to exit status, and the one place where
 * a subcommand's errors are caught and printed.
 *
 * | status | when |
 * | --- | --- |
 * | 0 | success (`connect`: the remote command's own status) |
 * | 2 | a usage error, in every subcommand: unknown option, missing or bad value |
 * | 1 | any other failure of `list`, `export-pub` and `serve` |
 * | 255 | any other failure of `connect`, as `ssh` does |
 *
 * @module
 */
import { createRequire } from 'node:module';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCodes, SshX509Error } from '../errors.js';
import type { CliIo, Command } from './io.js';

/** Exit status of a usage error, the same in every subcommand. */
export const EXIT_USAGE = 2;
/** Exit status of any other failure of `list`, `export-pub` and `serve`. */
export const EXIT_FAILURE = 1;
/** Exit status of any other failure of `connect` (and `sftp`), as `ssh` does. */
export const EXIT_CONNECT_FAILURE = 255;

/** The exit-status lines that every `--help` ends with. */
export function exitStatusHelp(failure: number, success = 'success'): string {
  return `exit status: 0 ${success}; ${EXIT_USAGE} usage error (unknown option, missing or bad value); ${failure} any other failure\n`;
}

/**
 * Error codes that mean "the caller asked for something invalid". Thrown by
 * the command itself (`ERR_USAGE`) or by the library for a value the command
 * passed on from an option (`ERR_INVALID_ARGUMENT`): both exit 2.
 */
const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCodes.USAGE, ErrorCodes.INVALID_ARGUMENT]);

/** A usage error: the command prints it and exits 2. */
export function usageError(message: string): SshX509Error {
  return new SshX509Error(ErrorCodes.USAGE, message);
}

/** True for an error that the map gives exit status 2. */
export function isUsageError(e: unknown): boolean {
  if (e instanceof SshX509Error) return USAGE_CODES.has(e.code);
  // node:util parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes.
  return String((e as { code?: unknown } | null)?.code).startsWith('ERR_PARSE_ARGS');
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Strict<T extends Options, P extends boolean> = { args: string[]; options: T; allowPositionals: P; strict: true };

/** node:util parseArgs, strict, with its errors turned into usage errors. */
export function parseOptions<T extends Options, P extends boolean = false>(args: string[], options: T, allowPositionals?: P): ReturnType<typeof parseArgs<Strict<T, P>>> {
  try {
    return parseArgs<Strict<T, P>>({ args, options, allowPositionals: (allowPositionals ?? false) as P, strict: true });
  } catch (e) {
    if (isUsageError(e)) throw usageError((e as Error).message);
    throw e;
  }
}

/** What {@link defineCommand} needs to know about a subcommand. */
export interface CommandSpec {
  /** The subcommand's name, as typed after `ssh-x509`. */
  readonly name: string;
  /** Prefix of its error lines (`ssh-x509 list: `; `connect` writes `ssh-x509: ` as ssh does). */
  readonly prefix?: string;
  /** Exit status of a failure that is not a usage error. */
  readonly failureStatus: number;
  /** Append the error's `[ERR_...]` code to failure lines. */
  readonly showCode?: boolean;
  /** The subcommand itself: resolves to its exit status; throws on error. */
  readonly run: (argv: string[], io: CliIo) => Promise<number>;
}

/** Wraps a subcommand so that every error is printed once and mapped to its exit status. */
export function defineCommand(spec: CommandSpec): Command {
  const prefix = spec.prefix ?? `ssh-x509 ${spec.name}: `;
  return async (argv, io) => {
    try {
      return await spec.run(argv, io);
    } catch (e) {
      const message = (e as Error | undefined)?.message ?? String(e);
      if (isUsageError(e)) {
        io.stderr.write(`${prefix}${message}\nRun 'ssh-x509 ${spec.name} --help' for its options.\n`);
        return EXIT_USAGE;
      }
      const code = spec.showCode && e instanceof SshX509Error ? ` [${e.code}]` : '';
      io.stderr.write(`${prefix}${message}${code}\n`);
      return spec.failureStatus;
    }
  };
}

/** The package's version, from its package.json (found from the source and from the bundled build alike). */
export function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const p of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'ssh-x509' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}
