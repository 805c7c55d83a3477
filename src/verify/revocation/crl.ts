/**
 * CRLs (RFC 5280 section 5) for the verifier: loaded from files, or fetched
 * from the certificate's CRL distribution points and cached until their
 * nextUpdate, and processed by RFC 5280 section 6.3 (`../pkix/crl.ts`).
 * pkijs parses; node:crypto verifies.
 *
 * @module
 */
import { CRLDistributionPointsExtension, PemConverter } from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { EXTENSION_OIDS } from '../../oids.js';
import type { SignedObjectPolicy, VerifierCertificate } from '../certificates.js';
import { CrlIssuerRevoked, PreparedCrl, crlStatus } from '../pkix/crl.js';
import { workingKeyOf } from '../pkix/facts.js';
import { validatePkixPath } from '../pkix/validate.js';
import { refuse } from '../reasons.js';

/** A parsed CRL with where it came from. */
export interface LoadedCrl {
  readonly crl: pkijs.CertificateRevocationList;
  /** A file path or URL, for messages. */
  readonly origin: string;
  /** The CRL decoded for RFC 5280 section 6.3. */
  readonly prepared: PreparedCrl;
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
      const crl = pkijs.CertificateRevocationList.fromBER(d);
      return { crl, origin, prepared: new PreparedCrl(crl, origin) };
    } catch (e) {
      throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `${origin} is not a DER or PEM CRL`, { cause: e });
    }
  });
}

/** The http(s) URLs of the certificate's CRL distribution points. */
export function crlUrls(cert: VerifierCertificate): string[] {
  let ext;
  try {
    ext = cert.peculiarExtension(EXTENSION_OIDS.cRLDistributionPoints, CRLDistributionPointsExtension);
  } catch {
    return []; // cRLDistributionPoints that do not decode name no CRL
  }
  const urls: string[] = [];
  for (const dp of ext?.distributionPoints ?? []) {
    for (const n of dp.distributionPoint?.fullName ?? []) {
      const u = n.uniformResourceIdentifier;
      if (u && /^https?:\/\//i.test(u)) urls.push(u);
    }
  }
  return urls;
}

/** What the CRLs say about one certificate. */
export interface CrlAnswer {
  readonly status: 'good' | 'revoked';
  readonly nextUpdate?: Date;
  /** The latest thisUpdate of the CRLs that answered. */
  readonly thisUpdate?: Date;
  readonly revocationTime?: Date;
  readonly origin: string;
}

/** Where CRL issuers' certificates come from, for CRLs signed by a key other than the certificate issuer's (RFC 5280 section 6.3.3 (f)). */
export interface CrlIssuerContext {
  readonly anchor: VerifierCertificate;
  /** Certificates that may have signed a CRL (the path and the intermediate pool). */
  readonly candidates: readonly VerifierCertificate[];
}

/**
 * RFC 5280 section 6.3 over `crls` for `cert` issued by `issuer` (see
 * `../pkix/crl.ts`). Returns `undefined` with `notes` filled when the CRLs
 * do not determine the status (none in scope, out of date, bad signature,
 * unknown critical extension, reasons not all covered).
 */
export async function crlAnswer(
  crls: readonly LoadedCrl[],
  cert: VerifierCertificate,
  issuer: VerifierCertificate,
  at: Date,
  clockSkewMs: number,
  policy: SignedObjectPolicy,
  issuers: CrlIssuerContext,
  notes: string[],
): Promise<CrlAnswer | undefined> {
  const prepared = crls.map((l) => l.prepared);
  const issuerKey = await workingKeyOf(issuer, undefined, {});
  const anchorKey = issuer.id === issuers.anchor.id ? issuerKey : await workingKeyOf(issuers.anchor, undefined, {});
  const st = await crlStatus(cert, [issuerKey, anchorKey], {
    at,
    crls: prepared,
    clockSkewMs,
    signaturePolicy: policy,
    candidates: issuers.candidates,
    validateCrlIssuer: async (candidate) => {
      const r = await validatePkixPath(candidate, {
        anchors: [issuers.anchor],
        pool: issuers.candidates,
        at,
        signaturePolicy: policy,
        crl: { crls: prepared, clockSkewMs },
        depth: 1,
        crlIssuersInProgress: new Set([candidate.id]),
      });
      if (!r.valid) return { failure: r.message, revoked: r.reason === 'revoked' };
      return workingKeyOf(candidate, undefined, {});
    },
  }).catch((e: unknown) => {
    if (e instanceof CrlIssuerRevoked) refuse('revoked', `${JSON.stringify(cert.subject)}: ${e.message}`);
    throw e;
  });
  const origin = st.origins.join(', ');
  if (st.status === 'revoked') return { status: 'revoked', origin, ...(st.revocationDate ? { revocationTime: st.revocationDate } : {}) };
  if (st.status === 'unrevoked') return { status: 'good', origin, ...(st.nextUpdate ? { nextUpdate: st.nextUpdate } : {}), ...(st.thisUpdate ? { thisUpdate: st.thisUpdate } : {}) };
  notes.push(...st.notes);
  return undefined;
}
