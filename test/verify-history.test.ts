/**
 * One answer per request: a verifier that has accepted logins before (its
 * caches warm) answers every request as a verifier that has seen nothing,
 * in the SDK (`X509Verifier`) and in an ssh2 server (`x509Authentication`).
 * The blobs of issue 22 (`[leaf, intermediate, intermediate]`, `[leaf,
 * intermediate, leaf]`, `[leaf, intermediate, unrelated]`) were refused by a
 * fresh verifier and accepted after one good login under the same
 * intermediate; a blob that leaves out an intermediate the server does not
 * hold was too.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from '@peculiar/x509';
import * as ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateChain, SoftwareSigner, x509Authentication, x509AuthHandler, type Signer } from '../src/index.js';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { X509Verifier, type VerifyRequest, type VerifyResult, type X509VerifierOptions } from '../src/verify/verifier.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { ssh2Exec } from './helpers/ssh2-run.js';

const ALG = 'x509v3-ecdsa-sha2-nistp256';
const DATA = Buffer.from('session id and userauth request fields');
let dir: string;
let pki: TestPki;
let other: TestPki;
const users: Record<string, IssuedCert> = {};

function request(signer: IssuedCert, certificates: readonly Uint8Array[], username = signer.name, ocspResponses: readonly Uint8Array[] = []): VerifyRequest {
  return {
    username,
    algorithm: ALG,
    publicKey: encodePublicKeyBlob({ algorithm: ALG, certificates, ocspResponses }),
    signedData: DATA,
    signature: encodeSignatureBlob(ALG, sign('sha256', DATA, { key: createPrivateKey(signer.keyPem), dsaEncoding: 'ieee-p1363' })),
  };
}

function queryOf(req: VerifyRequest): VerifyRequest {
  const { signature: _s, signedData: _d, ...query } = req;
  return query;
}

function verifier(o: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' }, ...o });
}

/** What an answer says (`cached` aside, which says where it came from). */
const said = (r: VerifyResult) => ({ ok: r.ok, reason: r.reason, message: r.message, account: r.account, subject: r.subject });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-history-'));
  pki = await createTestPki(join(dir, 'pki'), { subCa: true });
  other = await createTestPki(join(dir, 'other'));
  for (const n of ['alice', 'bob']) users[n] = await pki.issue(n, 'p256');
  for (const n of ['carol', 'dave']) users[n] = await pki.issue(n, 'p256', { issuer: 'sub' });
  users.stranger = await other.issue('stranger', 'p256');
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The blobs of issue 22, with alice as the leaf, and the reason each is refused with. */
function issueBlobs(): Array<[string, Uint8Array[], string]> {
  const [alice, bob, inter] = [users.alice!.certDer, users.bob!.certDer, pki.intermediate.certDer];
  return [
    ['[leaf, intermediate, intermediate]', [alice, inter, inter], 'duplicateCertificate'],
    ['[leaf, intermediate, leaf]', [alice, inter, alice], 'duplicateCertificate'],
    ['[leaf, intermediate, another leaf of the same CA]', [alice, inter, bob], 'unrelatedCertificate'],
    ["[leaf, intermediate, another PKI's root]", [alice, inter, other.root.certDer], 'unrelatedCertificate'],
    ["[leaf, intermediate, another PKI's intermediate]", [alice, inter, other.intermediate.certDer], 'unrelatedCertificate'],
  ];
}

describe('the SDK verifier: a warm verifier refuses what a fresh one refuses', () => {
  for (const lax of [false, true]) {
    it(`the blobs of issue 22, signed and query form, after a good login of the same leaf or another${lax ? ' (laxChainOrder)' : ''}`, async () => {
      const o = lax ? { laxChainOrder: true } : {};
      for (const [what, certs, reason] of issueBlobs()) {
        for (const form of ['signed', 'query'] as const) {
          const req = form === 'signed' ? request(users.alice!, certs) : queryOf(request(users.alice!, certs));
          const fresh = await (await verifier(o)).verify(req);
          expect(fresh, `${what} ${form}, fresh`).toMatchObject({ ok: false, reason });
          for (const good of [users.alice!, users.bob!]) {
            const warm = await verifier(o);
            expect(await warm.verify(request(good, [good.certDer, pki.intermediate.certDer])), 'the good login').toMatchObject({ ok: true });
            const r = await warm.verify(req);
            expect(said(r), `${what} ${form}, warm with ${good.name}`).toEqual(said(fresh));
            // And the good login is still accepted afterwards.
            expect(await warm.verify(request(users.alice!, [users.alice!.certDer, pki.intermediate.certDer]))).toMatchObject({ ok: true });
          }
        }
      }
    });
  }

  it('a blob that leaves out an intermediate the server does not hold: refused, whatever was accepted before under the same CA', async () => {
    const [carol, dave] = [users.carol!, users.dave!];
    const sub = pki.sub!.certDer;
    const inter = pki.intermediate.certDer;
    // The three-CA path: leaf, sub CA, intermediate, root (the anchor).
    for (const [o, ok] of [
      [{}, false],
      [{ intermediates: [pki.intermediate.certPath] }, true],
    ] as const) {
      const short = request(dave, [dave.certDer, sub]);
      const fresh = await (await verifier(o)).verify(short);
      expect(fresh.ok).toBe(ok);
      if (!ok) expect(fresh.reason).toBe('missingIntermediate');
      const warm = await verifier(o);
      expect(await warm.verify(request(carol, [carol.certDer, sub, inter]))).toMatchObject({ ok: true });
      expect(said(await warm.verify(short))).toEqual(said(fresh));
      expect(said(await warm.verify(queryOf(short)))).toEqual(said(await (await verifier(o)).verify(queryOf(short))));
    }
  });

  it('the same blobs interleaved with good logins, many times over, get the same answers each time', async () => {
    const v = await verifier();
    const good = request(users.alice!, [users.alice!.certDer, pki.intermediate.certDer]);
    const first = new Map<string, ReturnType<typeof said>>();
    for (let round = 0; round < 3; round++) {
      for (const [what, certs] of issueBlobs()) {
        expect(await v.verify(good)).toMatchObject({ ok: true });
        const r = said(await v.verify(request(users.alice!, certs)));
        if (!first.has(what)) first.set(what, r);
        expect(r, `${what}, round ${round}`).toEqual(first.get(what));
        expect(r.ok).toBe(false);
      }
    }
  });
});

describe('a cached decision holds only while the answers it rests on would be given again', () => {
  it('a stapled OCSP response without nextUpdate: refused once older than ocspMaxAgeMs, and before its thisUpdate, as by a fresh verifier', async () => {
    const rev = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
    rev.valid(users.alice!.certPem);
    const staple = rev.ocspResponse(users.alice!.certPath, { nextUpdate: false });
    const req = request(users.alice!, [users.alice!.certDer, pki.intermediate.certDer], 'alice', [staple]);
    const start = Date.now();
    let now = start;
    const o: Partial<X509VerifierOptions> = { now: () => new Date(now), revocation: { mode: 'require', fetch: false, ocspMaxAgeMs: 60_000, clockSkewMs: 1000 } };
    const v = await verifier({ ...o, cache: { maxAgeMs: 3600_000 } });
    expect(await v.verify(req)).toMatchObject({ ok: true, revocationSource: 'ocsp-stapled', cached: false });
    expect(await v.verify(req)).toMatchObject({ ok: true, cached: true });
    for (const [at, ok] of [
      [start + 30_000, true],
      [start + 120_000, false], // past thisUpdate + ocspMaxAgeMs + skew
      [start, true],
      [start - 3600_000, false], // the clock set back an hour: before thisUpdate less the skew
      [start, true],
    ] as const) {
      now = at;
      const warm = await v.verify(req);
      const fresh = await (await verifier(o)).verify(req);
      expect(said(warm), `at ${at - start} ms`).toEqual(said(fresh));
      expect(warm.ok, `at ${at - start} ms`).toBe(ok);
      if (!ok) expect(warm.reason).toBe('ocspStale');
    }
  });
});

describe('the server adapter (x509Authentication in an ssh2 Server): a warm server refuses what a fresh one refuses', () => {
  let server: ssh2.Server;
  let port: number;
  /** The verifier the next connection is verified by, and what it decided for each connection. */
  let current: X509Verifier;
  let decisions: VerifyResult[] = [];

  beforeAll(async () => {
    const hostKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' });
    server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
      const record = (r: VerifyResult | undefined) => {
        if (r) decisions.push(r);
      };
      client.on('authentication', x509Authentication(current, { onAccept: record, onReject: record }));
      client.on('ready', () =>
        client.on('session', (acceptSession) =>
          acceptSession().on('exec', (acceptExec) => {
            const stream = acceptExec();
            stream.exit(0);
            stream.end();
          }),
        ),
      );
      client.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((resolve) => server?.close(() => resolve())));

  /** A signer that sends exactly `certs` as its chain (leaf first, as given). */
  async function signerSending(leaf: IssuedCert, certs: readonly Uint8Array[]): Promise<Signer> {
    const real = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    return { chain: new CertificateChain(certs.map((c) => new X509Certificate(c))), label: 'test', signsUnattended: true, sign: (d, h) => real.sign(d, h) };
  }

  /** Logs in as alice sending `certs`; resolves with the verifier's decisions for that connection. */
  async function login(certs: readonly Uint8Array[]): Promise<{ ok: boolean; decisions: VerifyResult[] }> {
    decisions = [];
    const signer = await signerSending(users.alice!, certs);
    const ok = await ssh2Exec({ host: '127.0.0.1', port, username: 'alice', authHandler: x509AuthHandler('alice', { signer, algorithms: [ALG] }) }, 'true').then(
      () => true,
      (e: Error) => {
        expect(e.message).toMatch(/authentication methods failed/);
        return false;
      },
    );
    return { ok, decisions };
  }

  it('the blobs of issue 22, after a good login of the same leaf', async () => {
    const goodChain = [users.alice!.certDer, pki.intermediate.certDer];
    for (const [what, certs, reason] of issueBlobs()) {
      current = await verifier();
      const fresh = await login(certs);
      expect(fresh.ok, what).toBe(false);
      expect(fresh.decisions.map((d) => d.reason), what).toEqual([reason]);

      current = await verifier();
      expect((await login(goodChain)).ok, 'the good login').toBe(true);
      const warm = await login(certs);
      expect(warm.ok, what).toBe(false);
      expect(warm.decisions.map(said), what).toEqual(fresh.decisions.map(said));
    }
  });
});
