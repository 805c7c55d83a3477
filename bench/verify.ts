/**
 * Verifier cost per login, cold (nothing cached) and warm (the same chain
 * seen before), beside the bare node:crypto cost of the signatures it must
 * check (user signature, each certificate signature, the OCSP signature).
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { X509Verifier } from '../src/verify/verifier.js';
import { createTestPki } from '../test/helpers/pki.js';
import { OpensslRevocation } from '../test/helpers/revocation.js';

type Row = { name: string; opsPerSec?: number; ms?: number; ratio?: number; baseline?: string };

async function time(n: number, f: (i: number) => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(n, 20); i++) await f(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) await f(i);
  return (performance.now() - t) / n;
}

export async function benchVerify(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-bench-'));
  try {
    const pki = await createTestPki(join(dir, 'pki'));
    const leaf = await pki.issue('alice', 'p256');
    const rev = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
    rev.valid(leaf.certPem);
    const ocsp = rev.ocspResponse(leaf.certPath);
    const alg = 'x509v3-ecdsa-sha2-nistp256';
    const data = Buffer.alloc(180, 7);
    const key = createPrivateKey(leaf.keyPem);
    const sig = encodeSignatureBlob(alg, sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
    const blob = encodePublicKeyBlob({ algorithm: alg, certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [ocsp] });
    const req = { username: 'alice', algorithm: alg, publicKey: blob, signedData: data, signature: sig };
    const opts = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' as const }, revocation: { mode: 'require' as const, fetch: false } };

    // Bare: the signatures a login must check, with node:crypto and keys already imported.
    const leafKey = createPublicKey(leaf.certPem);
    const interKey = createPublicKey(pki.intermediate.certPem);
    const rootKey = createPublicKey(pki.root.certPem);
    const raw = sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    const lc = pkijs.Certificate.fromBER(leaf.certDer);
    const ic = pkijs.Certificate.fromBER(pki.intermediate.certDer);
    const basic = pkijs.BasicOCSPResponse.fromBER(pkijs.OCSPResponse.fromBER(ocsp).responseBytes!.response.valueBlock.valueHexView);
    const parts: Array<[Uint8Array, Uint8Array, typeof leafKey]> = [
      [lc.tbsView, lc.signatureValue.valueBlock.valueHexView, interKey],
      [ic.tbsView, ic.signatureValue.valueBlock.valueHexView, rootKey],
      [basic.tbsResponseData.tbsView, basic.signature.valueBlock.valueHexView, interKey],
    ];
    const userOnly = await time(2000, () => verify('sha256', data, { key: leafKey, dsaEncoding: 'ieee-p1363' }, raw));
    const bare = await time(1000, () => {
      verify('sha256', data, { key: leafKey, dsaEncoding: 'ieee-p1363' }, raw);
      for (const [tbs, s, k] of parts) verify('sha256', tbs, k, s);
    });

    const verifiers = await Promise.all(Array.from({ length: 200 }, () => X509Verifier.create(opts)));
    const cold = await time(150, async (i) => {
      const r = await verifiers[i % verifiers.length]!.verify(req);
      if (!r.ok) throw new Error(r.message);
    });
    const coldCache = await X509Verifier.create({ ...opts, cache: false });
    const noCache = await time(200, async () => {
      const r = await coldCache.verify(req);
      if (!r.ok) throw new Error(r.message);
    });
    const warmV = await X509Verifier.create(opts);
    await warmV.verify(req);
    const warm = await time(3000, async () => {
      const r = await warmV.verify(req);
      if (!r.ok || !r.cached) throw new Error(r.message);
    });
    return [
      { name: 'bare: user signature verify (P-256)', ms: userOnly, opsPerSec: 1000 / userOnly },
      { name: 'bare: user + 2 certificate + 1 OCSP signature verifies', ms: bare, opsPerSec: 1000 / bare },
      { name: 'verifier cold (new verifier, nothing cached)', ms: cold, opsPerSec: 1000 / cold, ratio: cold / bare, baseline: 'bare all signatures (target <= 2)' },
      { name: 'verifier, chain cache off (parsed intermediates reused)', ms: noCache, opsPerSec: 1000 / noCache, ratio: noCache / bare, baseline: 'bare all signatures' },
      { name: 'verifier warm (same chain seen before)', ms: warm, opsPerSec: 1000 / warm, ratio: warm / userOnly, baseline: 'one user signature verify (target <= 1.2)' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchVerify()) console.log(JSON.stringify(r));
}
