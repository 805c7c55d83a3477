/**
 * A mutation fuzzer of the project's own, over real logins made with the
 * project's test PKI (P-256, RSA and Ed25519 leaves under a P-256
 * intermediate and root; OCSP responses from `openssl ocsp`). Each input is
 * one seed login mutated (bit flips, byte sets, inserts, deletes, repeats,
 * truncations, and DER-aware length and tag edits), aimed at one of:
 *
 * - the blob decoder (`decodePublicKeyBlob`),
 * - the signature decoder (`decodeSignatureBlob`),
 * - the verifier: signature form or query form, revocation `off` or
 *   `require` with a stapled OCSP response; the mutation lands in the whole
 *   blob, in the blob's list of certificates (whole certificates duplicated,
 *   inserted, dropped or swapped), in one certificate (re-framed in a valid
 *   blob, so it reaches the certificate parser), in the OCSP response, or in
 *   the signature.
 *
 * It counts what must never happen: an error that is not an
 * `SshX509Error` (decoders) or a result with `internalError` or a thrown
 * error (verifier), an input slower than the hang bound, an accepted
 * login whose certificates are not canonical DER (checked by an oracle
 * independent of the verifier: asn1js's decode re-encoded must give the
 * same bytes) or are not the seed's certificates; and it records the
 * slowest input.
 *
 * @module
 */
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { isSshX509Error } from '../../src/errors.js';
import { getAlgorithm } from '../../src/algorithms.js';
import { decodePublicKeyBlob, encodePublicKeyBlob } from '../../src/rfc6187/publickey-blob.js';
import { decodeSignatureBlob, encodeSignatureBlob } from '../../src/rfc6187/signature.js';
import { X509Verifier, type VerifyRequest, type X509VerifierOptions } from '../../src/verify/verifier.js';
import { createTestPki, type IssuedCert } from '../helpers/pki.js';
import { OpensslRevocation } from '../helpers/revocation.js';

const DATA = Buffer.from('fuzz: session id and userauth request fields');

/** xorshift32: deterministic, seedable. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

/** The positions of DER headers (tag, length) in `b`, from asn1js's decode of it, for DER-aware edits. */
function headerOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  const walk = (blk: asn1js.BaseBlock, at: number): void => {
    out.push(at);
    if (!blk.idBlock.isConstructed) return;
    let off = at + blk.idBlock.blockLength + blk.lenBlock.blockLength;
    for (const c of ((blk as asn1js.Constructed).valueBlock.value ?? []) as asn1js.BaseBlock[]) {
      walk(c, off);
      off += c.valueBeforeDecodeView.byteLength;
    }
  };
  const r = asn1js.fromBER(b);
  if (r.offset !== -1) walk(r.result as asn1js.BaseBlock, 0);
  return out;
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff, 0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0xa0, 0xa3];

/** One mutation of `input` (never the identity, unless the input is empty). */
export function mutate(input: Uint8Array, rng: Rng, headers?: number[]): Buffer {
  const b = Buffer.from(input);
  if (b.length === 0) return Buffer.from([rng.int(256)]);
  const pos = rng.int(b.length);
  switch (rng.int(11)) {
    case 0:
      b[pos] = b[pos]! ^ (1 << rng.int(8));
      return b;
    case 1:
      b[pos] = rng.pick(INTERESTING);
      return b;
    case 2:
      b[pos] = rng.int(256);
      return b;
    case 3: {
      const ins = Buffer.alloc(1 + rng.int(8));
      for (let i = 0; i < ins.length; i++) ins[i] = rng.pick(INTERESTING);
      return Buffer.concat([b.subarray(0, pos), ins, b.subarray(pos)]);
    }
    case 4:
      return Buffer.concat([b.subarray(0, pos), b.subarray(Math.min(b.length, pos + 1 + rng.int(16)))]);
    case 5: {
      const len = 1 + rng.int(Math.min(64, b.length - pos));
      return Buffer.concat([b.subarray(0, pos + len), b.subarray(pos, pos + len), b.subarray(pos + len)]);
    }
    case 6:
      return b.subarray(0, pos);
    case 7:
      return Buffer.concat([b, Buffer.from([rng.pick(INTERESTING)])]);
    case 8:
    case 9:
    case 10: {
      // DER-aware: edit a tag or a length octet of an element.
      const hs = headers ?? headerOffsets(b);
      if (hs.length === 0) return mutate(b, rng);
      const h = rng.pick(hs);
      const which = rng.int(4);
      if (which === 0) b[h] = rng.pick(INTERESTING); // tag
      else if (which === 1 && h + 1 < b.length) b[h + 1] = (b[h + 1]! + (rng.int(2) ? 1 : 0xff)) & 0xff; // length +-1
      else if (which === 2 && h + 1 < b.length) {
        // the same length in a longer form (BER)
        const l = b[h + 1]!;
        if (l < 0x80) return Buffer.concat([b.subarray(0, h + 1), Buffer.from([0x81, l]), b.subarray(h + 2)]);
        return Buffer.concat([b.subarray(0, h + 1), Buffer.from([l + 1, 0]), b.subarray(h + 2)]);
      } else if (h + 1 < b.length) b[h + 1] = 0x80; // indefinite
      return b;
    }
  }
  return b;
}

/** An independent canonical-DER oracle: asn1js's decode, re-encoded, gives the same bytes; no indefinite or longer-than-needed length. */
export function canonicalDer(der: Uint8Array): boolean {
  const r = asn1js.fromBER(der);
  if (r.offset !== der.length) return false;
  let indefinite = false;
  const walk = (blk: asn1js.BaseBlock): void => {
    const l = blk.lenBlock;
    if (l.isIndefiniteForm) indefinite = true;
    // asn1js re-encodes a long-form length as it found it: check the form here.
    if (l.longFormUsed && (l.length < 128 || l.blockLength - 1 !== Math.ceil(Math.log2(l.length + 1) / 8))) indefinite = true;
    if (blk.idBlock.isConstructed) for (const c of ((blk as asn1js.Constructed).valueBlock.value ?? []) as asn1js.BaseBlock[]) walk(c);
  };
  walk(r.result as asn1js.BaseBlock);
  if (indefinite) return false;
  return Buffer.from(r.result.toBER(false)).equals(Buffer.from(der));
}

/** A seed login. */
export interface Seed {
  readonly algorithm: string;
  readonly certificates: Buffer[];
  readonly ocsp: Buffer;
  readonly signature: Buffer;
  readonly username: string;
}

/** The fuzzing state: seeds and verifiers, made once. */
export interface Fuzzer {
  run(n: number, opts?: RunOptions): Promise<FuzzSummary>;
  /** The inputs a run of `n` with this PRNG seed makes, in order, without running them. */
  inputs(n: number, seed?: number): Generator<FuzzInput>;
  /** The options of the verifiers the requests go to (`offNoCache` is `off` with `cache: false`). */
  readonly verifierOptions: Readonly<Record<'off' | 'stapled', X509VerifierOptions>>;
  /** The seeds' certificates (leaf, intermediate) and the root, their trust anchor. */
  readonly seedCertificates: ReadonlyArray<{ readonly algorithm: string; readonly username: string; readonly certificates: readonly Buffer[]; readonly ocsp: Buffer; readonly signature: Buffer }>;
  readonly root: Buffer;
  /** The data every seed signature is over. */
  readonly signedData: Buffer;
  /** The seeds' own logins, each accepted by the verifier named beside it: signed and query form, with and without the staple. */
  readonly goodLogins: ReadonlyArray<{ req: VerifyRequest; verifier: 'off' | 'stapled' }>;
  close(): void;
}

/** One input of a run: bytes for a decoder, or a request for one of the verifiers. */
export type FuzzInput =
  | { readonly kind: 'blob-decoder'; readonly target: string; readonly input: Buffer }
  | { readonly kind: 'signature-decoder'; readonly target: string; readonly input: Buffer; readonly algorithm: string }
  | {
      readonly kind: 'verifier';
      readonly target: string;
      readonly verifier: 'off' | 'offNoCache' | 'stapled';
      readonly req: VerifyRequest;
      readonly query: boolean;
      readonly blob: Buffer;
      readonly signature: Buffer;
      readonly seed: Seed;
    };

/** Options of a run. */
export interface RunOptions {
  /** The PRNG seed (default 1). */
  seed?: number;
  /** An input over this much CPU time (ms, default 2000), or 15 times it in wall-clock time, is a hang. */
  hangMs?: number;
  onProgress?: (s: FuzzSummary) => void;
  progressEvery?: number;
  /** Called at once with each finding (an untyped error, a hang, an accepted mutation). */
  onFinding?: (what: string) => void;
}

/** What a run found. */
export interface FuzzSummary {
  inputs: number;
  byTarget: Record<string, number>;
  /** Errors other than SshX509Error from a decoder, results with internalError, or anything the verifier threw. */
  untypedErrors: number;
  hangs: number;
  /** Accepted logins whose certificates are not canonical DER. */
  acceptedNonCanonical: number;
  /** Accepted logins with a certificate that is not one of the seed's (mutated signed content). */
  acceptedMutatedCertificates: number;
  /** Accepted logins whose signature blob is not the seed's. */
  acceptedMutatedSignatures: number;
  accepted: number;
  /** The slowest input, CPU ms. */
  worstMs: number;
  worstTarget: string;
  /** The slowest input, wall-clock ms (includes other processes' turns on a shared machine). */
  worstWallMs: number;
  reasons: Record<string, number>;
  examples: string[];
  elapsedMs: number;
}

/** Builds the seeds (a fresh test PKI and OCSP responses) and the verifiers. */
export async function createFuzzer(): Promise<Fuzzer> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-fuzz-'));
  const pki = await createTestPki(join(dir, 'pki'));
  const ocsp = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
  const leaves: Array<[IssuedCert, string]> = [
    [await pki.issue('alice', 'p256'), 'x509v3-ecdsa-sha2-nistp256'],
    [await pki.issue('rsauser', 'rsa2048'), 'x509v3-rsa2048-sha256'],
    [await pki.issue('eduser', 'ed25519'), 'x509v3-ssh-ed25519'],
  ];
  const seeds: Seed[] = leaves.map(([leaf, algorithm]) => {
    ocsp.valid(leaf.certPem);
    const alg = getAlgorithm(algorithm);
    const key = createPrivateKey(leaf.keyPem);
    const prim = alg.keyType === 'ed25519' ? sign(null, DATA, key) : alg.keyType === 'rsa' ? sign(alg.hash!, DATA, key) : sign(alg.hash!, DATA, { key, dsaEncoding: 'ieee-p1363' });
    return { algorithm, certificates: [leaf.certDer, pki.intermediate.certDer], ocsp: ocsp.ocspResponse(leaf.certPath), signature: encodeSignatureBlob(alg, prim), username: leaf.name };
  });
  const originals = new Set(seeds.flatMap((s) => s.certificates.map((c) => c.toString('hex'))).concat(pki.root.certDer.toString('hex')));
  const base = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' as const } };
  const verifierOptions: Record<'off' | 'stapled', X509VerifierOptions> = {
    off: { ...base, revocation: { mode: 'off' } },
    stapled: { ...base, revocation: { mode: 'require', fetch: false } },
  };
  const verifiers = {
    off: await X509Verifier.create(verifierOptions.off),
    offNoCache: await X509Verifier.create({ ...verifierOptions.off, cache: false }),
    stapled: await X509Verifier.create(verifierOptions.stapled),
  };
  const goodLogins = seeds.flatMap((seed) =>
    [false, true].flatMap((stapled) => {
      const publicKey = encodePublicKeyBlob({ algorithm: seed.algorithm, certificates: seed.certificates, ocspResponses: stapled ? [seed.ocsp] : [] });
      const query: VerifyRequest = { username: seed.username, algorithm: seed.algorithm, publicKey };
      const verifier = stapled ? ('stapled' as const) : ('off' as const);
      return [{ req: { ...query, signedData: DATA, signature: seed.signature }, verifier }, { req: query, verifier }];
    }),
  );
  const headerCache = new Map<string, number[]>();
  const headersOf = (b: Buffer): number[] => {
    const k = b.subarray(0, 64).toString('hex') + b.length;
    let h = headerCache.get(k);
    if (!h) headerCache.set(k, (h = headerOffsets(b)));
    return h;
  };

  /** Whole certificates the chain edits insert: the root and every seed's leaf and intermediate. */
  const chainPool = [pki.root.certDer, ...seeds.flatMap((s) => s.certificates)];
  /** The seed's chain with whole certificates duplicated, inserted, dropped or swapped: every certificate well formed, the blob's list not. */
  const editChain = (certs: readonly Buffer[], rng: Rng): Buffer[] => {
    const out = [...certs];
    for (let edits = 1 + rng.int(2); edits > 0; edits--) {
      const at = rng.int(out.length + 1);
      switch (rng.int(4)) {
        case 0:
          out.splice(at, 0, out[rng.int(out.length)]!);
          break;
        case 1:
          out.splice(at, 0, rng.pick(chainPool));
          break;
        case 2:
          if (out.length > 1) out.splice(rng.int(out.length), 1);
          break;
        default: {
          const [i, j] = [rng.int(out.length), rng.int(out.length)];
          [out[i], out[j]] = [out[j]!, out[i]!];
        }
      }
    }
    return out;
  };

  /** The inputs, one per call, drawn from `rng` (a run's sequence for its seed). */
  function* inputsOf(rng: Rng): Generator<FuzzInput> {
    for (;;) {
      const seed = rng.pick(seeds);
      const roll = rng.int(100);
      if (roll < 15) {
        const blob = encodePublicKeyBlob({ algorithm: seed.algorithm, certificates: seed.certificates, ocspResponses: rng.int(2) ? [seed.ocsp] : [] });
        yield { kind: 'blob-decoder', target: 'blob-decoder', input: mutate(blob, rng) };
        continue;
      }
      if (roll < 30) {
        yield { kind: 'signature-decoder', target: 'signature-decoder', input: mutate(seed.signature, rng), algorithm: seed.algorithm };
        continue;
      }
      const query = rng.int(2) === 0;
      const stapled = rng.int(2) === 0;
      let certificates = seed.certificates;
      let ocspResponses = stapled ? [seed.ocsp] : [];
      let signature = seed.signature;
      let publicKey: Buffer | undefined;
      let target: string;
      const where = rng.int(100);
      if (where < 20) {
        publicKey = mutate(encodePublicKeyBlob({ algorithm: seed.algorithm, certificates, ocspResponses }), rng);
        target = 'verifier/blob';
      } else if (where < 30) {
        certificates = editChain(certificates, rng);
        target = 'verifier/chain';
      } else if (where < 75) {
        const k = rng.int(certificates.length);
        certificates = certificates.map((c, j) => (j === k ? mutate(c, rng, headersOf(c)) : c));
        target = 'verifier/certificate';
      } else if (where < 90 && stapled) {
        ocspResponses = [mutate(seed.ocsp, rng, headersOf(seed.ocsp))];
        target = 'verifier/ocsp';
      } else {
        signature = mutate(signature, rng);
        target = 'verifier/signature';
      }
      target += `/${query ? 'query' : 'signature'}/${stapled ? 'stapled' : 'off'}`;
      let blob: Buffer;
      try {
        blob = publicKey ?? encodePublicKeyBlob({ algorithm: seed.algorithm, certificates, ocspResponses });
      } catch {
        // A mutation the encoder itself refuses (an empty certificate): feed the blob of the seed with it as raw bytes.
        blob = Buffer.concat(certificates);
      }
      const req: VerifyRequest = { username: seed.username, algorithm: seed.algorithm, publicKey: blob, ...(query ? {} : { signedData: DATA, signature }) };
      const verifier = stapled ? ('stapled' as const) : rng.int(4) === 0 ? ('offNoCache' as const) : ('off' as const);
      yield { kind: 'verifier', target, verifier, req, query, blob, signature, seed };
    }
  }

  function* inputs(n: number, seed = 1): Generator<FuzzInput> {
    const draw = inputsOf(new Rng(seed));
    for (let i = 0; i < n; i++) yield draw.next().value as FuzzInput;
  }

  async function run(n: number, opts: RunOptions = {}): Promise<FuzzSummary> {
    const hangMs = opts.hangMs ?? 2000;
    const s: FuzzSummary = {
      inputs: 0,
      byTarget: {},
      untypedErrors: 0,
      hangs: 0,
      acceptedNonCanonical: 0,
      acceptedMutatedCertificates: 0,
      acceptedMutatedSignatures: 0,
      accepted: 0,
      worstMs: 0,
      worstTarget: '',
      worstWallMs: 0,
      reasons: {},
      examples: [],
      elapsedMs: 0,
    };
    const t0 = performance.now();
    const note = (e: string): void => {
      if (s.examples.length < 20) s.examples.push(e);
      opts.onFinding?.(e);
    };
    const bad = (what: string, input: Uint8Array): void => {
      s.untypedErrors++;
      note(`${what}: ${Buffer.from(input).toString('base64')}`);
    };
    const draw = inputsOf(new Rng(opts.seed ?? 1));
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const cpu0 = process.cpuUsage();
      const input = draw.next().value as FuzzInput;
      const target = input.target;
      if (input.kind === 'blob-decoder') {
        const m = input.input;
        try {
          decodePublicKeyBlob(m);
        } catch (e) {
          if (!isSshX509Error(e)) bad(`blob decoder threw ${String(e)}`, m);
        }
      } else if (input.kind === 'signature-decoder') {
        const m = input.input;
        try {
          decodeSignatureBlob(m, input.algorithm, { acceptX509FormatName: true });
        } catch (e) {
          if (!isSshX509Error(e)) bad(`signature decoder threw ${String(e)}`, m);
        }
      } else {
        const { req, blob, query, signature, seed } = input;
        const v = verifiers[input.verifier];
        let timer: NodeJS.Timeout | undefined;
        try {
          const r = await Promise.race([
            v.verify(req),
            new Promise<'hang'>((resolve) => {
              timer = setTimeout(() => resolve('hang'), hangMs * 15);
            }),
          ]);
          if (r === 'hang') {
            note(`hang ${target}: ${blob.toString('base64')}`);
          } else {
            const reason = r.ok ? 'accepted' : (r.reason ?? 'none');
            s.reasons[reason] = (s.reasons[reason] ?? 0) + 1;
            if (r.reason === 'internalError') bad(`internalError ${target} (${r.message})`, blob);
            if (r.ok) {
              s.accepted++;
              const decoded = decodePublicKeyBlob(blob);
              if (!decoded.certificates.every((c) => canonicalDer(c))) {
                s.acceptedNonCanonical++;
                note(`accepted non-canonical ${target}: ${blob.toString('base64')}`);
              }
              if (!query && !signature.equals(seed.signature)) {
                s.acceptedMutatedSignatures++;
                note(`accepted mutated signature ${target}: ${signature.toString('base64')}`);
              }
              if (!decoded.certificates.every((c) => originals.has(Buffer.from(c).toString('hex')))) {
                s.acceptedMutatedCertificates++;
                note(`accepted mutated certificate ${target}: ${blob.toString('base64')}`);
              }
            }
          }
        } catch (e) {
          bad(`verifier threw ${String(e)} ${target}`, blob);
        } finally {
          clearTimeout(timer);
        }
      }
      // Time is CPU time of this process: on a shared machine, wall time also counts other processes' turns (also kept, apart).
      const ms = performance.now() - t;
      const c = process.cpuUsage(cpu0);
      const cpuMs = (c.user + c.system) / 1000;
      if (cpuMs > hangMs || ms >= hangMs * 15) {
        s.hangs++;
        opts.onFinding?.(`hang (${cpuMs.toFixed(0)} ms CPU, ${ms.toFixed(0)} ms wall) ${target}`);
      }
      if (cpuMs > s.worstMs) {
        s.worstMs = cpuMs;
        s.worstTarget = target;
      }
      if (ms > s.worstWallMs) s.worstWallMs = ms;
      s.byTarget[target.split('/').slice(0, 2).join('/')] = (s.byTarget[target.split('/').slice(0, 2).join('/')] ?? 0) + 1;
      s.inputs++;
      if (opts.onProgress && opts.progressEvery && s.inputs % opts.progressEvery === 0) opts.onProgress({ ...s, elapsedMs: performance.now() - t0 });
    }
    s.elapsedMs = performance.now() - t0;
    return s;
  }

  return { run, inputs, verifierOptions, goodLogins, seedCertificates: seeds, root: pki.root.certDer, signedData: DATA, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The printed summary. */
export function formatSummary(s: FuzzSummary): string {
  const lines = [
    `inputs: ${s.inputs} in ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `  by target: ${Object.entries(s.byTarget)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `untyped errors: ${s.untypedErrors}`,
    `hangs: ${s.hangs}`,
    `accepted non-canonical DER: ${s.acceptedNonCanonical}`,
    `accepted with a mutated certificate: ${s.acceptedMutatedCertificates}`,
    `accepted with a mutated signature: ${s.acceptedMutatedSignatures}`,
    `accepted: ${s.accepted}`,
    `worst input: ${s.worstMs.toFixed(1)} ms CPU (${s.worstTarget}); worst wall-clock ${s.worstWallMs.toFixed(1)} ms`,
    `reasons: ${Object.entries(s.reasons)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  if (s.examples.length) lines.push('examples:', ...s.examples.map((e) => `  ${e.slice(0, 400)}`));
  return lines.join('\n');
}
