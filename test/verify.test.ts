import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob, signatureBlobFromInner } from '../src/rfc6187/signature.js';
import { SshWriter } from '../src/wire/writer.js';
import { X509Verifier, type X509VerifierOptions } from '../src/verify/verifier.js';
import { parseAuthorizedSubjectsFile } from '../src/verify/binding.js';
import { DATA, loginRequest, negativeMatrix, primitive, type ReqOpts } from './helpers/negative-cases.js';
import { createTestPki, OID_CLIENT_AUTH, OID_SECURE_SHELL_SERVER, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation, freePort } from './helpers/revocation.js';

const DAY = 86400_000;
let dir: string;
let pki: TestPki;
let ocsp: OpensslRevocation;
const certs: Record<string, IssuedCert> = {};

/** A login of `issued` (test/helpers/negative-cases.ts). */
function request(issued: IssuedCert, algorithm: string, o: ReqOpts = {}) {
  return loginRequest(pki, issued, algorithm, o);
}

function verifier(o: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' }, ...o });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-verify-'));
  pki = await createTestPki(join(dir, 'pki'));
  const issue = async (name: string, kind: Parameters<TestPki['issue']>[1], opts?: Parameters<TestPki['issue']>[2]) => (certs[name] = await pki.issue(name, kind, opts));
  await Promise.all([
    issue('alice', 'p256'),
    issue('bob', 'p256'),
    issue('p384user', 'p384'),
    issue('p521user', 'p521'),
    issue('eduser', 'ed25519'),
    issue('rsauser', 'rsa2048'),
    issue('rsa1024user', 'rsa1024'),
    issue('expired', 'p256', { notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) }),
    issue('future', 'p256', { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) }),
    issue('selfie', 'p256', { issuer: 'self' }),
    issue('caleaf', 'p256', { isCA: true }),
    issue('kuenc', 'p256', { keyUsage: 'keyEncipherment' }),
    issue('serverauth', 'p256', { eku: ['1.3.6.1.5.5.7.3.1'] }),
    issue('sshserver', 'p256', { eku: [OID_SECURE_SHELL_SERVER] }),
    issue('clientauth', 'p256', { eku: [OID_CLIENT_AUTH] }),
    issue('noeku', 'p256', { eku: [], keyUsage: 'none' }),
    issue('revoked', 'p256'),
    issue('responder', 'p256', { eku: ['1.3.6.1.5.5.7.3.9'] }),
  ]);
  ocsp = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
  for (const n of ['alice', 'bob', 'responder']) ocsp.valid(certs[n]!.certPem);
  ocsp.revoke(certs.revoked!.certPem);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('accepts', () => {
  const cases: Array<[string, string]> = [
    ['alice', 'x509v3-ecdsa-sha2-nistp256'],
    ['p384user', 'x509v3-ecdsa-sha2-nistp384'],
    ['p521user', 'x509v3-ecdsa-sha2-nistp521'],
    ['eduser', 'x509v3-ssh-ed25519'],
    ['rsauser', 'x509v3-rsa2048-sha256'],
    ['rsauser', 'x509v3-ssh-rsa'],
  ];
  for (const [name, algorithm] of cases) {
    it(`${algorithm} with a real signature, explaining the decision`, async () => {
      const v = await verifier({ allowSha1Algorithms: algorithm === 'x509v3-ssh-rsa' });
      const r = await v.verify(request(certs[name]!, algorithm));
      expect(r.reason).toBeUndefined();
      expect(r).toMatchObject({ ok: true, query: false, account: name, binding: 'map:upn-local', algorithm, revocationSource: 'none', cached: false });
      expect(r.subject).toBe(`O=ssh-x509 Test, CN=${name}`);
      expect(r.fingerprint).toMatch(/^SHA256:/);
      expect(r.path!.map((c) => c.subject)).toEqual([r.subject, 'O=ssh-x509 Test, CN=ssh-x509 Test Intermediate CA', 'O=ssh-x509 Test, CN=ssh-x509 Test Root CA']);
      // The same chain again comes from the cache, and still needs a good signature.
      expect(await v.verify(request(certs[name]!, algorithm))).toMatchObject({ ok: true, cached: true });
      expect(await v.verify(request(certs[name]!, algorithm, { signedOver: Buffer.from('other') }))).toMatchObject({ ok: false, reason: 'badSignature', cached: true });
    });
  }

  it('x509v3-ssh-rsa is refused unless SHA-1 is allowed', async () => {
    const r = await (await verifier()).verify(request(certs.rsauser!, 'x509v3-ssh-rsa'));
    expect(r).toMatchObject({ ok: false, reason: 'algorithmNotAllowed' });
  });

  it('the ssh2-client signature form (x509v3 name as format) and nothing else', async () => {
    const v = await verifier();
    const alg = 'x509v3-ecdsa-sha2-nistp256';
    const prim = primitive(certs.alice!, alg, DATA);
    const rfc = encodeSignatureBlob(alg, prim);
    const inner = rfc.subarray(4 + 'ecdsa-sha2-nistp256'.length + 4);
    const ssh2Form = new SshWriter().string(alg).string(inner).toBuffer();
    const base = request(certs.alice!, alg, { query: true });
    expect((await v.verify({ ...base, signedData: DATA, signature: ssh2Form })).ok).toBe(true);
    const other = new SshWriter().string('ecdsa-sha2-nistp384').string(inner).toBuffer();
    expect(await v.verify({ ...base, signedData: DATA, signature: other })).toMatchObject({ ok: false, reason: 'badSignature' });
    const strict = await verifier({ strictSignatureFormat: true });
    expect(await strict.verify({ ...base, signedData: DATA, signature: ssh2Form })).toMatchObject({ ok: false, reason: 'badSignature' });
    // What ssh2's server hands over: the RFC blob as is, or the bare signature once it stripped the x509v3 name.
    expect(signatureBlobFromInner(rfc, alg)).toEqual(rfc);
    expect(Buffer.from(signatureBlobFromInner(inner, alg))).toEqual(ssh2Form);
    expect((await v.verify({ ...base, signedData: DATA, signature: signatureBlobFromInner(inner, alg) })).ok).toBe(true);
  });

  it('the query form: ok only for a chain that would be accepted', async () => {
    const v = await verifier();
    expect(await v.verify(request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256', { query: true }))).toMatchObject({ ok: true, query: true, account: 'alice' });
    expect(await v.verify(request(certs.expired!, 'x509v3-ecdsa-sha2-nistp256', { query: true }))).toMatchObject({ ok: false, query: true, reason: 'expired' });
    expect(await v.verify(request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256', { query: true, username: 'bob' }))).toMatchObject({ ok: false, reason: 'accountMismatch' });
  });

  it('intermediates from a configured pool when the blob has the leaf only', async () => {
    const v = await verifier({ intermediates: [pki.intermediate.certPath] });
    expect((await v.verify(request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256', { certificates: [certs.alice!.certDer] }))).ok).toBe(true);
  });

  it('trust anchors from a directory', async () => {
    const v = await verifier({ trustAnchors: [join(dir, 'pki', 'root')] });
    expect((await v.verify(request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256'))).ok).toBe(true);
  });

  it('clientAuth-only EKU only with the named compat option', async () => {
    const req = request(certs.clientauth!, 'x509v3-ecdsa-sha2-nistp256');
    expect(await (await verifier()).verify(req)).toMatchObject({ ok: false, reason: 'ekuMismatch' });
    expect((await (await verifier({ ekuCompat: ['clientAuth'] })).verify(req)).ok).toBe(true);
    expect((await (await verifier()).verify(request(certs.noeku!, 'x509v3-ecdsa-sha2-nistp256'))).ok).toBe(true);
  });
});

describe('account binding', () => {
  it('maps by UPN, CN and email, and refuses another account', async () => {
    const req = (username: string) => request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256', { username });
    expect((await (await verifier({ account: { map: 'upn' } })).verify(req('alice@EXAMPLE.COM'))).ok).toBe(true);
    expect((await (await verifier({ account: { map: 'cn' } })).verify(req('alice'))).ok).toBe(true);
    expect((await (await verifier({ account: { map: 'email' } })).verify(req('alice@example.com'))).ok).toBe(true);
    expect(await (await verifier({ account: { map: ['upn', 'cn'] } })).verify(req('bob'))).toMatchObject({ ok: false, reason: 'accountMismatch' });
    expect(await (await verifier({ account: { map: (_c, ids) => ids.commonNames[0]!.toUpperCase() } })).verify(req('ALICE'))).toMatchObject({ ok: true, binding: 'map:function' });
  });

  it('fails closed with no binding configured', async () => {
    const r = await (await verifier({ account: {} })).verify(request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256'));
    expect(r).toMatchObject({ ok: false, reason: 'accountMismatch' });
  });

  it('authorized subjects in PKIX-SSH syntax, RDN order free, and blobs', async () => {
    const blob = encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [certs.bob!.certDer], ocspResponses: [] });
    const file = join(dir, 'authorized');
    writeFileSync(
      file,
      [
        '# account entry',
        'alice x509v3-sign-rsa Subject: CN=alice,O=ssh-x509 Test',
        'carol x509v3-ecdsa-sha2-nistp256 Distinguished Name: /O=ssh-x509 test/CN=ALICE',
        `dave x509v3-ecdsa-sha2-nistp256 ${blob.toString('base64')}`,
        'erin x509v3-sign-rsa DN: CN=alice,O=Other',
      ].join('\n'),
    );
    const authorized = parseAuthorizedSubjectsFile((await import('node:fs')).readFileSync(file, 'utf8'));
    const v = await verifier({ account: { authorized } });
    const alice = (username: string) => request(certs.alice!, 'x509v3-ecdsa-sha2-nistp256', { username });
    expect(await v.verify(alice('alice'))).toMatchObject({ ok: true, binding: 'authorized:subject' });
    expect(await v.verify(alice('carol'))).toMatchObject({ ok: true, binding: 'authorized:subject' });
    expect(await v.verify(alice('dave'))).toMatchObject({ ok: false, reason: 'accountMismatch' });
    expect(await v.verify(alice('erin'))).toMatchObject({ ok: false, reason: 'accountMismatch' });
    expect(await v.verify(alice('nobody'))).toMatchObject({ ok: false, reason: 'accountMismatch' });
    expect(await v.verify(request(certs.bob!, 'x509v3-ecdsa-sha2-nistp256', { username: 'dave' }))).toMatchObject({ ok: true, binding: 'authorized:certificate' });
  });
});

describe('revocation', () => {
  const alg = 'x509v3-ecdsa-sha2-nistp256';
  const withOcsp = (name: string, resp: Uint8Array) => request(certs[name]!, alg, { ocsp: [resp] });

  it('stapled good, stapled revoked, delegated responder', async () => {
    const v = await verifier({ revocation: { mode: 'require', fetch: false } });
    expect(await v.verify(withOcsp('alice', ocsp.ocspResponse(certs.alice!.certPath)))).toMatchObject({ ok: true, revocationSource: 'ocsp-stapled' });
    expect(await v.verify(withOcsp('revoked', ocsp.ocspResponse(certs.revoked!.certPath)))).toMatchObject({ ok: false, reason: 'revoked' });
    const delegated = ocsp.ocspResponse(certs.bob!.certPath, { signer: certs.responder! });
    expect(await v.verify(withOcsp('bob', delegated))).toMatchObject({ ok: true, revocationSource: 'ocsp-stapled' });
  });

  it('require fails closed with no source; prefer accepts with none', async () => {
    const req = request(certs.alice!, alg);
    expect(await (await verifier({ revocation: { mode: 'require', fetch: false } })).verify(req)).toMatchObject({ ok: false, reason: 'revocationUnavailable' });
    expect(await (await verifier({ revocation: { mode: 'prefer', fetch: false } })).verify(req)).toMatchObject({ ok: true, revocationSource: 'none' });
  });

  it('stale OCSP response', async () => {
    const resp = ocsp.ocspResponse(certs.alice!.certPath, { ndays: 1 });
    const later = new Date(Date.now() + 2 * DAY);
    const v = await verifier({ revocation: { mode: 'require', fetch: false }, now: () => later });
    expect(await v.verify(withOcsp('alice', resp))).toMatchObject({ ok: false, reason: 'ocspStale' });
  });

  it('OCSP response signed by an unauthorised key', async () => {
    const v = await verifier({ revocation: { mode: 'prefer', fetch: false } });
    // bob is issued by the CA but is no OCSP responder (no id-kp-OCSPSigning).
    expect(await v.verify(withOcsp('alice', ocsp.ocspResponse(certs.alice!.certPath, { signer: certs.bob! })))).toMatchObject({ ok: false, reason: 'ocspUnauthorized' });
    // A responder of another PKI.
    const other = await createTestPki(join(dir, 'other-ocsp'));
    const foreign = await other.issue('foreign', 'p256', { eku: ['1.3.6.1.5.5.7.3.9'] });
    expect(await v.verify(withOcsp('alice', ocsp.ocspResponse(certs.alice!.certPath, { signer: foreign })))).toMatchObject({ ok: false, reason: 'ocspUnauthorized' });
  });

  it('OCSP response for a different certificate', async () => {
    const v = await verifier({ revocation: { mode: 'prefer', fetch: false } });
    expect(await v.verify(withOcsp('alice', ocsp.ocspResponse(certs.bob!.certPath)))).toMatchObject({ ok: false, reason: 'ocspMismatch' });
  });

  it('CRL from a file: revoked, and good', async () => {
    const crlPath = join(dir, 'crl.der');
    writeFileSync(crlPath, ocsp.crl());
    const v = await verifier({ revocation: { mode: 'require', fetch: false, crls: [crlPath] } });
    expect(await v.verify(request(certs.revoked!, alg))).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await v.verify(request(certs.alice!, alg))).toMatchObject({ ok: true, revocationSource: 'crl' });
  });

  it('OCSP fetched from the AIA responder (live openssl ocsp on loopback), cached', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const good = await pki.issue('aiagood', 'p256', { ocspUrl: url });
    const bad = await pki.issue('aiarevoked', 'p256', { ocspUrl: url });
    ocsp.valid(good.certPem);
    ocsp.revoke(bad.certPem);
    const responder = await ocsp.startResponder({ port });
    try {
      const v = await verifier({ revocation: { mode: 'require' } });
      const first = await v.verify(request(good, alg));
      expect(first.message).toContain('accepted');
      expect(first).toMatchObject({ ok: true, revocationSource: 'ocsp-fetched' });
      expect(await v.verify(request(bad, alg))).toMatchObject({ ok: false, reason: 'revoked' });
      // Cached until nextUpdate: with the responder gone, a new blob for the same certificate still gets its answer.
      await responder.stop();
      const again = await v.verify(request(good, alg, { certificates: [good.certDer, pki.intermediate.certDer, pki.root.certDer] }));
      expect(again).toMatchObject({ ok: true, revocationSource: 'ocsp-fetched', cached: false });
    } finally {
      await responder.stop();
    }
  });
});

describe('refuses (negative matrix)', () => {
  const alg = 'x509v3-ecdsa-sha2-nistp256';
  // The cases are listed now and made in the tests, once beforeAll has made the PKI.
  const cases = negativeMatrix({
    get dir() {
      return dir;
    },
    get pki() {
      return pki;
    },
    certs,
    get ocsp() {
      return ocsp;
    },
  });
  for (const { name, make, reason } of cases) {
    it(`${name} → ${reason}`, async () => {
      const v = await verifier();
      const r = await v.verify((await make()).req);
      expect(r.ok).toBe(false);
      expect(r.reason).toBe(reason);
      expect(r.message).toContain(reason);
      // The query form is refused for the same chain, before any signature.
      if (reason !== 'badSignature') {
        const q = (await make()).req;
        const { signature: _s, signedData: _d, ...query } = q;
        expect(await v.verify(query)).toMatchObject({ ok: false, reason });
      }
    });
  }

  it('untrusted root (another PKI, root sent, and root left out)', async () => {
    const other = await createTestPki(join(dir, 'other'));
    const mallory = await other.issue('alice', 'p256');
    const v = await verifier();
    const { readFileSync } = await import('node:fs');
    const { parseCertificates } = await import('../src/certs/load.js');
    const full = parseCertificates(readFileSync(mallory.fullChainPath)).map((c) => new Uint8Array(c.rawData));
    expect(await v.verify(request(mallory, alg, { certificates: full }))).toMatchObject({ ok: false, reason: 'untrusted' });
    expect(await v.verify(request(mallory, alg, { certificates: full.slice(0, 2) }))).toMatchObject({ ok: false, reason: 'untrusted' });
    // Control: the same verifier lets the real alice in.
    expect((await v.verify(request(certs.alice!, alg))).ok).toBe(true);
  });

  it('nothing is cached from a refusal', async () => {
    const v = await verifier();
    expect((await v.verify(request(certs.expired!, alg))).cached).toBe(false);
    expect(await v.verify(request(certs.expired!, alg))).toMatchObject({ ok: false, reason: 'expired', cached: false });
  });
});
