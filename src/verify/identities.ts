/**
 * The identities of a leaf (UPNs, emails, common names) as the library's
 * certificate model reads them (once per certificate, without building its
 * @peculiar/x509 form), the same values {@link certificateIdentities} gives. The string rules of
 * {@link usernameFromCertificate} are applied to them here with the same
 * errors; function rules still get the whole certificate.
 *
 * @module
 */
import { usernameFromIdentities, type CertificateIdentities, type UsernameRuleName } from '../certs/identity.js';
import type { VerifierCertificate } from './certificates.js';

/** Like {@link certificateIdentities}, from a {@link VerifierCertificate} (read once per certificate, by the model). */
export function leafIdentities(cert: VerifierCertificate): CertificateIdentities {
  return cert.identities;
}

/** Like {@link usernameFromCertificate} for the string rules (`upn`, `upn-local`, `cn`, `email`), given the leaf's identities. */
export function usernameFromLeafIdentities(ids: CertificateIdentities, cert: VerifierCertificate, rule: UsernameRuleName): string {
  return usernameFromIdentities(ids, rule, cert.subject);
}
