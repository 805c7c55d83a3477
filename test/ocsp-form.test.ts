/**
 * The OCSP response parse of src/verify/revocation/ocsp.ts (the common
 * response found by position in asn1js's decode, without pkijs's schema
 * matches) gives what pkijs's own route gives (`parseWithPkijs`), field for
 * field, or the same refusal: for real responses from `openssl ocsp` (good,
 * revoked, unknown, signed by the CA or a delegated responder, by name or
 * by key, with and without embedded certificates, nonce and nextUpdate, RSA
 * and ECDSA), thousands of mutations of them (bit flips, byte edits,
 * truncations, tag and length edits, anywhere or within the response data),
 * and structural edits that keep the DER well formed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateStore } from '../src/verify/certificates.js';
import { parseOcspResponse, parseWithPkijs, type BasicOcspParts } from '../src/verify/revocation/ocsp.js';
import { Refusal } from '../src/verify/reasons.js';
import { EKU_OIDS } from '../src/oids.js';
import { embeddedDecodes, mutations, same } from './helpers/differential.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';

const store = new CertificateStore();

type Outcome = { parts: BasicOcspParts } | { refusal: string };

function run(f: () => BasicOcspParts): Outcome {
  try {
    return { parts: f() };
  } catch (e) {
    if (e instanceof Refusal) return { refusal: `${e.reason}: ${e.message}` };
    return { refusal: `not a refusal: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** What both routes give, compared: `undefined` when they agree. */
function agree(der: Uint8Array, withFull = false): string | undefined {
  const want = run(() => parseWithPkijs(der, store));
  const got = run(() => parseOcspResponse(der, store));
  if ('refusal' in want || 'refusal' in got) {
    const w = 'refusal' in want ? want.refusal : 'parses';
    const g = 'refusal' in got ? got.refusal : 'parses';
    return w === g ? undefined : `pkijs: ${w}; here: ${g}`;
  }
  const view = (p: BasicOcspParts) => ({
    tbsResponseData: p.tbsResponseData,
    signatureAlgorithm: p.signatureAlgorithm,
    signature: p.signature,
    certs: p.certs.map((c) => c.der),
  });
  const d = same(view(got.parts), view(want.parts), 'basic');
  if (d || !withFull) return d;
  const full = (p: BasicOcspParts) => {
    try {
      return p.full();
    } catch (e) {
      return `throws ${(e as Error).message}`;
    }
  };
  return same(full(got.parts), full(want.parts), 'full');
}

/** The byte range of the BasicOCSPResponse's tbsResponseData within `der`. */
function tbsSpan(der: Uint8Array): [number, number] {
  const tbs = (parseWithPkijs(der, store).tbsResponseData.tbsView);
  const at = Buffer.from(der).indexOf(Buffer.from(tbs));
  return [at, at + tbs.length];
}

/**
 * Structural edits of the BasicOCSPResponse that keep the DER well formed:
 * each edit changes the decoded tree (a child added, removed, duplicated or
 * retagged) and the response is encoded again around it.
 */
function structuralEdits(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const reencode = (edit: (inner: asn1js.Sequence) => void): void => {
    const outer = asn1js.fromBER(der, { parseEmbedded: false }).result as asn1js.Sequence;
    const rb = ((outer.valueBlock.value[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
    const octets = rb[1] as asn1js.OctetString;
    const inner = asn1js.fromBER(octets.valueBlock.valueHexView, { parseEmbedded: false }).result as asn1js.Sequence;
    edit(inner);
    rb[1] = new asn1js.OctetString({ valueHex: inner.toBER(false) });
    out.push(new Uint8Array(outer.toBER(false)));
  };
  const kids = (b: asn1js.BaseBlock) => (b as asn1js.Constructed).valueBlock.value;
  const tbsOf = (inner: asn1js.Sequence) => kids(inner)[0]!;
  const single = (inner: asn1js.Sequence) => kids(kids(tbsOf(inner)).find((n) => n.idBlock.tagClass === 1 && n.idBlock.tagNumber === 16)!)[0]!;
  const version = (n: number) => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: n })] });
  reencode(() => undefined); // re-encoded as is
  reencode((i) => kids(tbsOf(i)).unshift(version(0))); // explicit version v1
  reencode((i) => kids(tbsOf(i)).unshift(version(1)));
  reencode((i) => kids(tbsOf(i)).push(new asn1js.Null())); // something after the response data
  reencode((i) => kids(i).push(new asn1js.Null())); // a fifth element
  reencode((i) => kids(i).splice(3)); // no certificates
  reencode((i) => {
    if (kids(i)[3]) kids(kids(kids(i)[3]!)[0]!).length = 0; // an empty certificate list
  });
  reencode((i) => kids(single(i)).push(new asn1js.Null())); // something after a SingleResponse's fields
  reencode((i) => kids(single(i)).splice(3)); // no nextUpdate
  reencode((i) => {
    const s = single(i);
    kids(s).push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: [new asn1js.Sequence()] })); // empty singleExtensions
  });
  reencode((i) => {
    const s = single(i);
    kids(s)[1] = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 } }); // unknown
  });
  reencode((i) => {
    const s = single(i);
    kids(s)[1] = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: new Uint8Array([1, 2]).buffer }); // good, with content
  });
  reencode((i) => {
    const s = single(i);
    kids(s)[1] = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] }); // good, constructed
  });
  reencode((i) => {
    const s = single(i);
    const when = new asn1js.GeneralizedTime({ valueDate: new Date(Date.UTC(2026, 0, 1)) });
    const reason = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Enumerated({ value: 1 })] });
    kids(s)[1] = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: [when, reason] }); // revoked with a reason
  });
  reencode((i) => {
    const s = single(i);
    kids(s)[1] = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: [new asn1js.UTCTime({ valueDate: new Date(Date.UTC(2026, 0, 1)) })] }); // revoked, wrong time type
  });
  reencode((i) => {
    const list = kids(tbsOf(i)).find((n) => n.idBlock.tagClass === 1 && n.idBlock.tagNumber === 16)!;
    kids(list).push(kids(list)[0]!); // two SingleResponses
  });
  reencode((i) => {
    const list = kids(tbsOf(i)).find((n) => n.idBlock.tagClass === 1 && n.idBlock.tagNumber === 16)!;
    kids(list).length = 0; // no SingleResponse
  });
  reencode((i) => {
    const alg = kids(i)[1]!;
    kids(alg).push(new asn1js.Null(), new asn1js.Null()); // an AlgorithmIdentifier of three
  });
  reencode((i) => {
    const rid = kids(tbsOf(i)).find((n) => n.idBlock.tagClass === 3)!;
    kids(rid).push(new asn1js.Null()); // a responderID of two
  });
  return out;
}

let dir: string;
let pki: TestPki;
const responses: Array<[string, Buffer]> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-ocsp-form-'));
  pki = await createTestPki(join(dir, 'pki'));
  const rsa = await createTestPki(join(dir, 'rsa'), { rootKind: 'rsa2048', intermediateKind: 'rsa2048' });
  const db = new OpensslRevocation(join(dir, 'db'), pki.intermediate);
  const rsaDb = new OpensslRevocation(join(dir, 'rsa-db'), rsa.intermediate);
  const [good, revoked, unknown, responder, rsaUser] = await Promise.all([
    pki.issue('good', 'p256'),
    pki.issue('revoked', 'p256'),
    pki.issue('unknown', 'ed25519'),
    pki.issue('responder', 'p256', { eku: [EKU_OIDS.ocspSigning] }),
    rsa.issue('rsa', 'rsa2048'),
  ]);
  db.valid(good.certPem);
  db.revoke(revoked.certPem);
  db.valid(responder.certPem);
  rsaDb.valid(rsaUser.certPem);
  responses.push(
    ['good', db.ocspResponse(good.certPath)],
    ['revoked', db.ocspResponse(revoked.certPath)],
    ['unknown', db.ocspResponse(unknown.certPath)],
    ['delegated', db.ocspResponse(good.certPath, { signer: responder })],
    ['by key', db.ocspResponse(good.certPath, { extra: ['-resp_key_id'] })],
    ['no certificates', db.ocspResponse(good.certPath, { extra: ['-resp_no_certs'] })],
    ['nonce', db.ocspResponse(good.certPath, { nonce: true })],
    ['no nextUpdate', db.ocspResponse(good.certPath, { nextUpdate: false })],
    ['RSA', rsaDb.ocspResponse(rsaUser.certPath)],
  );
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OCSP response parse against pkijs', () => {
  it('gives what pkijs gives for every kind of openssl response, without pkijs decoding the octets inside', () => {
    expect(responses.map(([n]) => n)).toHaveLength(9);
    for (const [name, der] of responses) {
      expect(agree(der, true), name).toBeUndefined();
      const got = parseOcspResponse(der, store);
      const want = parseWithPkijs(der, store);
      expect(got.tbsResponseData.responses.length, name).toBe(1);
      // The route found by position decodes no octet or bit string contents (pkijs's decodes the signature's at least).
      expect(embeddedDecodes({ d: got.tbsResponseData, s: got.signature }), name).toBe(0);
      if (name !== 'RSA') expect(embeddedDecodes({ d: want.tbsResponseData, s: want.signature }), name).toBeGreaterThan(0);
    }
    const status = (n: string) => (parseOcspResponse(responses.find(([k]) => k === n)![1], store).tbsResponseData.responses[0]!.certStatus as asn1js.BaseBlock).idBlock.tagNumber;
    expect([status('good'), status('revoked'), status('unknown')]).toEqual([0, 1, 2]);
    const get = (n: string) => parseOcspResponse(responses.find(([k]) => k === n)![1], store);
    expect(get('by key').tbsResponseData.responderID).toBeInstanceOf(asn1js.OctetString);
    expect(get('no certificates').certs).toHaveLength(0);
    expect(get('nonce').tbsResponseData.responseExtensions).toHaveLength(1);
    expect(get('no nextUpdate').tbsResponseData.responses[0]!.nextUpdate).toBeUndefined();
  });

  it('gives the same answer or the same refusal for thousands of mutations', () => {
    let refused = 0;
    let parsed = 0;
    for (const [i, [name, der]] of responses.entries()) {
      const [from, to] = tbsSpan(der);
      const anywhere = mutations(der, 300, 7000 + i);
      // Mutations within the response data (the bytes after it unchanged), where most of the reading is.
      const inData = mutations(der.subarray(0, to), 300, 8000 + i).filter((m) => m.length > from).map((m) => Buffer.concat([m, der.subarray(to)]));
      for (const [k, m] of [...anywhere, ...inData].entries()) {
        const d = agree(m);
        expect(d, `${name} mutation ${k}`).toBeUndefined();
        if ('refusal' in run(() => parseWithPkijs(m, store))) refused++;
        else parsed++;
      }
    }
    // Both outcomes are well represented: the mutations reach both routes' refusals and their answers.
    expect(refused).toBeGreaterThan(500);
    expect(parsed).toBeGreaterThan(500);
  });

  it('gives the same answer or the same refusal for structural edits that keep the DER well formed', () => {
    let n = 0;
    for (const [name, der] of responses) {
      for (const [k, m] of structuralEdits(der).entries()) {
        expect(agree(m, true), `${name} edit ${k}`).toBeUndefined();
        n++;
      }
      // Trailing bytes after the OCSPResponse, within its response octets, and an OCSPResponse of three elements.
      expect(agree(Buffer.concat([der, Buffer.from([0x05, 0x00])]), true), `${name} trailing`).toBeUndefined();
      const outer = asn1js.fromBER(der, { parseEmbedded: false }).result as asn1js.Sequence;
      const rb = ((outer.valueBlock.value[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
      rb[1] = new asn1js.OctetString({ valueHex: Buffer.concat([(rb[1] as asn1js.OctetString).valueBlock.valueHexView, Buffer.from([0x05, 0x00])]) });
      expect(agree(new Uint8Array(outer.toBER(false)), true), `${name} trailing in the octets`).toBeUndefined();
      outer.valueBlock.value.push(new asn1js.Null());
      expect(agree(new Uint8Array(outer.toBER(false)), true), `${name} three elements`).toBeUndefined();
    }
    expect(n).toBeGreaterThan(100);
  });

  it('refuses what is not a successful basic response as pkijs does', () => {
    const cases: Uint8Array[] = [
      new Uint8Array([]),
      new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x01]), // malformedRequest, no responseBytes
      new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x00]), // successful, no responseBytes
      new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), // an INTEGER status
    ];
    for (const c of cases) {
      expect(agree(c)).toBeUndefined();
      expect(run(() => parseOcspResponse(c, store))).toHaveProperty('refusal');
    }
  });
});
