export { X509Verifier, createX509Verifier, type X509VerifierOptions, type VerifyRequest, type VerifyResult } from './verifier.js';
export { RefusalReasons, VerificationRefusedError, type RefusalReason } from './reasons.js';
export {
  parseAuthorizedEntry,
  parseAuthorizedSubjectsFile,
  parseDistinguishedName,
  type AuthorizedEntry,
  type AuthorizedSource,
  type AccountBindingOptions,
  type AccountBindingResult,
} from './binding.js';
export { EKU_COMPAT_OIDS, OID_SECURE_SHELL_CLIENT, OID_SECURE_SHELL_SERVER, OID_ANY_EKU, OID_OCSP_SIGNING, type EkuCompat, type LeafPolicy, type AlgorithmPolicy } from './policy.js';
export type { RevocationMode, RevocationOptions, RevocationOutcome, RevocationSource, CertificateRevocationStatus } from './revocation/checker.js';
export type { CertificateSource } from './anchors.js';
export {
  validateCertificatePath,
  PathValidationReasons,
  type PathValidationReason,
  type PathCertificateInput,
  type CertificatePathOptions,
  type CertificatePathResult,
  type PeerName,
  type PolicyInputs,
} from './pkix/index.js';
