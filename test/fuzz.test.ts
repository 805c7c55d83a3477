/**
 * A bounded run of the mutation fuzzer (`npm run fuzz` runs it longer):
 * a few thousand mutated logins, blobs and signatures, and none may end in
 * an untyped error, a hang, or an accepted login with non-canonical DER or
 * mutated content.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, canonicalDer, createFuzzer, formatSummary, mutate, type Fuzzer } from './fuzz/harness.js';

let fuzzer: Fuzzer;
beforeAll(async () => {
  fuzzer = await createFuzzer();
}, 120_000);
afterAll(() => fuzzer?.close());

describe('fuzzing', () => {
  it('the oracle tells canonical DER from BER, and mutations change their input', () => {
    expect(canonicalDer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]))).toBe(true);
    expect(canonicalDer(Buffer.from([0x30, 0x81, 0x03, 0x02, 0x01, 0x05]))).toBe(false);
    expect(canonicalDer(Buffer.from([0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00]))).toBe(false);
    const rng = new Rng(7);
    const input = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]);
    const changed = Array.from({ length: 50 }, () => !mutate(input, rng).equals(input)).filter(Boolean).length;
    expect(changed).toBeGreaterThan(40);
  });

  it('3000 inputs: no untyped error, no hang, nothing non-canonical or mutated accepted', async () => {
    const s = await fuzzer.run(3000, { seed: Number(process.env.FUZZ_SEED ?? 1) });
    const text = formatSummary(s);
    console.log(text);
    expect(s.inputs).toBe(3000);
    expect(s.accepted, text).toBeGreaterThan(0);
    expect({ untyped: s.untypedErrors, hangs: s.hangs, nonCanonical: s.acceptedNonCanonical, mutatedCerts: s.acceptedMutatedCertificates, mutatedSigs: s.acceptedMutatedSignatures }, text).toEqual({
      untyped: 0,
      hangs: 0,
      nonCanonical: 0,
      mutatedCerts: 0,
      mutatedSigs: 0,
    });
  }, 120_000);
});
