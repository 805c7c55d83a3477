/**
 * OpenSSH's algorithm-list syntax, as ssh_config(5) gives it for
 * HostKeyAlgorithms and PubkeyAcceptedAlgorithms: a list replaces the
 * default; `+list` appends to it, `-list` removes from it, `^list` puts in
 * front of it. Every name may be a `*` / `?` pattern, matched against every
 * algorithm known (for `-`, against the default). Duplicates are dropped;
 * an empty result or a name that matches nothing is a usage error.
 *
 * @module
 */
import { usageError } from './command.js';

function patternRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** The names of `from` that `pattern` matches, in `from`'s order. */
function matching(pattern: string, from: readonly string[]): string[] {
  const re = patternRegExp(pattern);
  return from.filter((n) => re.test(n));
}

/**
 * Resolves `spec` (`list`, `+list`, `-list` or `^list`) against `defaults`
 * and `known` (every algorithm that may be named). `what` names the keyword
 * in errors, `noun` what a name is.
 */
export function assembleAlgorithms(spec: string, defaults: readonly string[], known: readonly string[], what: string, noun = 'algorithm'): string[] {
  const op = /^[+\-^]/.test(spec) ? spec[0] : '';
  const names = spec
    .slice(op ? 1 : 0)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (names.length === 0) throw usageError(`${what} needs at least one algorithm name`);
  const negated = names.find((n) => n.startsWith('!'));
  if (negated !== undefined) throw usageError(`${what}: negated names (${negated}) are not allowed; use -list to remove from the default`);
  const unknown = names.filter((n) => matching(n, known).length === 0);
  if (unknown.length) throw usageError(`${what}: unknown ${noun} ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const out: string[] = [];
  const add = (list: readonly string[]) => {
    for (const n of list) if (!out.includes(n)) out.push(n);
  };
  if (op === '-') {
    add(defaults.filter((d) => !names.some((n) => patternRegExp(n).test(d))));
  } else {
    if (op === '+') add(defaults);
    for (const n of names) add(matching(n, known));
    if (op === '^') add(defaults);
  }
  if (out.length === 0) throw usageError(`${what} ${spec} leaves no algorithm`);
  return out;
}
