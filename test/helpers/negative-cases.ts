/**
 * The verifier's refusal cases, in one place: the negative matrix
 * (test/verify.test.ts), the malformed-certificate reproducers and strict
 * DER cases (test/verify-malformed.test.ts), and the blob's order and
 * bounds; each a request (and the verifier options it needs) with the
 * reason it is refused with. test/verify-history.test.ts runs them all on
 * a fresh and on a warm verifier.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { getAlgorithm } from '../../src/algorithms.js';
import { EXTENSION_OIDS, SIGNATURE_ALGORITHM_OIDS } from '../../src/oids.js';
import { encodePublicKeyBlob } from '../../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../../src/rfc6187/signature.js';
import type { VerifyRequest, X509VerifierOptions } from '../../src/verify/verifier.js';
import { SshWriter } from '../../src/wire/writer.js';
import { OID_SECURE_SHELL_SERVER, type IssuedCert, type IssueOptions, type KeyKind, type TestPki } from './pki.js';
import type { OpensslRevocation } from './revocation.js';

export const DATA = Buffer.from('session id and userauth request fields');
const DAY = 86400_000;
const P256 = 'x509v3-ecdsa-sha2-nistp256';

/** One refusal case: the request, the options of the verifier it goes to, and the reason it is refused with. */
export interface NegativeCase {
  readonly name: string;
  readonly make: () => Promise<{ req: VerifyRequest; options?: Partial<X509VerifierOptions> }>;
  readonly reason: string;
}

/** The leaves the cases use, issued by the PKI's intermediate (issue them all with {@link issueNegativeLeaves}). */
export function negativeLeaves(): Array<[string, KeyKind, IssueOptions?]> {
  const now = Date.now();
  return [
    ['alice', 'p256'],
    ['bob', 'p256'],
    ['p384user', 'p384'],
    ['rsauser', 'rsa2048'],
    ['rsa1024user', 'rsa1024'],
    ['expired', 'p256', { notBefore: new Date(now - 3 * DAY), notAfter: new Date(now - DAY) }],
    ['future', 'p256', { notBefore: new Date(now + DAY), notAfter: new Date(now + 30 * DAY) }],
    ['selfie', 'p256', { issuer: 'self' }],
    ['caleaf', 'p256', { isCA: true }],
    ['kuenc', 'p256', { keyUsage: 'keyEncipherment' }],
    ['serverauth', 'p256', { eku: ['1.3.6.1.5.5.7.3.1'] }],
    ['sshserver', 'p256', { eku: [OID_SECURE_SHELL_SERVER] }],
  ];
}

/** Issues every leaf of {@link negativeLeaves} into `certs`. */
export async function issueNegativeLeaves(pki: TestPki, certs: Record<string, IssuedCert>): Promise<void> {
  await Promise.all(negativeLeaves().map(async ([name, kind, o]) => (certs[name] = await pki.issue(name, kind, o))));
}

/** The signature primitive of `issued`'s key over `data` for `algorithm`. */
export function primitive(issued: IssuedCert, algorithm: string, data: Uint8Array): Buffer {
  const alg = getAlgorithm(algorithm);
  const key = createPrivateKey(issued.keyPem);
  if (alg.keyType === 'ed25519') return sign(null, data, key);
  if (alg.keyType === 'rsa') return sign(alg.hash!, data, key);
  return sign(alg.hash!, data, { key, dsaEncoding: 'ieee-p1363' });
}

/** How {@link loginRequest} differs from a good login. */
export interface ReqOpts {
  /** Sign with this algorithm (the key's own), under `algorithm`'s format name. */
  keyAlgorithm?: string;
  username?: string;
  certificates?: Uint8Array[];
  ocsp?: Uint8Array[];
  signedOver?: Uint8Array;
  query?: boolean;
  blob?: Uint8Array;
}

/** The signature blob under `algorithm`'s format name, made with the key's own algorithm when they differ. */
function signatureFor(issued: IssuedCert, algorithm: string, o: ReqOpts): Buffer {
  const own = o.keyAlgorithm ?? algorithm;
  const blob = encodeSignatureBlob(own, primitive(issued, own, o.signedOver ?? DATA));
  if (own === algorithm) return blob;
  const inner = blob.subarray(4 + blob.readUInt32BE(0) + 4);
  return new SshWriter().string(getAlgorithm(algorithm).signatureFormat).string(inner).toBuffer();
}

/** A login of `issued` with `algorithm` (by default: leaf and intermediate, signed over {@link DATA}). */
export function loginRequest(pki: TestPki, issued: IssuedCert, algorithm: string, o: ReqOpts = {}): VerifyRequest {
  const publicKey = o.blob ?? encodePublicKeyBlob({ algorithm, certificates: o.certificates ?? [issued.certDer, pki.intermediate.certDer], ocspResponses: o.ocsp ?? [] });
  return {
    username: o.username ?? issued.name,
    algorithm,
    publicKey,
    ...(o.query ? {} : { signedData: DATA, signature: signatureFor(issued, algorithm, o) }),
  };
}

/** A P-256 login as alice sending exactly `certificates`, signed by `signer` (default alice). */
export function blobRequest(certificates: Uint8Array[], signer: IssuedCert, o: { query?: boolean; ocsp?: Uint8Array[] } = {}): VerifyRequest {
  const publicKey = encodePublicKeyBlob({ algorithm: P256, certificates, ocspResponses: o.ocsp ?? [] });
  if (o.query) return { username: 'alice', algorithm: P256, publicKey };
  const sig = sign('sha256', DATA, { key: createPrivateKey(signer.keyPem), dsaEncoding: 'ieee-p1363' });
  return { username: 'alice', algorithm: P256, publicKey, signedData: DATA, signature: encodeSignatureBlob(P256, sig) };
}

/** Re-signs `der` after `mutate` changed its TBS, with the issuer's P-256 key (ecdsa-with-SHA256). */
export function resign(der: Uint8Array, keyPem: string, mutate: (c: pkijs.Certificate) => void): Buffer {
  const c = pkijs.Certificate.fromBER(der);
  mutate(c);
  const tbs = Buffer.from(c.encodeTBS().toBER(false));
  c.signatureValue = new asn1js.BitString({ valueHex: sign('sha256', tbs, createPrivateKey(keyPem)) });
  return Buffer.from(c.toSchema(true).toBER(false));
}

/** A P-256 SubjectPublicKeyInfo whose point is not on the curve: pkijs parses it, node:crypto refuses it. */
export function badEcKey(c: pkijs.Certificate): void {
  const point = new Uint8Array(65).fill(1);
  point[0] = 4;
  c.subjectPublicKeyInfo = new pkijs.PublicKeyInfo({ algorithm: c.subjectPublicKeyInfo.algorithm, subjectPublicKey: new asn1js.BitString({ valueHex: point }) });
}

/** Replaces (or adds) an extension's value with DER that is not what the extension's type says. */
export function corruptExtension(oid: string): (c: pkijs.Certificate) => void {
  return (c) => {
    const garbage = new asn1js.Integer({ value: 5 }).toBER(false);
    const rest = (c.extensions ?? []).filter((e) => e.extnID !== oid);
    c.extensions = [...rest, new pkijs.Extension({ extnID: oid, critical: false, extnValue: garbage })];
  };
}

/** The outer SEQUENCE's elements of a certificate, as DER slices. */
export function outerParts(der: Uint8Array): { tbs: Buffer; alg: Buffer; sig: Buffer } {
  const seq = asn1js.fromBER(der).result as asn1js.Sequence;
  const [tbs, alg, sig] = seq.valueBlock.value.map((b) => Buffer.from(b.valueBeforeDecodeView));
  return { tbs: tbs!, alg: alg!, sig: sig! };
}

/** A SEQUENCE of `content`, its length in DER, in a 5-octet long form, or indefinite. */
export function sequence(content: Buffer, lengthForm: 'der' | 'long5' | 'indefinite' = 'der'): Buffer {
  if (lengthForm === 'indefinite') return Buffer.concat([Buffer.from([0x30, 0x80]), content, Buffer.from([0, 0])]);
  const n = content.length;
  if (lengthForm === 'long5') return Buffer.concat([Buffer.from([0x30, 0x84, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), content]);
  const len = n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([0x30]), len, content]);
}

/** What the cases are made from: the PKI, its leaves ({@link negativeLeaves}), a directory to write into, and the intermediate's OCSP signer. */
export interface NegativeFixture {
  readonly dir: string;
  readonly pki: TestPki;
  readonly certs: Readonly<Record<string, IssuedCert>>;
  /** The intermediate's `openssl ocsp`, alice marked valid. */
  readonly ocsp: OpensslRevocation;
}

/** The negative matrix: one refusal per rule of the verifier, each with its reason. */
export function negativeMatrix(f: NegativeFixture): NegativeCase[] {
  const certs = f.certs;
  const request = (i: IssuedCert, a: string, o?: ReqOpts) => loginRequest(f.pki, i, a, o);
  const cases: Array<[string, () => VerifyRequest, string]> = [
    ['expired leaf', () => request(certs.expired!, P256), 'expired'],
    ['not yet valid leaf', () => request(certs.future!, P256), 'notYetValid'],
    ['missing intermediate', () => request(certs.alice!, P256, { certificates: [certs.alice!.certDer] }), 'missingIntermediate'],
    ['self-signed leaf', () => request(certs.selfie!, P256, { certificates: [certs.selfie!.certDer] }), 'selfSignedLeaf'],
    ['CA certificate as leaf', () => request(certs.caleaf!, P256), 'caAsLeaf'],
    ['keyUsage without digitalSignature', () => request(certs.kuenc!, P256), 'keyUsage'],
    ['EKU serverAuth only', () => request(certs.serverauth!, P256), 'ekuMismatch'],
    ['EKU secureShellServer on a user certificate', () => request(certs.sshserver!, P256), 'ekuMismatch'],
    ['RSA 1024 under rsa2048-sha256', () => request(certs.rsa1024user!, 'x509v3-rsa2048-sha256'), 'keyAlgorithmMismatch'],
    ['P-384 key under nistp256', () => request(certs.p384user!, P256, { keyAlgorithm: 'x509v3-ecdsa-sha2-nistp384' }), 'keyAlgorithmMismatch'],
    ['signature over other data', () => request(certs.alice!, P256, { signedOver: Buffer.from('other data') }), 'badSignature'],
    ['right chain, wrong account', () => request(certs.alice!, P256, { username: 'bob' }), 'accountMismatch'],
    ['algorithm in blob differs from the request', () => ({ ...request(certs.alice!, P256), algorithm: 'x509v3-ecdsa-sha2-nistp384' }), 'malformedBlob'],
    ['non-X.509 algorithm', () => ({ ...request(certs.alice!, P256), algorithm: 'ecdsa-sha2-nistp256' }), 'algorithmNotAllowed'],
    [
      'trailing bytes in the blob',
      () => {
        const r = request(certs.alice!, P256);
        return { ...r, publicKey: Buffer.concat([r.publicKey, Buffer.from([0])]) };
      },
      'malformedBlob',
    ],
    ['2^32-1 certificate count', () => ({ ...request(certs.alice!, P256), publicKey: new SshWriter().string(P256).uint32(0xffffffff).string(certs.alice!.certDer).toBuffer() }), 'malformedBlob'],
    ['garbage certificate', () => request(certs.alice!, P256, { certificates: [Buffer.from('not a certificate')] }), 'malformedBlob'],
  ];
  return cases.map(([name, make, reason]) => ({ name, reason, make: async () => ({ req: make() }) }));
}

/** Certificates that parse but fail later (the fuzzer's reproducers): each refused with its own reason, never internalError. */
export function malformedCertificateCases(f: NegativeFixture): NegativeCase[] {
  const request = (certificates: Uint8Array[], o: { ocsp?: Uint8Array[] } = {}) => blobRequest(certificates, f.certs.alice!, o);
  // Read when a case is made (the fixture is filled in beforeAll, after the cases are listed).
  const at = () => ({ pki: f.pki, dir: f.dir, ocsp: f.ocsp, alice: f.certs.alice!, bob: f.certs.bob! });
  type Row = [string, () => Promise<{ req: VerifyRequest; options?: Partial<X509VerifierOptions> }>, string];
  const list: Row[] = [
    ['a leaf key pkijs parses and node:crypto cannot import', async () => {
      const { pki, alice } = at();
      return { req: request([resign(alice.certDer, pki.intermediate.keyPem, badEcKey), pki.intermediate.certDer]) };
    }, 'unsupportedKey'],
    ['an issuer key pkijs parses and node:crypto cannot import', async () => {
      const { pki, alice } = at();
      return { req: request([alice.certDer, resign(pki.intermediate.certDer, pki.root.keyPem, badEcKey)]) };
    }, 'unsupportedKey'],
    ...(['basicConstraints', 'extendedKeyUsage', 'keyUsage'] as const).map((ext): Row => [
      `a corrupt ${ext} on the leaf`,
      async () => {
        const { pki, alice } = at();
        return { req: request([resign(alice.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS[ext])), pki.intermediate.certDer]) };
      },
      'malformedCertificate',
    ]),
    [
      'a corrupt basicConstraints on the intermediate',
      async () => {
        const { pki, alice } = at();
        return { req: request([alice.certDer, resign(pki.intermediate.certDer, pki.root.keyPem, corruptExtension(EXTENSION_OIDS.basicConstraints))]) };
      },
      'malformedCertificate',
    ],
    [
      "a corrupt EKU in a stapled OCSP responder's certificate",
      async () => {
        const { pki, dir, ocsp, alice, bob } = at();
        const der = resign(bob.certDer, pki.intermediate.keyPem, corruptExtension(EXTENSION_OIDS.extendedKeyUsage));
        const certPath = join(dir, 'bad-responder.pem');
        writeFileSync(certPath, `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
        const resp = ocsp.ocspResponse(alice.certPath, { signer: { ...bob, certPath } });
        return { req: request([alice.certDer, pki.intermediate.certDer], { ocsp: [resp] }), options: { revocation: { mode: 'prefer', fetch: false } } };
      },
      'revocationInvalid',
    ],
  ];
  return list.map(([name, make, reason]) => ({ name, make, reason }));
}

/** Strict DER (RFC 5280 section 4.1) of alice's certificate: each encoding problem, as the certificate's DER, with its reason. */
export function strictDerCases(f: { readonly certs: Readonly<Record<string, IssuedCert>> }): Array<[string, () => Uint8Array, string]> {
  const alice = { get certDer() { return f.certs.alice!.certDer; } };
  return [
    [
      'signatureAlgorithm differs from tbsCertificate.signature',
      () => {
        const p = outerParts(alice.certDer);
        const other = Buffer.from(new pkijs.AlgorithmIdentifier({ algorithmId: SIGNATURE_ALGORITHM_OIDS.ecdsaWithSha384 }).toSchema().toBER(false));
        return sequence(Buffer.concat([p.tbs, other, p.sig]));
      },
      'signatureAlgorithmMismatch',
    ],
    [
      'a length in long form where the short one fits (BER)',
      () => {
        const p = outerParts(alice.certDer);
        return sequence(Buffer.concat([p.tbs, p.alg, p.sig]), 'long5');
      },
      'nonCanonicalDer',
    ],
    [
      'an indefinite length (BER)',
      () => {
        const p = outerParts(alice.certDer);
        return sequence(Buffer.concat([p.tbs, p.alg, p.sig]), 'indefinite');
      },
      'nonCanonicalDer',
    ],
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
}

/** Strict DER of an RSA-signed certificate (signatureAlgorithm with NULL parameters): carol's, under an all-RSA PKI. */
export function rsaDerCases(f: { readonly rsaPki: TestPki; readonly carol: IssuedCert }): Array<[string, () => Uint8Array, string]> {
  /** sha256WithRSAEncryption's OID, as DER. */
  const oidDer = () => Buffer.from(new asn1js.ObjectIdentifier({ value: SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption }).toBER(false));
  const withOuterAlg = (alg: Buffer) => {
    const p = outerParts(f.carol.certDer);
    return sequence(Buffer.concat([p.tbs, alg, p.sig]));
  };
  return [
    ['the NULL of signatureAlgorithm with its length in long form (05 81 00)', () => withOuterAlg(sequence(Buffer.concat([oidDer(), Buffer.from([0x05, 0x81, 0x00])]))), 'nonCanonicalDer'],
    ['signatureAlgorithm without the NULL that tbsCertificate.signature has', () => withOuterAlg(sequence(oidDer())), 'signatureAlgorithmMismatch'],
    ['signatureAlgorithm with an empty OCTET STRING for the NULL', () => withOuterAlg(sequence(Buffer.concat([oidDer(), Buffer.from([0x04, 0x00])]))), 'signatureAlgorithmMismatch'],
    [
      'tbsCertificate.signature without the NULL that signatureAlgorithm has (re-signed)',
      () =>
        resign(f.carol.certDer, f.rsaPki.intermediate.keyPem, (c) => {
          c.signature = new pkijs.AlgorithmIdentifier({ algorithmId: SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption });
        }),
      'signatureAlgorithmMismatch',
    ],
  ];
}

/** RFC 6187 section 2.1 (the blob in issuing order, no duplicates, nothing unrelated) and the size bounds. */
export function orderAndBoundsCases(f: NegativeFixture): NegativeCase[] {
  // Read when a case is made (the fixture is filled in beforeAll, after the cases are listed).
  const at = () => ({ pki: f.pki, alice: f.certs.alice!, bob: f.certs.bob!, rsa: f.certs.rsauser! });
  const chain = (certs: (x: ReturnType<typeof at>) => Uint8Array[]) => async () => ({ req: blobRequest(certs(at()), at().alice) });
  const rsaAlg = 'x509v3-rsa2048-sha256';
  const rsaLogin = (der: Uint8Array, sig: Uint8Array): VerifyRequest => ({
    username: 'rsauser',
    algorithm: rsaAlg,
    publicKey: encodePublicKeyBlob({ algorithm: rsaAlg, certificates: [der, f.pki.intermediate.certDer], ocspResponses: [] }),
    signedData: DATA,
    signature: encodeSignatureBlob(rsaAlg, sig),
  });
  return [
    { name: 'a misordered chain', reason: 'chainOrder', make: chain(({ alice, pki }) => [alice.certDer, pki.root.certDer, pki.intermediate.certDer]) },
    { name: 'the intermediate twice', reason: 'duplicateCertificate', make: chain(({ alice, pki }) => [alice.certDer, pki.intermediate.certDer, pki.intermediate.certDer]) },
    { name: 'the leaf twice', reason: 'duplicateCertificate', make: chain(({ alice, pki }) => [alice.certDer, pki.intermediate.certDer, alice.certDer]) },
    { name: 'an unrelated certificate', reason: 'unrelatedCertificate', make: chain(({ alice, bob, pki }) => [alice.certDer, pki.intermediate.certDer, bob.certDer]) },
    {
      name: 'an RSA modulus above maxRsaModulusBits',
      reason: 'tooLarge',
      make: async () => {
        const { rsa } = at();
        return { req: rsaLogin(rsa.certDer, sign('sha256', DATA, createPrivateKey(rsa.keyPem))), options: { maxRsaModulusBits: 1024 } };
      },
    },
    {
      name: 'a 30 kB RSA modulus',
      reason: 'tooLarge',
      make: async () => {
        const modulus = Buffer.alloc(30_000, 0xc5);
        modulus[0] = 0x00;
        modulus[modulus.length - 1] = 0x01;
        const rsaKey = new asn1js.Sequence({ value: [new asn1js.Integer({ valueHex: modulus }), new asn1js.Integer({ value: 65537 })] }).toBER(false);
        const { rsa, pki } = at();
        const der = resign(rsa.certDer, pki.intermediate.keyPem, (c) => {
          c.subjectPublicKeyInfo = new pkijs.PublicKeyInfo({ algorithm: c.subjectPublicKeyInfo.algorithm, subjectPublicKey: new asn1js.BitString({ valueHex: rsaKey }) });
        });
        return { req: rsaLogin(der, Buffer.alloc(30_000, 1)) };
      },
    },
    {
      name: 'a blob above maxBlobSize',
      reason: 'malformedBlob',
      make: async () => {
        const { alice, pki } = at();
        const req = blobRequest([alice.certDer, pki.intermediate.certDer], alice);
        return { req, options: { limits: { maxBlobSize: req.publicKey.length - 1 } } };
      },
    },
  ];
}
