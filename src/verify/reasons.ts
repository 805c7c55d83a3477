/**
 * Why the verifier refused a login: one stable reason code per cause, so
 * that logs, metrics and callers branch on the code, never on message text.
 *
 * @module
 */
import { ErrorCodes, SshX509Error } from '../errors.js';
import { CaIssuanceReasons } from './pkix/result.js';

/**
 * The reason codes, with what each means. Stable across versions.
 */
export const RefusalReasons = {
  /** The public key blob is not a well-formed RFC 6187 blob (counts, sizes, trailing bytes, unparsable certificates). */
  malformedBlob: 'malformedBlob',
  /** A certificate does not decode, or one of its extensions is corrupt or appears twice (RFC 5280 section 4.2). */
  malformedCertificate: 'malformedCertificate',
  /** A certificate is not DER: BER or indefinite lengths, or another encoding that is not the canonical one (RFC 5280 section 4.1). */
  nonCanonicalDer: 'nonCanonicalDer',
  /** Bytes after a certificate's DER inside its blob string (they would change the fingerprint pinned against). */
  certificateTrailingBytes: 'certificateTrailingBytes',
  /** Elements after signatureValue in a certificate's outer SEQUENCE (RFC 5280 section 4.1.1). */
  certificateTrailingElements: 'certificateTrailingElements',
  /** A certificate's signature BIT STRING has unused bits (RFC 5280 section 4.1.1.3). */
  signatureUnusedBits: 'signatureUnusedBits',
  /** A certificate's signatureAlgorithm differs from tbsCertificate.signature (RFC 5280 section 4.1.1.2). */
  signatureAlgorithmMismatch: 'signatureAlgorithmMismatch',
  /** An INTEGER, a key or the blob is above the verifier's size bounds (RSA modulus over 8192 bits by default). */
  tooLarge: 'tooLarge',
  /** A public key that cannot be used: it does not import into node:crypto, or inherits parameters it cannot have. */
  unsupportedKey: 'unsupportedKey',
  /** RFC 6187 section 2.1: the blob's certificates are not in issuing order (each certifying the one before). */
  chainOrder: 'chainOrder',
  /** The blob holds the same certificate twice. */
  duplicateCertificate: 'duplicateCertificate',
  /** The blob holds a certificate that is not on the path from the leaf to the trust anchor. */
  unrelatedCertificate: 'unrelatedCertificate',
  /** The algorithm is unknown, not allowed by policy (SHA-1 ones by default), or differs from the name in the blob. */
  algorithmNotAllowed: 'algorithmNotAllowed',
  /** The leaf key does not fit the algorithm (type, curve, RSA size). */
  keyAlgorithmMismatch: 'keyAlgorithmMismatch',
  /** No path to a configured trust anchor: an unknown root, or an issuer whose signature does not verify. */
  untrusted: 'untrusted',
  /** The issuer of a certificate is neither in the blob, nor in the intermediate pool, nor a trust anchor. */
  missingIntermediate: 'missingIntermediate',
  /** The leaf is self-issued: RFC 6187 user certificates come from a CA. */
  selfSignedLeaf: 'selfSignedLeaf',
  /** The leaf is a CA certificate (basicConstraints cA). */
  caAsLeaf: 'caAsLeaf',
  /** A certificate of the path is past its notAfter. */
  expired: 'expired',
  /** A certificate of the path is before its notBefore. */
  notYetValid: 'notYetValid',
  /** RFC 5280 path rules: a CA without basicConstraints cA or keyCertSign, pathLen, name constraints, policies, an unknown critical extension. */
  pathConstraint: 'pathConstraint',
  /** The CA issuance rules (serial number, version, key strength, explicit curves, key identifiers, criticality, CA extensions), as the path validator names them. */
  ...CaIssuanceReasons,
  /** RFC 6187 section 2.2: keyUsage is present without digitalSignature. */
  keyUsage: 'keyUsage',
  /** RFC 6187 section 2.2: extendedKeyUsage is present without secureShellClient (secureShellServer for host certificates) or anyExtendedKeyUsage (or an allowed compat purpose). */
  ekuMismatch: 'ekuMismatch',
  /** A certificate of the path is revoked (OCSP or CRL). */
  revoked: 'revoked',
  /** The OCSP response or CRL is outside its thisUpdate/nextUpdate window (with the clock-skew allowance). */
  ocspStale: 'ocspStale',
  /** The OCSP response is not signed by the CA or by a responder the CA delegated with id-kp-OCSPSigning. */
  ocspUnauthorized: 'ocspUnauthorized',
  /** The OCSP response does not answer for this certificate (certificate ID). */
  ocspMismatch: 'ocspMismatch',
  /** The OCSP response or CRL is malformed or not `successful`. */
  revocationInvalid: 'revocationInvalid',
  /** Revocation policy `require`, and no source (stapled, fetched OCSP, CRL) could answer. */
  revocationUnavailable: 'revocationUnavailable',
  /** Host certificates: the host name or IP address connected to is not in the leaf's subjectAltName (dNSName / iPAddress). */
  hostNameMismatch: 'hostNameMismatch',
  /** The certificate is not bound to the account asked for. */
  accountMismatch: 'accountMismatch',
  /** The signature is malformed, has a format name other than the two accepted, or does not verify. */
  badSignature: 'badSignature',
  /** An unexpected failure inside the verifier (a bug or a resource problem); fails closed. */
  internalError: 'internalError',
} as const;

/** One of the {@link RefusalReasons}. */
export type RefusalReason = (typeof RefusalReasons)[keyof typeof RefusalReasons];

/**
 * A refusal as an error, for callers that prefer exceptions
 * (`code` is `ERR_VERIFY_REFUSED`; branch on `reason`).
 */
export class VerificationRefusedError extends SshX509Error {
  /** Why the login was refused. */
  readonly reason: RefusalReason;

  constructor(reason: RefusalReason, message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.VERIFY_REFUSED, `${reason}: ${message}`, options);
    this.name = 'VerificationRefusedError';
    this.reason = reason;
  }
}

/** Internal: thrown inside the verifier to stop at the first refusal. */
export class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

/** Internal: throw a {@link Refusal}. */
export function refuse(reason: RefusalReason, message: string): never {
  throw new Refusal(reason, message);
}

/**
 * Why a host key was refused: a certificate {@link RefusalReason}, or a
 * known_hosts answer (`unknownHost`: not known and strict checking;
 * `changedHostKey`; `revokedHostKey`: `@revoked`; `declinedHostKey`: `ask`
 * answered no).
 */
export type HostRefusalReason = RefusalReason | 'unknownHost' | 'changedHostKey' | 'revokedHostKey' | 'declinedHostKey';

/**
 * A refused host key, with its reason code (`code` is `ERR_HOST_KEY_REJECTED`;
 * branch on `reason`).
 */
export class HostKeyRefusedError extends SshX509Error {
  /** Why the host key was refused. */
  readonly reason: HostRefusalReason;

  constructor(reason: HostKeyRefusedError['reason'], message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.HOST_KEY_REJECTED, `${reason}: ${message}`, options);
    this.name = 'HostKeyRefusedError';
    this.reason = reason;
  }
}

