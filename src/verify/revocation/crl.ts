/**
 * CRLs (RFC 5280 section 5) for the verifier: loaded from files, or fetched
 * from the certificate's CRL distribution points and cached until their
 * nextUpdate. pkijs parses; node:crypto verifies.
 *
 * @module
 */
import { CRLDistributionPointsExtension, KeyUsageFlags, KeyUsagesExtension, PemConverter } from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { EXTENSION_OIDS } from '../../oids.js';
import type { SignedObjectPolicy, VerifierCertificate } from '../certificates.js';
import { verifySignedObject } from '../certificates.js';
import { refuse } from '../reasons.js';

/** A parsed CRL with where it came from. */
export interface LoadedCrl {
  readonly crl: pkijs.CertificateRevocationList;
  /** A file path or URL, for messages. */
  readonly origin: string;
}

/** Parses one or more CRLs from DER or PEM (`X509 CRL` blocks); throws `ERR_VERIFIER_CONFIG_INVALID`. */
export function parseCrls(bytes: Uint8Array, origin: string): LoadedCrl[] {
  const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  const ders = head.includes('-----BEGIN')
    ? PemConverter.decodeWithHeaders(Buffer.from(bytes).toString('utf8'))
        .filter((b) => b.type === 'X509 CRL')
        .map((b) => new Uint8Array(b.rawData))
    : [bytes];
  if (ders.length === 0) throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `${origin} contains no X509 CRL`);
  return ders.map((d) => {
    try {
      return { crl: pkijs.CertificateRevocationList.fromBER(d), origin };
    } catch (e) {
      throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `${origin} is not a DER or PEM CRL`, { cause: e });
    }
  });
}

/** The http(s) URLs of the certificate's CRL distribution points. */
export function crlUrls(cert: VerifierCertificate): string[] {
  const ext = cert.peculiarExtension(EXTENSION_OIDS.cRLDistributionPoints, CRLDistributionPointsExtension);
  const urls: string[] = [];
  for (const dp of ext?.distributionPoints ?? []) {
    for (const n of dp.distributionPoint?.fullName ?? []) {
      const u = n.uniformResourceIdentifier;
      if (u && /^https?:\/\//i.test(u)) urls.push(u);
    }
  }
  return urls;
}

/** What a CRL says about one certificate. */
export interface CrlAnswer {
  readonly status: 'good' | 'revoked';
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly origin: string;
}

/**
 * Checks `cert` against one CRL of its issuer: the CRL's issuer name is the
 * certificate's issuer, its signature verifies with the issuer's key, the
 * issuer may sign CRLs (keyUsage cRLSign when keyUsage is present), and
 * `at` is within thisUpdate/nextUpdate (with skew). Returns `undefined`
 * when the CRL is from another issuer. Refusals: `ocspStale` (an out-of-date
 * CRL), `revocationInvalid` (a bad signature or an issuer without cRLSign).
 */
export function checkCrl(
  loaded: LoadedCrl,
  cert: VerifierCertificate,
  issuer: VerifierCertificate,
  at: Date,
  clockSkewMs: number,
  policy: SignedObjectPolicy,
): CrlAnswer | undefined {
  const { crl, origin } = loaded;
  if (!crl.issuer.isEqual(issuer.pkijs.subject)) return undefined;
  const ku = issuer.peculiarExtension(EXTENSION_OIDS.keyUsage, KeyUsagesExtension);
  if (ku && (ku.usages & KeyUsageFlags.cRLSign) === 0) refuse('revocationInvalid', `the CRL issuer ${JSON.stringify(issuer.x509.subject)} lacks cRLSign`);
  const ok = verifySignedObject(crl.signatureAlgorithm.algorithmId, crl.tbsView, crl.signatureValue.valueBlock.valueHexView, issuer.publicKey, policy);
  if (!ok) refuse('revocationInvalid', `the CRL from ${origin} does not verify with the key of ${JSON.stringify(issuer.x509.subject)}`);
  const thisUpdate = crl.thisUpdate.value;
  const nextUpdate = crl.nextUpdate?.value;
  const now = at.getTime();
  if (thisUpdate.getTime() > now + clockSkewMs) refuse('ocspStale', `the CRL from ${origin} has thisUpdate ${thisUpdate.toISOString()} in the future`);
  if (nextUpdate && nextUpdate.getTime() < now - clockSkewMs) refuse('ocspStale', `the CRL from ${origin} expired at ${nextUpdate.toISOString()} (nextUpdate)`);
  const revoked = (crl.revokedCertificates ?? []).some((r) => r.userCertificate.isEqual(cert.pkijs.serialNumber));
  return { status: revoked ? 'revoked' : 'good', thisUpdate, ...(nextUpdate ? { nextUpdate } : {}), origin };
}
