/**
 * Certificates, chains, identities, the software signer, and the blob's
 * leaf-key checks, on a real generated PKI with openssl as the independent check.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateChain,
  encodePublicKeyBlob,
  matchesFingerprint,
  orderChain,
  parseCertificates,
  parseX509PublicKey,
  SoftwareSigner,

  usernameFromCertificate,
} from '../src/index.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { codeOf } from './helpers/bytes.js';

let dir: string;
let pki: TestPki;
let p256: IssuedCert;
let p384: IssuedCert;
let rsa1024: IssuedCert;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-certs-'));
  pki = await createTestPki(join(dir, 'pki'));
  p256 = await pki.issue('alice', 'p256');
  p384 = await pki.issue('bob', 'p384');
  rsa1024 = await pki.issue('old', 'rsa1024');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('chains', () => {
  it('puts the leaf first and each issuer after it, from any order, leaving the root out by default', () => {
    const certs = parseCertificates(readFileSync(pki.root.certPath, 'utf8') + readFileSync(p256.certPath, 'utf8') + readFileSync(pki.intermediate.certPath, 'utf8'));
    const subjects = (c: ReturnType<typeof orderChain>) => c.map((x) => x.subject.replace(/^.*CN=/, ''));
    expect(subjects(orderChain(certs))).toEqual(['alice', 'ssh-x509 Test Intermediate CA']);
    expect(subjects(orderChain(certs, { includeRoot: true }))).toEqual(['alice', 'ssh-x509 Test Intermediate CA', 'ssh-x509 Test Root CA']);
    expect(subjects(orderChain([...certs].reverse()))).toEqual(['alice', 'ssh-x509 Test Intermediate CA']);
  });

  it('loads DER as well as PEM', () => {
    const chain = CertificateChain.from([p256.certDer, pki.intermediate.certDer]);
    expect(chain.certificates.length).toBe(2);
    expect(chain.keyFacts).toMatchObject({ keyType: 'ec', nodeCurve: 'prime256v1' });
  });

  it('refuses a set with two leaves, or none, or garbage, with typed errors', async () => {
    const two = parseCertificates([p256.certPem, p384.certPem, readFileSync(pki.intermediate.certPath, 'utf8')]);
    expect(await codeOf(() => orderChain(two))).toBe('ERR_CHAIN_INVALID');
    expect(await codeOf(() => orderChain([]))).toBe('ERR_CHAIN_INVALID');
    expect(await codeOf(() => parseCertificates('no pem here'))).toBe('ERR_CERT_INVALID');
    expect(await codeOf(() => parseCertificates(Buffer.from([0x30, 0x03, 1, 2, 3])))).toBe('ERR_CERT_INVALID');
    expect(await codeOf(CertificateChain.fromFiles(join(dir, 'missing.pem')))).toBe('ERR_FILE_UNREADABLE');
  });

  it('computes the SHA-256 and SHA-1 fingerprints openssl computes', () => {
    const chain = CertificateChain.from(p256.certPem);
    const sslFp = (alg: string) => execFileSync('openssl', ['x509', '-in', p256.certPath, '-noout', '-fingerprint', `-${alg}`], { encoding: 'utf8' }).trim().split('=')[1]!;
    expect(chain.fingerprints.sha1).toBe(sslFp('sha1'));
    expect(chain.fingerprints.sha256Hex).toBe(sslFp('sha256').replace(/:/g, '').toLowerCase());
    expect(matchesFingerprint(chain.leaf, chain.fingerprints.sha256)).toBe(true);
    expect(matchesFingerprint(chain.leaf, `sha256:${sslFp('sha256')}`)).toBe(true);
    expect(matchesFingerprint(chain.leaf, sslFp('sha1'))).toBe(true);
    expect(matchesFingerprint(chain.leaf, CertificateChain.from(p384.certPem).fingerprints.sha256)).toBe(false);
  });
});

describe('identities', () => {
  it('reads the UPN (whole or local part), CN and email', () => {
    const cert = CertificateChain.from(p256.certPem).leaf;
    expect(usernameFromCertificate(cert, 'upn')).toBe('alice@EXAMPLE.COM');
    expect(usernameFromCertificate(cert, 'upn-local')).toBe('alice');
    expect(usernameFromCertificate(cert, 'cn')).toBe('alice');
    expect(usernameFromCertificate(cert, 'email')).toBe('alice@example.com');
    expect(usernameFromCertificate(cert, (_c, ids) => ids.emails[0]!.toUpperCase())).toBe('ALICE@EXAMPLE.COM');
  });

  it('says which field is missing or ambiguous instead of guessing', async () => {
    const none = await pki.issue('no-upn', 'p256', { upn: [], email: null });
    const two = await pki.issue('two-upn', 'p256', { upn: ['a@EXAMPLE.COM', 'b@EXAMPLE.COM'] });
    const leaf = (c: IssuedCert) => CertificateChain.from(c.certPem).leaf;
    expect(await codeOf(() => usernameFromCertificate(leaf(none), 'upn'))).toBe('ERR_IDENTITY_MISSING');
    expect(await codeOf(() => usernameFromCertificate(leaf(none), 'email'))).toBe('ERR_IDENTITY_MISSING');
    expect(await codeOf(() => usernameFromCertificate(leaf(two), 'upn-local'))).toBe('ERR_IDENTITY_AMBIGUOUS');
    expect(() => usernameFromCertificate(leaf(two), 'upn')).toThrow(/2 values for UPN/);
  });
});

describe('software signer', () => {
  const data = Buffer.from('to be signed');

  it('picks the leaf matching the key and signs verifiably for every key format', async () => {
    const sec1 = join(dir, 'sec1.pem');
    execFileSync('openssl', ['ec', '-in', p256.keyPath, '-out', sec1], { stdio: 'ignore' });
    const rsa = await pki.issue('carol', 'rsa2048');
    const pkcs1 = join(dir, 'pkcs1.pem');
    execFileSync('openssl', ['rsa', '-in', rsa.keyPath, '-traditional', '-out', pkcs1], { stdio: 'ignore' });
    expect(readFileSync(pkcs1, 'utf8')).toContain('BEGIN RSA PRIVATE KEY');
    expect(readFileSync(sec1, 'utf8')).toContain('BEGIN EC PRIVATE KEY');
    for (const [cert, key, hash] of [
      [p256, sec1, 'sha256'],
      [rsa, pkcs1, 'sha256'],
      [rsa, rsa.keyPath, 'sha1'],
    ] as const) {
      const s = await SoftwareSigner.fromFiles({ certificateFile: [pki.intermediate.certPath, cert.certPath], keyFile: key });
      expect(s.chain.leaf.subject).toBe(CertificateChain.from(cert.certPem).leaf.subject);
      const sig = await s.sign(data, hash);
      const pub = createPublicKey(cert.certPem);
      expect(verify(hash, data, pub.asymmetricKeyType === 'ec' ? { key: pub, dsaEncoding: 'ieee-p1363' } : pub, sig)).toBe(true);
    }
  });

  it('decrypts an encrypted PKCS#8 key with the passphrase, and says what is wrong otherwise', async () => {
    const enc = join(dir, 'enc.pem');
    execFileSync('openssl', ['pkcs8', '-topk8', '-in', p256.keyPath, '-out', enc, '-passout', 'pass:s3cret', '-v2', 'aes-256-cbc'], { stdio: 'ignore' });
    const s = await SoftwareSigner.fromFiles({ certificateFile: p256.chainPath, keyFile: enc, passphrase: 's3cret' });
    expect(s.chain.certificates.length).toBe(2);
    const wrong = SoftwareSigner.fromFiles({ certificateFile: p256.chainPath, keyFile: enc, passphrase: 'nope' });
    await expect(wrong).rejects.toMatchObject({ code: 'ERR_KEY_INVALID', message: expect.stringContaining('wrong passphrase') });
    await expect(wrong).rejects.not.toMatchObject({ message: expect.stringContaining('nope') });
    await expect(SoftwareSigner.fromFiles({ certificateFile: p256.chainPath, keyFile: enc })).rejects.toMatchObject({ code: 'ERR_KEY_INVALID', message: expect.stringContaining('no passphrase') });
  });

  it('refuses a key that matches no certificate, and an unreadable key', async () => {
    await expect(SoftwareSigner.fromFiles({ certificateFile: p256.chainPath, keyFile: p384.keyPath })).rejects.toMatchObject({ code: 'ERR_KEY_CERT_MISMATCH' });
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a key');
    await expect(SoftwareSigner.fromFiles({ certificateFile: p256.chainPath, keyFile: junk })).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
  });
});

describe('blob leaf-key checks', () => {
  const blobOf = (algorithm: string, c: IssuedCert) => encodePublicKeyBlob({ algorithm, certificates: [c.certDer, pki.intermediate.certDer], ocspResponses: [] });

  it('accepts a leaf whose key fits the algorithm and parses the chain as sent', () => {
    const k = parseX509PublicKey(blobOf('x509v3-ecdsa-sha2-nistp256', p256));
    expect(k.algorithm.name).toBe('x509v3-ecdsa-sha2-nistp256');
    expect(k.chain.certificates.length).toBe(2);
    expect(parseX509PublicKey(blobOf('x509v3-ssh-rsa', rsa1024)).chain.keyFacts.bits).toBe(1024);
  });

  it('refuses the wrong key type or curve for the name, and RSA < 2048 for rsa2048-sha256', async () => {
    expect(await codeOf(() => parseX509PublicKey(blobOf('x509v3-ecdsa-sha2-nistp256', p384)))).toBe('ERR_KEY_ALGORITHM_MISMATCH');
    expect(await codeOf(() => parseX509PublicKey(blobOf('x509v3-ssh-ed25519', p256)))).toBe('ERR_KEY_ALGORITHM_MISMATCH');
    expect(await codeOf(() => parseX509PublicKey(blobOf('x509v3-rsa2048-sha256', rsa1024)))).toBe('ERR_KEY_ALGORITHM_MISMATCH');
    expect(() => parseX509PublicKey(blobOf('x509v3-rsa2048-sha256', rsa1024))).toThrow(/at least 2048 bits, the key has 1024/);
  });

  it('refuses a blob whose certificate is not DER X.509', async () => {
    const blob = encodePublicKeyBlob({ algorithm: 'x509v3-ssh-rsa', certificates: [Buffer.from('garbage')], ocspResponses: [] });
    expect(await codeOf(() => parseX509PublicKey(blob))).toBe('ERR_CERT_INVALID');
  });
});
