/**
 * Verifier cost per login beside the bare node:crypto cost of the
 * signatures it must check (keys already imported, nothing parsed), for a
 * P-256 leaf under a P-256 intermediate and root, with a stapled OCSP
 * response and revocation `require` (no network):
 *
 * - cold, nothing cached at all: a new verifier per login (only its trust
 *   anchors were loaded, at configuration time); it parses the leaf, the
 *   intermediate and the OCSP response and checks 2 certificate
 *   signatures, the OCSP signature and the user signature;
 * - new leaf, known CA: one verifier that has already validated other users
 *   under the same intermediate, each login with a leaf (and OCSP response)
 *   it has never seen: it parses the leaf and the OCSP response and checks
 *   the leaf's certificate signature, the OCSP signature and the user
 *   signature (the intermediate's signature is remembered);
 * - warm: the same blob seen before (chain cache hit): one SHA-256 of the
 *   blob and the user signature.
 *
 * Each cold figure is compared with the bare cost of exactly the
 * signatures that case must verify; warm with one user-signature verify.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { clearParsedCertificates } from '../src/certs/model.js';
import { X509Verifier, type VerifyRequest } from '../src/verify/verifier.js';
import { createTestPki, type IssuedCert } from '../test/helpers/pki.js';
import { OpensslRevocation } from '../test/helpers/revocation.js';
import type { BenchRow } from './stats.js';

type Row = BenchRow;

const ALG = 'x509v3-ecdsa-sha2-nistp256';
/** Distinct leaves for the "new leaf" runs (each used once after warm-up). */
const LEAVES = 120;
const WARMUP = 20;

/** Mean ms per call of `f(i)` for i in [from, to), after no warm-up of its own. */
async function timeRange(from: number, to: number, f: (i: number) => unknown | Promise<unknown>): Promise<number> {
  const t = performance.now();
  for (let i = from; i < to; i++) await f(i);
  return (performance.now() - t) / (to - from);
}

async function time(n: number, f: (i: number) => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(n, 50); i++) await f(i);
  return timeRange(0, n, f);
}

interface Login {
  req: VerifyRequest;
  leaf: IssuedCert;
  ocsp: Buffer;
}

export async function benchVerify(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-bench-'));
  try {
    const pki = await createTestPki(join(dir, 'pki'));
    const rev = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
    const data = Buffer.alloc(180, 7);
    const leaves = await Promise.all(Array.from({ length: LEAVES }, (_, i) => pki.issue(`user${i}`, 'p256')));
    for (const l of leaves) rev.valid(l.certPem);
    const logins: Login[] = leaves.map((leaf) => {
      const ocsp = rev.ocspResponse(leaf.certPath);
      const sig = encodeSignatureBlob(ALG, sign('sha256', data, { key: createPrivateKey(leaf.keyPem), dsaEncoding: 'ieee-p1363' }));
      const blob = encodePublicKeyBlob({ algorithm: ALG, certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [ocsp] });
      return { req: { username: leaf.name, algorithm: ALG, publicKey: blob, signedData: data, signature: sig }, leaf, ocsp };
    });
    const opts = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' as const }, revocation: { mode: 'require' as const, fetch: false } };
    const ok = (r: { ok: boolean; message: string }) => {
      if (!r.ok) throw new Error(r.message);
    };

    // Bare: the signatures a login must check, with node:crypto, keys imported and structures parsed beforehand.
    const first = logins[0]!;
    const leafKey = createPublicKey(first.leaf.certPem);
    const interKey = createPublicKey(pki.intermediate.certPem);
    const rootKey = createPublicKey(pki.root.certPem);
    const raw = sign('sha256', data, { key: createPrivateKey(first.leaf.keyPem), dsaEncoding: 'ieee-p1363' });
    const lc = pkijs.Certificate.fromBER(first.leaf.certDer);
    const ic = pkijs.Certificate.fromBER(pki.intermediate.certDer);
    const basic = pkijs.BasicOCSPResponse.fromBER(pkijs.OCSPResponse.fromBER(first.ocsp).responseBytes!.response.valueBlock.valueHexView);
    const leafCertSig: [Uint8Array, Uint8Array, KeyObject] = [lc.tbsView, lc.signatureValue.valueBlock.valueHexView, interKey];
    const interCertSig: [Uint8Array, Uint8Array, KeyObject] = [ic.tbsView, ic.signatureValue.valueBlock.valueHexView, rootKey];
    const ocspSig: [Uint8Array, Uint8Array, KeyObject] = [basic.tbsResponseData.tbsView, basic.signature.valueBlock.valueHexView, interKey];
    const userVerify = () => verify('sha256', data, { key: leafKey, dsaEncoding: 'ieee-p1363' }, raw);
    const userOnly = await time(3000, userVerify);
    const bareNewLeaf = await time(1000, () => {
      userVerify();
      for (const [tbs, s, k] of [leafCertSig, ocspSig]) verify('sha256', tbs, k, s);
    });
    const bareCold = await time(1000, () => {
      userVerify();
      for (const [tbs, s, k] of [leafCertSig, interCertSig, ocspSig]) verify('sha256', tbs, k, s);
    });

    // Cold: a fresh verifier per login (created beforehand: loading the anchors is configuration, not a login).
    // Nothing cached means no parsed certificate either: the shared model cache is emptied before each.
    const coldTimes: number[] = [];
    for (let i = 0; i < LEAVES; i++) {
      clearParsedCertificates();
      const v = await X509Verifier.create(opts);
      const t0 = performance.now();
      ok(await v.verify(logins[i]!.req));
      if (i >= WARMUP) coldTimes.push(performance.now() - t0); // the first ones are JIT warm-up only
    }
    const cold = coldTimes.reduce((a, b) => a + b, 0) / coldTimes.length;

    // New leaf, known CA: one verifier, warmed on a few users, then each login a leaf it has not seen.
    const known = await X509Verifier.create(opts);
    for (let i = 0; i < WARMUP; i++) ok(await known.verify(logins[i]!.req));
    // One login at a time, idling between them as the cold ones do (each after its verifier is made).
    const newLeafTimes: number[] = [];
    for (let i = WARMUP; i < LEAVES; i++) {
      const t0 = performance.now();
      const r = await known.verify(logins[i]!.req);
      newLeafTimes.push(performance.now() - t0);
      ok(r);
      if (r.cached) throw new Error('expected a chain-cache miss');
      await new Promise((res) => setTimeout(res, 1));
    }
    const newLeaf = newLeafTimes.reduce((a, b) => a + b, 0) / newLeafTimes.length;

    // Warm: the same blob again.
    const warmV = await X509Verifier.create(opts);
    ok(await warmV.verify(first.req));
    const warm = await time(5000, async () => {
      const r = await warmV.verify(first.req);
      if (!r.ok || !r.cached) throw new Error(r.message);
    });

    return [
      { name: 'bare: user signature verify (P-256)', ms: userOnly, opsPerSec: 1000 / userOnly },
      { name: 'bare: user + leaf certificate + OCSP signature verifies', ms: bareNewLeaf, opsPerSec: 1000 / bareNewLeaf },
      { name: 'bare: user + 2 certificate + OCSP signature verifies', ms: bareCold, opsPerSec: 1000 / bareCold },
      {
        name: 'verifier cold: nothing cached at all (new verifier per login)',
        ms: cold,
        opsPerSec: 1000 / cold,
        ratio: cold / bareCold,
        baseline: 'bare user + 2 certificate + OCSP',
        target: 2,
      },
      {
        name: 'verifier cold: new leaf, known CA (intermediate seen before)',
        ms: newLeaf,
        opsPerSec: 1000 / newLeaf,
        ratio: newLeaf / bareNewLeaf,
        baseline: 'bare user + leaf certificate + OCSP',
        target: 2,
      },
      { name: 'verifier warm (same chain seen before)', ms: warm, opsPerSec: 1000 / warm, ratio: warm / userOnly, baseline: 'one user signature verify', target: 1.2 },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchVerify()) console.log(JSON.stringify(r));
}
