/**
 * The model's pkijs form (src/certs/pkijs-form.ts: the parts found by
 * position, without pkijs's whole-certificate schema match) is what
 * `pkijs.Certificate.fromBER` gives, field for field, for every NIST PKITS
 * certificate, the test PKI's certificates of every key kind, and
 * thousands of mutations of them (bit flips, byte edits, truncations,
 * tag and length edits): the same object where pkijs parses, an error
 * where pkijs throws. Likewise the model's reads of keyUsage,
 * extendedKeyUsage and the subjectAltName identities against
 * @peculiar/x509's extension classes, and the path validator's shortcut
 * past name constraints when none are in force
 * (`subjectAltNamesKnownToDecode`) against the full decode.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import * as x509 from '@peculiar/x509';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nameNode, pkijsCertificate } from '../src/certs/pkijs-form.js';
import { ParsedCertificate } from '../src/certs/model.js';
import { EXTENSION_OIDS, NAME_ATTRIBUTE_OIDS, OTHER_NAME_OIDS } from '../src/oids.js';
import { subjectAltNames, subjectAltNamesKnownToDecode } from '../src/verify/pkix/facts.js';
import { createTestPki } from './helpers/pki.js';
import { embeddedDecodes, mutations, same } from './helpers/differential.js';
import { PKITS_DIR } from './helpers/fixtures.js';

const PKITS = join(PKITS_DIR, 'certs');
const lib = { pkijs, asn1js };

/** `undefined` when both agree (equal objects, or both throw); otherwise what differs. */
function agree(der: Uint8Array): string | undefined {
  let want: pkijs.Certificate | undefined;
  let wantError: string | undefined;
  try {
    want = pkijs.Certificate.fromBER(der);
  } catch (e) {
    wantError = (e as Error).message;
  }
  let got: pkijs.Certificate | undefined;
  let gotError: string | undefined;
  try {
    got = pkijsCertificate(der, lib);
  } catch (e) {
    gotError = (e as Error).message;
  }
  if (wantError !== undefined || gotError !== undefined) return wantError === gotError ? undefined : `pkijs: ${wantError ?? 'parses'}; here: ${gotError ?? 'parses'}`;
  // Reading the extension values and comparing the encodings as well.
  for (const c of [want!, got!]) for (const e of c.extensions ?? []) void (() => { try { return e.parsedValue; } catch { return undefined; } })();
  return same(want, got, 'cert');
}

/** The model's certificate for `der` (its own copy, not the shared cache), or `undefined` when pkijs does not parse it. */
function parsedOrNot(der: Uint8Array): ParsedCertificate | undefined {
  try {
    const c = new ParsedCertificate(new Uint8Array(der), 'test');
    void c.pkijs;
    return c;
  } catch {
    return undefined;
  }
}

/** An outcome as text: the value, or that it throws. */
function outcome(f: () => unknown): string {
  try {
    return JSON.stringify(f() ?? null);
  } catch {
    return 'throws';
  }
}

/**
 * The model's keyUsage, extendedKeyUsage and subjectAltName reads (the
 * extension's octets parsed with @peculiar/x509's own ASN.1 types) against
 * @peculiar/x509's extension classes given the re-encoded extension, as
 * the model read them before: `undefined` when they agree.
 */
function extensionsAgree(der: Uint8Array): string | undefined {
  const c = parsedOrNot(der);
  if (!c) return undefined;
  const old = <T extends x509.Extension>(oid: string, type: new (raw: ArrayBuffer) => T): T | null => {
    const e = c.extension(oid);
    return e ? new type(e.toSchema().toBER(false)) : null;
  };
  const pairs: Array<[string, () => unknown, () => unknown]> = [
    ['keyUsage', () => c.keyUsageFlags(), () => old(EXTENSION_OIDS.keyUsage, x509.KeyUsagesExtension)?.usages],
    ['extendedKeyUsage', () => c.extendedKeyUsages(), () => old(EXTENSION_OIDS.extendedKeyUsage, x509.ExtendedKeyUsageExtension)?.usages.map(String)],
    [
      'subjectAltName',
      () => ({ ...c.identities }),
      () => {
        const items = old(EXTENSION_OIDS.subjectAltName, x509.SubjectAlternativeNameExtension)?.names.items ?? [];
        return {
          upns: items.filter((n) => n.type === 'upn').map((n) => n.value),
          emails: items.filter((n) => n.type === 'email').map((n) => n.value),
          commonNames: new x509.Name(c.pkijs.subject.valueBeforeDecode).getField('CN'),
        };
      },
    ],
  ];
  // The subject as @peculiar/x509's Name writes it (read from the decode's node of the name, not its DER decoded again).
  pairs.push(['subject', () => c.subject, () => new x509.Name(c.pkijs.subject.valueBeforeDecode).toString()]);
  for (const [what, now, before] of pairs) {
    const a = outcome(now);
    const b = outcome(before);
    if (a !== b) return `${what}: ${a} vs ${b}`;
  }
  return undefined;
}

let dir: string;
const generated: Uint8Array[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-pkijs-form-'));
  for (const kind of ['rsa2048', 'p256', 'p384', 'p521', 'ed25519'] as const) {
    const pki = await createTestPki(join(dir, kind), { rootKind: kind, intermediateKind: kind });
    const leaf = await pki.issue('alice', kind, { dns: ['alice.example.com'], ip: ['192.0.2.1'] });
    generated.push(pki.root.certDer, pki.intermediate.certDer, leaf.certDer);
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the pkijs form of the model is pkijs.Certificate.fromBER', () => {
  it('for every NIST PKITS certificate', () => {
    const names = readdirSync(PKITS).filter((n) => n.endsWith('.crt'));
    expect(names.length).toBeGreaterThan(400);
    const diffs = names.map((n) => [n, agree(new Uint8Array(readFileSync(join(PKITS, n))))] as const).filter(([, d]) => d !== undefined);
    expect(diffs).toEqual([]);
  });

  it('for the test PKI certificates of every key kind (roots, intermediates, leaves)', () => {
    expect(generated).toHaveLength(15);
    expect(generated.map((d) => agree(d)).filter((d) => d !== undefined)).toEqual([]);
  });

  it("without asn1js's embedded decode of the extension values, the key and the signature, whose answers stay the same", () => {
    for (const der of generated) {
      const want = pkijs.Certificate.fromBER(der);
      const got = pkijsCertificate(der, lib);
      // pkijs's own decode holds embedded decodes (every extension value, an RSA key); the model's none.
      expect(embeddedDecodes(want)).toBeGreaterThan(3);
      expect(embeddedDecodes(got)).toBe(0);
      // What is read from those contents is read from the octets: the same extension values and key.
      const values = (c: pkijs.Certificate) => (c.extensions ?? []).map((e) => e.parsedValue);
      expect(same(values(got), values(want), 'parsedValue')).toBeUndefined();
      expect(same(got.subjectPublicKeyInfo.parsedKey, want.subjectPublicKeyInfo.parsedKey, 'parsedKey')).toBeUndefined();
      expect(Buffer.from(got.toSchema(true).toBER(false))).toEqual(Buffer.from(der));
    }
  });

  it('by position for every certificate of the usual shape: the PKITS certificates and the test PKI', () => {
    // The model's own parts (no embedded decodes: pkijs's own path, taken for any other shape, has them).
    const names = readdirSync(PKITS).filter((n) => n.endsWith('.crt'));
    const own = [...generated, ...names.map((n) => new Uint8Array(readFileSync(join(PKITS, n))))].filter((d) => embeddedDecodes(pkijsCertificate(d, lib)) === 0);
    expect(own.length).toBeGreaterThan(names.length - 5);
  });

  it('for parts of unusual shapes, which pkijs takes or refuses by its schemas (extra elements, missing ones, other types)', () => {
    /** The leaf with one edit to its tree (decoded without embedded decodes, then encoded again). */
    const edited = (edit: (tbs: asn1js.BaseBlock[]) => void): Uint8Array => {
      const root = asn1js.fromBER(generated[2]!, { parseEmbedded: false }).result as asn1js.Sequence;
      edit((root.valueBlock.value[0] as asn1js.Sequence).valueBlock.value);
      return new Uint8Array(root.toBER(false));
    };
    const kids = (b: asn1js.BaseBlock | undefined) => (b as asn1js.Constructed).valueBlock.value;
    // tbs: [0] version, serial, signature, issuer, validity, subject, spki, [3] extensions.
    const exts = (t: asn1js.BaseBlock[]) => kids(kids(t[7])[0]);
    const cases: Array<[string, (t: asn1js.BaseBlock[]) => void]> = [
      ['an extension with an element after its value', (t) => kids(exts(t)[0]).push(new asn1js.Null())],
      ['an extension with a BOOLEAN after its value', (t) => kids(exts(t)[0]).push(new asn1js.Boolean({ value: true }))],
      ['an extension with an INTEGER for critical', (t) => kids(exts(t)[1]).splice(1, 0, new asn1js.Integer({ value: 1 }))],
      ['an extension without a value', (t) => kids(exts(t)[1]).pop()],
      ['an extension whose value is a SEQUENCE', (t) => kids(exts(t)[1]).splice(-1, 1, new asn1js.Sequence())],
      ['an extension whose OID is an INTEGER', (t) => kids(exts(t)[1]).splice(0, 1, new asn1js.Integer({ value: 5 }))],
      ['an algorithm with two parameters', (t) => kids(t[2]).push(new asn1js.Null(), new asn1js.Null())],
      ['an algorithm without parameters', (t) => kids(t[2]).splice(1)],
      ['an algorithm of no elements', (t) => kids(t[2]).splice(0)],
      ['a key algorithm with an element after its parameters', (t) => kids(kids(t[6])[0]).push(new asn1js.Null())],
      ['a key algorithm whose OID is a NULL', (t) => kids(kids(t[6])[0]).splice(0, 1, new asn1js.Null())],
      ['a key info with an element after the key', (t) => kids(t[6]).push(new asn1js.Null())],
      ['a name attribute with three elements', (t) => kids(kids(kids(t[5])[0])[0]).push(new asn1js.Null())],
      ['a name attribute with one element', (t) => kids(kids(kids(t[5])[0])[0]).pop()],
      ['a name with an empty SET', (t) => kids(t[5]).push(new asn1js.Set())],
      ['an empty name', (t) => kids(t[3]).splice(0)],
      ['a name with a SEQUENCE for a SET', (t) => kids(t[5]).push(new asn1js.Sequence({ value: [kids(kids(t[5])[0])[0]!] }))],
      ['a name with two attributes in one SET', (t) => kids(kids(t[5])[0]).push(kids(kids(t[3])[0])[0]!)],
      ['a name attribute whose type is a NULL', (t) => kids(kids(kids(t[3])[0])[0]).splice(0, 1, new asn1js.Null())],
    ];
    const outcomes = cases.map(([what, edit]) => {
      const der = edited(edit);
      let parses = true;
      try {
        pkijs.Certificate.fromBER(der);
      } catch {
        parses = false;
      }
      return [what, parses, agree(der)] as const;
    });
    expect(outcomes.filter(([, , d]) => d !== undefined)).toEqual([]);
    // Both outcomes are among them.
    expect(outcomes.filter(([, p]) => p).length).toBeGreaterThan(5);
    expect(outcomes.filter(([, p]) => !p).length).toBeGreaterThan(3);
  });

  it('and refused alike when the embedded decodes take asn1js past its node ceiling', () => {
    // An extension of more nodes than asn1js decodes in one go (a SEQUENCE of NULLs): the certificate's own
    // tree is small, and only counting the embedded decode of that extension's value reaches the ceiling.
    const c = pkijs.Certificate.fromBER(generated[2]!);
    const nulls = Array.from({ length: asn1js.DEFAULT_MAX_NODES }, () => new asn1js.Null());
    const value = new asn1js.Sequence({ value: nulls }).toBER(false);
    c.extensions!.push(new pkijs.Extension({ extnID: EXTENSION_OIDS.subjectDirectoryAttributes, extnValue: value }));
    const big = new Uint8Array(c.toSchema(true).toBER(false));
    expect(() => pkijs.Certificate.fromBER(big)).toThrow();
    expect(agree(big)).toBeUndefined();
    // With half as many the certificate parses, the same both ways.
    c.extensions!.pop();
    c.extensions!.push(new pkijs.Extension({ extnID: EXTENSION_OIDS.subjectDirectoryAttributes, extnValue: new asn1js.Sequence({ value: nulls.slice(0, 5000) }).toBER(false) }));
    const half = new Uint8Array(c.toSchema(true).toBER(false));
    expect(half.length).toBeGreaterThan(asn1js.DEFAULT_MAX_NODES);
    expect(() => pkijs.Certificate.fromBER(half)).not.toThrow();
    expect(agree(half)).toBeUndefined();
  });

  it('for mutations of them, parsed or refused alike', () => {
    const names = readdirSync(PKITS).filter((n) => n.endsWith('.crt')).sort().filter((_, i) => i % 20 === 0);
    const inputs = [...generated, ...names.map((n) => new Uint8Array(readFileSync(join(PKITS, n))))];
    let parsed = 0;
    let refused = 0;
    const diffs: string[] = [];
    inputs.forEach((der, i) => {
      for (const m of mutations(der, 30, i + 1)) {
        const d = agree(m);
        if (d) diffs.push(d);
        try {
          pkijs.Certificate.fromBER(m);
          parsed++;
        } catch {
          refused++;
        }
      }
    });
    expect(diffs).toEqual([]);
    // Both outcomes are exercised.
    expect(parsed).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(200);
  });
});

describe("the model's keyUsage, extendedKeyUsage and subjectAltName reads are @peculiar/x509's extension classes", () => {
  it('for every NIST PKITS certificate and the test PKI certificates', () => {
    const names = readdirSync(PKITS).filter((n) => n.endsWith('.crt'));
    const inputs = [...generated, ...names.map((n) => new Uint8Array(readFileSync(join(PKITS, n))))];
    expect(inputs.map((d) => extensionsAgree(d)).filter((d) => d !== undefined)).toEqual([]);
  });

  it("the subject's Name is read from the decode's own node of the name", () => {
    for (const der of generated) {
      const c = new ParsedCertificate(new Uint8Array(der), 'test');
      expect(nameNode(c.pkijs.subject)).toBeDefined();
      expect(c.subject).toBe(new x509.X509Certificate(der).subject);
      expect(c.identities.commonNames).toEqual(new x509.X509Certificate(der).subjectName.getField('CN'));
    }
  });

  it('for mutations of the test PKI leaves, read or refused alike', () => {
    const leaves = generated.filter((_, i) => i % 3 === 2);
    let throwing = 0;
    const diffs: string[] = [];
    leaves.forEach((der, i) => {
      for (const m of mutations(der, 200, 100 + i)) {
        const d = extensionsAgree(m);
        if (d) diffs.push(d);
        else if (d === undefined && extensionsAgreeThrows(m)) throwing++;
      }
    });
    expect(diffs).toEqual([]);
    // Some of the mutations hit the extensions so that they do not decode.
    expect(throwing).toBeGreaterThan(20);
  });
});

/** True when one of the three reads throws for `der` (the certificate itself parsing). */
function extensionsAgreeThrows(der: Uint8Array): boolean {
  try {
    const c = new ParsedCertificate(new Uint8Array(der), 'test');
    void c.pkijs;
    return [() => c.keyUsageFlags(), () => c.extendedKeyUsages(), () => c.identities].some((f) => outcome(f) === 'throws');
  } catch {
    return false;
  }
}

describe('the name-constraints shortcut: a subjectAltName it calls decodable decodes', () => {
  /** The leaf with its subjectAltName value replaced by `value`. */
  function withSan(leafDer: Uint8Array, value: Uint8Array): ParsedCertificate {
    const c = new ParsedCertificate(new Uint8Array(leafDer), 'test');
    const exts = c.pkijs.extensions!;
    const i = exts.findIndex((e) => e.extnID === EXTENSION_OIDS.subjectAltName);
    const replacement = new pkijs.Extension({ extnID: EXTENSION_OIDS.subjectAltName, critical: false, extnValue: value.slice().buffer });
    if (i >= 0) exts[i] = replacement;
    else exts.push(replacement);
    return c;
  }

  /** GeneralNames of every form, some odd, encoded by pkijs. */
  function sans(): Uint8Array[] {
    const str = (tag: number, bytes: number[]) => new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: tag }, valueHex: new Uint8Array(bytes).buffer });
    const other = (value: asn1js.AsnType[]) =>
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.ObjectIdentifier({ value: OTHER_NAME_OIDS.userPrincipalName }), new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value })] });
    const dn = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 4 }, value: [new pkijs.RelativeDistinguishedNames({ typesAndValues: [new pkijs.AttributeTypeAndValue({ type: NAME_ATTRIBUTE_OIDS.CN, value: new asn1js.Utf8String({ value: 'x' }) })] }).toSchema()] });
    const sets: asn1js.AsnType[][] = [
      [str(1, [...Buffer.from('alice@example.com')]), other([new asn1js.Utf8String({ value: 'alice@EXAMPLE.COM' })])],
      [str(2, [...Buffer.from('host.example.com')]), str(7, [192, 0, 2, 1]), str(6, [...Buffer.from('https://example.com/')])],
      [str(1, [0xff, 0x00, 0x80]), str(2, []), str(6, [0xc3, 0x28]), str(7, [])],
      [other([new asn1js.Integer({ value: 5 })]), other([new asn1js.Null(), new asn1js.Null()])],
      [str(8, [0x2a, 0x03]), dn, str(3, [1, 2])],
      [],
    ];
    return sets.map((v) => new Uint8Array(new asn1js.Sequence({ value: v }).toBER(false)));
  }

  it('for the test PKI leaves, PKITS certificates, and mutations of GeneralNames of every form', () => {
    const leaf = generated[2]!;
    const pkits = readdirSync(PKITS).filter((n) => n.endsWith('.crt')).map((n) => new Uint8Array(readFileSync(join(PKITS, n))));
    let known = 0;
    const wrong: string[] = [];
    const judge = (c: ParsedCertificate, what: string) => {
      if (!subjectAltNamesKnownToDecode(c)) return;
      known++;
      try {
        if (!Array.isArray(subjectAltNames(c))) wrong.push(`${what}: not a list`);
      } catch (e) {
        wrong.push(`${what}: ${(e as Error).message}`);
      }
    };
    for (const [i, der] of [...generated, ...pkits].entries()) {
      try {
        judge(new ParsedCertificate(new Uint8Array(der), 'test'), `certificate ${i}`);
      } catch {
        // (a PKITS certificate pkijs does not parse is no case here)
      }
    }
    for (const [i, v] of sans().entries()) {
      judge(withSan(leaf, v), `form set ${i}`);
      for (const [k, m] of mutations(v, 250, 500 + i).entries()) judge(withSan(leaf, m), `form set ${i} mutation ${k}`);
    }
    expect(wrong).toEqual([]);
    expect(known).toBeGreaterThan(300);
  });

  it('and calls a duplicated or undecodable one not known, so that the full decode refuses it', () => {
    const leaf = generated[2]!;
    const c = new ParsedCertificate(new Uint8Array(leaf), 'test');
    c.pkijs.extensions!.push(c.pkijs.extensions!.find((e) => e.extnID === EXTENSION_OIDS.subjectAltName)!);
    expect(subjectAltNamesKnownToDecode(c)).toBe(false);
    expect(() => subjectAltNames(c)).toThrow(/twice/);
    const bad = withSan(leaf, new Uint8Array([0x30, 0x03, 0xa4, 0x01, 0x00]));
    expect(subjectAltNamesKnownToDecode(bad)).toBe(false);
    expect(() => subjectAltNames(bad)).toThrow(/corrupt/);
  });
});

describe("the model's public key is what OpenSSL makes of the SubjectPublicKeyInfo", () => {
  /** The key as the model makes it and as the SPKI's DER gives it: `undefined` when the same (or both refused). */
  async function sameKey(der: Uint8Array): Promise<string | undefined> {
    const c = parsedOrNot(der);
    if (!c) return undefined;
    const describeKey = (f: () => import('node:crypto').KeyObject) => {
      try {
        const k = f();
        // The key itself: its JWK (an EC point however it was encoded), or its SPKI where there is no JWK form (DSA).
        const form = k.asymmetricKeyType === 'dsa' ? k.export({ format: 'der', type: 'spki' }).toString('hex') : JSON.stringify(k.export({ format: 'jwk' }));
        return JSON.stringify([k.asymmetricKeyType, String(k.asymmetricKeyDetails?.modulusLength), String(k.asymmetricKeyDetails?.publicExponent), form]);
      } catch {
        return 'refused';
      }
    };
    const model = describeKey(() => c.publicKey);
    const spki = describeKey(() => createPublicKey({ key: Buffer.from(c.pkijs.subjectPublicKeyInfo.toSchema().toBER(false)), format: 'der', type: 'spki' }));
    if (model !== spki) return `model ${model.slice(0, 80)} vs SPKI ${spki.slice(0, 80)}`;
    // loadPublicKey, the verifier's way (EC points imported alone), on a fresh parse.
    const fresh = new ParsedCertificate(new Uint8Array(der), 'test');
    let loaded: import('node:crypto').KeyObject | undefined;
    try {
      loaded = await fresh.loadPublicKey();
    } catch {
      loaded = undefined;
    }
    const viaLoad = loaded ? describeKey(() => loaded!) : 'refused';
    return viaLoad === spki ? undefined : `loadPublicKey ${viaLoad.slice(0, 80)} vs SPKI ${spki.slice(0, 80)}`;
  }

  it('for every NIST PKITS certificate and the test PKI certificates (RSA, EC, Ed25519, DSA)', async () => {
    const names = readdirSync(PKITS).filter((n) => n.endsWith('.crt'));
    const inputs = [...generated, ...names.map((n) => new Uint8Array(readFileSync(join(PKITS, n))))];
    const diffs: string[] = [];
    for (const d of inputs) {
      const r = await sameKey(d);
      if (r) diffs.push(r);
    }
    expect(diffs).toEqual([]);
  });

  it('for mutations of RSA, EC and Ed25519 keys (lengths, INTEGER forms, parameters, points), taken or refused alike', async () => {
    // rsa2048 root and leaf, P-256 and P-384 leaves, ed25519 root and leaf.
    const keyed = [generated[0]!, generated[2]!, generated[5]!, generated[8]!, generated[12]!, generated[14]!];
    const diffs: string[] = [];
    let refused = 0;
    for (const [i, der] of keyed.entries()) {
      const c = new ParsedCertificate(new Uint8Array(der), 'test');
      // The SubjectPublicKeyInfo's place in the DER: mutate only there, so that most mutations still parse.
      const spki = new Uint8Array(c.pkijs.subjectPublicKeyInfo.toSchema().toBER(false));
      const at = Buffer.from(der).indexOf(Buffer.from(spki));
      expect(at).toBeGreaterThan(0);
      // Every single-bit flip of the first 48 octets (the structure: tags, lengths, the algorithm, the INTEGER headers), and random edits anywhere.
      const flips: Uint8Array[] = [];
      for (let k = 0; k < Math.min(48, spki.length) * 8; k++) {
        const m = new Uint8Array(spki);
        m[k >> 3]! ^= 0x80 >> (k & 7);
        flips.push(m);
      }
      for (const m of [...flips, ...mutations(spki, 150, 900 + i)]) {
        if (m.length !== spki.length) continue;
        const whole = new Uint8Array(der);
        whole.set(m, at);
        const d = await sameKey(whole);
        if (d) diffs.push(`${d} (SPKI ${Buffer.from(m).toString('hex').slice(0, 96)})`);
        try {
          void new ParsedCertificate(whole, 'test').publicKey;
        } catch {
          refused++;
        }
      }
    }
    expect(diffs).toEqual([]);
    expect(refused).toBeGreaterThan(100);
  });

  it("for RSAPublicKeys of every other encoding in the key's BIT STRING (bytes after it, BER lengths, INTEGER forms, elements missing or extra), taken or refused alike", () => {
    const rsaLeaf = generated[2]!;
    const pk = new Uint8Array(new ParsedCertificate(new Uint8Array(rsaLeaf), 'test').pkijs.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
    const cat = (...p: ArrayLike<number>[]) => Uint8Array.from(p.flatMap((x) => Array.from(x)));
    const [n, e] = (asn1js.fromBER(pk).result as asn1js.Sequence).valueBlock.value.map((x) => new Uint8Array(x.valueBeforeDecodeView));
    const seq = (...parts: Uint8Array[]) => new Uint8Array(new asn1js.Sequence({ value: parts.map((b) => asn1js.fromBER(b).result) }).toBER(false));
    const int = (bytes: number[]) => cat([2, bytes.length], bytes);
    const variants = [
      pk,
      cat(pk, [0]),
      cat(pk, [2, 1, 1]),
      seq(n!, e!, int([1])),
      seq(n!),
      seq(e!, n!),
      seq(n!, int([0, 1, 0, 1])),
      seq(n!, int([0x81])),
      seq(n!, int([0])),
      seq(n!, int([])),
      cat([0x30, 0x83, 0], pk.subarray(2)),
      cat([0x30, 0x80], pk.subarray(4), [0, 0]),
      cat(pk.subarray(0, 3), [pk[3]! - 1], pk.subarray(4)),
      pk.subarray(0, pk.length - 1),
      cat([0x31], pk.subarray(1)),
      new Uint8Array(0),
      ...mutations(pk, 120, 4242),
    ];
    const diffs: string[] = [];
    let taken = 0;
    for (const [i, bits] of variants.entries()) {
      const c = new ParsedCertificate(new Uint8Array(rsaLeaf), 'test');
      c.pkijs.subjectPublicKeyInfo.subjectPublicKey = new asn1js.BitString({ valueHex: bits.slice().buffer, unusedBits: 0 });
      const key = (f: () => import('node:crypto').KeyObject) => {
        try {
          const k = f();
          return JSON.stringify([k.asymmetricKeyType, String(k.asymmetricKeyDetails?.publicExponent), k.export({ format: 'jwk' })]);
        } catch {
          return 'refused';
        }
      };
      const model = key(() => c.publicKey);
      const spki = key(() => createPublicKey({ key: Buffer.from(c.pkijs.subjectPublicKeyInfo.toSchema().toBER(false)), format: 'der', type: 'spki' }));
      if (model !== spki) diffs.push(`variant ${i}: model ${model.slice(0, 60)} vs SPKI ${spki.slice(0, 60)}`);
      if (model !== 'refused') taken++;
    }
    expect(diffs).toEqual([]);
    // Lax encodings OpenSSL takes are among them, and refused ones.
    expect(taken).toBeGreaterThan(8);
    expect(taken).toBeLessThan(variants.length - 5);
  });
});
