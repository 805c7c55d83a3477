import type { X509Certificate } from '@peculiar/x509';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { parsedCertificate, type CertificateIdentities } from './model.js';

// Declared where the identities are read (model.ts), so that the two modules do not import each other.
export type { CertificateIdentities } from './model.js';

/** Reads the UPNs, emails and common names of a certificate. */
export function certificateIdentities(cert: X509Certificate): CertificateIdentities {
  return parsedCertificate(new Uint8Array(cert.rawData), cert).identities;
}

/**
 * Where a username comes from:
 * - `upn`: the whole UPN (`alice@EXAMPLE.COM`);
 * - `upn-local`: the UPN's local part (`alice`);
 * - `cn`: the subject common name;
 * - `email`: the rfc822Name;
 * - a function of the caller's, given the certificate and its identities.
 */
export type UsernameRule = 'upn' | 'upn-local' | 'cn' | 'email' | ((cert: X509Certificate, ids: CertificateIdentities) => string);

/** The rule names accepted where a string is expected (command line, config). */
export const USERNAME_RULES = ['upn', 'upn-local', 'cn', 'email'] as const;

/**
 * The username a certificate yields under `rule`. Never guesses: a missing
 * field or an ambiguous one (two UPNs) throws `ERR_IDENTITY_MISSING` or
 * `ERR_IDENTITY_AMBIGUOUS` naming the field.
 */
export function usernameFromCertificate(cert: X509Certificate, rule: UsernameRule): string {
  const ids = certificateIdentities(cert);
  if (typeof rule === 'function') {
    const u = rule(cert, ids);
    if (typeof u !== 'string' || u.length === 0) {
      throw new SshX509Error(ErrorCodes.IDENTITY_MISSING, `the username function returned no username for ${cert.subject}`);
    }
    return u;
  }
  return usernameFromIdentities(ids, rule, cert.subject);
}

/** The rule names that are strings (not a function of the caller's). */
export type UsernameRuleName = (typeof USERNAME_RULES)[number];

/**
 * {@link usernameFromCertificate} for a named rule, from identities already
 * read (`subject` only names the certificate in errors).
 */
export function usernameFromIdentities(ids: CertificateIdentities, rule: UsernameRuleName, subject: string): string {
  const [field, values] =
    rule === 'cn' ? ['subject CN', ids.commonNames] : rule === 'email' ? ['rfc822Name (email) subjectAltName', ids.emails] : ['UPN subjectAltName', ids.upns];
  if (values.length === 0) {
    throw new SshX509Error(ErrorCodes.IDENTITY_MISSING, `certificate ${subject} has no ${field}`);
  }
  if (values.length > 1) {
    throw new SshX509Error(ErrorCodes.IDENTITY_AMBIGUOUS, `certificate ${subject} has ${values.length} values for ${field}: ${values.join(', ')}`);
  }
  const v = values[0]!;
  if (rule === 'upn-local') {
    const at = v.lastIndexOf('@');
    if (at <= 0) throw new SshX509Error(ErrorCodes.IDENTITY_MISSING, `UPN ${JSON.stringify(v)} of ${subject} has no local part before "@"`);
    return v.slice(0, at);
  }
  return v;
}
