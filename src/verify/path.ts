/**
 * Path validation for SSH logins: the RFC 6187 rules on top of the
 * project's RFC 5280 section 6.1 validator (`./pkix/`). The SSH layer adds
 * the leaf-shape refusals (a self-issued leaf, a CA certificate as leaf) and
 * the order of the blob (RFC 6187 section 2.1: each certificate certifies
 * the one before it; no duplicates, nothing unrelated), and maps the
 * validator's reasons to the verifier's.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { verifySignedObject, type VerifierCertificate } from './certificates.js';
import { DEFAULT_MAX_INTEGER_BYTES, parsedCertificateEncodingProblem } from './pkix/der.js';
import { DEFAULT_MAX_RSA_MODULUS_BITS, basicConstraints, describe } from './pkix/facts.js';
import { CaIssuanceReasons, PkixFailure, type PathValidationReason } from './pkix/result.js';
import { toTheSecond, validatePkixPath, type PkixContext, type PkixFailureResult } from './pkix/validate.js';
import { dnEqual } from './pkix/names.js';
import { Refusal, refuse, type RefusalReason } from './reasons.js';

/** What a path validation needs: the anchors, the server's pool of intermediates (beside those in the blob), the time, the signature memo; and the SSH layer's options. */
export interface PathContext extends Pick<PkixContext, 'anchors' | 'pool' | 'at' | 'issuance'> {
  /** Accept SHA-1 signatures on certificates (the same policy as `issuance`'s). */
  readonly allowSha1?: boolean;
  /** Largest RSA modulus accepted, bits (default 8192). */
  readonly maxRsaModulusBits?: number;
  /** Accept the blob's certificates in any order (RFC 6187 section 2.1 requires issuing order). Duplicates and unrelated certificates are refused all the same. */
  readonly laxChainOrder?: boolean;
  /** Skip the CA issuance rules (`./pkix/issuance.ts`); default false. */
  readonly laxIssuanceRules?: boolean;
  /** Skip the trust anchors' own constraints (validity, critical extensions, name constraints, pathLenConstraint); default false. */
  readonly ignoreTrustAnchorConstraints?: boolean;
}

function checkDates(c: VerifierCertificate, time: Date, what: string): void {
  const at = toTheSecond(time);
  if (at < c.notBefore) refuse('notYetValid', `${what} ${describe(c)} is not valid before ${c.notBefore.toISOString()}`);
  if (at > c.notAfter) refuse('expired', `${what} ${describe(c)} expired at ${c.notAfter.toISOString()}`);
}

/** The RFC 6187 leaf checks made before any path is built (the SSH layer: RFC 5280 allows both). */
export function checkLeafShape(leaf: VerifierCertificate, at: Date): void {
  if (leaf.selfIssued) refuse('selfSignedLeaf', `the leaf ${describe(leaf)} is self-issued; a user certificate must come from a CA`);
  let bc;
  try {
    bc = basicConstraints(leaf);
  } catch (e) {
    refuse('malformedCertificate', e instanceof Error ? e.message : String(e));
  }
  if (bc?.ca) refuse('caAsLeaf', `the leaf ${describe(leaf)} is a CA certificate (basicConstraints cA)`);
  checkDates(leaf, at, 'the leaf');
}

/** Serial numbers longer than this are refused (RFC 5280 section 4.1.2.2 allows 20 octets; this leaves room for non-conforming CAs). */
const MAX_SERIAL_OCTETS = 32;

/** Encoding checks, remembered per parsed certificate (a pure function of its DER: the answer never depends on history). */
const encodingChecked = new WeakMap<VerifierCertificate, { reason: RefusalReason; detail: string } | null>();

/**
 * Strict DER for the blob's certificates (RFC 5280 section 4.1), each
 * problem with its own reason. The INTEGER
 * ceiling follows the RSA bound.
 */
export function checkBlobCertificates(sent: readonly VerifierCertificate[], maxRsaModulusBits = DEFAULT_MAX_RSA_MODULUS_BITS): void {
  const maxInt = Math.max(DEFAULT_MAX_INTEGER_BYTES, Math.ceil(maxRsaModulusBits / 8) + 16);
  for (const [i, c] of sent.entries()) {
    let r = encodingChecked.get(c);
    if (r === undefined) {
      const enc = parsedCertificateEncodingProblem(c, maxInt);
      const serial = c.pkijs.serialNumber.valueBlock.valueHexView.length;
      r = enc
        ? { reason: enc.reason, detail: enc.detail }
        : serial > MAX_SERIAL_OCTETS
          ? { reason: 'tooLarge', detail: `a serial number of ${serial} octets (RFC 5280 section 4.1.2.2: at most 20)` }
          : null;
      if (maxInt === Math.max(DEFAULT_MAX_INTEGER_BYTES, Math.ceil(DEFAULT_MAX_RSA_MODULUS_BITS / 8) + 16)) encodingChecked.set(c, r);
    }
    if (r) refuse(r.reason, `certificate ${i + 1} of the blob: ${r.detail}`);
  }
}

/**
 * Runs an RFC 6187 leaf rule that reads extensions outside the validator
 * (keyUsage, extendedKeyUsage through @peculiar/x509): an extension it
 * cannot decode is `malformedCertificate`, never an internal error.
 */
export function withDecodableExtensions<T>(leaf: VerifierCertificate, rule: () => T): T {
  try {
    return rule();
  } catch (e) {
    if (e instanceof Refusal) throw e;
    return refuse('malformedCertificate', `an extension of the leaf ${describe(leaf)} does not decode: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The RSA bound on the leaf key, checked before its signature is (a huge modulus is the slowest input there is). */
export function checkKeySize(key: KeyObject, maxRsaModulusBits = DEFAULT_MAX_RSA_MODULUS_BITS): void {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType?.startsWith('rsa') && bits !== undefined && bits > maxRsaModulusBits) {
    refuse('tooLarge', `the leaf has a ${bits}-bit RSA key, above the ${maxRsaModulusBits}-bit bound (option maxRsaModulusBits)`);
  }
}

/** The verifier's reason for a validator reason. */
const REASONS: Record<PathValidationReason, RefusalReason> = {
  malformedCertificate: 'malformedCertificate',
  unsupportedKey: 'unsupportedKey',
  keyTooLarge: 'tooLarge',
  noIssuer: 'missingIntermediate',
  badSignature: 'untrusted',
  unsupportedSignatureAlgorithm: 'untrusted',
  weakSignatureAlgorithm: 'untrusted',
  signatureAlgorithmMismatch: 'signatureAlgorithmMismatch',
  nameChaining: 'untrusted',
  expired: 'expired',
  notYetValid: 'notYetValid',
  notCA: 'pathConstraint',
  keyCertSignMissing: 'pathConstraint',
  pathLengthExceeded: 'pathConstraint',
  nameConstraints: 'pathConstraint',
  policy: 'pathConstraint',
  unknownCriticalExtension: 'pathConstraint',
  revoked: 'revoked',
  revocationUndetermined: 'revocationUnavailable',
  ...CaIssuanceReasons,
  peerNameMismatch: 'hostNameMismatch',
  extendedKeyUsage: 'ekuMismatch',
  chainTooDeep: 'pathConstraint',
};

/** When no candidate path exists: a chain that ends at an unknown root is `untrusted`, one that stops short `missingIntermediate`. */
function explainNoIssuer(sent: readonly VerifierCertificate[], ctx: PathContext, failure: PkixFailureResult): never {
  const all = [...sent, ...ctx.pool];
  let cur = sent[0]!;
  const seen = new Set<string>();
  while (!seen.has(cur.id)) {
    seen.add(cur.id);
    if (cur.selfIssued) refuse('untrusted', `the chain ends at ${describe(cur)}, which is not a trust anchor`);
    const next = all.find((c) => c.id !== cur.id && !seen.has(c.id) && dnEqual(c.pkijs.subject, cur.pkijs.issuer));
    if (!next) break;
    cur = next;
  }
  refuse('missingIntermediate', `the issuer of ${describe(cur)} is not in the blob, the intermediate pool, or the trust anchors (${failure.message})`);
}

/** The verifier's reason for a validator failure thrown outside a result (a corrupt extension read elsewhere), or `undefined`. */
export function pkixRefusalReason(e: unknown): RefusalReason | undefined {
  return e instanceof PkixFailure ? REASONS[e.reason] : undefined;
}

/** The same certificate, or the same subject and key (the anchor reissued, or cross-signed). */
function sameCa(a: VerifierCertificate, b: VerifierCertificate): boolean {
  if (a.id === b.id) return true;
  const ka = a.pkijs.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  const kb = b.pkijs.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  return dnEqual(a.pkijs.subject, b.pkijs.subject) && Buffer.from(ka).equals(Buffer.from(kb));
}

/**
 * RFC 6187 section 2.1: the blob is the path's beginning, in issuing order,
 * without duplicates or unrelated certificates. The trust anchor ends the
 * path wherever it appears: what the blob carries after it (the anchor's
 * own issuers, up to a root) is not validated as a path, only required to
 * go on naming and signing each certificate before it (checked by the
 * caller, {@link checkAfterAnchor}). Positions in messages count from 1.
 * Returns how many certificates of the blob are on the path.
 */
function checkBlobOrder(sent: readonly VerifierCertificate[], path: readonly VerifierCertificate[], lax: boolean): number {
  const ids = sent.map((c) => c.id);
  const dup = ids.findIndex((id, i) => ids.indexOf(id) !== i);
  if (dup >= 0) refuse('duplicateCertificate', `certificate ${dup + 1} of the blob (${describe(sent[dup]!)}) is there twice`);
  const anchor = path[path.length - 1]!;
  // The anchor in its place on the path (elsewhere in the blob it is a certificate out of order).
  const at = path.length - 1 < sent.length && sameCa(sent[path.length - 1]!, anchor) ? path.length - 1 : -1;
  const upToAnchor = at >= 0 ? sent.slice(0, at + 1) : sent;
  for (let i = upToAnchor.length; i < sent.length; i++) {
    if (!dnEqual(sent[i]!.pkijs.subject, sent[i - 1]!.pkijs.issuer)) {
      refuse('unrelatedCertificate', `certificate ${i + 1} of the blob (${describe(sent[i]!)}) comes after the trust anchor and did not issue the one before it`);
    }
  }
  const onPath = new Set(path.map((c) => c.id));
  const extra = upToAnchor.findIndex((c, i) => !onPath.has(c.id) && !(i === at && sameCa(c, anchor)));
  if (extra >= 0) refuse('unrelatedCertificate', `certificate ${extra + 1} of the blob (${describe(sent[extra]!)}) is not on the path to the trust anchor`);
  if (!lax) {
    for (let i = 1; i < upToAnchor.length; i++) {
      if (i === at) continue; // The anchor itself, in its place: path[i] is it (or its other certificate).
      if (sent[i]!.id !== path[i]!.id) {
        refuse('chainOrder', `certificate ${i + 1} of the blob (${describe(sent[i]!)}) did not issue the one before it: RFC 6187 section 2.1 wants each certificate to certify the one preceding it (option laxChainOrder accepts another order)`);
      }
    }
  }
  return upToAnchor.length;
}

/** The blob's certificates after the trust anchor: each signed the one before it (a same-named certificate of another PKI did not). */
async function checkAfterAnchor(sent: readonly VerifierCertificate[], from: number, ctx: PathContext): Promise<void> {
  for (let i = from; i < sent.length; i++) {
    const cert = sent[i - 1]!;
    const p = cert.pkijs;
    let ok: boolean | undefined;
    try {
      ok = ctx.issuance
        ? await ctx.issuance.check(cert, sent[i]!)
        : verifySignedObject(p.signatureAlgorithm.algorithmId, p.tbsView, p.signatureValue.valueBlock.valueHexView, await sent[i]!.loadPublicKey(), { allowSha1: ctx.allowSha1 ?? false });
    } catch {
      ok = false;
    }
    if (!ok) refuse('unrelatedCertificate', `certificate ${i + 1} of the blob (${describe(sent[i]!)}) comes after the trust anchor and did not issue the one before it`);
  }
}

/**
 * Validates the path from `sent[0]` (the leaf) to a trust anchor, using
 * `sent[1..]` and the pool as intermediates. Returns the path, leaf first,
 * anchor last. Throws a refusal.
 */
export async function validatePath(sent: readonly VerifierCertificate[], ctx: PathContext): Promise<VerifierCertificate[]> {
  const leaf = sent[0]!;
  checkLeafShape(leaf, ctx.at);
  let r;
  try {
    r = await validatePkixPath(leaf, {
      anchors: ctx.anchors,
      pool: [...sent.slice(1), ...ctx.pool],
      at: ctx.at,
      signaturePolicy: { allowSha1: ctx.allowSha1 ?? false },
      ...(ctx.issuance ? { issuance: ctx.issuance } : {}),
      limits: ctx.maxRsaModulusBits !== undefined ? { maxRsaModulusBits: ctx.maxRsaModulusBits } : {},
      issuanceRules: !ctx.laxIssuanceRules,
      anchorConstraints: !ctx.ignoreTrustAnchorConstraints,
    });
  } catch (e) {
    if (e instanceof PkixFailure) refuse(REASONS[e.reason], e.message);
    throw e;
  }
  if (!r.valid) {
    if (r.reason === 'noIssuer') explainNoIssuer(sent, ctx, r);
    refuse(REASONS[r.reason], r.message);
  }
  const path = [...r.path];
  const onPath = checkBlobOrder(sent, path, ctx.laxChainOrder ?? false);
  if (onPath < sent.length) await checkAfterAnchor(sent, onPath, ctx);
  return path;
}
