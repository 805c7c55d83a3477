/**
 * The public face of the project's RFC 5280 path validation (section 6.1)
 * and CRL processing (section 6.3): certificates, anchors, time, policy and
 * revocation inputs in; a typed result with a reason code out. It never
 * throws for its inputs.
 *
 * @module
 */
import { X509Certificate } from '@peculiar/x509';
import { CertificateStore, type VerifierCertificate } from '../certificates.js';
import { prepareCrl, type PreparedCrl } from './crl.js';
import { validatePkixPath, type PolicyInputs } from './validate.js';
import type { PathValidationReason } from './result.js';
import type { PeerName } from './peer.js';

export { PathValidationReasons, type PathValidationReason } from './result.js';
export type { PolicyInputs } from './validate.js';
export type { PeerName } from './peer.js';

/** A certificate: DER bytes or a parsed @peculiar/x509 certificate. */
export type PathCertificateInput = Uint8Array | X509Certificate;

/** Inputs of {@link validateCertificatePath}. */
export interface CertificatePathOptions {
  /** The end-entity certificate first; then any intermediates (and CRL issuers' certificates), in any order. */
  readonly certificates: readonly PathCertificateInput[];
  /**
   * The trust anchors. Their names and keys are trusted; their own
   * constraints apply too (RFC 5937: validity, critical extensions, name
   * constraints, pathLenConstraint) unless {@link ignoreTrustAnchorConstraints}.
   */
  readonly trustAnchors: readonly PathCertificateInput[];
  /** The time the path must be valid at (default now). */
  readonly time?: Date;
  /** RFC 5280 section 6.1.1 policy inputs (default anyPolicy, nothing required or inhibited). */
  readonly policy?: PolicyInputs;
  /** CRL checking (section 6.3) of every certificate of the path; absent: revocation is not checked. */
  readonly revocation?: {
    /** DER CRLs: complete and delta CRLs, of any issuer. */
    readonly crls: readonly Uint8Array[];
    /** Use delta CRLs (default true). */
    readonly useDeltas?: boolean;
    /** Allowance on thisUpdate/nextUpdate, ms (default 0). */
    readonly clockSkewMs?: number;
  };
  /** Accept SHA-1 signatures on certificates and CRLs (default false). */
  readonly allowSha1Signatures?: boolean;
  /** Largest RSA modulus accepted, bits (default 8192). */
  readonly maxRsaModulusBits?: number;
  /** Names the end entity's subjectAltName must each carry (RFC 6125 for DNS names; no wildcard unless {@link wildcardPeerNames}). */
  readonly peerNames?: readonly PeerName[];
  /** Let a dNSName whose leftmost label is exactly `*` match one label of a DNS peer name (RFC 6125 section 6.4.3); default false. */
  readonly wildcardPeerNames?: boolean;
  /** Extended key usages the end entity must allow (OIDs, or names such as `serverAuth`); a leaf without extendedKeyUsage allows all. */
  readonly extendedKeyUsages?: readonly string[];
  /** Most intermediates between the end entity and the trust anchor (self-issued ones not counted); by default only the search's bound (10 certificates). */
  readonly maxChainDepth?: number;
  /**
   * Skip the trust anchors' own constraints (validity, critical extensions,
   * name constraints, pathLenConstraint): the anchor is then a name and a
   * key only, as RFC 5280 section 6.1.1 (d) describes it. Default false.
   */
  readonly ignoreTrustAnchorConstraints?: boolean;
  /**
   * Skip the CA issuance rules (reasons `serialNumber`, `certificateVersion`,
   * `weakKey`, `explicitCurve`, `keyIdentifier`, `extensionCriticality`,
   * `caExtensions`): only section 6.1's algorithm decides. For test suites
   * and PKIs older than the rules. Default false.
   */
  readonly laxIssuanceRules?: boolean;
  /**
   * `rfc5280` (default): RFC 5280 with the CA issuance rules. `webpki`: the
   * CA/Browser Forum Baseline Requirements for TLS server certificates on
   * top: the end entity is not a CA, has a non-critical extendedKeyUsage with
   * serverAuth and without anyExtendedKeyUsage, and its subject commonName,
   * if any, is one of its subjectAltName names as written there; the trust
   * anchor has no extendedKeyUsage; nameConstraints may be non-critical.
   */
  readonly profile?: 'rfc5280' | 'webpki';
}

/** The outcome of {@link validateCertificatePath}. */
export interface CertificatePathResult {
  readonly valid: boolean;
  /** Why not, when not valid. */
  readonly reason?: PathValidationReason;
  /** What was decided and why. */
  readonly message: string;
  /** The validated path (or the candidate that failed), leaf first, trust anchor last. */
  readonly path?: readonly X509Certificate[];
  /** For a failure: the index in `path` of the certificate at fault (0: the end entity). */
  readonly index?: number;
  /** The valid policies at the end entity (section 6.1.6), when valid. */
  readonly policies?: readonly string[];
}

function parseAll(inputs: readonly PathCertificateInput[], store: CertificateStore, what: string): VerifierCertificate[] | string {
  const out: VerifierCertificate[] = [];
  for (const [i, c] of inputs.entries()) {
    try {
      out.push(c instanceof X509Certificate ? store.fromX509(c) : store.get(c));
    } catch (e) {
      return `${what} ${i + 1} does not parse: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return out;
}

/**
 * RFC 5280 path validation with CRL checking, as written in this project
 * (section 6.1, with the policy tree, name constraints of every name form it
 * meets, self-issued certificates and DSA parameter inheritance; section
 * 6.3, with CRL scope, reasons, delta and indirect CRLs and separate CRL
 * signing keys). Passes all 219 NIST PKITS cases.
 */
export async function validateCertificatePath(options: CertificatePathOptions): Promise<CertificatePathResult> {
  const store = new CertificateStore(64);
  const certs = parseAll(options.certificates, store, 'certificate');
  if (typeof certs === 'string') return { valid: false, reason: 'malformedCertificate', message: certs };
  const anchors = parseAll(options.trustAnchors, store, 'trust anchor');
  if (typeof anchors === 'string') return { valid: false, reason: 'malformedCertificate', message: anchors };
  if (certs.length === 0 || anchors.length === 0) return { valid: false, reason: 'noIssuer', message: 'no certificate or no trust anchor given' };
  const crls: PreparedCrl[] = [];
  for (const [i, d] of (options.revocation?.crls ?? []).entries()) {
    try {
      crls.push(prepareCrl(d, `CRL ${i + 1}`));
    } catch {
      // A CRL that does not parse covers nothing: a certificate it was meant for stays undetermined.
    }
  }
  try {
    const r = await validatePkixPath(certs[0]!, {
      anchors,
      pool: [...certs.slice(1), ...anchors],
      at: options.time ?? new Date(),
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.revocation
        ? { crl: { crls, ...(options.revocation.useDeltas !== undefined ? { useDeltas: options.revocation.useDeltas } : {}), ...(options.revocation.clockSkewMs !== undefined ? { clockSkewMs: options.revocation.clockSkewMs } : {}) } }
        : {}),
      signaturePolicy: { allowSha1: options.allowSha1Signatures ?? false },
      limits: { ...(options.maxRsaModulusBits !== undefined ? { maxRsaModulusBits: options.maxRsaModulusBits } : {}) },
      issuanceRules: !options.laxIssuanceRules,
      ...(options.profile ? { profile: options.profile } : {}),
      anchorConstraints: !options.ignoreTrustAnchorConstraints,
      ...(options.maxChainDepth !== undefined ? { maxChainDepth: options.maxChainDepth } : {}),
      endEntity: {
        ...(options.peerNames ? { peerNames: options.peerNames } : {}),
        ...(options.wildcardPeerNames ? { wildcardPeerNames: true } : {}),
        ...(options.extendedKeyUsages ? { extendedKeyUsages: options.extendedKeyUsages } : {}),
      },
    });
    const path = r.path?.map((c) => c.x509);
    if (r.valid) return { valid: true, message: 'the path is valid', ...(path ? { path } : {}), policies: r.policies };
    return { valid: false, reason: r.reason, message: r.message, ...(path ? { path } : {}), ...(r.index !== undefined ? { index: r.index } : {}) };
  } catch (e) {
    // Not reachable from input by design; kept typed all the same.
    return { valid: false, reason: 'malformedCertificate', message: `path validation failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}
