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
import { EXTENSION_OIDS, SIGNATURE_ALGORITHM_OIDS } from '../src/oids.js';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { X509Verifier, type VerifyRequest, type X509VerifierOptions } from '../src/verify/verifier.js';
import { validateCertificatePath } from '../src/verify/pkix/index.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';

const ALG = 'x509v3-ecdsa-sha2-nistp256';
const DATA = Buffer.from('session id and userauth request fields');
let dir: string;
let pki: TestPki;
let alice: IssuedCert;
let bob: IssuedCert;
let rsa: IssuedCert;
let ocsp: OpensslRevocation;

/** Re-signs `der` after `mutate` changed its TBS, with the issuer's P-256 key (ecdsa-with-SHA256). */
function resign(der: Uint8Array, keyPem: string, mutate: (c: pkijs.Certificate) => void): Buffer {
  const c = pkijs.Certificate.fromBER(der);
  mutate(c);
  const tbs = Buffer.from(c.encodeTBS().toBER(false));
  c.signatureValue = new asn1js.BitString({ valueHex: sign('sha256', tbs, createPrivateKey(keyPem)) });
  return Buffer.from(c.toSchema(true).toBER(false));
}

/** A P-256 SubjectPublicKeyInfo whose point is not on the curve: pkijs parses it, node:crypto refuses it. */
function badEcKey(c: pkijs.Certificate): void {
  const point = new Uint8Array(65).fill(1);
  point[0] = 4;
  c.subjectPublicKeyInfo = new pkijs.PublicKeyInfo({ algorithm: c.subjectPublicKeyInfo.algorithm, subjectPublicKey: new asn1js.BitString({ valueHex: point }) });
}

/** Replaces (or adds) an extension's value with DER that is not what the extension's type says. */
function corruptExtension(oid: string): (c: pkijs.Certificate) => void {
  return (c) => {
    const garbage = new asn1js.Integer({ value: 5 }).toBER(false);
    const rest = (c.extensions ?? []).filter((e) => e.extnID !== oid);
    c.extensions = [...rest, new pkijs.Extension({ extnID: oid, critical: false, extnValue: garbage })];
  };
}

function request(certificates: Uint8Array[], o: { query?: boolean; ocsp?: Uint8Array[]; signer?: IssuedCert } = {}): VerifyRequest {
  const publicKey = encodePublicKeyBlob({ algorithm: ALG, certificates, ocspResponses: o.ocsp ?? [] });
  if (o.query) return { username: 'alice', algorithm: ALG, publicKey };
  const sig = sign('sha256', DATA, { key: createPrivateKey((o.signer ?? alice).keyPem), dsaEncoding: 'ieee-p1363' });
  return { username: 'alice', algorithm: ALG, publicKey, signedData: DATA, signature: encodeSignatureBlob(ALG, sig) };
}

function verifier(o: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' }, ...o });
}

/** The outer SEQUENCE's elements of a certificate, as DER slices. */
function outerParts(der: Uint8Array): { tbs: Buffer; alg: Buffer; sig: Buffer } {
  const seq = asn1js.fromBER(der).result as asn1js.Sequence;
  const [tbs, alg, sig] = seq.valueBlock.value.map((b) => Buffer.from(b.valueBeforeDecodeView));
  return { tbs: tbs!, alg: alg!, sig: sig! };
}

function sequence(content: Buffer, lengthForm: 'der' | 'long5' | 'indefinite' = 'der'): Buffer {
  if (lengthForm === 'indefinite') return Buffer.concat([Buffer.from([0x30, 0x80]), content, Buffer.from([0, 0])]);
  const n = content.length;
  if (lengthForm === 'long5') return Buffer.concat([Buffer.from([0x30, 0x84, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), content]);
  const len = n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([0x30]), len, content]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-malformed-'));
  pki = await createTestPki(join(dir, 'pki'));
  [alice, bob, rsa] = await Promise.all([pki.issue('alice', 'p256'), pki.issue('bob', 'p256'), pki.issue('rsauser', 'rsa2048')]);
  ocsp = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
  ocsp.valid(alice.certPem);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('internalError is unreachable from input (the fuzzing reproducers), and answers do not depend on history', () => {
  const cases: Array<[string, () => Promise<{ req: VerifyRequest; o?: Partial<X509VerifierOptions> }>, string]> = [
    ['a leaf key pkijs parses and node:crypto cannot import', async () => ({ req: request([resign(alice.certDer, pki.intermediate.keyPem, badEcKey), pki.intermediate.certDer]) }), 'unsupportedKey'],
    [
      'an issuer key pkijs parses and node:crypto cannot import',
      async () => ({ req: request([alice.certDer, resign(pki.intermediate.certDer, pki.root.keyPem, badEcKey)]) }),
      'unsupportedKey',
    ],
    [
      'a corrupt basicConstraints on the leaf',
      async () => ({ req: request([resign(alice.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS.basicConstraints)), pki.intermediate.certDer]) }),
      'malformedCertificate',
    ],
    [
      'a corrupt extendedKeyUsage on the leaf',
      async () => ({ req: request([resign(alice.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS.extendedKeyUsage)), pki.intermediate.certDer]) }),
      'malformedCertificate',
    ],
    [
      'a corrupt keyUsage on the leaf',
      async () => ({ req: request([resign(alice.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS.keyUsage)), pki.intermediate.certDer]) }),
      'malformedCertificate',
    ],
    [
      'a corrupt basicConstraints on the intermediate',
      async () => ({ req: request([alice.certDer, resign(pki.intermediate.certDer, pki.root.keyPem, corruptExtension(EXTENSION_OIDS.basicConstraints))]) }),
      'malformedCertificate',
    ],
    [
      "a corrupt EKU in a stapled OCSP responder's certificate",
      async () => {
        const der = resign(bob.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS.extendedKeyUsage));
        const certPath = join(dir, 'bad-responder.pem');
        writeFileSync(certPath, `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
        const resp = ocsp.ocspResponse(alice.certPath, { signer: { ...bob, certPath } });
        return { req: request([alice.certDer, pki.intermediate.certDer], { ocsp: [resp] }), o: { revocation: { mode: 'prefer', fetch: false } } };
      },
      'revocationInvalid',
    ],
  ];
  for (const [name, make, reason] of cases) {
    it(`${name} → ${reason}, the same every time, signature and query form`, async () => {
      const { req, o } = await make();
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
  const cases: Array<[string, () => Uint8Array, string]> = [
    [
      'signatureAlgorithm differs from tbsCertificate.signature',
      () => {
        const p = outerParts(alice.certDer);
        const other = Buffer.from(new pkijs.AlgorithmIdentifier({ algorithmId: SIGNATURE_ALGORITHM_OIDS.ecdsaWithSha384 }).toSchema().toBER(false));
        return sequence(Buffer.concat([p.tbs, other, p.sig]));
      },
      'signatureAlgorithmMismatch',
    ],
    ['a length in long form where the short one fits (BER)', () => {
      const p = outerParts(alice.certDer);
      return sequence(Buffer.concat([p.tbs, p.alg, p.sig]), 'long5');
    }, 'nonCanonicalDer'],
    ['an indefinite length (BER)', () => {
      const p = outerParts(alice.certDer);
      return sequence(Buffer.concat([p.tbs, p.alg, p.sig]), 'indefinite');
    }, 'nonCanonicalDer'],
    [
      'a signature BIT STRING with unused bits',
      () => {
        const p = outerParts(alice.certDer);
        const sig = Buffer.from(p.sig);
        const hdr = sig[1]! < 0x80 ? 2 : 2 + (sig[1]! & 0x7f);
        sig[hdr] = 1;
        return sequence(Buffer.concat([p.tbs, p.alg, sig]));
      },
      'signatureUnusedBits',
    ],
    [
      'an element after signatureValue',
      () => {
        const p = outerParts(alice.certDer);
        return sequence(Buffer.concat([p.tbs, p.alg, p.sig, Buffer.from([0x05, 0x00])]));
      },
      'certificateTrailingElements',
    ],
    ["bytes after a certificate's DER", () => Buffer.concat([alice.certDer, Buffer.from([0])]), 'certificateTrailingBytes'],
  ];
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
  /** sha256WithRSAEncryption's OID, as DER. */
  const oidDer = () => Buffer.from(new asn1js.ObjectIdentifier({ value: SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption }).toBER(false));
  const withOuterAlg = (alg: Buffer) => {
    const p = outerParts(carol.certDer);
    return sequence(Buffer.concat([p.tbs, alg, p.sig]));
  };
  const cases: Array<[string, () => Uint8Array, string]> = [
    ['the NULL of signatureAlgorithm with its length in long form (05 81 00)', () => withOuterAlg(sequence(Buffer.concat([oidDer(), Buffer.from([0x05, 0x81, 0x00])]))), 'nonCanonicalDer'],
    ['signatureAlgorithm without the NULL that tbsCertificate.signature has', () => withOuterAlg(sequence(oidDer())), 'signatureAlgorithmMismatch'],
    ['signatureAlgorithm with an empty OCTET STRING for the NULL', () => withOuterAlg(sequence(Buffer.concat([oidDer(), Buffer.from([0x04, 0x00])]))), 'signatureAlgorithmMismatch'],
    [
      'tbsCertificate.signature without the NULL that signatureAlgorithm has (re-signed)',
      () =>
        resign(carol.certDer, rsaPki.intermediate.keyPem, (c) => {
          c.signature = new pkijs.AlgorithmIdentifier({ algorithmId: SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption });
        }),
      'signatureAlgorithmMismatch',
    ],
  ];
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
