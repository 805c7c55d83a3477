/**
 * Reason codes and the typed result of RFC 5280 path validation.
 *
 * @module
 */

/**
 * Why a certification path is not valid: one stable code per cause
 * (RFC 5280 section 6.1 and section 6.3 outcomes, plus the input checks).
 */
export const PathValidationReasons = {
  /** A certificate or one of its extensions does not decode, or an extension appears twice (section 4.2). */
  malformedCertificate: 'malformedCertificate',
  /** A public key that cannot be used (does not import, or inherits DSA parameters from a non-DSA issuer). */
  unsupportedKey: 'unsupportedKey',
  /** An RSA modulus or other key above the configured bound. */
  keyTooLarge: 'keyTooLarge',
  /** No certificate whose subject is the issuer's name, among those given and the anchors. */
  noIssuer: 'noIssuer',
  /** Section 6.1.3 (a)(1): a signature does not verify with the working public key. */
  badSignature: 'badSignature',
  /** A signature algorithm this validator does not verify. */
  unsupportedSignatureAlgorithm: 'unsupportedSignatureAlgorithm',
  /** A SHA-1 signature while SHA-1 is not allowed. */
  weakSignatureAlgorithm: 'weakSignatureAlgorithm',
  /** Section 4.1.1.2: signatureAlgorithm differs from tbsCertificate.signature. */
  signatureAlgorithmMismatch: 'signatureAlgorithmMismatch',
  /** Section 6.1.3 (a)(4): the issuer name is not the working issuer name. */
  nameChaining: 'nameChaining',
  /** Section 6.1.3 (a)(2): after notAfter. */
  expired: 'expired',
  /** Section 6.1.3 (a)(2): before notBefore. */
  notYetValid: 'notYetValid',
  /** Section 6.1.4 (k): an intermediate without basicConstraints cA. */
  notCA: 'notCA',
  /** Section 6.1.4 (n): an intermediate whose keyUsage lacks keyCertSign. */
  keyCertSignMissing: 'keyCertSignMissing',
  /** Section 6.1.4 (l): more intermediates than a pathLenConstraint allows. */
  pathLengthExceeded: 'pathLengthExceeded',
  /** Sections 6.1.3 (b), (c): a name outside the permitted or inside the excluded subtrees. */
  nameConstraints: 'nameConstraints',
  /** Sections 6.1.3 (f), 6.1.4 (a), 6.1.5 (g): no acceptable policy where one is required, or a mapping to or from anyPolicy. */
  policy: 'policy',
  /** Sections 6.1.4 (o), 6.1.5 (f): a critical extension this validator does not process. */
  unknownCriticalExtension: 'unknownCriticalExtension',
  /** Section 6.3.3: a certificate of the path is revoked. */
  revoked: 'revoked',
  /** Section 6.3.3: no usable CRL covers the certificate for all reasons (missing, stale, out of scope, bad signature, unknown critical extension). */
  revocationUndetermined: 'revocationUndetermined',
} as const;

/** One of the {@link PathValidationReasons}. */
export type PathValidationReason = (typeof PathValidationReasons)[keyof typeof PathValidationReasons];

/** Internal: a failure at a certificate of the path. */
export class PkixFailure extends Error {
  constructor(
    readonly reason: PathValidationReason,
    message: string,
  ) {
    super(message);
    this.name = 'PkixFailure';
  }
}

/** Internal: throw a {@link PkixFailure}. */
export function fail(reason: PathValidationReason, message: string): never {
  throw new PkixFailure(reason, message);
}
