/**
 * The verifier's caches (validated chains by blob, certificate signatures
 * by certificate and issuer, parsed certificates by DER) never answer for a
 * login they do not fit: a different time, a revoked certificate, a
 * different anchor set or a different issuer each get the answer a verifier
 * with nothing cached gives (test/verify-history.test.ts: nor a different
 * blob with the same leaf or issuer).
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

describe('new leaves under a CA validated before', () => {
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
    // The CA was validated before; a revoked leaf under it is still refused.
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

describe('validated chains, the blob found last', () => {
  it('is compared byte for byte: changed in place, or another user in between, it is never answered from the wrong entry', async () => {
    const v = await verifier();
    const a = request(users.u1!);
    const b = request(users.u2!);
    expect(await v.verify(a)).toMatchObject({ ok: true, cached: false });
    expect(await v.verify(b)).toMatchObject({ ok: true, cached: false });
    for (const [req, account] of [[a, 'u1'], [a, 'u1'], [b, 'u2'], [a, 'u1'], [b, 'u2'], [b, 'u2']] as const) {
      expect(await v.verify(req)).toMatchObject({ ok: true, cached: true, account });
    }
    // The same Uint8Array as the login before, changed in place: a byte of the leaf's signature, then of the intermediate.
    const blob = a.publicKey as Buffer;
    for (const at of [Math.floor(blob.length / 2) - 20, blob.length - 30]) {
      expect(await v.verify(a)).toMatchObject({ ok: true, cached: true });
      blob[at]! ^= 0x01;
      const r = await v.verify(a);
      expect(r.cached, `byte ${at}`).toBe(false);
      expect(r.ok, `byte ${at}`).toBe(false);
      blob[at]! ^= 0x01;
      expect(await v.verify(a)).toMatchObject({ ok: true, cached: true, account: 'u1' });
    }
    // Another user's blob right after: its own entry, its own account.
    expect(await v.verify({ ...b, username: 'u1' })).toMatchObject({ ok: false, reason: 'accountMismatch', cached: true });
    expect(await v.verify(b)).toMatchObject({ ok: true, cached: true, account: 'u2' });
    // Not bytes at all (a caller in plain JavaScript): the answer of a verifier that has no blob found last.
    const notBytes = { ...request(users.u3!), publicKey: Array.from(request(users.u3!).publicKey) as unknown as Uint8Array };
    const r = await v.verify(notBytes);
    const f = await (await verifier()).verify(notBytes);
    expect([r.ok, r.reason, r.message]).toEqual([f.ok, f.reason, f.message]);
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

describe('results of many chains', () => {
  it('are plain objects with the same own properties in the same order, whichever chain and verifier made them', async () => {
    const keys = ['ok', 'query', 'username', 'account', 'binding', 'algorithm', 'subject', 'fingerprint', 'revocationSource', 'revocation', 'message', 'cached', 'chain', 'path'];
    for (const u of [users.u1!, users.u2!, users.u3!]) {
      const v = await verifier();
      const req = request(u);
      for (const r of [await v.verify(req), await v.verify(req)]) {
        expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
        expect(r.constructor).toBe(Object);
        expect(Reflect.ownKeys(r)).toEqual(keys);
        for (const k of keys.slice(0, -2)) {
          expect(Object.getOwnPropertyDescriptor(r, k), k).toMatchObject({ writable: true, enumerable: true, configurable: true });
        }
        expect(r).toMatchObject({ ok: true, username: u.name, account: u.name, binding: 'map:upn-local', algorithm: ALG, revocationSource: 'none' });
        expect(Object.keys(JSON.parse(JSON.stringify({ ...r, chain: undefined, path: undefined })) as object)).toEqual(keys.slice(0, -2));
        expect(String(r)).toBe('[object Object]');
      }
    }
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

describe('warm logins (the chain from the cache, decided without waiting)', () => {
  /** The same login to a verifier with nothing cached (same options otherwise). */
  async function fresh(o: Partial<X509VerifierOptions>, req: VerifyRequest) {
    clearParsedCertificates();
    return (await verifier({ ...o, cache: false })).verify(req);
  }
  /** What a decision says: compared between a warm and a cold verifier. */
  const said = (r: { ok: boolean; reason?: string; message: string; account?: string; binding?: string; subject?: string; fingerprint?: string }) => [r.ok, r.reason, r.message, r.account, r.binding, r.subject, r.fingerprint];

  it('give the answer of a verifier with nothing cached for each way a login differs from the cached one', async () => {
    const u = users.u6!;
    const o: Partial<X509VerifierOptions> = { account: { map: ['upn-local', 'upn'] } };
    const v = await verifier(o);
    const good = request(u);
    expect(await v.verify(good)).toMatchObject({ ok: true, cached: false, binding: 'map:upn-local' });
    const sig = Buffer.from(good.signature!);
    const flipped = (i: number) => {
      const b = Buffer.from(sig);
      b[i]! ^= 0x01;
      return b;
    };
    const { signature: _s, signedData: _d, ...query } = good;
    const variants: Array<[string, VerifyRequest, boolean]> = [
      ['the same login again', good, true],
      ['the account by the second rule', { ...good, username: 'u6@EXAMPLE.COM' }, true],
      ['an account no rule gives', { ...good, username: 'u7' }, false],
      ['an account differing in case', { ...good, username: 'U6' }, false],
      ['the query form', query, true],
      ['the query form for an account no rule gives', { ...query, username: 'u5' }, false],
      ['signed data changed', { ...good, signedData: Buffer.from('other session id and request') }, false],
      ['the last byte of the signature changed', { ...good, signature: flipped(sig.length - 1) }, false],
      ['a byte of the format name changed', { ...good, signature: flipped(5) }, false],
      ['the signature truncated', { ...good, signature: sig.subarray(0, sig.length - 1) }, false],
      ['a byte after the signature', { ...good, signature: Buffer.concat([sig, Buffer.from([0])]) }, false],
      ['the signature under the x509v3 name', { ...good, signature: Buffer.concat([Buffer.from([0, 0, 0, ALG.length]), Buffer.from(ALG), sig.subarray(4 + sig.readUInt32BE(0))]) }, true],
      ['a signature and no signed data', { ...good, signedData: undefined }, false],
      ['another algorithm name', { ...good, algorithm: 'x509v3-ecdsa-sha2-nistp384' }, false],
      ['the good login again', good, true],
    ];
    for (const [what, req, ok] of variants) {
      const warm = await v.verify(req);
      const cold = await fresh(o, req);
      expect(said(warm), what).toEqual(said(cold));
      expect(warm.ok, what).toBe(ok);
      if (ok) expect([warm.account, warm.binding], what).toEqual([req.username, req.username.includes('@') ? 'map:upn' : 'map:upn-local']);
      // Every variant finds the chain (and says so, refused or not) but those refused before looking: the algorithm, the missing data.
      expect(warm.cached, what).toBe(req.algorithm === ALG && (req.signature === undefined || req.signedData !== undefined));
    }
    // Strict about the format name: the x509v3 name refused, from the cache as without it.
    const strict = { ...o, strictSignatureFormat: true };
    const s = await verifier(strict);
    expect(await s.verify(good)).toMatchObject({ ok: true, cached: false });
    const x509Named = variants.find(([w]) => w === 'the signature under the x509v3 name')![1];
    const warm = await s.verify(x509Named);
    expect(warm).toMatchObject({ ok: false, reason: 'badSignature', cached: true });
    expect(said(warm)).toEqual(said(await fresh(strict, x509Named)));
  });

  it('ask an asynchronous authorized list once per login, and take its answer, its refusal or its failure, from the cache as without it', async () => {
    const u = users.u7!;
    const subject = parsedCertificate(u.certDer).subject;
    const asked: string[] = [];
    const o: Partial<X509VerifierOptions> = {
      account: {
        authorized: async (account: string) => {
          asked.push(account);
          await new Promise((r) => setTimeout(r, 1));
          if (account === 'broken') throw new Error('the directory is down');
          return account === 'ops' ? [`${ALG} Subject: ${subject}`] : [];
        },
      },
    };
    const v = await verifier(o);
    const base = request(u);
    for (const [account, ok] of [['ops', true], ['ops', true], ['dev', false], ['broken', false], ['ops', true]] as const) {
      asked.length = 0;
      const warm = await v.verify({ ...base, username: account });
      expect(asked, account).toEqual([account]);
      expect(warm.ok, account).toBe(ok);
      const cold = await fresh(o, { ...base, username: account });
      expect(said(warm), account).toEqual(said(cold));
    }
    expect(await v.verify({ ...base, username: 'ops' })).toMatchObject({ ok: true, cached: true, binding: 'authorized:subject' });
  });

  it('are promises like any other, and a clock that throws rejects the promise rather than throwing', async () => {
    const v = await verifier();
    const req = request(users.u8!);
    await v.verify(req);
    const p = v.verify(req);
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toMatchObject({ ok: true, cached: true });
    let fail = false;
    const w = await verifier({
      now: () => {
        if (fail) throw new Error('no clock');
        return new Date();
      },
    });
    await w.verify(req);
    fail = true;
    let call: Promise<unknown> | undefined;
    expect(() => (call = w.verify(req))).not.toThrow();
    await expect(call).rejects.toThrow('no clock');
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
