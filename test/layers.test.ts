/**
 * The layering rule of the design: a lower layer never imports a higher one.
 * Read from the sources' import statements.
 */
import { readdirSync, readFileSync } from 'node:fs';
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
});
