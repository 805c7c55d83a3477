/**
 * Reason codes and the typed result of RFC 5280 path validation.
 *
 * @module
 */

/**
 * The CA issuance rules (what RFC 5280 says a conforming CA must do), refused
 * under the same code by the path validator and by the verifier: declared
 * once here, spread into both {@link PathValidationReasons} and the
 * verifier's RefusalReasons.
 */
export const CaIssuanceReasons = {
  /** A CA issuance rule: a serial number that is zero, negative or longer than 20 octets (RFC 5280 section 4.1.2.2). */
  serialNumber: 'serialNumber',
  /** A CA issuance rule: a version 1 or 2 certificate where version 3 is required (a CA certificate, or one with extensions; RFC 5280 section 4.1.2.1). */
  certificateVersion: 'certificateVersion',
  /** A CA issuance rule: an RSA key under 2048 bits or not in whole octets, a DSA key, or an EC key on a curve other than the NIST ones of 256, 384 and 521 bits. */
  weakKey: 'weakKey',
  /** A CA issuance rule: an EC key with explicit curve parameters (RFC 5480 section 2.1.1: namedCurve only). */
  explicitCurve: 'explicitCurve',
  /** A CA issuance rule: authorityKeyIdentifier or subjectKeyIdentifier missing where required, critical, or inconsistent (RFC 5280 sections 4.2.1.1, 4.2.1.2). */
  keyIdentifier: 'keyIdentifier',
  /** A CA issuance rule: basicConstraints, nameConstraints, policyConstraints, inhibitAnyPolicy or subjectAltName marked critical or non-critical against its definition. */
  extensionCriticality: 'extensionCriticality',
  /** A CA issuance rule: CA extensions that contradict each other or the certificate's place (keyCertSign without cA, nameConstraints in an end entity, a CA with an empty subject). */
  caExtensions: 'caExtensions',
} as const;

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
  ...CaIssuanceReasons,
  /** The end entity does not carry a name asked for (`peerNames`), or the name asked for is not a valid name of its kind. */
  peerNameMismatch: 'peerNameMismatch',
  /** The end entity's extendedKeyUsage (or a CA's, which constrains it) does not allow a purpose asked for (`extendedKeyUsages`). */
  extendedKeyUsage: 'extendedKeyUsage',
  /** More intermediates than `maxChainDepth` allows. */
  chainTooDeep: 'chainTooDeep',
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
