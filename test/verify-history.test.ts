/**
 * One answer per request: a verifier that has accepted logins before (its
 * caches warm) answers every request as a verifier that has seen nothing,
 * in the SDK (`X509Verifier`) and in an ssh2 server (`x509Authentication`).
 * The blobs of issue 22 (`[leaf, intermediate, intermediate]`, `[leaf,
 * intermediate, leaf]`, `[leaf, intermediate, unrelated]`) were refused by a
 * fresh verifier and accepted after one good login under the same
 * intermediate; a blob that leaves out an intermediate the server does not
 * hold was too. A differential test runs the fuzzer's inputs, every blob
 * of up to three certificates from a small set, and every refusal case of
 * the other verifier tests on both.
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
import { createFuzzer, type Fuzzer } from './fuzz/harness.js';
import {
  DATA,
  blobRequest,
  issueNegativeLeaves,
  loginRequest,
  malformedCertificateCases,
  negativeMatrix,
  orderAndBoundsCases,
  rsaDerCases,
  strictDerCases,
  type NegativeFixture,
} from './helpers/negative-cases.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { ssh2Exec } from './helpers/ssh2-run.js';

const ALG = 'x509v3-ecdsa-sha2-nistp256';
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

/**
 * Sets the clock to each time in turn (ms from the test's start, through `setClock`): the warm verifier `v` answers
 * `req` as a fresh one made with `o` does, accepting where the row says so and otherwise refusing with `reason`.
 */
async function expectWarmAsFreshOverTime(
  v: X509Verifier,
  o: Partial<X509VerifierOptions>,
  req: VerifyRequest,
  setClock: (ms: number) => void,
  rows: ReadonlyArray<readonly [ms: number, ok: boolean]>,
  reason: VerifyResult['reason'],
): Promise<void> {
  for (const [ms, ok] of rows) {
    setClock(ms);
    const warm = await v.verify(req);
    const fresh = await (await verifier(o)).verify(req);
    expect(said(warm), `at ${ms} ms`).toEqual(said(fresh));
    expect(warm.ok, `at ${ms} ms`).toBe(ok);
    if (!ok) expect(warm.reason).toBe(reason);
  }
}

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

describe('the blobs remembered for the chain cache are the bytes that were validated', () => {
  it('a blob changed in place while its login is being verified: the changed bytes later get their own answer', async () => {
    const v = await verifier();
    const req = request(users.alice!, [users.alice!.certDer, pki.intermediate.certDer]);
    const blob = req.publicKey as Buffer;
    // A byte of the intermediate's signature: the changed blob is refused (untrusted) by a fresh verifier.
    const at = blob.length - 20;
    const pending = v.verify(req);
    blob[at]! ^= 0x01;
    expect(await pending).toMatchObject({ ok: true, cached: false });
    const changed = await v.verify(req);
    const fresh = await (await verifier()).verify(req);
    expect(fresh.ok).toBe(false);
    expect(said(changed)).toEqual(said(fresh));
    // The original bytes are still answered from the cache.
    blob[at]! ^= 0x01;
    expect(await v.verify(req)).toMatchObject({ ok: true, cached: true });
  });
});

describe('authorized lists are read for every login', () => {
  it('a Map the application changes between logins (subject and certificate entries): the warm verifier answers as a fresh one', async () => {
    const alice = users.alice!;
    const subject = 'x509v3-ecdsa-sha2-nistp256 Subject: CN=alice,O=ssh-x509 Test';
    const byBlob = `x509v3-ecdsa-sha2-nistp256 ${alice.certDer.toString('base64')}`;
    const list = new Map<string, string[]>();
    const o: Partial<X509VerifierOptions> = { account: { authorized: list } };
    const v = await verifier(o);
    const req = request(alice, [alice.certDer, pki.intermediate.certDer], 'ops');
    for (const [entries, ok] of [
      [[subject], true],
      [[], false],
      [[byBlob], true],
      [['x509v3-ecdsa-sha2-nistp256 Subject: CN=bob,O=ssh-x509 Test'], false],
      [[subject, byBlob], true],
    ] as const) {
      list.set('ops', [...entries]);
      for (const r of [req, queryOf(req)]) {
        const warm = await v.verify(r);
        expect(said(warm), JSON.stringify(entries)).toEqual(said(await (await verifier(o)).verify(r)));
        expect(warm.ok, JSON.stringify(entries)).toBe(ok);
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
    await expectWarmAsFreshOverTime(v, o, req, (ms) => (now = start + ms), [
      [30_000, true],
      [120_000, false], // past thisUpdate + ocspMaxAgeMs + skew
      [0, true],
      [-3600_000, false], // the clock set back an hour: before thisUpdate less the skew
      [0, true],
    ], 'ocspStale');
  });
});

describe('a cached decision on a CRL holds only from its thisUpdate', () => {
  it('the clock set back before the CRL was issued: require refuses it warm as fresh, and accepts again after', async () => {
    const rev = new OpensslRevocation(join(dir, 'crl'), pki.intermediate);
    rev.valid(users.bob!.certPem);
    const crl = rev.crl();
    const req = request(users.bob!, [users.bob!.certDer, pki.intermediate.certDer]);
    const start = Date.now();
    let now = start;
    const o: Partial<X509VerifierOptions> = { now: () => new Date(now), revocation: { mode: 'require', fetch: false, crls: [crl], clockSkewMs: 1000 } };
    const v = await verifier(o);
    expect(await v.verify(req)).toMatchObject({ ok: true, revocationSource: 'crl', cached: false });
    await expectWarmAsFreshOverTime(v, o, req, (ms) => (now = start + ms), [
      [0, true],
      [-1800_000, false], // half an hour before the CRL's thisUpdate
      [0, true],
    ], 'revocationUnavailable');
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

/** Reads a result's `chain` and `path` as an application would (building the certificates' @peculiar/x509 forms); they may throw for a certificate that library cannot read. */
function readParts(r: VerifyResult): void {
  try {
    void r.chain?.certificates.length;
    void r.path?.length;
  } catch {
    // What the getters do with such a certificate is theirs; the verifier's next answers must not change.
  }
}

describe('differential: every fuzz input and every refusal case gets the same answer from a fresh verifier and from one warmed with good logins', () => {
  /** Fuzz inputs per run (`FUZZ_DIFF_INPUTS` for more); about a third go to the decoders alone and are skipped here. */
  const INPUTS = Number(process.env.FUZZ_DIFF_INPUTS ?? 1500);
  let fuzzer: Fuzzer;
  beforeAll(async () => {
    fuzzer = await createFuzzer();
  }, 120_000);
  afterAll(() => fuzzer?.close());

  /** Warm verifiers of the fuzzer's two configurations, warmed (again) with every seed's good logins, their results read as an application would. */
  async function warmFuzzVerifiers(): Promise<{ warm: Record<'off' | 'stapled', X509Verifier>; rewarm: () => Promise<void> }> {
    const warm = { off: await X509Verifier.create(fuzzer.verifierOptions.off), stapled: await X509Verifier.create(fuzzer.verifierOptions.stapled) };
    const rewarm = async () => {
      for (const g of fuzzer.goodLogins) {
        const r = await warm[g.verifier].verify(g.req);
        expect(r.ok, r.message).toBe(true);
        readParts(r);
      }
    };
    await rewarm();
    return { warm, rewarm };
  }

  it(`${INPUTS} fuzz inputs (test/fuzz/harness.ts, seed ${Number(process.env.FUZZ_SEED ?? 1)}): the verifier's share, fresh and warm`, async () => {
    const { warm, rewarm } = await warmFuzzVerifiers();
    const differ: string[] = [];
    let compared = 0;
    const reasons = new Set<string>();
    for (const input of fuzzer.inputs(INPUTS, Number(process.env.FUZZ_SEED ?? 1))) {
      if (input.kind !== 'verifier') continue;
      const which = input.verifier === 'stapled' ? 'stapled' : 'off';
      const fresh = await (await X509Verifier.create(fuzzer.verifierOptions[which])).verify(input.req);
      const w = await warm[which].verify(input.req);
      readParts(w);
      reasons.add(fresh.ok ? 'accepted' : fresh.reason!);
      if (JSON.stringify(said(w)) !== JSON.stringify(said(fresh))) {
        differ.push(`${input.target}: fresh ${fresh.ok ? 'accepted' : fresh.reason}, warm ${w.ok ? 'accepted' : w.reason} (${w.message}); blob ${input.blob.toString('base64')}`);
      }
      if (++compared % 50 === 0) await rewarm();
    }
    expect(differ).toEqual([]);
    expect(compared).toBeGreaterThan(INPUTS / 2);
    // The inputs reach the verifier's refusals far apart, and some are accepted.
    expect(reasons.size).toBeGreaterThan(8);
    expect(reasons).toContain('accepted');
  }, 300_000);

  it("every blob of one to three certificates from the seed's leaf, its intermediate, the root and the other seeds' leaves: fresh and warm", async () => {
    const { warm, rewarm } = await warmFuzzVerifiers();
    const differ: string[] = [];
    const reasons = new Map<string, number>();
    let compared = 0;
    for (const seed of fuzzer.seedCertificates) {
      const others = fuzzer.seedCertificates.filter((s) => s !== seed).map((s) => s.certificates[0]!);
      const pool = [seed.certificates[0]!, seed.certificates[1]!, fuzzer.root, ...others];
      const blobs: Buffer[][] = [];
      const grow = (prefix: Buffer[]) => {
        if (prefix.length > 0) blobs.push(prefix);
        if (prefix.length < 3) for (const c of pool) grow([...prefix, c]);
      };
      grow([]);
      for (const certificates of blobs) {
        for (const [which, form] of [
          ['off', 'signed'],
          ['off', 'query'],
          ['stapled', 'signed'],
        ] as const) {
          const publicKey = encodePublicKeyBlob({ algorithm: seed.algorithm, certificates, ocspResponses: which === 'stapled' ? [seed.ocsp] : [] });
          const req: VerifyRequest = { username: seed.username, algorithm: seed.algorithm, publicKey, ...(form === 'signed' ? { signedData: fuzzer.signedData, signature: seed.signature } : {}) };
          const fresh = await (await X509Verifier.create(fuzzer.verifierOptions[which])).verify(req);
          const w = await warm[which].verify(req);
          readParts(w);
          const k = fresh.ok ? 'accepted' : fresh.reason!;
          reasons.set(k, (reasons.get(k) ?? 0) + 1);
          if (JSON.stringify(said(w)) !== JSON.stringify(said(fresh))) {
            differ.push(`${seed.algorithm} [${certificates.map((c) => pool.indexOf(c)).join(', ')}] ${which} ${form}: fresh ${k}, warm ${w.ok ? 'accepted' : w.reason} (${w.message})`);
          }
          if (++compared % 50 === 0) await rewarm();
        }
      }
    }
    expect(differ).toEqual([]);
    // 155 blobs per seed, three ways each; among the answers the blob-order refusals and acceptances.
    expect(compared).toBe(3 * 155 * 3);
    for (const r of ['accepted', 'duplicateCertificate', 'unrelatedCertificate', 'chainOrder', 'missingIntermediate']) expect(reasons.get(r), `${r} in ${JSON.stringify([...reasons])}`).toBeGreaterThan(0);
  }, 300_000);

  describe('the refusal cases (the negative matrix, the malformed certificates, strict DER, the blob order and bounds)', () => {
    const leaves: Record<string, IssuedCert> = {};
    let npki: TestPki;
    let rsaPki: TestPki;
    let carol: IssuedCert;
    let ocsp: OpensslRevocation;
    const fixture: NegativeFixture = {
      get dir() {
        return join(dir, 'negative');
      },
      get pki() {
        return npki;
      },
      certs: leaves,
      get ocsp() {
        return ocsp;
      },
    };
    beforeAll(async () => {
      npki = await createTestPki(join(dir, 'negative', 'pki'));
      await issueNegativeLeaves(npki, leaves);
      ocsp = new OpensslRevocation(join(dir, 'negative', 'ocsp'), npki.intermediate);
      ocsp.valid(leaves.alice!.certPem);
      rsaPki = await createTestPki(join(dir, 'negative', 'rsa-pki'), { rootKind: 'rsa2048', intermediateKind: 'rsa2048' });
      carol = await rsaPki.issue('carol', 'rsa2048');
    }, 120_000);

    /** Every case as [name, request, verifier options, the reason of its signed form]. */
    async function allCases(): Promise<Array<{ name: string; req: VerifyRequest; options: Partial<X509VerifierOptions>; reason: string; good: VerifyRequest[] }>> {
      const good = ['alice', 'bob', 'rsauser'].map((n) => loginRequest(npki, leaves[n]!, n === 'rsauser' ? 'x509v3-rsa2048-sha256' : ALG));
      const base = { trustAnchors: [npki.root.certPath] };
      const out = [];
      for (const c of [...negativeMatrix(fixture), ...malformedCertificateCases(fixture), ...orderAndBoundsCases(fixture)]) {
        const { req, options } = await c.make();
        out.push({ name: c.name, req, options: { ...base, ...options }, reason: c.reason, good });
      }
      for (const [name, make, reason] of strictDerCases(fixture)) {
        out.push({ name, req: blobRequest([make(), npki.intermediate.certDer], leaves.alice!), options: base, reason, good });
      }
      out.push({
        name: "bytes after the intermediate's DER",
        req: blobRequest([leaves.alice!.certDer, Buffer.concat([npki.intermediate.certDer, Buffer.from([0])])], leaves.alice!),
        options: base,
        reason: 'certificateTrailingBytes',
        good,
      });
      const rsaAlg = 'x509v3-rsa2048-sha256';
      const rsaLogin = (leaf: Uint8Array): VerifyRequest => ({
        username: 'carol',
        algorithm: rsaAlg,
        publicKey: encodePublicKeyBlob({ algorithm: rsaAlg, certificates: [leaf, rsaPki.intermediate.certDer], ocspResponses: [] }),
        signedData: DATA,
        signature: encodeSignatureBlob(rsaAlg, sign('sha256', DATA, createPrivateKey(carol.keyPem))),
      });
      for (const [name, make, reason] of rsaDerCases({ rsaPki, carol })) {
        out.push({ name, req: rsaLogin(make()), options: { trustAnchors: [rsaPki.root.certPath] }, reason, good: [rsaLogin(carol.certDer)] });
      }
      return out;
    }

    it('signed and query form, a warm verifier asked each twice, with the answers of a fresh one', async () => {
      const cases = await allCases();
      expect(cases.length).toBeGreaterThan(35);
      const differ: string[] = [];
      let warmed = 0;
      for (const c of cases) {
        for (const req of [c.req, queryOf(c.req)]) {
          const form = req.signature ? 'signed' : 'query';
          const fresh = await (await verifier(c.options)).verify(req);
          if (form === 'signed') expect(fresh, c.name).toMatchObject({ ok: false, reason: c.reason });
          // Warmed with the good logins (those the case's options refuse, a 2048-bit key under maxRsaModulusBits 1024, warm it all the same).
          const warm = await verifier(c.options);
          for (const g of c.good) {
            for (const q of [g, queryOf(g)]) {
              const r = await warm.verify(q);
              readParts(r);
              if (r.ok) warmed++;
            }
          }
          for (const round of [1, 2]) {
            const w = await warm.verify(req);
            readParts(w);
            if (JSON.stringify(said(w)) !== JSON.stringify(said(fresh))) differ.push(`${c.name} (${form}, warm ${round}): fresh ${fresh.reason ?? 'accepted'}, warm ${w.reason ?? 'accepted'} (${w.message})`);
          }
        }
      }
      expect(differ).toEqual([]);
      // Nearly every warm verifier accepted its good logins (signed and query) before the case.
      expect(warmed).toBeGreaterThan(cases.length * 2 * 2 * 0.8);
    }, 300_000);
  });
});
