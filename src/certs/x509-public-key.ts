/**
 * An RFC 6187 public key blob with its certificates parsed: the bridge
 * between the blob codec (src/rfc6187) and certificates.
 *
 * @module
 */
import { getAlgorithm, keyMismatch, type AlgorithmInfo } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { decodePublicKeyBlob, type BlobLimits } from '../rfc6187/publickey-blob.js';
import { CertificateChain } from './chain.js';
import { parseCertificates } from './load.js';

/** A decoded blob whose certificates are parsed and whose leaf key fits the algorithm. */
export interface X509PublicKey {
  readonly algorithm: AlgorithmInfo;
  /** The certificates in the order sent (leaf first), not re-ordered. */
  readonly chain: CertificateChain;
  readonly ocspResponses: readonly Uint8Array[];
}

/**
 * Decodes a blob ({@link decodePublicKeyBlob}), parses its certificates
 * (`ERR_CERT_INVALID`), and checks that the leaf key matches the algorithm
 * name: type, curve, and RSA >= 2048 bits for `x509v3-rsa2048-sha256`
 * (`ERR_KEY_ALGORITHM_MISMATCH`).
 */
export function parseX509PublicKey(buf: Uint8Array, limits?: BlobLimits): X509PublicKey {
  const blob = decodePublicKeyBlob(buf, limits);
  const algorithm = getAlgorithm(blob.algorithm);
  const certs = blob.certificates.map((c, i) => parseCertificates(c, `certificate ${i + 1} of the blob`)[0]!);
  const chain = new CertificateChain(certs);
  const why = keyMismatch(algorithm, chain.keyFacts);
  if (why) throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, why);
  return { algorithm, chain, ocspResponses: blob.ocspResponses };
}
