/**
 * The verifier's caches (validated chains by blob, validated CA paths by
 * issuer, parsed certificates by DER) never answer for a login they do not
 * fit: a different time, a revoked certificate, a different anchor set or a
 * different issuer each get the answer a verifier with nothing cached gives.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { clearParsedCertificates, parsedCertificate } from '../src/certs/model.js';
import { X509Verifier, type VerifyRequest, type X509VerifierOptions } from '../src/verify/verifier.js';
import { LruCache } from '../src/certs/cache.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';

const ALG = 'x509v3-ecdsa-sha2-nistp256';
const DAY = 86400_000;
const DATA = Buffer.from('session id and userauth request fields');
let dir: string;
let pki: TestPki;
let other: TestPki;
const start = Date.now();
const users: Record<string, IssuedCert> = {};

function request(leaf: IssuedCert, o: { intermediate?: Uint8Array; ocsp?: Uint8Array[] } = {}): VerifyRequest {
  const raw = sign('sha256', DATA, { key: createPrivateKey(leaf.keyPem), dsaEncoding: 'ieee-p1363' });
  return {
    username: leaf.name,
    algorithm: ALG,
    publicKey: encodePublicKeyBlob({ algorithm: ALG, certificates: [leaf.certDer, o.intermediate ?? pki.intermediate.certDer], ocspResponses: o.ocsp ?? [] }),
    signedData: DATA,
    signature: encodeSignatureBlob(ALG, raw),
  };
}

function verifier(o: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' }, ...o });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-verify-cache-'));
  pki = await createTestPki(join(dir, 'pki'));
  // Same names as `pki` (root and intermediate), other keys.
  other = await createTestPki(join(dir, 'other'));
  // Leaves valid well before and after their CAs (which are valid from a day ago for a year).
  const wide = { notBefore: new Date(start - 3 * DAY), notAfter: new Date(start + 400 * DAY) };
  for (const n of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8']) users[n] = await pki.issue(n, 'p256', wide);
  users.stranger = await other.issue('stranger', 'p256', wide);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('validated CA paths', () => {
  it('a new leaf under a known intermediate is accepted with the same path', async () => {
    const v = await verifier();
    const first = await v.verify(request(users.u1!));
    const second = await v.verify(request(users.u2!));
    expect(first).toMatchObject({ ok: true, cached: false });
    expect(second).toMatchObject({ ok: true, cached: false, account: 'u2' });
    expect(second.path!.map((c) => c.subject)).toEqual(first.path!.map((c) => c.subject).map((s, i) => (i === 0 ? second.subject : s)));
  });

  it('a changed time is never answered from the cache: after the intermediate expires, before it is valid', async () => {
    let now = start;
    const v = await verifier({ now: () => new Date(now) });
    /** The same login to a verifier with nothing cached, at the same time. */
    const fresh = async (req: VerifyRequest) => {
      clearParsedCertificates();
      const at = now;
      return (await verifier({ now: () => new Date(at), cache: false })).verify(req);
    };
    const same = async (req: VerifyRequest, want: Record<string, unknown>) => {
      const r = await v.verify(req);
      expect(r).toMatchObject(want);
      const f = await fresh(req);
      expect([r.ok, r.reason, r.message]).toEqual([f.ok, f.reason, f.message]);
    };
    await same(request(users.u1!), { ok: true });
    now = start + 366 * DAY; // the intermediate and root expired; the leaves did not
    await same(request(users.u2!), { ok: false, reason: 'expired' });
    // The chain seen before is not answered from the chain cache either.
    await same(request(users.u1!), { ok: false, reason: 'expired', cached: false });
    now = start - 2 * DAY; // before the CAs' notBefore
    await same(request(users.u3!), { ok: false });
    now = start;
    await same(request(users.u4!), { ok: true });
  });

  it('a revoked leaf or a revoked intermediate is never answered from the cache', async () => {
    const leafCa = new OpensslRevocation(join(dir, 'ocsp-inter'), pki.intermediate);
    const rootCa = new OpensslRevocation(join(dir, 'ocsp-root'), pki.root);
    for (const n of ['u5', 'u6', 'u8']) leafCa.valid(users[n]!.certPem);
    leafCa.revoke(users.u7!.certPem);
    rootCa.valid(pki.intermediate.certPem);
    const interGood = rootCa.ocspResponse(pki.intermediate.certPath);
    rootCa.revoke(pki.intermediate.certPem);
    const interRevoked = rootCa.ocspResponse(pki.intermediate.certPath);
    const staple = (u: IssuedCert, inter: Uint8Array) => request(u, { ocsp: [leafCa.ocspResponse(u.certPath), inter] });

    const v = await verifier({ revocation: { mode: 'require', fetch: false, scope: 'chain' } });
    expect(await v.verify(staple(users.u5!, interGood))).toMatchObject({ ok: true, revocationSource: 'ocsp-stapled' });
    // The CA path is known now; a revoked leaf under it is still refused.
    expect(await v.verify(staple(users.u7!, interGood))).toMatchObject({ ok: false, reason: 'revoked' });
    // And so is a good leaf whose intermediate is now revoked.
    const r = await v.verify(staple(users.u6!, interRevoked));
    expect(r).toMatchObject({ ok: false, reason: 'revoked' });
    expect(r.message).toMatch(/Intermediate CA/);
    expect(await v.verify(staple(users.u8!, interGood))).toMatchObject({ ok: true });
  });

  it('a different anchor set is never answered from the cache', async () => {
    const trusting = await verifier();
    expect(await trusting.verify(request(users.u1!))).toMatchObject({ ok: true });
    // Same certificates, parsed and validated before, under anchors that do not include their root.
    const elsewhere = await verifier({ trustAnchors: [other.root.certPath] });
    const r = await elsewhere.verify(request(users.u2!));
    expect(r.ok).toBe(false);
    expect(['untrusted', 'missingIntermediate']).toContain(r.reason);
    // And the other way round: a verifier that knows pki's CA path does not take other's look-alike.
    expect(await trusting.verify(request(users.stranger!, { intermediate: other.intermediate.certDer }))).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('an issuer with the known name but another key is never answered from the cache', async () => {
    const v = await verifier();
    expect(await v.verify(request(users.u1!))).toMatchObject({ ok: true });
    // `stranger` was signed by other's intermediate, but sent with pki's (same name, known and validated).
    const r = await v.verify(request(users.stranger!, { intermediate: pki.intermediate.certDer }));
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('untrusted');
  });
});

describe('parsed certificates', () => {
  it('are parsed once per distinct DER and shared, and the cache can be emptied', () => {
    clearParsedCertificates();
    const a = parsedCertificate(users.u1!.certDer);
    expect(parsedCertificate(Buffer.from(users.u1!.certDer))).toBe(a);
    expect(parsedCertificate(users.u2!.certDer)).not.toBe(a);
    expect(a.identities.upns).toEqual(['u1@EXAMPLE.COM']);
    clearParsedCertificates();
    expect(parsedCertificate(users.u1!.certDer)).not.toBe(a);
  });

  it('keep their own copy of the DER', () => {
    clearParsedCertificates();
    const der = Buffer.from(users.u3!.certDer);
    const c = parsedCertificate(der);
    der.fill(0);
    expect(Buffer.from(c.der).equals(users.u3!.certDer)).toBe(true);
    expect(c.subject).toBe('O=ssh-x509 Test, CN=u3');
  });
});

describe('validated chains', () => {
  it('a blob that differs from a remembered one in a single byte is never answered from its entry', async () => {
    const v = await verifier();
    const req = request(users.u3!);
    expect(await v.verify(req)).toMatchObject({ ok: true, cached: false });
    expect(await v.verify(req)).toMatchObject({ ok: true, cached: true });
    // Each byte of the blob in turn (the verifier finds remembered blobs by a sample of their bytes, then compares them all).
    const blob = Buffer.from(req.publicKey);
    for (let i = 0; i < blob.length; i += 7) {
      const changed = Buffer.from(blob);
      changed[i]! ^= 0x01;
      const r = await v.verify({ ...req, publicKey: changed });
      expect(r.cached, `byte ${i}`).toBe(false);
    }
    // The original is still remembered.
    expect(await v.verify(req)).toMatchObject({ ok: true, cached: true });
  });
});

describe('results', () => {
  it('have chain and path as own enumerable properties, last, each result its own path, the same path on every read', async () => {
    const v = await verifier();
    const req = request(users.u4!);
    const a = await v.verify(req);
    const b = await v.verify(req);
    expect([a.cached, b.cached]).toEqual([false, true]);
    for (const r of [a, b]) {
      expect(Object.keys(r).slice(-2)).toEqual(['chain', 'path']);
      for (const k of ['chain', 'path']) expect(Object.getOwnPropertyDescriptor(r, k)).toMatchObject({ enumerable: true, configurable: true });
      expect(r.path).toBe(r.path);
      expect(r.path).toHaveLength(3);
      expect(r.path![0]!.subject).toBe(r.subject);
      expect({ ...r }.path).toBe(r.path);
    }
    expect(a.path).not.toBe(b.path);
    expect(a.path!.map((c) => c.subject)).toEqual(b.path!.map((c) => c.subject));
    expect(a.chain!.subject).toBe(a.subject);
  });
});

describe('messages of cached chains', () => {
  it('say what was decided for each login: query or signature, the account and how it was bound, alternated on one cached chain', async () => {
    const u = users.u5!;
    const subject = parsedCertificate(u.certDer).subject;
    const v = await verifier({ account: { map: 'upn-local', authorized: { other: [`x509v3-ecdsa-sha2-nistp256 Subject: ${subject}`] } } });
    const signed = request(u);
    const { signature: _s, signedData: _d, ...query } = signed;
    const logins: Array<[VerifyRequest, string]> = [
      // Each login differs from the one before it in one thing only.
      [signed, `accepted ${subject} as "u5" via ${ALG} (map:upn-local, revocation none)`],
      [{ ...signed, username: 'other' }, `accepted ${subject} as "other" via ${ALG} (authorized:subject, revocation none)`],
      [{ ...query, username: 'other' }, `would accept ${subject} as "other" via ${ALG} (authorized:subject, revocation none)`],
      [query, `would accept ${subject} as "u5" via ${ALG} (map:upn-local, revocation none)`],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [req, message] of round === 1 ? [...logins].reverse() : logins) {
        const r = await v.verify(req);
        expect(r).toMatchObject({ ok: true, message, cached: round > 0 || req !== logins[0]![0] });
      }
    }
    expect(await v.verify({ ...signed, username: 'nobody' })).toMatchObject({ ok: false, reason: 'accountMismatch', cached: true });
  });
});

describe('the bounded LRU map', () => {
  it('evicts the least recently used entry, a hit on the newest one included', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1, Infinity);
    c.set('b', 2, Infinity);
    expect(c.get('b', 0)).toBe(2); // already the newest
    expect(c.get('a', 0)).toBe(1); // now a is the newest, b the oldest
    expect(c.get('a', 0)).toBe(1);
    c.set('c', 3, Infinity);
    expect([c.get('a', 0), c.get('b', 0), c.get('c', 0)]).toEqual([1, undefined, 3]);
    c.set('d', 4, Infinity); // c was read last: a goes
    expect([c.get('a', 0), c.get('c', 0), c.get('d', 0)]).toEqual([undefined, 3, 4]);
  });

  it('drops an expired entry, the newest one included, and forgets everything on clear', () => {
    const c = new LruCache<string, number>(3);
    c.set('a', 1, 10);
    expect(c.get('a', 11)).toBeUndefined();
    expect(c.size).toBe(0);
    c.set('a', 1, 10);
    c.set('b', 2, 10);
    c.clear();
    expect([c.size, c.get('b', 0)]).toEqual([0, undefined]);
  });
});
