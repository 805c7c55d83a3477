/** A/B: the verifier of two source trees side by side in one process, alternated round by round. */
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [, , kind = 'rsa2048', mode = 'newleaf', roundsArg = '30', ...roots] = process.argv;
const ALGS: Record<string, string> = { rsa2048: 'x509v3-rsa2048-sha256', p256: 'x509v3-ecdsa-sha2-nistp256', p384: 'x509v3-ecdsa-sha2-nistp384', ed25519: 'x509v3-ssh-ed25519' };
const alg = ALGS[kind]!;
const impls = await Promise.all(roots.map(async (r) => ({
  root: r,
  V: (await import(join(r, 'src/verify/verifier.ts'))).X509Verifier,
  clear: (await import(join(r, 'src/certs/model.ts'))).clearParsedCertificates as () => void,
})));
const { getAlgorithm } = await import(join(roots[0]!, 'src/algorithms.ts'));
const { encodePublicKeyBlob } = await import(join(roots[0]!, 'src/rfc6187/publickey-blob.ts'));
const { encodeSignatureBlob } = await import(join(roots[0]!, 'src/rfc6187/signature.ts'));
const { createTestPki } = await import(join(roots[0]!, 'test/helpers/pki.ts'));
const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-ab-'));
try {
  const pki = await createTestPki(join(dir, kind), { rootKind: kind, intermediateKind: kind });
  const data = Buffer.alloc(180, 7);
  const a = getAlgorithm(alg);
  const leaves = await Promise.all(Array.from({ length: 40 }, (_, i) => pki.issue(`user${i}`, kind)));
  const reqs = leaves.map((leaf: any) => {
    const key = createPrivateKey(leaf.keyPem);
    const raw = a.keyType === 'ec' ? sign(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }) : sign(a.keyType === 'ed25519' ? null : a.hash, data, key);
    return { username: leaf.name, algorithm: alg, publicKey: encodePublicKeyBlob({ algorithm: alg, certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [] }), signedData: data, signature: encodeSignatureBlob(a, raw) };
  });
  const opts = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' } };
  const times: number[][] = impls.map(() => []);
  const rounds = Number(roundsArg);
  for (let r = 0; r < rounds; r++) {
    for (const [k, impl] of (r % 2 ? [...impls.entries()].reverse() : [...impls.entries()])) {
      if (mode === 'newleaf') {
        impl.clear();
        const v = await impl.V.create(opts);
        await v.verify(reqs[0]);
        for (let i = 1; i < reqs.length; i++) {
          const t = performance.now();
          const res = await v.verify(reqs[i]);
          times[k]!.push(performance.now() - t);
          if (!res.ok || res.cached) throw new Error(res.message);
        }
      } else {
        for (let i = 0; i < 20; i++) {
          impl.clear();
          const v = await impl.V.create(opts);
          const t = performance.now();
          const res = await v.verify(reqs[(r * 20 + i) % reqs.length]);
          times[k]!.push(performance.now() - t);
          if (!res.ok) throw new Error(res.message);
        }
      }
    }
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
  const m = times.map(med);
  console.log(`${kind} ${mode}: ` + impls.map((impl, k) => `${impl.root.replace(/.*\//, '')} ${m[k]!.toFixed(4)} ms (n=${times[k]!.length})`).join('  |  ') + (m.length === 2 ? `  new/old ${(m[1]! / m[0]!).toFixed(3)}` : ''));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
