/**
 * RFC 5280 path validation to the configured trust anchors, with pkijs's
 * CertificateChainValidationEngine doing the path logic (validity,
 * basicConstraints, keyCertSign, name constraints, policies) and node:crypto
 * the signature checks (through a custom `findIssuer`). Small checks pkijs
 * does not make are added here: pathLenConstraint, unknown critical
 * extensions on the leaf, and the leaf-specific refusals of RFC 6187 users
 * (self-signed leaf, CA as leaf).
 *
 * @module
 */
import * as pkijs from 'pkijs';
import { EXTENSION_OIDS } from '../oids.js';
import type { IssuanceChecker, VerifierCertificate } from './certificates.js';
import { refuse } from './reasons.js';

/** What a path validation needs. */
export interface PathContext {
  /** Trust anchors (self-signed roots, or any certificate trusted as an anchor). */
  readonly anchors: readonly VerifierCertificate[];
  /** Extra intermediates the server knows (the pool), beside those in the blob. */
  readonly pool: readonly VerifierCertificate[];
  /** The time at which the path must be valid. */
  readonly at: Date;
  readonly issuance: IssuanceChecker;
}

/** Extensions this library understands enough to accept when critical on a leaf. */
const KNOWN_CRITICAL = new Set<string>([
  EXTENSION_OIDS.keyUsage,
  EXTENSION_OIDS.basicConstraints,
  EXTENSION_OIDS.extendedKeyUsage,
  EXTENSION_OIDS.subjectAltName,
  EXTENSION_OIDS.certificatePolicies, // pkijs processes policies
  EXTENSION_OIDS.nameConstraints,
  EXTENSION_OIDS.subjectKeyIdentifier,
  EXTENSION_OIDS.authorityKeyIdentifier,
]);

function describe(c: VerifierCertificate): string {
  return JSON.stringify(c.subject);
}

function checkDates(c: VerifierCertificate, at: Date, what: string): void {
  if (at < c.notBefore) refuse('notYetValid', `${what} ${describe(c)} is not valid before ${c.notBefore.toISOString()}`);
  if (at > c.notAfter) refuse('expired', `${what} ${describe(c)} expired at ${c.notAfter.toISOString()}`);
}

/** The leaf-only checks made before any path is built. */
export function checkLeafShape(leaf: VerifierCertificate, at: Date): void {
  if (leaf.selfIssued) refuse('selfSignedLeaf', `the leaf ${describe(leaf)} is self-issued; a user certificate must come from a CA`);
  if (leaf.basicConstraints?.ca) refuse('caAsLeaf', `the leaf ${describe(leaf)} is a CA certificate (basicConstraints cA)`);
  checkDates(leaf, at, 'the leaf');
  for (const e of leaf.pkijs.extensions ?? []) {
    if (e.critical && !KNOWN_CRITICAL.has(e.extnID)) refuse('pathConstraint', `the leaf has an unknown critical extension ${e.extnID}`);
  }
}

/** Explains why no path was found, walking up from the leaf by name and signature. */
async function explainNoPath(sent: readonly VerifierCertificate[], ctx: PathContext): Promise<never> {
  const anchorIds = new Set(ctx.anchors.map((a) => a.id));
  const all = [...sent, ...ctx.pool, ...ctx.anchors];
  let cur = sent[0]!;
  const seen = new Set<string>();
  for (;;) {
    if (seen.has(cur.id)) refuse('untrusted', `the chain loops at ${describe(cur)}`);
    seen.add(cur.id);
    if (cur.selfIssued) refuse('untrusted', `the chain ends at ${describe(cur)}, which is not a trust anchor`);
    const candidates = all.filter((c) => c.id !== cur.id && c.pkijs.subject.isEqual(cur.pkijs.issuer));
    if (candidates.length === 0) {
      refuse(
        'missingIntermediate',
        `the issuer ${JSON.stringify(cur.x509.issuer)} of ${describe(cur)} is not in the blob, the intermediate pool, or the trust anchors`,
      );
    }
    let next: VerifierCertificate | undefined;
    for (const c of candidates) {
      if (await ctx.issuance.check(cur, c)) {
        next = c;
        break;
      }
    }
    if (!next) refuse('untrusted', `no certificate named ${JSON.stringify(cur.x509.issuer)} known here signed ${describe(cur)}`);
    if (anchorIds.has(next.id)) refuse('untrusted', `no acceptable path from ${describe(sent[0]!)} to a trust anchor`);
    cur = next;
  }
}

/** Maps a failed pkijs result to a refusal, naming the certificate at fault where it can. */
function refuseFromEngine(result: { resultCode?: number; resultMessage?: string }, path: readonly VerifierCertificate[], at: Date): never {
  if (result.resultCode === 8) {
    for (const [i, c] of path.entries()) checkDates(c, at, i === 0 ? 'the leaf' : 'the CA certificate');
    refuse('expired', result.resultMessage ?? 'a certificate of the path is outside its validity period');
  }
  refuse('pathConstraint', `RFC 5280 path validation failed: ${result.resultMessage ?? `pkijs code ${String(result.resultCode)}`}`);
}

/** RFC 5280 section 4.2.1.9: the number of non-self-issued intermediates below a CA may not exceed its pathLenConstraint. */
function checkPathLen(path: readonly VerifierCertificate[]): void {
  // path: leaf first, anchor last.
  for (let i = path.length - 1; i >= 1; i--) {
    const bc = path[i]!.basicConstraints;
    if (bc?.pathLength === undefined) continue;
    let below = 0;
    for (let j = i - 1; j >= 1; j--) if (!path[j]!.selfIssued) below++;
    if (below > bc.pathLength) {
      refuse('pathConstraint', `${describe(path[i]!)} allows ${bc.pathLength} intermediate(s) below it (pathLenConstraint), the path has ${below}`);
    }
  }
}

/**
 * Validates the path from `sent[0]` (the leaf) to a trust anchor, using
 * `sent[1..]` and the pool as intermediates. Returns the path, leaf first,
 * anchor last. Throws a refusal (`untrusted`, `missingIntermediate`,
 * `expired`, `notYetValid`, `pathConstraint`, `selfSignedLeaf`, `caAsLeaf`).
 */
export async function validatePath(sent: readonly VerifierCertificate[], ctx: PathContext): Promise<VerifierCertificate[]> {
  const leaf = sent[0]!;
  checkLeafShape(leaf, ctx.at);

  const byPkijs = new Map<pkijs.Certificate, VerifierCertificate>();
  for (const c of [...ctx.anchors, ...ctx.pool, ...sent]) byPkijs.set(c.pkijs, c);
  const wrap = (p: pkijs.Certificate): VerifierCertificate => {
    const v = byPkijs.get(p);
    if (!v) throw new Error('internal: pkijs returned a certificate not given to it');
    return v;
  };

  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: ctx.anchors.map((a) => a.pkijs),
    // pkijs takes the last certificate of the list as the leaf.
    certs: [...ctx.pool.map((c) => c.pkijs), ...sent.slice(1).map((c) => c.pkijs), leaf.pkijs],
    checkDate: ctx.at,
    findIssuer: async (certificate) => {
      const cert = wrap(certificate);
      const candidates = certificate.subject.isEqual(certificate.issuer)
        ? [cert]
        : [...ctx.anchors, ...ctx.pool, ...sent].filter((c) => c.pkijs !== certificate && c.pkijs.subject.isEqual(certificate.issuer));
      const out: pkijs.Certificate[] = [];
      for (const c of candidates) if (await ctx.issuance.check(cert, c)) out.push(c.pkijs);
      return out;
    },
  });
  const result = await engine.verify();
  if (!result.result) {
    const code = result.resultCode;
    if (code === pkijs.ChainValidationCode.noPath || code === pkijs.ChainValidationCode.noValidPath || code === 9 || code === -1) {
      await explainNoPath(sent, ctx);
    }
    refuseFromEngine(result, (result.certificatePath ?? []).map(wrap), ctx.at);
  }
  const path = (result.certificatePath ?? []).map(wrap);
  if (path.length < 2 || path[0] !== leaf) refuse('untrusted', 'path validation returned no usable path');
  checkPathLen(path);
  return path;
}
