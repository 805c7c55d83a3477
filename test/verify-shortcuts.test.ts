/**
 * The verifier's shortcuts give the answers of the work they skip:
 * distinguished names decoded from the same bytes are equal without
 * comparing their attributes, with the attribute-wise answer for every pair
 * of names of the NIST PKITS certificates (name chaining by case and
 * whitespace among them).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { dnEqual, dnEqualByAttributes } from '../src/verify/pkix/names.js';
import { PKITS_DIR } from './helpers/fixtures.js';

describe('distinguished names from the same bytes are equal without comparing attributes', () => {
  it('with the attribute-wise answer for every pair of PKITS names', () => {
    const dirPath = join(PKITS_DIR, 'certs');
    const byBytes = new Map<string, pkijs.RelativeDistinguishedNames[]>();
    for (const f of readdirSync(dirPath).filter((n) => n.endsWith('.crt'))) {
      let c: pkijs.Certificate;
      try {
        c = pkijs.Certificate.fromBER(new Uint8Array(readFileSync(join(dirPath, f))));
      } catch {
        continue;
      }
      for (const n of [c.subject, c.issuer]) {
        const k = Buffer.from(n.valueBeforeDecode).toString('hex');
        const list = byBytes.get(k) ?? [];
        // Two objects of each distinct encoding: equal bytes, different objects.
        if (list.length < 2) list.push(n);
        byBytes.set(k, list);
      }
    }
    const names = [...byBytes.values()].flat();
    const wrong: string[] = [];
    let sameBytes = 0;
    let equalOtherwise = 0;
    for (const a of names) {
      for (const b of names) {
        const want = dnEqualByAttributes(a, b);
        if (dnEqual(a, b) !== want) wrong.push(`${Buffer.from(a.valueBeforeDecode).toString('hex')} / ${Buffer.from(b.valueBeforeDecode).toString('hex')}`);
        if (Buffer.from(a.valueBeforeDecode).equals(Buffer.from(b.valueBeforeDecode))) sameBytes++;
        else if (want) equalOtherwise++;
      }
    }
    expect(wrong).toEqual([]);
    expect(names.length).toBeGreaterThan(150);
    expect(sameBytes).toBeGreaterThan(names.length);
    // PKITS names that match by case and whitespace only (4.3.x): the attribute-wise comparison still decides them.
    expect(equalOtherwise).toBeGreaterThan(0);
  });
});
