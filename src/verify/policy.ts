/**
 * RFC 6187 section 2.2 checks on the leaf (keyUsage, extendedKeyUsage) and
 * the policy of allowed algorithms.
 *
 * @module
 */
import { peculiarX509 } from '../certs/model.js';
import { ALGORITHMS, type AlgorithmInfo } from '../algorithms.js';
import { EKU_OIDS } from '../oids.js';
import type { VerifierCertificate } from './certificates.js';
import { refuse } from './reasons.js';

/** id-kp-secureShellClient (RFC 6187 section 2.2). */
export const OID_SECURE_SHELL_CLIENT = EKU_OIDS.secureShellClient;
/** id-kp-secureShellServer (RFC 6187 section 2.2). */
export const OID_SECURE_SHELL_SERVER = EKU_OIDS.secureShellServer;
/** anyExtendedKeyUsage (RFC 5280 section 4.2.1.12). */
export const OID_ANY_EKU = EKU_OIDS.anyExtendedKeyUsage;
/** id-kp-OCSPSigning (RFC 6960 section 4.2.2.2). */
export const OID_OCSP_SIGNING = EKU_OIDS.ocspSigning;

/**
 * Purposes that are not RFC 6187 but that deployed smartcards carry. Each
 * is accepted only when named in {@link LeafPolicy.ekuCompat}.
 */
export const EKU_COMPAT_OIDS = Object.freeze({
  /** id-kp-clientAuth (TLS client authentication). */
  clientAuth: EKU_OIDS.clientAuth,
  /** Microsoft smartcard logon. */
  smartcardLogon: EKU_OIDS.smartcardLogon,
} as const);

/** A name of {@link EKU_COMPAT_OIDS}. */
export type EkuCompat = keyof typeof EKU_COMPAT_OIDS;

/** Which leaf certificates RFC 6187 section 2.2 lets in. */
export interface LeafPolicy {
  /**
   * Also accept an extendedKeyUsage that has only these non-SSH purposes
   * (explicit opt-in; the default is RFC 6187 only).
   */
  ekuCompat?: readonly EkuCompat[];
}

/**
 * Refuses unless keyUsage (when present) asserts digitalSignature and
 * extendedKeyUsage (when present) has id-kp-secureShellClient,
 * anyExtendedKeyUsage, or an opted-in compat purpose.
 */
export function checkLeafPurpose(leaf: VerifierCertificate, policy: LeafPolicy = {}): void {
  if (!leafKeyUsageSigns(leaf)) {
    refuse('keyUsage', `the leaf's keyUsage does not assert digitalSignature (RFC 6187 section 2.2)`);
  }
  const have = leafExtendedKeyUsage(leaf);
  if (have) {
    const ok = new Set<string>([OID_SECURE_SHELL_CLIENT, OID_ANY_EKU, ...(policy.ekuCompat ?? []).map((n) => EKU_COMPAT_OIDS[n])]);
    if (!have.some((o) => ok.has(o))) {
      refuse(
        'ekuMismatch',
        `the leaf's extendedKeyUsage (${have.join(', ')}) has neither id-kp-secureShellClient nor anyExtendedKeyUsage` +
          (policy.ekuCompat?.length ? ` nor ${policy.ekuCompat.join('/')}` : ''),
      );
    }
  }
}

/** False when keyUsage is present without digitalSignature (read by @peculiar/x509, loaded on first use). */
function leafKeyUsageSigns(leaf: VerifierCertificate): boolean {
  const usages = leaf.keyUsageFlags();
  return usages === undefined || (usages & peculiarX509().KeyUsageFlags.digitalSignature) !== 0;
}

/**
 * The extendedKeyUsage purposes (OIDs), or `undefined` when absent (read by
 * @peculiar/x509, which throws on one that does not decode: pkijs's parse
 * can yield purposes from a corrupt one).
 */
function leafExtendedKeyUsage(leaf: VerifierCertificate): string[] | undefined {
  return leaf.extendedKeyUsages();
}

/** Which public key algorithms are accepted. */
export interface AlgorithmPolicy {
  /** The algorithm names accepted; default every known non-SHA-1 algorithm. */
  algorithms?: readonly string[];
  /** Also accept the SHA-1 algorithms (`x509v3-ssh-rsa`, `x509v3-ssh-dss`). Off by default. */
  allowSha1Algorithms?: boolean;
}

/** The set of algorithm rows a policy accepts. */
export function allowedAlgorithms(policy: AlgorithmPolicy = {}): ReadonlySet<AlgorithmInfo> {
  const names = policy.algorithms ? new Set(policy.algorithms) : undefined;
  return new Set(ALGORITHMS.filter((a) => (names ? names.has(a.name) : true) && (!a.sha1 || policy.allowSha1Algorithms)));
}
