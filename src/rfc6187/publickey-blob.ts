import { getAlgorithm } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';

/**
 * The RFC 6187 section 2.1 public key blob:
 *
 * ```
 * string  algorithm name
 * uint32  certificate-count          (>= 1)
 * string  certificate[1..certificate-count]   leaf first
 * uint32  ocsp-response-count        (0..certificate-count)
 * string  ocsp-response[0..ocsp-response-count]
 * ```
 */
export interface PublicKeyBlob {
  /** The X.509v3 algorithm name, e.g. `x509v3-rsa2048-sha256`. */
  readonly algorithm: string;
  /** DER certificates, the sender's own first. */
  readonly certificates: readonly Uint8Array[];
  /** DER OCSPResponses; the i-th answers for the i-th certificate. */
  readonly ocspResponses: readonly Uint8Array[];
}

/** Limits applied when decoding a blob from a peer. */
export interface BlobLimits {
  /** Most certificates accepted (default 10). */
  maxCertificates?: number;
  /** Largest certificate in bytes (default 64 KiB). */
  maxCertificateSize?: number;
  /** Largest OCSP response in bytes (default 64 KiB). */
  maxOcspResponseSize?: number;
  /** Largest blob in bytes, everything included (default 192 KiB). */
  maxBlobSize?: number;
}

const DEFAULT_LIMITS: Required<BlobLimits> = { maxCertificates: 10, maxCertificateSize: 64 * 1024, maxOcspResponseSize: 64 * 1024, maxBlobSize: 192 * 1024 };

function blobError(msg: string): SshX509Error {
  return new SshX509Error(ErrorCodes.BLOB_INVALID, `invalid RFC 6187 public key blob: ${msg}`);
}

/**
 * Encodes a public key blob. Checks the same invariants that decoding does.
 * For a legacy algorithm (`x509v3-sign-rsa`) the blob is the leaf's DER
 * alone, as PKIX-SSH and Tectia send it; intermediates and OCSP responses
 * have no place there and are left out.
 */
export function encodePublicKeyBlob(blob: PublicKeyBlob): Buffer {
  const alg = getAlgorithm(blob.algorithm);
  if (alg.legacy) {
    if (!blob.certificates[0]) throw blobError('certificate-count must be at least 1');
    return Buffer.from(blob.certificates[0]);
  }
  if (blob.certificates.length === 0) throw blobError('certificate-count must be at least 1');
  if (blob.ocspResponses.length > blob.certificates.length) {
    throw blobError(`ocsp-response-count ${blob.ocspResponses.length} exceeds certificate-count ${blob.certificates.length}`);
  }
  const w = new SshWriter().string(blob.algorithm).uint32(blob.certificates.length);
  for (const c of blob.certificates) w.string(c);
  w.uint32(blob.ocspResponses.length);
  for (const o of blob.ocspResponses) w.string(o);
  return w.toBuffer();
}

/**
 * Decodes a public key blob strictly: a known algorithm name, certificate-count
 * >= 1 and within limits, ocsp-response-count <= certificate-count, nothing
 * after the last field. The certificates are returned as bytes, unparsed.
 *
 * Errors: `ERR_ALGORITHM_UNSUPPORTED` (unknown name), `ERR_BLOB_INVALID`
 * (counts, sizes), `ERR_WIRE_TRUNCATED`, `ERR_WIRE_TRAILING_DATA`.
 */
export function decodePublicKeyBlob(buf: Uint8Array, limits: BlobLimits = {}): PublicKeyBlob {
  const l = { ...DEFAULT_LIMITS, ...limits };
  if (buf.length > l.maxBlobSize) throw blobError(`${buf.length} bytes exceed the limit of ${l.maxBlobSize}`);
  const r = new SshReader(buf);
  const algorithm = r.readUtf8('algorithm name', 64);
  if (getAlgorithm(algorithm).legacy) throw blobError(`${algorithm} blobs carry no name; decode them with decodeLegacyCertificateBlob`);
  const count = r.readUint32('certificate-count');
  if (count < 1) throw blobError('certificate-count is 0');
  if (count > l.maxCertificates) throw blobError(`certificate-count ${count} exceeds the limit of ${l.maxCertificates}`);
  const certificates: Uint8Array[] = [];
  for (let i = 0; i < count; i++) certificates.push(r.readString(`certificate ${i + 1}`, l.maxCertificateSize));
  const ocspCount = r.readUint32('ocsp-response-count');
  if (ocspCount > count) throw blobError(`ocsp-response-count ${ocspCount} exceeds certificate-count ${count}`);
  const ocspResponses: Uint8Array[] = [];
  for (let i = 0; i < ocspCount; i++) ocspResponses.push(r.readString(`ocsp-response ${i + 1}`, l.maxOcspResponseSize));
  r.expectEnd('the public key blob');
  return { algorithm, certificates, ocspResponses };
}

/**
 * Decodes the blob of a legacy algorithm (`x509v3-sign-rsa`): one DER
 * certificate and nothing else. The algorithm comes from the request.
 */
export function decodeLegacyCertificateBlob(buf: Uint8Array, algorithm: string, limits: BlobLimits = {}): PublicKeyBlob {
  const alg = getAlgorithm(algorithm);
  if (!alg.legacy) throw blobError(`${algorithm} is not a legacy algorithm`);
  const max = limits.maxCertificateSize ?? DEFAULT_LIMITS.maxCertificateSize;
  if (buf.length > max) throw blobError(`certificate of ${buf.length} bytes exceeds the limit of ${max}`);
  return { algorithm, certificates: [buf], ocspResponses: [] };
}
