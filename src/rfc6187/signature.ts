import { createRequire } from 'node:module';
import type * as Asn1js from 'asn1js';
import { findAlgorithm, getAlgorithm, type AlgorithmInfo } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';

// asn1js is loaded on first use: only the DER forms of ECDSA signatures need it, and a client signing x509v3 ECDSA does not.
let asn1jsModule: typeof Asn1js | undefined;
function asn1(): typeof Asn1js {
  return (asn1jsModule ??= createRequire(import.meta.url)('asn1js') as typeof Asn1js);
}

function sigError(msg: string): SshX509Error {
  return new SshX509Error(ErrorCodes.SIGNATURE_INVALID, msg);
}

/** Byte width of r and s for an ECDSA algorithm (66 for P-521). */
function ecWidth(alg: AlgorithmInfo): number {
  return Math.ceil((alg.curveBits ?? 0) / 8);
}

function leftPad(v: Uint8Array, width: number, what: string): Uint8Array {
  if (v.length > width) throw sigError(`${what} is ${v.length} bytes, more than the curve's ${width}`);
  const out = new Uint8Array(width);
  out.set(v, width - v.length);
  return out;
}

/** ECDSA raw `r || s` (IEEE P1363) to the SSH form `mpint r, mpint s` (RFC 5656 section 3.1.2). */
export function ecdsaRawToSsh(raw: Uint8Array, alg: AlgorithmInfo): Buffer {
  const w = ecWidth(alg);
  if (raw.length !== 2 * w) throw sigError(`ECDSA signature for ${alg.name} must be ${2 * w} bytes as r||s, got ${raw.length}`);
  return new SshWriter().mpintUnsigned(raw.subarray(0, w)).mpintUnsigned(raw.subarray(w)).toBuffer();
}

/** The SSH form `mpint r, mpint s` to raw `r || s`. Strict: no trailing data, r and s in range of the curve width. */
export function ecdsaSshToRaw(ssh: Uint8Array, alg: AlgorithmInfo): Uint8Array {
  const w = ecWidth(alg);
  const r = new SshReader(ssh, 2 * w + 16);
  const rv = r.readMpintUnsigned('ECDSA r', w + 1);
  const sv = r.readMpintUnsigned('ECDSA s', w + 1);
  r.expectEnd('the ECDSA signature');
  const out = new Uint8Array(2 * w);
  out.set(leftPad(rv, w, 'ECDSA r'), 0);
  out.set(leftPad(sv, w, 'ECDSA s'), w);
  return out;
}

/** ECDSA DER `SEQUENCE { INTEGER r, INTEGER s }` (as OpenSSL and X.509 use) to raw `r || s`. */
export function ecdsaDerToRaw(der: Uint8Array, alg: AlgorithmInfo): Uint8Array {
  const w = ecWidth(alg);
  const asn1js = asn1();
  const parsed = asn1js.fromBER(der);
  const seq = parsed.result;
  if (parsed.offset === -1 || parsed.offset !== der.length || !(seq instanceof asn1js.Sequence) || seq.valueBlock.value.length !== 2) {
    throw sigError('ECDSA signature is not a DER SEQUENCE of two INTEGERs');
  }
  const out = new Uint8Array(2 * w);
  seq.valueBlock.value.forEach((v, i) => {
    if (!(v instanceof asn1js.Integer)) throw sigError('ECDSA signature is not a DER SEQUENCE of two INTEGERs');
    let b = new Uint8Array(v.valueBlock.valueHexView);
    if ((b[0]! & 0x80) !== 0) throw sigError('negative ECDSA signature component');
    while (b.length > 1 && b[0] === 0) b = b.subarray(1);
    out.set(leftPad(b, w, i === 0 ? 'ECDSA r' : 'ECDSA s'), i * w);
  });
  return out;
}

/** Raw `r || s` to DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function ecdsaRawToDer(raw: Uint8Array, alg: AlgorithmInfo): Buffer {
  const w = ecWidth(alg);
  if (raw.length !== 2 * w) throw sigError(`ECDSA signature for ${alg.name} must be ${2 * w} bytes as r||s, got ${raw.length}`);
  const asn1js = asn1();
  const int = (v: Uint8Array) => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    const m = v.subarray(i);
    const hex = (m[0]! & 0x80) !== 0 ? Uint8Array.from([0, ...m]) : m;
    return new asn1js.Integer({ valueHex: hex });
  };
  const seq = new asn1js.Sequence({ value: [int(raw.subarray(0, w)), int(raw.subarray(w))] });
  return Buffer.from(seq.toBER(false));
}

/** The signature primitive (what a {@link Signer} returns) to the inner SSH signature bytes for `alg`. */
export function primitiveToSsh(primitive: Uint8Array, alg: AlgorithmInfo): Uint8Array {
  if (alg.keyType === 'ec') return ecdsaRawToSsh(primitive, alg);
  if (alg.keyType === 'ed25519' && primitive.length !== 64) throw sigError(`Ed25519 signature must be 64 bytes, got ${primitive.length}`);
  if (alg.keyType === 'dsa' && primitive.length !== 40) throw sigError(`ssh-dss signature must be 40 bytes, got ${primitive.length}`);
  return primitive;
}

/** The inner SSH signature bytes for `alg` back to the primitive (raw `r || s` for ECDSA). */
export function sshToPrimitive(ssh: Uint8Array, alg: AlgorithmInfo): Uint8Array {
  if (alg.keyType === 'ec') return ecdsaSshToRaw(ssh, alg);
  if (alg.keyType === 'ed25519' && ssh.length !== 64) throw sigError(`Ed25519 signature must be 64 bytes, got ${ssh.length}`);
  if (alg.keyType === 'dsa' && ssh.length !== 40) throw sigError(`ssh-dss signature must be 40 bytes, got ${ssh.length}`);
  return ssh;
}

/**
 * Encodes an RFC 6187 section 3 signature blob:
 * `string signature-format-name, string signature`, where the format name
 * is the underlying one (`ecdsa-sha2-nistp256`, `rsa2048-sha256`, `ssh-rsa`,
 * `ssh-ed25519`, `ssh-dss`), never the x509v3 name.
 */
export function encodeSignatureBlob(algorithm: AlgorithmInfo | string, primitive: Uint8Array): Buffer {
  const alg = typeof algorithm === 'string' ? getAlgorithm(algorithm) : algorithm;
  return wrapSignature(alg.signatureFormat, primitiveToSsh(primitive, alg));
}

/**
 * The SSH signature blob `string format-name, string signature` from a
 * signature already in its SSH form (ECDSA as `mpint r, mpint s`). The
 * format name is given as is: for x509v3 algorithms pass the RFC 6187 one
 * (`AlgorithmInfo.signatureFormat`), for plain keys the plain name.
 */
export function wrapSignature(format: string, sshSignature: Uint8Array): Buffer {
  return new SshWriter().string(format).string(sshSignature).toBuffer();
}

/**
 * The whole signature blob for `algorithm` from bytes that are either that
 * blob already (starting with the RFC 6187 format name) or only the inner
 * signature, as an SSH library hands it over after stripping a name equal
 * to the x509v3 algorithm name (what an unpatched ssh2 client sends). The
 * bare form is wrapped back under the x509v3 name, which
 * {@link decodeSignatureBlob} accepts only with `acceptX509FormatName`.
 * Bytes for a name that is not an x509v3 algorithm are returned unchanged.
 */
export function signatureBlobFromInner(signature: Uint8Array, algorithm: string): Uint8Array {
  const alg = findAlgorithm(algorithm);
  if (!alg) return signature;
  try {
    if (new SshReader(signature).readUtf8('format', 64) === alg.signatureFormat) return signature;
  } catch {
    // not a blob that starts with the RFC format name
  }
  return wrapSignature(algorithm, signature);
}

/** A decoded signature blob. */
export interface DecodedSignature {
  /** The format name found in the blob. */
  readonly format: string;
  /** The signature primitive: PKCS#1 bytes, raw `r || s`, or the Ed25519 signature. */
  readonly primitive: Uint8Array;
}

/**
 * Decodes a signature blob for `algorithm`, strictly: the format name must be
 * the RFC 6187 one for the algorithm, and nothing may follow. With
 * `acceptX509FormatName`, the x509v3 name itself is also taken as the format
 * name (what an unpatched ssh2 client sends). Errors: `ERR_SIGNATURE_INVALID`,
 * `ERR_WIRE_TRUNCATED`, `ERR_WIRE_TRAILING_DATA`, `ERR_WIRE_INVALID`.
 */
export function decodeSignatureBlob(buf: Uint8Array, algorithm: AlgorithmInfo | string, options: { acceptX509FormatName?: boolean } = {}): DecodedSignature {
  const alg = typeof algorithm === 'string' ? getAlgorithm(algorithm) : algorithm;
  const layout = signatureLayout(alg);
  const primitive = wellFormedPrimitive(buf, layout, options.acceptX509FormatName === true);
  if (!primitive) return decodeSignatureBlobStepwise(buf, alg, options);
  // It carries one of the two names: which one is read off its bytes.
  return { format: sameBytes(buf, 4, u32At(buf, 0), layout.format) ? alg.signatureFormat : alg.name, primitive };
}

/**
 * What reading an algorithm's signature blobs needs, read off its row once
 * ({@link signatureLayout}); every layout has the same shape, whatever the
 * algorithm, so that code reading blobs of several algorithms stays fast.
 */
export interface SignatureLayout {
  readonly alg: AlgorithmInfo;
  /** The RFC 6187 format name, and the x509v3 name (accepted on request), as bytes. */
  readonly format: Buffer;
  readonly x509Name: Buffer;
  /** ECDSA: the primitive is `mpint r, mpint s`, each at most `ecWidth` bytes. */
  readonly ec: boolean;
  readonly ecWidth: number;
  /** The primitive's length where it has one (Ed25519, DSA), else 0. */
  readonly fixedLength: number;
}

const layouts = new Map<AlgorithmInfo, SignatureLayout>();

/** The {@link SignatureLayout} of `alg` (made once per algorithm). */
export function signatureLayout(alg: AlgorithmInfo): SignatureLayout {
  let l = layouts.get(alg);
  if (!l) {
    l = {
      alg,
      format: Buffer.from(alg.signatureFormat, 'utf8'),
      x509Name: Buffer.from(alg.name, 'utf8'),
      ec: alg.keyType === 'ec',
      ecWidth: ecWidth(alg),
      fixedLength: alg.keyType === 'ed25519' ? 64 : alg.keyType === 'dsa' ? 40 : 0,
    };
    layouts.set(alg, l);
  }
  return l;
}

/** The primitive of {@link decodeSignatureBlob} alone (the same checks and errors), for a verifier that needs nothing else. */
export function signaturePrimitive(buf: Uint8Array, layout: SignatureLayout, acceptX509FormatName: boolean): Uint8Array {
  return wellFormedPrimitive(buf, layout, acceptX509FormatName) ?? decodeSignatureBlobStepwise(buf, layout.alg, { acceptX509FormatName }).primitive;
}

/** The limits of {@link decodeSignatureBlobStepwise}: the format name and the signature string, bytes. */
const MAX_FORMAT_NAME = 64;
const MAX_SIGNATURE = 16 * 1024;

function sameBytes(buf: Uint8Array, at: number, len: number, want: Uint8Array): boolean {
  if (len !== want.length) return false;
  for (let i = 0; i < len; i++) if (buf[at + i] !== want[i]) return false;
  return true;
}

function u32At(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) >>> 0) + (buf[at + 1]! << 16) + (buf[at + 2]! << 8) + buf[at + 3]!;
}

/**
 * The primitive of {@link decodeSignatureBlobStepwise} for a blob that
 * passes every one of its checks, read in one pass without decoding the
 * format name to a string (it is compared as bytes: the two names are
 * ASCII, and UTF-8 decodes to an ASCII text only the same ASCII bytes);
 * `undefined` for any other blob, which the stepwise reading then refuses
 * with its error (or decodes, should this pass be stricter than that one).
 */
function wellFormedPrimitive(buf: Uint8Array, layout: SignatureLayout, acceptX509FormatName: boolean): Uint8Array | undefined {
  // Bytes only (a caller in plain JavaScript may pass anything): the stepwise reading says what else is.
  if (!(buf instanceof Uint8Array)) return undefined;
  const n = buf.length;
  if (n < 8) return undefined;
  const fl = u32At(buf, 0);
  if (fl > MAX_FORMAT_NAME || 8 + fl > n) return undefined;
  if (!sameBytes(buf, 4, fl, layout.format) && !(acceptX509FormatName && sameBytes(buf, 4, fl, layout.x509Name))) return undefined;
  const at = 8 + fl;
  const sl = u32At(buf, 4 + fl);
  if (sl > MAX_SIGNATURE || at + sl !== n) return undefined;
  if (layout.ec) return wellFormedEcdsa(buf, at, n, layout.ecWidth);
  if (layout.fixedLength !== 0 && sl !== layout.fixedLength) return undefined;
  return buf.subarray(at, n);
}

/**
 * {@link ecdsaSshToRaw} of `buf[at, end)` when it passes every one of that
 * function's checks (two minimal non-negative mpints no wider than the
 * curve, nothing after them), else `undefined`.
 */
function wellFormedEcdsa(buf: Uint8Array, at: number, end: number, w: number): Uint8Array | undefined {
  const out = new Uint8Array(2 * w);
  let p = at;
  for (let k = 1; k <= 2; k++) {
    if (p + 4 > end) return undefined;
    let len = u32At(buf, p);
    p += 4;
    if (len > w + 1 || p + len > end) return undefined;
    if (len > 0) {
      const top = buf[p]!;
      if ((top & 0x80) !== 0) return undefined;
      if (top === 0) {
        if (len === 1 || (buf[p + 1]! & 0x80) === 0) return undefined;
        p++;
        len--;
      }
      if (len > w) return undefined;
    }
    // r ends at w, s at 2w (left-padded with zeros).
    const to = k * w - len;
    for (let i = 0; i < len; i++) out[to + i] = buf[p + i]!;
    p += len;
  }
  return p === end ? out : undefined;
}

/**
 * {@link decodeSignatureBlob} step by step, with an error that says which
 * check failed (exported for the test that holds the one-pass reading to
 * its answers; not public).
 */
export function decodeSignatureBlobStepwise(buf: Uint8Array, alg: AlgorithmInfo, options: { acceptX509FormatName?: boolean }): DecodedSignature {
  const r = new SshReader(buf, MAX_SIGNATURE);
  const format = r.readUtf8('signature format name', MAX_FORMAT_NAME);
  if (format !== alg.signatureFormat && !(options.acceptX509FormatName && format === alg.name)) {
    throw sigError(`signature format ${JSON.stringify(format)} does not match ${alg.name} (expected ${JSON.stringify(alg.signatureFormat)})`);
  }
  const sig = r.readString('signature');
  r.expectEnd('the signature blob');
  return { format, primitive: sshToPrimitive(sig, alg) };
}
