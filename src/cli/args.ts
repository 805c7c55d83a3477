/**
 * Splits argv as ssh does: options up to the first positional (the
 * destination), then the destination and the remote command verbatim.
 */
export function splitAtDestination(argv: readonly string[], options: Readonly<Record<string, { type: 'string' | 'boolean'; short?: string }>>): [string[], string[]] {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type === 'string') {
      takesValue.add(`--${name}`);
      if (o.short) takesValue.add(`-${o.short}`);
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [argv.slice(0, i), argv.slice(i + 1)];
    if (!a.startsWith('-') || a === '-') return [argv.slice(0, i), argv.slice(i)];
    if (takesValue.has(a)) i++;
  }
  return [[...argv], []];
}
