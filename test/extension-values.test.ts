/**
 * Each extension value of a certificate is decoded by asn1js once and the
 * tree shared by every reader of it (src/certs/pkijs-form.ts
 * `extensionValueDecode`): pkijs's parsed values (`extensionParsedValue`),
 * @peculiar/x509's ASN.1 types (src/certs/model.ts `extensionSchemaValue`)
 * and the path validator's look at the subjectAltName
 * (`subjectAltNamesKnownToDecode`). Here the shared readers are compared
 * with what each reader made of its own decode before, pkijs's
 * `ExtensionValueFactory.fromBER` (its `parsedValue` getter) and
 * asn1-schema's `AsnConvert.parse`, value for value and error for error,
 * in either order of the readers, over the NIST PKITS certificates, the
 * test PKI and mutated values (truncated, wrong tags, bytes after the
 * value, a value twice, empty, bit flips and edits); and a deliberately
 * broken shared reader is shown to fail the comparison.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extensionParsedValue, extensionValueDecode } from '../src/certs/pkijs-form.js';
import { ParsedCertificate, answerOfValue, clearParsedCertificates, extensionSchemaValue } from '../src/certs/model.js';
import { EKU_OIDS, EXTENSION_OIDS } from '../src/oids.js';
import { basicConstraints as pkixBasicConstraints, subjectAltNamesKnownToDecode } from '../src/verify/pkix/facts.js';
import type { VerifierCertificate } from '../src/verify/certificates.js';
import { createTestPki } from './helpers/pki.js';
import { mutations, same } from './helpers/differential.js';
import { PKITS_DIR } from './helpers/fixtures.js';

const PKITS = join(PKITS_DIR, 'certs');
const lib = { pkijs, asn1js };

// The ASN.1 layer @peculiar/x509 itself loads (its schema registry), as the model resolves it.
const fromX509 = createRequire(createRequire(import.meta.url).resolve('@peculiar/x509'));
const schema = fromX509('@peculiar/asn1-schema') as {
  AsnConvert: { parse<T>(data: Uint8Array, type: new () => T): T };
  AsnParser: { fromASN<T>(node: asn1js.BaseBlock, type: new () => T): T };
};
const x = fromX509('@peculiar/asn1-x509') as Record<'KeyUsage' | 'ExtendedKeyUsage' | 'SubjectAlternativeName', new () => object>;
const TYPES = ['KeyUsage', 'ExtendedKeyUsage', 'SubjectAlternativeName'] as const;

/** The OIDs each value is read as by pkijs (its classes for them, or the tree for those it has none for). */
const OIDS: readonly string[] = [
  EXTENSION_OIDS.subjectAltName,
  EXTENSION_OIDS.basicConstraints,
  EXTENSION_OIDS.keyUsage,
  EXTENSION_OIDS.extendedKeyUsage,
  EXTENSION_OIDS.certificatePolicies,
  EXTENSION_OIDS.authorityKeyIdentifier,
  EXTENSION_OIDS.nameConstraints,
  EXTENSION_OIDS.policyConstraints,
  EXTENSION_OIDS.cRLDistributionPoints,
];

/** An outcome: the value, or the error's class and message. */
type Outcome = { value: unknown } | { error: string };
function run(f: () => unknown): Outcome {
  try {
    return { value: f() };
  } catch (e) {
    return { error: `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}` };
  }
}
function differ(a: Outcome, b: Outcome, what: string): string | undefined {
  if ('error' in a || 'error' in b) return 'error' in a && 'error' in b && a.error === b.error ? undefined : `${what}: ${JSON.stringify(a).slice(0, 200)} vs ${JSON.stringify(b).slice(0, 200)}`;
  return same(a.value, b.value, what);
}

const extensionOf = (oid: string, value: Uint8Array) => new pkijs.Extension({ extnID: oid, critical: false, extnValue: value.slice().buffer });
const certWith = (...exts: pkijs.Extension[]) => ({ pkijs: { extensions: exts } }) as unknown as VerifierCertificate;

/** The readers under test: the shared ones, or a variant of them. */
interface Readers {
  parsed(ext: pkijs.Extension): unknown;
  schema<T>(ext: pkijs.Extension, type: new () => T): T;
}
const SHARED: Readers = { parsed: (e) => extensionParsedValue(e, lib), schema: extensionSchemaValue };

/**
 * What differs between the readers of their own decode (a fresh extension
 * each) and `readers` sharing one, for the value read as `oid`, in both
 * orders: pkijs first, then the ASN.1 types and the shortcut, and the other
 * way round; each read twice.
 */
function disagreements(value: Uint8Array, oid: string, readers: Readers): string[] {
  const out: string[] = [];
  const wantParsed = run(() => extensionOf(oid, value).parsedValue);
  const wantTypes = TYPES.map((t) => run(() => schema.AsnConvert.parse(value, x[t])));
  const wantKnown = run(() => subjectAltNamesKnownToDecode(certWith(extensionOf(EXTENSION_OIDS.subjectAltName, value))));
  for (const order of ['pkijs first', 'pkijs last']) {
    const ext = extensionOf(oid, value);
    // The shortcut reads a subjectAltName: one of the same value node, so that it shares the tree with pkijs's class for `oid`.
    const shared = oid === EXTENSION_OIDS.subjectAltName ? ext : Object.assign(new pkijs.Extension(), { extnID: EXTENSION_OIDS.subjectAltName, critical: false, extnValue: ext.extnValue });
    const others = () => {
      TYPES.forEach((t, i) => {
        for (const round of [1, 2]) {
          const d = differ(wantTypes[i]!, run(() => readers.schema(ext, x[t])), `${oid} as ${t} (${order}, read ${round})`);
          if (d) out.push(d);
        }
      });
      const d = differ(wantKnown, run(() => subjectAltNamesKnownToDecode(certWith(shared))), `${oid} shortcut (${order})`);
      if (d) out.push(d);
    };
    if (order === 'pkijs last') others();
    for (const round of [1, 2]) {
      const d = differ(wantParsed, run(() => readers.parsed(ext)), `${oid} parsedValue (${order}, read ${round})`);
      if (d) out.push(d);
    }
    // pkijs's own getter afterwards gives the same (the value kept where pkijs keeps it).
    const d = differ(wantParsed, run(() => ext.parsedValue), `${oid} pkijs getter after (${order})`);
    if (d) out.push(d);
    if (order === 'pkijs first') others();
  }
  return out;
}

/** The extension values of a certificate (empty when pkijs does not parse it). */
function valuesOf(der: Uint8Array): Array<{ oid: string; value: Uint8Array }> {
  try {
    return (pkijs.Certificate.fromBER(der).extensions ?? []).map((e) => ({ oid: e.extnID, value: new Uint8Array(e.extnValue.valueBlock.valueHexView) }));
  } catch {
    return [];
  }
}

/** The hand-made malformations of a value: truncated, wrong tags, bytes after it, twice, empty, indefinite length. */
function malformed(v: Uint8Array): Uint8Array[] {
  const cat = (...parts: ArrayLike<number>[]) => Uint8Array.from(parts.flatMap((p) => [...Array.from(p)]));
  const retag = (t: number) => cat([t], v.subarray(1));
  const out = [v.subarray(0, v.length - 1), v.subarray(0, 1), v.subarray(1), retag(0x31), retag(0x04), retag(0x03), retag(0xa0), cat(v, [0]), cat(v, [0x05, 0x00]), cat(v, v), new Uint8Array(0)];
  if (v.length > 2 && v[1]! < 0x80) out.push(cat([v[0]!, 0x80], v.subarray(2), [0, 0]));
  return out;
}

let dir: string;
const corpus: Array<{ oid: string; value: Uint8Array }> = [];
const pkiCertificates: Uint8Array[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-ext-values-'));
  const pki = await createTestPki(join(dir, 'p256'), { rootKind: 'p256', intermediateKind: 'p256' });
  const leaves = await Promise.all([
    pki.issue('alice', 'p256', { dns: ['alice.example.com'], ip: ['192.0.2.1', '2001:db8::1'], ocspUrl: 'http://127.0.0.1:1/ocsp', crlUrl: 'http://127.0.0.1:1/crl' }),
    pki.issue('bob', 'p256', { upn: ['bob@EXAMPLE.COM', 'bob2@EXAMPLE.COM'], email: null, keyUsage: 'keyEncipherment', eku: [EKU_OIDS.clientAuth, EKU_OIDS.secureShellClient] }),
    pki.issue('carol', 'p256', { upn: [], keyUsage: 'none', eku: [] }),
  ]);
  for (const der of [pki.root.certDer, pki.intermediate.certDer, ...leaves.map((l) => l.certDer)]) {
    pkiCertificates.push(new Uint8Array(der));
    corpus.push(...valuesOf(new Uint8Array(der)));
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('one decode per extension value, shared by every reader, reads as each reader read its own', () => {
  it('for every extension of every NIST PKITS certificate and of the test PKI', () => {
    const pkits = readdirSync(PKITS).filter((n) => n.endsWith('.crt')).flatMap((n) => valuesOf(new Uint8Array(readFileSync(join(PKITS, n)))));
    expect(pkits.length).toBeGreaterThan(1000);
    const diffs = [...corpus, ...pkits].flatMap(({ oid, value }) => disagreements(value, oid, SHARED));
    expect(diffs).toEqual([]);
  });

  it('for malformed and mutated values, read as every OID the verifier reads, thrown and refused alike', () => {
    const base = corpus.filter((c) => OIDS.includes(c.oid));
    expect(base.length).toBeGreaterThan(15);
    const diffs: string[] = [];
    let refused = 0;
    let pkijsRefused = 0;
    base.forEach(({ value }, i) => {
      for (const m of [...malformed(value), ...mutations(value, 24, 900 + i)]) {
        const r = run(() => schema.AsnConvert.parse(m, x.SubjectAlternativeName));
        if ('error' in r) refused++;
        const p = run(() => extensionOf(EXTENSION_OIDS.subjectAltName, m).parsedValue);
        if ('value' in p && (p.value === undefined || (p.value as { parsingError?: string }).parsingError)) pkijsRefused++;
        for (const oid of OIDS) diffs.push(...disagreements(m, oid, SHARED));
      }
    });
    expect(diffs).toEqual([]);
    // The malformed values do reach the error paths: refusals of the decode and of the schemas.
    expect(refused).toBeGreaterThan(200);
    expect(pkijsRefused).toBeGreaterThan(100);
  });

  it('the value a decode that asn1js throws on: every reader throws as its own decode did', () => {
    // A GeneralizedTime asn1js throws on while decoding it.
    const bad = new Uint8Array([0x30, 0x04, 0x18, 0x02, 0x31, 0x32]);
    expect(() => asn1js.fromBER(bad)).toThrow();
    const ext = extensionOf(EXTENSION_OIDS.subjectAltName, bad);
    expect(extensionValueDecode(ext, asn1js)).toBeUndefined();
    expect(disagreements(bad, EXTENSION_OIDS.subjectAltName, SHARED)).toEqual([]);
    expect(disagreements(bad, EXTENSION_OIDS.basicConstraints, SHARED)).toEqual([]);
  });

  it('decodes each value once for the readers that only read it, and again after pkijs, which changes it', () => {
    const san = corpus.find((c) => c.oid === EXTENSION_OIDS.subjectAltName)!;
    const ext = extensionOf(EXTENSION_OIDS.subjectAltName, san.value);
    const tree = extensionValueDecode(ext, asn1js)!.result;
    // The readers that only read share the tree: the shortcut, and the ASN.1 types (read twice).
    expect(subjectAltNamesKnownToDecode(certWith(ext))).toBe(true);
    extensionSchemaValue(ext, x.SubjectAlternativeName);
    extensionSchemaValue(ext, x.SubjectAlternativeName);
    expect(extensionValueDecode(ext, asn1js)!.result).toBe(tree);
    // pkijs takes it last: its AltName holds the names of that very tree (it re-tags them in place) ...
    const parsed = extensionParsedValue(ext, lib) as pkijs.AltName;
    expect((parsed.altNames[0] as unknown as { value: unknown }).value).toBeDefined();
    expect((tree as asn1js.Sequence).valueBlock.value.some((n) => n.idBlock.tagClass === 1)).toBe(true);
    expect(ext.parsedValue).toBe(parsed);
    // ... so a reader after it decodes the value again, untouched.
    const again = extensionValueDecode(ext, asn1js)!.result;
    expect(again).not.toBe(tree);
    expect((again as asn1js.Sequence).valueBlock.value.every((n) => n.idBlock.tagClass === 3)).toBe(true);
    expect(subjectAltNamesKnownToDecode(certWith(ext))).toBe(true);
  });

  /** A pkijs reader as pkijs's factory builds its value, from the tree `decode` gives, with `refused` for a value its class refuses. */
  function pkijsReader(decode: (e: pkijs.Extension) => { offset: number; result: asn1js.BaseBlock } | undefined, refused: (item: { type: new () => object; name: string }, e: pkijs.Extension) => unknown): Readers {
    return {
      ...SHARED,
      parsed: (e) => {
        const d = decode(e);
        const item = pkijs.ExtensionValueFactory.find(e.extnID);
        if (!d || d.offset === -1) return undefined;
        if (!item) return d.result;
        try {
          return new item.type({ schema: d.result });
        } catch {
          return refused(item, e);
        }
      },
    };
  }
  const withParsingError = (item: { type: new () => object; name: string }, e: pkijs.Extension) => Object.assign(new item.type(), { parsingError: `Incorrectly formatted value of extension ${item.name} (${e.extnID})` });
  /** The shared decode, then given to no reader after pkijs (as the real reader does). */
  function valueDecodeOnce(e: pkijs.Extension) {
    const d = extensionValueDecode(e, asn1js);
    // A fresh extension object, so that the shared tree stays the other readers' own.
    return d && extensionValueDecode(extensionOf(e.extnID, new Uint8Array(e.extnValue.valueBlock.valueHexView)), asn1js);
  }

  it('and the comparison fails for a broken shared reader', () => {
    const inputs = corpus.filter((c) => OIDS.includes(c.oid)).flatMap(({ value }, i) => [value, ...malformed(value), ...mutations(value, 8, 70 + i)]);
    const broken: Record<string, Readers> = {
      // No check of the decode's error before the schema match.
      'schema without the error check': { ...SHARED, schema: (e, t) => schema.AsnParser.fromASN(extensionValueDecode(e, asn1js)?.result ?? new asn1js.Null(), t) },
      // A value that does not decode built as if it did (pkijs's factory gives null for it).
      'pkijs past a failed decode': pkijsReader((e) => {
        const d = valueDecodeOnce(e);
        return d && { offset: 0, result: d.result };
      }, withParsingError),
      // pkijs given the shared tree and leaving it shared (its GeneralName re-tags names in place).
      'pkijs leaving its tree to the readers after it': pkijsReader((e) => extensionValueDecode(e, asn1js), withParsingError),
      // pkijs's refusal without its parsingError.
      'pkijs without parsingError': pkijsReader((e) => valueDecodeOnce(e), (item) => new item.type()),
    };
    for (const [name, readers] of Object.entries(broken)) {
      expect(
        inputs.some((v) => OIDS.some((oid) => disagreements(v, oid, readers).length > 0)),
        name,
      ).toBe(true);
    }
  });
});

describe("the answers of an extension's value alone are kept by its octets", () => {
  it('read once for every certificate with the same value, afresh for any other value, never kept when they fail', () => {
    const ku = corpus.find((c) => c.oid === EXTENSION_OIDS.keyUsage)!.value;
    let reads = 0;
    const read = (ext: pkijs.Extension) => () => {
      reads++;
      return extensionSchemaValue(ext, x.KeyUsage as new () => { toNumber(): number }).toNumber();
    };
    clearParsedCertificates();
    const first = extensionOf(EXTENSION_OIDS.keyUsage, ku);
    const a = answerOfValue('test keyUsage', first, read(first));
    const second = extensionOf(EXTENSION_OIDS.keyUsage, ku);
    expect(answerOfValue('test keyUsage', second, read(second))).toBe(a);
    expect(reads).toBe(1);
    // Another reader of the same octets has answers of its own.
    expect(answerOfValue('test other', second, () => 'other')).toBe('other');
    // One bit changed: read afresh, and answered as that value reads.
    const flipped = ku.slice();
    flipped[flipped.length - 1]! ^= 0x80;
    const third = extensionOf(EXTENSION_OIDS.keyUsage, flipped);
    expect(answerOfValue('test keyUsage', third, read(third))).toBe(extensionSchemaValue(extensionOf(EXTENSION_OIDS.keyUsage, flipped), x.KeyUsage as new () => { toNumber(): number }).toNumber());
    expect(reads).toBe(2);
    // A value that does not decode throws every time: nothing is kept for it.
    const bad = extensionOf(EXTENSION_OIDS.keyUsage, new Uint8Array([0x03, 0x05, 0x00]));
    expect(() => answerOfValue('test keyUsage', bad, read(bad))).toThrow();
    expect(() => answerOfValue('test keyUsage', bad, read(bad))).toThrow();
    expect(reads).toBe(4);
    // The cold case forgets them all.
    clearParsedCertificates();
    answerOfValue('test keyUsage', first, read(first));
    expect(reads).toBe(5);
  });

  it("the model's keyUsage and extendedKeyUsage and the validator's basicConstraints, kept, are what each certificate's own value reads", () => {
    const pkits = [...pkiCertificates, ...readdirSync(PKITS).filter((n) => n.endsWith('.crt')).map((n) => new Uint8Array(readFileSync(join(PKITS, n))))];
    const answers = (der: Uint8Array) => {
      const c = new ParsedCertificate(new Uint8Array(der), 'test');
      void c.pkijs;
      return [run(() => c.keyUsageFlags()), run(() => c.extendedKeyUsages()), run(() => pkixBasicConstraints(c))];
    };
    // Twice over: the second time the answers come from what the first kept.
    clearParsedCertificates();
    const fresh = pkits.map((d) => {
      clearParsedCertificates();
      return answers(d);
    });
    pkits.forEach((d) => answers(d));
    const kept = pkits.map((d) => answers(d));
    const diffs = fresh.flatMap((f, i) => f.map((o, k) => differ(o, kept[i]![k]!, `certificate ${i} reader ${k}`)).filter((d) => d !== undefined));
    expect(diffs).toEqual([]);
    // A caller's list is its own.
    const withEku = pkits.map((d) => new ParsedCertificate(new Uint8Array(d), 'test')).find((c) => c.extendedKeyUsages());
    withEku!.extendedKeyUsages()!.push('changed');
    expect(withEku!.extendedKeyUsages()).not.toContain('changed');
  });
});
