/**
 * `npm run fuzz [-- inputs [seed]]`: the mutation fuzzer (./harness.ts) for
 * as many inputs as asked (default 100000), printing progress every 50000
 * and the summary at the end. Exits 1 when it found an untyped error, a
 * hang, or an accepted login with non-canonical DER or mutated content.
 * Releases run 1000000 inputs: `npm run fuzz -- 1000000`. Findings print at once
 * (FINDING ...), with the input in base64.
 */
import { createFuzzer, formatSummary } from './harness.js';

const n = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1);
const fuzzer = await createFuzzer();
try {
  const s = await fuzzer.run(n, {
    seed,
    progressEvery: 50_000,
    onFinding: (f) => console.log(`FINDING ${f}`),
    onProgress: (p) =>
      console.log(
        `${p.inputs} inputs, ${(p.elapsedMs / 1000).toFixed(0)} s: untyped ${p.untypedErrors}, hangs ${p.hangs}, non-canonical accepted ${p.acceptedNonCanonical}, mutated accepted ${p.acceptedMutatedCertificates + p.acceptedMutatedSignatures}, worst ${p.worstMs.toFixed(1)} ms CPU (${p.worstWallMs.toFixed(0)} ms wall)`,
      ),
  });
  console.log(formatSummary(s));
  process.exitCode = s.untypedErrors || s.hangs || s.acceptedNonCanonical || s.acceptedMutatedCertificates || s.acceptedMutatedSignatures ? 1 : 0;
} finally {
  fuzzer.close();
}
