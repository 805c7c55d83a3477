/**
 * The layering rule of the design: a lower layer never imports a higher one.
 * Read from the sources' import statements. And one spelling for each
 * fact: OIDs only in src/oids.ts, curve names only in src/algorithms.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;

/** Layers from the bottom; the entry points (index, pkcs11) and the command sit on top. */
const RANK: Record<string, number> = {
  errors: 0,
  wire: 1,
  algorithms: 2,
  oids: 2,
  keys: 3,
  rfc6187: 3,
  certs: 4,
  signers: 5,
  verify: 6,
  adapters: 7,
  index: 8,
  pkcs11: 8,
  cli: 9,
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const layerOf = (path: string) => relative(SRC, path).split('/')[0]!.replace(/\.(ts|js)$/, '');

describe('layers', () => {
  it('every source file belongs to a known layer', () => {
    expect(files(SRC).map(layerOf).filter((l) => !(l in RANK))).toEqual([]);
  });

  it('no module imports a module of a higher layer', () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const from = layerOf(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:\bfrom|\bimport\(?)\s*'(\.[^']+)'/g)) {
        const to = layerOf(normalize(join(dirname(file), m[1]!)));
        if (RANK[to]! > RANK[from]!) violations.push(`${relative(SRC, file)} (${from}) imports ${m[1]} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('no import cycles in src/ (type-only imports included)', () => {
    expect(importCycles(SRC)).toEqual([]);
  });

  it('the cycle check sees a cycle when one is added', () => {
    const dir = mkdtempSync(join(tmpdir(), 'layers-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport const a = 1;\n");
      writeFileSync(join(dir, 'b.ts'), "export type B = number;\nexport const b = () => import('./c.js');\n");
      writeFileSync(join(dir, 'c.ts'), "export { a } from './a.js';\n");
      writeFileSync(join(dir, 'd.ts'), "import { a } from './a.js';\n");
      expect(importCycles(dir + '/')).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The relative imports of a source file (static, dynamic, type-only and re-exports), as source paths. */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/(?:\bfrom|\bimport\(?)\s*'(\.[^']+)'/g)].map((m) => normalize(join(dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
}

/** Each import cycle among the modules under `src`, as `a.ts -> b.ts -> a.ts` (from its first module in path order). */
function importCycles(src: string): string[] {
  const graph = new Map(files(src).sort().map((f) => [f, importsOf(f)] as const));
  const cycles = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const to of graph.get(f) ?? []) {
      if (!graph.has(to)) continue;
      if (state.get(to) === 'open') {
        const loop = stack.slice(stack.indexOf(to));
        const start = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        cycles.add([...rotated, rotated[0]!].map((p) => relative(src, p)).join(' -> '));
      } else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return [...cycles];
}

/** The source without its comments (block and line), so that prose may name what code may not spell. */
function code(path: string): string {
  return readFileSync(path, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** Dotted OIDs as string literals: a first arc 0-2, then at least three more (every OID the library uses has four or more). */
const OID_LITERAL = /(['"`])[0-2](?:\.\d+){3,}\1/g;
/** Curves by any of their names (SSH, node:crypto, WebCrypto/NIST), as a literal or an object key. */
const CURVE_NAME = /(?<![\w-])(?:nistp(?:256|384|521)|prime256v1|secp(?:256|384|521)r1|P-(?:256|384|521))(?![\w-])/g;

/** `file: match` for each spelling of `pattern` in the code of every source file except `owners`. */
function spellings(pattern: RegExp, owners: readonly string[], src = SRC): string[] {
  return files(src)
    .filter((f) => !owners.includes(relative(src, f)))
    .flatMap((f) => [...code(f).matchAll(pattern)].map((m) => `${relative(src, f)}: ${m[0]}`));
}

describe('one spelling', () => {
  it('no source file but src/oids.ts spells a dotted OID', () => {
    expect(spellings(OID_LITERAL, ['oids.ts'])).toEqual([]);
  });

  it('no source file but src/algorithms.ts (and the OID registry) names a curve', () => {
    expect(spellings(CURVE_NAME, ['algorithms.ts', 'oids.ts'])).toEqual([]);
  });

  it('the checks see a second spelling when one is added', () => {
    const dir = mkdtempSync(join(tmpdir(), 'layers-'));
    try {
      writeFileSync(join(dir, 'oids.ts'), "export const X = '1.3.6.1.5.5.7.3.21';\n");
      writeFileSync(join(dir, 'algorithms.ts'), "const c = { prime256v1: 'P-256' };\n");
      writeFileSync(
        join(dir, 'neighbour.ts'),
        [
          '// 2.5.29.15 and prime256v1 in a comment are prose, not a spelling',
          "const HASH_OID = { sha256: '2.16.840.1.101.3.4.2.1' };",
          'const WIDTH = { prime256v1: 256, secp384r1: 384 };',
          "const NAME = `EC ${'P-521'}`;",
          "const url = 'http://example.com/a'; // keyUsage '2.5.29.15'",
          "const name = 'x509v3-ecdsa-sha2-nistp256'; // an algorithm name, not a curve",
        ].join('\n'),
      );
      expect(spellings(OID_LITERAL, ['oids.ts'], dir + '/')).toEqual(["neighbour.ts: '2.16.840.1.101.3.4.2.1'"]);
      expect(spellings(CURVE_NAME, ['algorithms.ts', 'oids.ts'], dir + '/')).toEqual(['neighbour.ts: prime256v1', 'neighbour.ts: secp384r1', 'neighbour.ts: P-521']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
