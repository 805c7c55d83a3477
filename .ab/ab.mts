// A/B of the verifier before (the branch point, /tmp/pkits-base) and after (this tree), interleaved in one process.
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '../test/helpers/pki.ts';
import { OpensslRevocation } from '../test/helpers/revocation.ts';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.ts';
import { encodeSignatureBlob } from '../src/rfc6187/signature.ts';
import { X509Verifier as After } from '../src/verify/verifier.ts';
// @ts-ignore
import { X509Verifier as Before } from '/tmp/pkits-base/src/verify/verifier.ts';
const ALG = 'x509v3-ecdsa-sha2-nistp256';
const dir = mkdtempSync(join(tmpdir(), 'ab-'));
const pki = await createTestPki(join(dir, 'pki'));
const rev = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
const data = Buffer.alloc(180, 7);
const N = 240;
const leaves = await Promise.all(Array.from({ length: N }, (_, i) => pki.issue(`user${i}`, 'p256')));
for (const l of leaves) rev.valid(l.certPem);
const reqs = leaves.map((leaf) => ({ username: leaf.name, algorithm: ALG, publicKey: encodePublicKeyBlob({ algorithm: ALG, certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [rev.ocspResponse(leaf.certPath)] }), signedData: data, signature: encodeSignatureBlob(ALG, sign('sha256', data, { key: createPrivateKey(leaf.keyPem), dsaEncoding: 'ieee-p1363' })) }));
const opts = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' as const }, revocation: { mode: 'require' as const, fetch: false } };
const impls = { before: Before, after: After } as Record<string, typeof After>;
const times: Record<string, Record<string, number[]>> = { before: { cold: [], newLeaf: [], warm: [] }, after: { cold: [], newLeaf: [], warm: [] } };
const known: Record<string, After> = {}; const warmV: Record<string, After> = {};
for (const k of ['before', 'after']) { known[k] = await impls[k]!.create(opts); warmV[k] = await impls[k]!.create(opts); await warmV[k]!.verify(reqs[0]!); for (let i = 0; i < 20; i++) await known[k]!.verify(reqs[i]!); }
const ok = (r: { ok: boolean; message: string }) => { if (!r.ok) throw new Error(r.message); };
for (let i = 20; i < N; i++) {
  for (const k of (i % 2 ? ['before', 'after'] : ['after', 'before'])) {
    const fresh = await impls[k]!.create(opts);
    let t = performance.now(); ok(await fresh.verify(reqs[i]!)); times[k]!.cold!.push(performance.now() - t);
    t = performance.now(); ok(await known[k]!.verify(reqs[i]!)); times[k]!.newLeaf!.push(performance.now() - t);
    t = performance.now(); for (let j = 0; j < 20; j++) ok(await warmV[k]!.verify(reqs[0]!)); times[k]!.warm!.push((performance.now() - t) / 20);
  }
}
const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]!; };
for (const sc of ['cold', 'newLeaf', 'warm']) console.log(sc.padEnd(8), 'before', med(times.before![sc]!).toFixed(3), 'ms  after', med(times.after![sc]!).toFixed(3), 'ms  after/before', (med(times.after![sc]!) / med(times.before![sc]!)).toFixed(3));
