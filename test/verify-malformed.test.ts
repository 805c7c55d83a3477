/**
 * Malformed input to the verifier: each gets a reason of its own and a
 * message, never `internalError`, and the same answer every time (nothing
 * depends on what was verified before). Strict DER (RFC 5280 section 4.1),
 * the blob's order (RFC 6187 section 2.1), and the size bounds.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_OIDS } from '../src/oids.js';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { X509Verifier, type VerifyRequest, type X509VerifierOptions } from '../src/verify/verifier.js';
import { validateCertificatePath } from '../src/verify/pkix/index.js';
import { DATA, blobRequest, corruptExtension, malformedCertificateCases, outerParts, resign, rsaDerCases, strictDerCases } from './helpers/negative-cases.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';

const ALG = 'x509v3-ecdsa-sha2-nistp256';
let dir: string;
let pki: TestPki;
let alice: IssuedCert;
let bob: IssuedCert;
let rsa: IssuedCert;
let ocsp: OpensslRevocation;

function request(certificates: Uint8Array[], o: { query?: boolean; ocsp?: Uint8Array[]; signer?: IssuedCert } = {}): VerifyRequest {
  return blobRequest(certificates, o.signer ?? alice, o);
}

function verifier(o: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' }, ...o });
}

/** The cases' fixture: read when a case is made (beforeAll fills it, after the cases are listed). */
const fixture = {
  get dir() {
    return dir;
  },
  get pki() {
    return pki;
  },
  get certs() {
    return { alice, bob, rsauser: rsa };
  },
  get ocsp() {
    return ocsp;
  },
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-malformed-'));
  pki = await createTestPki(join(dir, 'pki'));
  [alice, bob, rsa] = await Promise.all([pki.issue('alice', 'p256'), pki.issue('bob', 'p256'), pki.issue('rsauser', 'rsa2048')]);
  ocsp = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
  ocsp.valid(alice.certPem);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('internalError is unreachable from input (the fuzzing reproducers), and answers do not depend on history', () => {
  const cases = malformedCertificateCases(fixture);
  for (const { name, make, reason } of cases) {
    it(`${name} → ${reason}, the same every time, signature and query form`, async () => {
      const { req, options: o } = await make();
      for (const cache of [undefined, false] as const) {
        const v = await verifier({ ...o, ...(cache === false ? { cache: false } : {}) });
        const answers = [];
        for (let i = 0; i < 3; i++) {
          answers.push(await v.verify(req));
          const { signature: _s, signedData: _d, ...query } = req;
          answers.push(await v.verify(query));
        }
        for (const r of answers) {
          expect(r.reason).not.toBe('internalError');
          expect(r).toMatchObject({ ok: false, reason });
          expect(r.message).toContain(reason);
        }
      }
    });
  }

  it('a stapled responder refused, its certificate then used elsewhere (its friendly form built), the same input again: the same answer', async () => {
    const badEku = resign(bob.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS.extendedKeyUsage));
    const certPath = join(dir, 'bad-responder-2.pem');
    writeFileSync(certPath, `-----BEGIN CERTIFICATE-----\n${badEku.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
    for (const [responder, der, reason] of [
      [bob, bob.certDer, 'ocspUnauthorized'],
      [{ ...bob, certPath }, badEku, 'revocationInvalid'],
    ] as const) {
      const v = await verifier({ revocation: { mode: 'prefer', fetch: false } });
      const req = request([alice.certDer, pki.intermediate.certDer], { ocsp: [ocsp.ocspResponse(alice.certPath, { signer: responder })] });
      const first = await v.verify(req);
      // The responder's certificate as a leaf: reading the result's chain and path builds its @peculiar/x509 form in the verifier's store.
      const other = await v.verify(request([der, pki.intermediate.certDer], { signer: bob }));
      try {
        void other.chain?.certificates.length;
        void other.path?.length;
      } catch {
        // A certificate @peculiar/x509 cannot read: the getters may throw; the verifier's answers must not change.
      }
      const second = await v.verify(req);
      expect(first).toMatchObject({ ok: false, reason });
      expect(second).toMatchObject({ ok: false, reason });
    }
  });
});

describe('strict DER, each refused with its own reason', () => {
  const cases = strictDerCases(fixture);
  for (const [name, make, reason] of cases) {
    it(`${name} → ${reason}`, async () => {
      const v = await verifier();
      const r = await v.verify(request([make(), pki.intermediate.certDer]));
      expect(r).toMatchObject({ ok: false, reason });
      expect(r.message).toContain(reason);
      // And on the intermediate as well.
      const i = make === cases[5]![1] ? Buffer.concat([pki.intermediate.certDer, Buffer.from([0])]) : undefined;
      if (i) expect(await v.verify(request([alice.certDer, i]))).toMatchObject({ ok: false, reason });
    });
  }

  it('the control: the same certificates, untouched, are accepted', async () => {
    expect((await (await verifier()).verify(request([alice.certDer, pki.intermediate.certDer]))).ok).toBe(true);
  });
});

describe('strict DER of RSA-signed certificates (signatureAlgorithm with NULL parameters), whatever was checked before', () => {
  const RSA_ALG = 'x509v3-rsa2048-sha256';
  let rsaPki: TestPki;
  let carol: IssuedCert;
  beforeAll(async () => {
    rsaPki = await createTestPki(join(dir, 'rsa-pki'), { rootKind: 'rsa2048', intermediateKind: 'rsa2048' });
    carol = await rsaPki.issue('carol', 'rsa2048');
  }, 120_000);

  function rsaRequest(leaf: Uint8Array): VerifyRequest {
    const publicKey = encodePublicKeyBlob({ algorithm: RSA_ALG, certificates: [leaf, rsaPki.intermediate.certDer], ocspResponses: [] });
    return { username: 'carol', algorithm: RSA_ALG, publicKey, signedData: DATA, signature: encodeSignatureBlob(RSA_ALG, sign('sha256', DATA, createPrivateKey(carol.keyPem))) };
  }
  const cases = rsaDerCases({
    get rsaPki() {
      return rsaPki;
    },
    get carol() {
      return carol;
    },
  });
  it('each refused with its own reason, before and after the untouched certificate is accepted, with and without the chain cache', async () => {
    expect(outerParts(carol.certDer).alg.subarray(-2)).toEqual(Buffer.from([0x05, 0x00]));
    for (const cache of [undefined, false] as const) {
      const v = await X509Verifier.create({ trustAnchors: [rsaPki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' }, ...(cache === false ? { cache } : {}) });
      for (const round of [0, 1]) {
        for (const [name, make, reason] of cases) {
          const r = await v.verify(rsaRequest(make()));
          expect(r, `${name} (round ${round})`).toMatchObject({ ok: false, reason });
          expect(r.message).toContain(reason);
        }
        expect((await v.verify(rsaRequest(carol.certDer))).ok).toBe(true);
      }
    }
  });
});

describe("the blob's certificates in issuing order (RFC 6187 section 2.1)", () => {
  it('refuses a misordered chain unless laxChainOrder, duplicates and unrelated certificates always', async () => {
    const v = await verifier();
    const misordered = request([alice.certDer, pki.root.certDer, pki.intermediate.certDer]);
    expect(await v.verify(misordered)).toMatchObject({ ok: false, reason: 'chainOrder' });
    expect((await (await verifier({ laxChainOrder: true })).verify(misordered)).ok).toBe(true);
    expect((await v.verify(request([alice.certDer, pki.intermediate.certDer, pki.root.certDer]))).ok).toBe(true);
    for (const lax of [false, true]) {
      const w = await verifier({ laxChainOrder: lax });
      expect(await w.verify(request([alice.certDer, pki.intermediate.certDer, pki.intermediate.certDer]))).toMatchObject({ ok: false, reason: 'duplicateCertificate' });
      expect(await w.verify(request([alice.certDer, pki.intermediate.certDer, bob.certDer]))).toMatchObject({ ok: false, reason: 'unrelatedCertificate' });
    }
  });
});

describe('bounds', () => {
  it('RSA moduli above maxRsaModulusBits are refused before any signature is checked', async () => {
    const sig = sign('sha256', DATA, createPrivateKey(rsa.keyPem));
    const publicKey = encodePublicKeyBlob({ algorithm: 'x509v3-rsa2048-sha256', certificates: [rsa.certDer, pki.intermediate.certDer], ocspResponses: [] });
    const req = { username: 'rsauser', algorithm: 'x509v3-rsa2048-sha256', publicKey, signedData: DATA, signature: encodeSignatureBlob('x509v3-rsa2048-sha256', sig) };
    expect((await (await verifier()).verify(req)).ok).toBe(true);
    expect(await (await verifier({ maxRsaModulusBits: 1024 })).verify(req)).toMatchObject({ ok: false, reason: 'tooLarge' });
  });

  it('a 30 kB RSA modulus (the slowest input the fuzzer once found) is refused tooLarge before its signature is checked', async () => {
    const modulus = Buffer.alloc(30_000, 0xc5);
    modulus[0] = 0x00;
    modulus[modulus.length - 1] = 0x01;
    const rsaKey = new asn1js.Sequence({ value: [new asn1js.Integer({ valueHex: modulus }), new asn1js.Integer({ value: 65537 })] }).toBER(false);
    const der = resign(rsa.certDer, pki.intermediate.keyPem, (c) => {
      c.subjectPublicKeyInfo = new pkijs.PublicKeyInfo({ algorithm: c.subjectPublicKeyInfo.algorithm, subjectPublicKey: new asn1js.BitString({ valueHex: rsaKey }) });
    });
    const publicKey = encodePublicKeyBlob({ algorithm: 'x509v3-rsa2048-sha256', certificates: [der, pki.intermediate.certDer], ocspResponses: [] });
    const sig = Buffer.alloc(30_000, 1);
    const req = { username: 'rsauser', algorithm: 'x509v3-rsa2048-sha256', publicKey, signedData: DATA, signature: encodeSignatureBlob('x509v3-rsa2048-sha256', sig) };
    expect(await (await verifier()).verify(req)).toMatchObject({ ok: false, reason: 'tooLarge' });
  });

  it('a dozen self-issued certificates of one name, which could be chained in 12! orders: the path search is bounded', async () => {
    const name = pkijs.Certificate.fromBER(pki.intermediate.certDer).subject;
    const loops = Array.from({ length: 12 }, (_, i) =>
      resign(pki.intermediate.certDer, pki.root.keyPem, (c) => {
        c.issuer = name;
        c.serialNumber = new asn1js.Integer({ value: 1000 + i });
      }),
    );
    const r = await validateCertificatePath({ certificates: [alice.certDer, ...loops], trustAnchors: [pki.root.certDer] });
    expect(r).toMatchObject({ valid: false, reason: 'noIssuer' });
  });

  it('a blob above maxBlobSize is malformedBlob', async () => {
    const req = request([alice.certDer, pki.intermediate.certDer]);
    expect(await (await verifier({ limits: { maxBlobSize: req.publicKey.length - 1 } })).verify(req)).toMatchObject({ ok: false, reason: 'malformedBlob' });
    expect((await (await verifier({ limits: { maxBlobSize: req.publicKey.length } })).verify(req)).ok).toBe(true);
  });
});
