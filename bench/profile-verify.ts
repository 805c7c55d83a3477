/**
 * A profiling driver (not part of `npm run bench`): replays the logins of
 * bench/peers.ts's verifier rows (cold, new leaf, warm) many times, for
 * `node --cpu-prof --import tsx bench/profile-verify.ts [kind] [mode] [n] [idle ms]`.
 * With an idle time, each timed login is followed by a sleep of that many
 * milliseconds (as bench/peers.ts pauses 1 ms); without it, logins run back
 * to back.
 */
import { createPrivateKey, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAlgorithm } from '../src/algorithms.js';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { clearParsedCertificates } from '../src/certs/model.js';
import { X509Verifier, type X509VerifierOptions } from '../src/verify/verifier.js';
import { createTestPki, type KeyKind } from '../test/helpers/pki.js';
import { rawPrimitive } from './peers.js';

const ALGS: Record<string, string> = {
  rsa2048: 'x509v3-rsa2048-sha256',
  p256: 'x509v3-ecdsa-sha2-nistp256',
  p384: 'x509v3-ecdsa-sha2-nistp384',
  p521: 'x509v3-ecdsa-sha2-nistp521',
  ed25519: 'x509v3-ssh-ed25519',
};
const kind = (process.argv[2] ?? 'p256') as KeyKind;
const mode = process.argv[3] ?? 'cold';
const n = Number(process.argv[4] ?? 400);
const idleMs = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
const idle = () => (idleMs === undefined ? undefined : new Promise((r) => setTimeout(r, idleMs)));
const alg = ALGS[kind]!;
const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-prof-'));
try {
  const pki = await createTestPki(join(dir, kind), { rootKind: kind, intermediateKind: kind });
  const data = Buffer.alloc(180, 7);
  const a = getAlgorithm(alg);
  const leaves = await Promise.all(Array.from({ length: 40 }, (_, i) => pki.issue(`user${i}`, kind)));
  const reqs = leaves.map((leaf) => {
    const key = createPrivateKey(leaf.keyPem);
    const raw = a.keyType === 'ec' ? sign(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }) : sign(a.keyType === 'ed25519' ? null : a.hash, data, key);
    return {
      username: leaf.name,
      algorithm: alg,
      publicKey: encodePublicKeyBlob({ algorithm: alg, certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [] }),
      signedData: data,
      signature: encodeSignatureBlob(a, raw),
    };
  });
  const opts: X509VerifierOptions = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' } };
  const times: number[] = [];
  const known = await X509Verifier.create(opts);
  if (mode === 'warmratio') {
    // As bench/peers.ts times the warm row: batches of 50, alternated with one bare verify of the user signature.
    const r0 = await known.verify(reqs[0]!);
    const key = r0.chain!.publicKey;
    // The bench's bare call, ECDSA included (its r || s taken out of the blob beforehand).
    const raw = rawPrimitive(alg, reqs[0]!.signature);
    const bare = () =>
      a.keyType === 'ec' ? verify(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }, raw) : verify(a.keyType === 'ed25519' ? null : a.hash, data, key, raw);
    if (!bare()) throw new Error('bare verify failed');
    const tb: number[] = [];
    const tw: number[] = [];
    for (let b = 0; b < n; b++) {
      let t0 = performance.now();
      for (let i = 0; i < 50; i++) bare();
      tb.push((performance.now() - t0) / 50);
      t0 = performance.now();
      for (let i = 0; i < 50; i++) await known.verify(reqs[0]!);
      tw.push((performance.now() - t0) / 50);
    }
    const med = (x: number[]) => x.sort((p, q) => p - q)[x.length >> 1]!;
    console.log(`${kind} warm ${med(tw).toFixed(5)} ms, bare ${med(tb).toFixed(5)} ms, ratio ${(med(tw) / med(tb)).toFixed(3)}`);
    process.exit(0);
  }
  for (let i = 0; i < n; i++) {
    const req = reqs[i % reqs.length]!;
    if (mode === 'cold') {
      clearParsedCertificates();
      const v = await X509Verifier.create(opts);
      const t = performance.now();
      const r = await v.verify(req);
      times.push(performance.now() - t);
      await idle();
      if (!r.ok) throw new Error(r.message);
    } else if (mode === 'newleaf') {
      // A new verifier per 40 logins, each a leaf it has not seen (the parsed intermediate cached; leaves not).
      const v = i % reqs.length === 0 ? await X509Verifier.create(opts) : known;
      if (i % reqs.length === 0) {
        clearParsedCertificates();
        (globalThis as { v?: X509Verifier }).v = v;
        await v.verify(reqs[0]!);
        continue;
      }
      const vv = (globalThis as { v?: X509Verifier }).v!;
      const t = performance.now();
      const r = await vv.verify(req);
      times.push(performance.now() - t);
      await idle();
      if (!r.ok || r.cached) throw new Error(r.message);
    } else {
      const t = performance.now();
      const r = await known.verify(reqs[0]!);
      times.push(performance.now() - t);
      await idle();
      if (!r.ok) throw new Error(r.message);
    }
  }
  times.sort((x, y) => x - y);
  console.log(`${kind} ${mode}: median ${times[times.length >> 1]!.toFixed(4)} ms over ${times.length}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
