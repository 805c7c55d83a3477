/**
 * The verifier's shortcuts give the answers of the work they skip. The
 * name-constraints shortcut (`subjectAltNamesKnownToDecode`) reads the
 * subjectAltName as asn1js decoded it inside the certificate's DER when it
 * did, and decodes the octets afresh otherwise: the answer is the same
 * either way, for the test PKI's leaves and thousands of mutations of
 * their subjectAltName (every octet edited, every truncation; each in a
 * certificate re-encoded and parsed again, so that the embedded decode is
 * the one being tested). Distinguished
 * names decoded from the same bytes are equal without comparing their
 * attributes: the answer is the attribute-wise one for every pair of names
 * of the NIST PKITS certificates (name chaining by case and whitespace
 * among them).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParsedCertificate } from '../src/certs/model.js';
import { EXTENSION_OIDS, OTHER_NAME_OIDS } from '../src/oids.js';
import { subjectAltNamesKnownToDecode } from '../src/verify/pkix/facts.js';
import { dnEqual, dnEqualByAttributes } from '../src/verify/pkix/names.js';
import { createTestPki } from './helpers/pki.js';

let dir: string;
let leaves: Uint8Array[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-shortcuts-'));
  const pki = await createTestPki(join(dir, 'pki'));
  leaves = (await Promise.all([pki.issue('alice', 'p256'), pki.issue('bob', 'ed25519')])).map((l) => new Uint8Array(l.certDer));
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every position of `v` edited in turn: a bit flipped, the octet replaced by a length-like or boundary value, the value cut there. */
function mutations(v: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < v.length; at++) {
    for (const edit of [(m: Uint8Array) => (m[at]! ^= 1 << at % 8), ...[0x00, 0x7f, 0x80, 0x81, 0x82, 0xff].map((x) => (m: Uint8Array) => (m[at] = x))]) {
      const m = new Uint8Array(v);
      edit(m);
      out.push(m);
    }
    out.push(v.subarray(0, at));
  }
  return out;
}

/** The DER of `leaf` with its subjectAltName value replaced by `value` (the signature no longer verifies; only the parse matters). */
function withSan(leaf: Uint8Array, value: Uint8Array): Uint8Array {
  const c = pkijs.Certificate.fromBER(leaf);
  const exts = c.extensions!;
  const i = exts.findIndex((e) => e.extnID === EXTENSION_OIDS.subjectAltName);
  exts[i] = new pkijs.Extension({ extnID: EXTENSION_OIDS.subjectAltName, critical: false, extnValue: value.slice().buffer });
  return new Uint8Array(c.toSchema(true).toBER(false));
}

/** The answer from the certificate as parsed, and from the same certificate with the embedded decode dropped (the octets decoded afresh). */
function bothWays(der: Uint8Array): { embedded: boolean; parsed: boolean; fresh: boolean } | undefined {
  let a: ParsedCertificate;
  let b: ParsedCertificate;
  try {
    a = new ParsedCertificate(der, 'a');
    b = new ParsedCertificate(der, 'b');
    void a.pkijs;
    void b.pkijs;
  } catch {
    return undefined;
  }
  const san = (c: ParsedCertificate) => c.pkijs.extensions?.find((e) => e.extnID === EXTENSION_OIDS.subjectAltName);
  const embedded = (san(a)?.extnValue.valueBlock.value.length ?? 0) > 0;
  const e = san(b);
  if (e) e.extnValue.valueBlock.value = [];
  return { embedded, parsed: subjectAltNamesKnownToDecode(a), fresh: subjectAltNamesKnownToDecode(b) };
}

describe('the name-constraints shortcut reads the embedded decode with the answer of a fresh one', () => {
  it('for the leaves and every single-octet edit and truncation of their subjectAltName and of GeneralNames of several forms', () => {
    const str = (tag: number, bytes: number[]) => new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: tag }, valueHex: new Uint8Array(bytes).buffer });
    const upn = new asn1js.Constructed({
      idBlock: { tagClass: 3, tagNumber: 0 },
      value: [new asn1js.ObjectIdentifier({ value: OTHER_NAME_OIDS.userPrincipalName }), new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Utf8String({ value: 'a@B' })] })],
    });
    const forms = [
      new Uint8Array(new asn1js.Sequence({ value: [str(1, [...Buffer.from('alice@example.com')]), upn, str(2, [...Buffer.from('h.example')]), str(7, [192, 0, 2, 1])] }).toBER(false)),
      new Uint8Array(new asn1js.Sequence({ value: [str(6, [...Buffer.from('https://e/')]), str(8, [0x2a, 0x03])] }).toBER(false)),
    ];
    const wrong: string[] = [];
    const seen = { embedded: 0, fresh: 0, known: 0, unknown: 0 };
    for (const [li, leaf] of leaves.entries()) {
      const own = pkijs.Certificate.fromBER(leaf).extensions!.find((e) => e.extnID === EXTENSION_OIDS.subjectAltName)!.extnValue.valueBlock.valueHexView;
      for (const [fi, v] of [own, ...forms].entries()) {
        for (const [k, m] of [v, ...mutations(v)].entries()) {
          const r = bothWays(withSan(leaf, m));
          if (!r) continue;
          seen[r.embedded ? 'embedded' : 'fresh']++;
          seen[r.parsed ? 'known' : 'unknown']++;
          if (r.parsed !== r.fresh) wrong.push(`leaf ${li} form ${fi} mutation ${k} (${Buffer.from(m).toString('hex')}): ${r.parsed} embedded, ${r.fresh} fresh`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Both ways of reading, and both answers, are exercised.
    expect(seen.embedded).toBeGreaterThan(300);
    expect(seen.fresh).toBeGreaterThan(100);
    expect(seen.known).toBeGreaterThan(300);
    expect(seen.unknown).toBeGreaterThan(300);
  });
});

describe('distinguished names from the same bytes are equal without comparing attributes', () => {
  it('with the attribute-wise answer for every pair of PKITS names', () => {
    const dirPath = join(process.cwd(), '../shared/pkits/certs');
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
