import { usageError } from './command.js';

/** An option as node:util parseArgs takes it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
}

/** A command line split the way OpenSSH's ssh(1) reads it. */
export interface SshArgv {
  /** The options, from before and right after the destination, in order. */
  readonly options: string[];
  /** The destination, if any. */
  readonly destination?: string;
  /** The remote command, verbatim. */
  readonly command: string[];
  /** How many of `options` stand before the destination (OpenSSH takes user and port first obtained, in command-line order). */
  readonly destinationAt?: number;
}

/** How many of the next arguments the option word `a` consumes (0 or 1). */
function valueArgs(a: string, longTakes: ReadonlySet<string>, shortTakes: ReadonlySet<string>): number {
  if (a.startsWith('--')) return a.includes('=') || !longTakes.has(a.slice(2)) ? 0 : 1;
  // A group of short options (-vvv, -tt, -vp 22, -p22): the first one that takes a value takes the rest of the word, or the next word.
  for (let j = 1; j < a.length; j++) {
    if (shortTakes.has(a[j]!)) return j === a.length - 1 ? 1 : 0;
  }
  return 0;
}

/**
 * Splits argv as ssh does: options, then the destination, then more options
 * (OpenSSH starts reading options again after the destination), then the
 * remote command verbatim from the first word that is not an option. `--`
 * ends the options wherever it stands.
 */
export function splitSshArgv(argv: readonly string[], options: Readonly<Record<string, OptionSpec>>): SshArgv {
  const longTakes = new Set<string>();
  const shortTakes = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    longTakes.add(name);
    if (o.short) shortTakes.add(o.short);
  }
  const out: string[] = [];
  let destination: string | undefined;
  let destinationAt: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      const rest = argv.slice(i + 1);
      if (destination !== undefined) return { options: out, destination, command: rest, destinationAt };
      if (rest.length === 0) return { options: out, command: [] };
      return { options: out, destination: rest[0], command: rest.slice(1), destinationAt: out.length };
    }
    if (!a.startsWith('-') || a === '-') {
      if (destination !== undefined) return { options: out, destination, command: argv.slice(i), destinationAt };
      destination = a;
      destinationAt = out.length;
      continue;
    }
    out.push(a);
    if (valueArgs(a, longTakes, shortTakes)) {
      if (i + 1 >= argv.length) throw usageError(`option ${a} needs a value`);
      out.push(argv[++i]!);
    }
  }
  return { options: out, destination, command: [], destinationAt };
}

