/**
 * The verifier's trust anchors and the CA issuance rules, on logins: the
 * trust anchor ends the path wherever it stands in the blob (an
 * intermediate trusted directly, with the root sent after it); what follows
 * it must still name each certificate's issuer; positions in messages count
 * from 1; an anchor's own critical extensions and a certificate that breaks
 * an issuance rule are refused, each unless the option that says so.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { X509Verifier, type VerifyRequest, type X509VerifierOptions } from '../src/verify/verifier.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';

const ALG = 'x509v3-ecdsa-sha2-nistp256';
const DATA = Buffer.from('session id and userauth request fields');
let dir: string;
let pki: TestPki;
let other: TestPki;
let alice: IssuedCert;

function request(certificates: Uint8Array[]): VerifyRequest {
  const publicKey = encodePublicKeyBlob({ algorithm: ALG, certificates, ocspResponses: [] });
  const sig = sign('sha256', DATA, { key: createPrivateKey(alice.keyPem), dsaEncoding: 'ieee-p1363' });
  return { username: 'alice', algorithm: ALG, publicKey, signedData: DATA, signature: encodeSignatureBlob(ALG, sig) };
}

function verifier(anchors: string[], o: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({ trustAnchors: anchors, account: { map: 'upn-local' }, revocation: { mode: 'off' }, cache: false, ...o });
}

/** Re-signs `der` after `mutate` changed its TBS, with `keyPem` (P-256, ecdsa-with-SHA256). */
function resign(der: Uint8Array, keyPem: string, mutate: (c: pkijs.Certificate) => void): Buffer {
  const c = pkijs.Certificate.fromBER(der);
  mutate(c);
  const tbs = Buffer.from(c.encodeTBS().toBER(false));
  c.signatureValue = new asn1js.BitString({ valueHex: sign('sha256', tbs, createPrivateKey(keyPem)) });
  return Buffer.from(c.toSchema(true).toBER(false));
}

function pemFile(name: string, der: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-anchor-'));
  pki = await createTestPki(join(dir, 'pki'));
  other = await createTestPki(join(dir, 'other'));
  alice = await pki.issue('alice', 'p256');
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the trust anchor ends the path', () => {
  it('an intermediate trusted directly is accepted with the root sent after it, and without it', async () => {
    const v = await verifier([pki.intermediate.certPath]);
    expect(await v.verify(request([alice.certDer, pki.intermediate.certDer, pki.root.certDer]))).toMatchObject({ ok: true });
    expect(await v.verify(request([alice.certDer, pki.intermediate.certDer]))).toMatchObject({ ok: true });
    expect(await v.verify(request([alice.certDer]))).toMatchObject({ ok: true });
  });

  it('what follows the anchor must name each certificate issuer: another PKI\'s root is unrelated, counted from 1', async () => {
    const v = await verifier([pki.intermediate.certPath]);
    const r = await v.verify(request([alice.certDer, pki.intermediate.certDer, other.root.certDer]));
    expect(r).toMatchObject({ ok: false, reason: 'unrelatedCertificate' });
    expect(r.message).toContain('certificate 3 of the blob');
  });

  it('with the root as anchor, the same blobs are judged as before, positions counted from 1', async () => {
    const v = await verifier([pki.root.certPath]);
    expect(await v.verify(request([alice.certDer, pki.intermediate.certDer, pki.root.certDer]))).toMatchObject({ ok: true });
    const dup = await v.verify(request([alice.certDer, pki.intermediate.certDer, pki.intermediate.certDer]));
    expect(dup).toMatchObject({ ok: false, reason: 'duplicateCertificate' });
    expect(dup.message).toContain('certificate 3 of the blob');
    const order = await v.verify(request([alice.certDer, pki.root.certDer, pki.intermediate.certDer]));
    expect(order).toMatchObject({ ok: false, reason: 'chainOrder' });
    expect(order.message).toContain('certificate 2 of the blob');
  });
});

describe('trust anchor constraints and issuance rules on logins', () => {
  it("an anchor's unknown critical extension is refused unless ignoreTrustAnchorConstraints", async () => {
    const root = resign(pki.root.certDer, pki.root.keyPem, (c) => {
      c.extensions = [...(c.extensions ?? []), new pkijs.Extension({ extnID: '1.3.6.1.4.1.55738.666.1', critical: true, extnValue: new asn1js.Null().toBER(false) })];
    });
    const anchors = [pemFile('root-critical.pem', root)];
    const blob = request([alice.certDer, pki.intermediate.certDer]);
    expect(await (await verifier(anchors)).verify(blob)).toMatchObject({ ok: false, reason: 'pathConstraint' });
    expect(await (await verifier(anchors, { ignoreTrustAnchorConstraints: true })).verify(blob)).toMatchObject({ ok: true });
  });

  it('a leaf with serial number 0 is refused serialNumber unless laxIssuanceRules', async () => {
    const leaf = resign(alice.certDer, pki.intermediate.keyPem, (c) => {
      c.serialNumber = new asn1js.Integer({ value: 0 });
    });
    const blob = request([leaf, pki.intermediate.certDer]);
    const r = await (await verifier([pki.root.certPath])).verify(blob);
    expect(r).toMatchObject({ ok: false, reason: 'serialNumber' });
    expect(await (await verifier([pki.root.certPath], { laxIssuanceRules: true })).verify(blob)).toMatchObject({ ok: true });
  });
});
