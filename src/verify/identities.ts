/**
 * The identities of a leaf (UPNs, emails, common names) read from the
 * verifier's parsed certificate without building its @peculiar/x509 form:
 * only the subjectAltName extension and the subject name are decoded, with
 * the same @peculiar/x509 classes that {@link certificateIdentities} uses,
 * so the values are the same. The string rules of
 * {@link usernameFromCertificate} are applied to them here with the same
 * errors; function rules still get the whole certificate.
 *
 * @module
 */
import { Name, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { usernameFromIdentities, type CertificateIdentities, type UsernameRuleName } from '../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { EXTENSION_OIDS } from '../oids.js';
import { nameDer, type VerifierCertificate } from './certificates.js';

/** Like {@link certificateIdentities}, from a {@link VerifierCertificate}. */
export function leafIdentities(cert: VerifierCertificate): CertificateIdentities {
  const upns: string[] = [];
  const emails: string[] = [];
  let san: SubjectAlternativeNameExtension | null;
  try {
    san = cert.peculiarExtension(EXTENSION_OIDS.subjectAltName, SubjectAlternativeNameExtension);
  } catch (e) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `the subjectAltName of ${cert.subject} cannot be parsed`, { cause: e });
  }
  for (const n of san?.names.items ?? []) {
    if (n.type === 'upn') upns.push(n.value);
    else if (n.type === 'email') emails.push(n.value);
  }
  const commonNames = new Name(nameDer(cert.pkijs.subject)).getField('CN');
  return { upns, emails, commonNames };
}

/** Like {@link usernameFromCertificate} for the string rules (`upn`, `upn-local`, `cn`, `email`), given the leaf's identities. */
export function usernameFromLeafIdentities(ids: CertificateIdentities, cert: VerifierCertificate, rule: UsernameRuleName): string {
  return usernameFromIdentities(ids, rule, cert.subject);
}
