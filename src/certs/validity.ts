/**
 * Local checks of a client certificate chain before connecting, so that a
 * login the server will refuse (an expired certificate, a missing
 * intermediate) is explained here rather than by a bare
 * `Permission denied (publickey)`.
 *
 * @module
 */
import { chainCertificates, omittedRoot, type CertificateChain } from './chain.js';

const DAY_MS = 86_400_000;

function days(ms: number): string {
  const n = Math.floor(ms / DAY_MS);
  return n === 0 ? 'less than a day' : n === 1 ? '1 day' : `${n} days`;
}

/**
 * Warnings about `chain` at `now`, each one line a person can act on: a
 * certificate that has expired or is not yet valid (leaf or intermediate),
 * and a chain that holds only a leaf whose issuer was not given (a
 * self-signed issuer given with it is not missing: it is only not sent). Empty when
 * nothing is wrong. These are warnings, not errors: the server decides.
 */
export function chainWarnings(chain: CertificateChain, now: Date = new Date()): string[] {
  const out: string[] = [];
  // Dates from node:crypto's parse, so that a chain without a warning loads no X.509 library (the names are read only for a warning).
  const certs = chainCertificates(chain);
  certs.forEach((cert, i) => {
    const notAfter = new Date(cert.native.validTo);
    const notBefore = new Date(cert.native.validFrom);
    const what = () => (i === 0 ? `the certificate ${cert.subject}` : `the CA certificate ${cert.subject} in its chain`);
    if (notAfter.getTime() < now.getTime()) {
      out.push(`${what()} expired on ${notAfter.toISOString()} (${days(now.getTime() - notAfter.getTime())} ago): servers refuse it; renew it`);
    } else if (notBefore.getTime() > now.getTime()) {
      out.push(`${what()} is not valid until ${notBefore.toISOString()} (in ${days(notBefore.getTime() - now.getTime())}): servers refuse it until then; check this computer's clock`);
    }
  });
  const leaf = certs[0]!;
  // A leaf given with the self-signed CA that issued it lacks nothing: the root is only left out of what is sent.
  const root = omittedRoot(chain);
  if (certs.length === 1 && !leaf.nativeSelfIssued && !(root && leaf.issuedBy(root))) {
    out.push(
      `the chain holds only the certificate ${leaf.subject}, not its issuer ${leaf.issuer}: unless the server trusts ${leaf.issuer} itself, give the intermediate CA certificates too (--cert or --intermediates)`,
    );
  }
  return out;
}
