/**
 * CRL processing, RFC 5280 section 6.3: the scope of each CRL
 * (issuingDistributionPoint, onlyContainsUserCerts/CACerts/AttributeCerts,
 * onlySomeReasons, cRLIssuer and indirect CRLs), delta CRLs, CRLs signed
 * with a key other than the certificate's issuer's (the CRL issuer's path is
 * validated to the same anchor), and unknown critical extensions (section
 * 5.2: such a CRL is not used). pkijs parses; node:crypto verifies.
 *
 * @module
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { EXTENSION_OIDS } from '../../oids.js';
import type { VerifierCertificate } from '../certificates.js';
import { basicConstraints, describe, keyUsage, signatureProblem, type SignaturePolicy, type WorkingKey } from './facts.js';
import { GN, dnEqual, generalNameEqual } from './names.js';
import { fail } from './result.js';

/** CRL reason codes (section 5.3.1). */
export const CRL_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

/** ReasonFlags bits 1..8 (section 4.2.1.13): the all-reasons mask. */
const ALL_REASONS = 0x1fe;

/** CRL extensions processed here (section 5.2). */
const KNOWN_CRL_EXTENSIONS: ReadonlySet<string> = new Set([
  EXTENSION_OIDS.authorityKeyIdentifier,
  EXTENSION_OIDS.issuerAltName,
  EXTENSION_OIDS.cRLNumber,
  EXTENSION_OIDS.deltaCRLIndicator,
  EXTENSION_OIDS.issuingDistributionPoint,
  EXTENSION_OIDS.freshestCRL,
]);

/** CRL entry extensions processed here (section 5.3). */
const KNOWN_ENTRY_EXTENSIONS: ReadonlySet<string> = new Set([EXTENSION_OIDS.reasonCode, EXTENSION_OIDS.invalidityDate, EXTENSION_OIDS.certificateIssuer]);

/** One entry, with the certificate issuer it applies to (section 5.3.3). */
interface Entry {
  readonly issuer: pkijs.RelativeDistinguishedNames;
  readonly serial: Uint8Array;
  readonly reason: number;
  readonly date: Date;
}

/** The issuingDistributionPoint of a CRL (section 5.2.5). */
interface Idp {
  readonly names: pkijs.GeneralName[] | undefined;
  readonly onlyUser: boolean;
  readonly onlyCA: boolean;
  readonly onlyAttribute: boolean;
  readonly reasons: number;
  readonly indirect: boolean;
  /** DER of the extension value, to compare a delta CRL's scope with its base (section 6.3.3 (c)(2)). */
  readonly der: string;
}

/** A CRL decoded for section 6.3, once. `problem` says why it cannot be used at all. */
export class PreparedCrl {
  readonly issuer: pkijs.RelativeDistinguishedNames;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly idp: Idp | undefined;
  readonly crlNumber: bigint | undefined;
  /** deltaCRLIndicator's BaseCRLNumber: present on delta CRLs only. */
  readonly baseCrlNumber: bigint | undefined;
  readonly authorityKeyId: string | undefined;
  readonly problem: string | undefined;
  private entriesMemo?: Entry[];

  constructor(
    readonly crl: pkijs.CertificateRevocationList,
    readonly origin: string,
  ) {
    this.issuer = crl.issuer;
    this.thisUpdate = crl.thisUpdate.value;
    this.nextUpdate = crl.nextUpdate?.value;
    let problem: string | undefined;
    let idp: Idp | undefined;
    let crlNumber: bigint | undefined;
    let base: bigint | undefined;
    let aki: string | undefined;
    const seen = new Set<string>();
    for (const e of crl.crlExtensions?.extensions ?? []) {
      if (seen.has(e.extnID)) problem ??= `the CRL has extension ${e.extnID} twice`;
      seen.add(e.extnID);
      if (e.critical && !KNOWN_CRL_EXTENSIONS.has(e.extnID)) problem ??= `the CRL has an unknown critical extension ${e.extnID} (RFC 5280 section 5.2)`;
      try {
        if (e.extnID === EXTENSION_OIDS.issuingDistributionPoint) idp = decodeIdp(e, crl.issuer);
        else if (e.extnID === EXTENSION_OIDS.cRLNumber) crlNumber = intOf(e.parsedValue);
        else if (e.extnID === EXTENSION_OIDS.deltaCRLIndicator) base = intOf(e.parsedValue);
        else if (e.extnID === EXTENSION_OIDS.authorityKeyIdentifier) {
          const id = (e.parsedValue as pkijs.AuthorityKeyIdentifier | undefined)?.keyIdentifier?.valueBlock.valueHexView;
          if (id) aki = Buffer.from(id).toString('hex');
        }
      } catch (err) {
        problem ??= `the CRL's extension ${e.extnID} is corrupt: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    // Section 5.2.3: conforming CRL issuers include cRLNumber, non-critical; a CRL without it is not used.
    const numberExt = (crl.crlExtensions?.extensions ?? []).find((e) => e.extnID === EXTENSION_OIDS.cRLNumber);
    if (!numberExt) problem ??= 'the CRL has no cRLNumber (RFC 5280 section 5.2.3)';
    else if (numberExt.critical) problem ??= 'the CRL marks cRLNumber critical (RFC 5280 section 5.2.3: non-critical)';
    this.idp = idp;
    this.crlNumber = crlNumber;
    this.baseCrlNumber = base;
    this.authorityKeyId = aki;
    if (!problem) {
      try {
        this.entriesMemo = this.decodeEntries();
      } catch (err) {
        problem = err instanceof Error ? err.message : String(err);
      }
    }
    this.problem = problem;
  }

  /** The entries, each with the certificate issuer it names (section 5.3.3: indirect CRLs carry it forward). */
  get entries(): readonly Entry[] {
    return this.entriesMemo ?? [];
  }

  private decodeEntries(): Entry[] {
    const out: Entry[] = [];
    let issuer = this.issuer;
    for (const r of this.crl.revokedCertificates ?? []) {
      let reason: number = CRL_REASONS.unspecified;
      for (const e of r.crlEntryExtensions?.extensions ?? []) {
        if (e.critical && !KNOWN_ENTRY_EXTENSIONS.has(e.extnID)) throw new Error(`a CRL entry has an unknown critical extension ${e.extnID} (RFC 5280 section 5.3)`);
        if (e.extnID === EXTENSION_OIDS.reasonCode) {
          const v = e.parsedValue as unknown;
          if (!(v instanceof asn1js.Enumerated)) throw new Error('a CRL entry has a corrupt reasonCode');
          reason = v.valueBlock.valueDec;
        } else if (e.extnID === EXTENSION_OIDS.certificateIssuer) {
          if (!this.idp?.indirect) throw new Error('a CRL entry has certificateIssuer, and the CRL is not indirect');
          const names = (e.parsedValue as pkijs.GeneralNames | undefined)?.names;
          const dn = names?.find((n) => n.type === GN.directoryName);
          if (!dn) throw new Error('a CRL entry has a certificateIssuer without a directoryName');
          issuer = dn.value as pkijs.RelativeDistinguishedNames;
        }
      }
      out.push({ issuer, serial: r.userCertificate.valueBlock.valueHexView, reason, date: r.revocationDate.value });
    }
    return out;
  }

  /** The entry for a certificate (issuer name and serial number), or `undefined`. */
  find(cert: VerifierCertificate): Entry | undefined {
    const serial = cert.pkijs.serialNumber.valueBlock.valueHexView;
    return this.entries.find((e) => sameBytes(e.serial, serial) && dnEqual(e.issuer, cert.pkijs.issuer));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function intOf(v: unknown): bigint {
  if (!(v instanceof asn1js.Integer)) throw new Error('not an INTEGER');
  const h = Buffer.from(v.valueBlock.valueHexView).toString('hex');
  return h ? BigInt(`0x${h}`) : 0n;
}

/** ReasonFlags as a mask of bits 0..8, read from the BIT STRING contents (first octet: unused bits). */
function reasonMask(content: Uint8Array): number {
  let m = 0;
  for (let k = 0; k <= 8; k++) if (((content[1 + (k >> 3)] ?? 0) & (0x80 >> (k & 7))) !== 0) m |= 1 << k;
  return m;
}

/** The elements of a constructed asn1js block. */
function children(b: asn1js.AsnType | undefined): asn1js.AsnType[] {
  const v = (b as { valueBlock?: { value?: unknown } } | undefined)?.valueBlock?.value;
  return Array.isArray(v) ? (v as asn1js.AsnType[]) : [];
}

function tagOf(b: asn1js.AsnType): number | undefined {
  const id = (b as asn1js.BaseBlock).idBlock;
  return id.tagClass === 3 ? id.tagNumber : undefined;
}

function contents(b: asn1js.AsnType): Uint8Array {
  return new Uint8Array((b as asn1js.Primitive).valueBlock.valueHexView ?? new Uint8Array(0));
}

/** GeneralNames inside an implicitly tagged field: its elements are GeneralName CHOICEs. */
function generalNames(b: asn1js.AsnType): pkijs.GeneralName[] {
  return children(b).map((el) => new pkijs.GeneralName({ schema: el }));
}

/**
 * DistributionPointName (section 4.2.1.13): fullName [0] GeneralNames, or
 * nameRelativeToCRLIssuer [1] RelativeDistinguishedName, completed with
 * `base` (the CRL issuer). Read from asn1js's parse: pkijs does not decode
 * the relative form.
 */
function distributionPointName(b: asn1js.AsnType, base: pkijs.RelativeDistinguishedNames | undefined): pkijs.GeneralName[] | undefined {
  const choice = children(b)[0];
  if (!choice) return undefined;
  const t = tagOf(choice);
  if (t === 0) return generalNames(choice);
  if (t === 1) {
    const atvs = children(choice).map((el) => new pkijs.AttributeTypeAndValue({ schema: el }));
    return [relativeName(base, new pkijs.RelativeDistinguishedNames({ typesAndValues: atvs }))];
  }
  throw new Error('a distribution point name of an unknown form');
}

/** The DER elements of an extension's value (a SEQUENCE). */
function sequenceOf(e: pkijs.Extension): asn1js.AsnType[] {
  const r = asn1js.fromBER(e.extnValue.valueBlock.valueHexView);
  if (r.offset === -1 || !(r.result instanceof asn1js.Sequence)) throw new Error(`extension ${e.extnID} is not a DER SEQUENCE`);
  return children(r.result);
}

function flag(b: asn1js.AsnType): boolean {
  const c = contents(b);
  if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) throw new Error('a BOOLEAN that is not DER');
  return c[0] === 0xff;
}

function decodeIdp(e: pkijs.Extension, issuer: pkijs.RelativeDistinguishedNames): Idp {
  let names: pkijs.GeneralName[] | undefined;
  let reasons = ALL_REASONS;
  let onlyUser = false;
  let onlyCA = false;
  let indirect = false;
  let onlyAttribute = false;
  for (const item of sequenceOf(e)) {
    switch (tagOf(item)) {
      case 0:
        names = distributionPointName(item, issuer);
        break;
      case 1:
        onlyUser = flag(item);
        break;
      case 2:
        onlyCA = flag(item);
        break;
      case 3:
        reasons = reasonMask(contents(item)) & ALL_REASONS;
        break;
      case 4:
        indirect = flag(item);
        break;
      case 5:
        onlyAttribute = flag(item);
        break;
      default:
        throw new Error('an issuingDistributionPoint field of an unknown tag');
    }
  }
  return { names, onlyUser, onlyCA, onlyAttribute, reasons, indirect, der: Buffer.from(e.extnValue.valueBlock.valueHexView).toString('hex') };
}

/** A nameRelativeToCRLIssuer as a full directoryName: the base name with the RDN appended (sections 4.2.1.13, 5.2.5). Without a base, only the RDN (filled in later). */
function relativeName(base: pkijs.RelativeDistinguishedNames | undefined, rdn: pkijs.RelativeDistinguishedNames): pkijs.GeneralName {
  const dn = new pkijs.RelativeDistinguishedNames({ typesAndValues: [...(base?.typesAndValues ?? []), ...rdn.typesAndValues] });
  return new pkijs.GeneralName({ type: GN.directoryName, value: dn });
}

/** The IDP names of a CRL (a relative name completed with the CRL issuer). */
function idpNames(crl: PreparedCrl): pkijs.GeneralName[] | undefined {
  return crl.idp?.names;
}

/** One distribution point of a certificate (section 4.2.1.13), or the default one of section 6.3.3's last paragraph. */
interface DistributionPoint {
  readonly names: pkijs.GeneralName[] | undefined;
  readonly reasons: number;
  readonly crlIssuer: pkijs.RelativeDistinguishedNames[] | undefined;
  readonly crlIssuerNames: pkijs.GeneralName[] | undefined;
}

/** The certificate's distribution points, then the default one: its issuer, all reasons (section 6.3.3). */
function distributionPoints(cert: VerifierCertificate): DistributionPoint[] {
  const out: DistributionPoint[] = [];
  const ext = (cert.pkijs.extensions ?? []).filter((e) => e.extnID === EXTENSION_OIDS.cRLDistributionPoints);
  if (ext.length > 1) fail('malformedCertificate', `${describe(cert)} has extension cRLDistributionPoints twice`);
  try {
    for (const dp of ext[0] ? sequenceOf(ext[0]) : []) {
      let nameField: asn1js.AsnType | undefined;
      let reasons = ALL_REASONS;
      let crlIssuerNames: pkijs.GeneralName[] | undefined;
      for (const item of children(dp)) {
        const t = tagOf(item);
        if (t === 0) nameField = item;
        else if (t === 1) reasons = reasonMask(contents(item)) & ALL_REASONS;
        else if (t === 2) crlIssuerNames = generalNames(item);
        else throw new Error('a DistributionPoint field of an unknown tag');
      }
      const crlIssuer = crlIssuerNames?.filter((n) => n.type === GN.directoryName).map((n) => n.value as pkijs.RelativeDistinguishedNames);
      const names = nameField ? distributionPointName(nameField, crlIssuer?.[0] ?? cert.pkijs.issuer) : undefined;
      out.push({ names, reasons, crlIssuer: crlIssuer?.length ? crlIssuer : undefined, crlIssuerNames: crlIssuerNames?.length ? crlIssuerNames : undefined });
    }
  } catch (e) {
    fail('malformedCertificate', `${describe(cert)} has a corrupt cRLDistributionPoints: ${e instanceof Error ? e.message : String(e)}`);
  }
  out.push({ names: [new pkijs.GeneralName({ type: GN.directoryName, value: cert.pkijs.issuer })], reasons: ALL_REASONS, crlIssuer: undefined, crlIssuerNames: undefined });
  return out;
}

/** Section 6.3.3 (b): whether the complete CRL's issuer and scope cover the certificate through this distribution point. */
function inScope(crl: PreparedCrl, cert: VerifierCertificate, dp: DistributionPoint): string | undefined {
  // (b)(1)
  if (dp.crlIssuer) {
    if (!dp.crlIssuer.some((n) => dnEqual(n, crl.issuer))) return 'its issuer is not the cRLIssuer of the distribution point';
    if (!crl.idp?.indirect) return 'the distribution point names a cRLIssuer and the CRL is not indirect';
  } else if (!dnEqual(crl.issuer, cert.pkijs.issuer)) {
    return 'its issuer is not the certificate issuer';
  }
  // (b)(2)
  if (crl.idp) {
    const names = idpNames(crl);
    if (names) {
      const theirs = dp.names ?? dp.crlIssuerNames ?? [];
      if (!names.some((a) => theirs.some((b) => generalNameEqual(a, b)))) return 'its issuingDistributionPoint names none of the certificate distribution point names';
    }
    const bc = basicConstraints(cert);
    if (crl.idp.onlyUser && bc?.ca) return 'it covers only end-entity certificates (onlyContainsUserCerts)';
    if (crl.idp.onlyCA && !bc?.ca) return 'it covers only CA certificates (onlyContainsCACerts)';
    if (crl.idp.onlyAttribute) return 'it covers only attribute certificates (onlyContainsAttributeCerts)';
  }
  return undefined;
}

/** The revocation status of one certificate (section 6.3.2 cert_status, with the CRLs tried). */
export interface CrlStatus {
  readonly status: 'revoked' | 'unrevoked' | 'undetermined';
  readonly reason?: number;
  readonly revocationDate?: Date;
  /** Why the CRLs that were considered could not be used, for messages. */
  readonly notes: readonly string[];
  /** The earliest nextUpdate of the CRLs used. */
  readonly nextUpdate?: Date;
  /** The latest thisUpdate of the CRLs used (the answer holds from then, less the skew allowed). */
  readonly thisUpdate?: Date;
  /** True when the only CRLs in scope were out of date. */
  readonly stale?: boolean;
  /** Where the answer came from. */
  readonly origins: readonly string[];
}

/** What CRL processing needs from path validation. */
export interface CrlContext {
  readonly at: Date;
  readonly crls: readonly PreparedCrl[];
  /** Use delta CRLs (section 6.3.3 (c)); default true. */
  readonly useDeltas?: boolean;
  /** Allowance on thisUpdate/nextUpdate, ms. */
  readonly clockSkewMs?: number;
  readonly signaturePolicy: SignaturePolicy;
  /**
   * Section 6.3.3 (f): the validated public key of a CRL issuer candidate
   * (a certificate named like the CRL issuer), or a reason it is not valid.
   * The certificate's own issuer in the path and the trust anchor are
   * passed as `known` and need no validation.
   */
  readonly validateCrlIssuer: (candidate: VerifierCertificate) => Promise<WorkingKey | { failure: string; revoked?: boolean }>;
  /** Every certificate that might have signed a CRL (pool, path, anchors). */
  readonly candidates: readonly VerifierCertificate[];
}

/** Thrown when a CRL issuer's own certificate is revoked: the certificate's status is then revoked too (PKITS 4.4.21). */
export class CrlIssuerRevoked extends Error {}

/** Section 6.3.3 (a): the CRL is current (thisUpdate not in the future, nextUpdate not past). */
function currentProblem(crl: PreparedCrl, ctx: CrlContext): string | undefined {
  const skew = ctx.clockSkewMs ?? 0;
  const now = ctx.at.getTime();
  if (crl.thisUpdate.getTime() > now + skew) return `its thisUpdate ${crl.thisUpdate.toISOString()} is in the future`;
  if (crl.nextUpdate && crl.nextUpdate.getTime() < now - skew) return `it expired at ${crl.nextUpdate.toISOString()} (nextUpdate)`;
  return undefined;
}

/** Sections 6.3.3 (f), (g): a key that is a valid CRL issuer key and verifies the CRL, or the reason there is none. */
async function crlSigner(crl: PreparedCrl, known: readonly WorkingKey[], ctx: CrlContext): Promise<WorkingKey | string> {
  const c = crl.crl;
  const verifies = async (wk: WorkingKey): Promise<boolean> =>
    (await signatureProblem(c.signatureAlgorithm.algorithmId, c.tbsView, c.signatureValue.valueBlock.valueHexView, wk, ctx.signaturePolicy)) === undefined;
  const tried: string[] = [];
  // (f) cRLSign: keyUsage, when present, must allow CRL signing (section 4.2.1.3).
  const mayCrlSign = (cert: VerifierCertificate): boolean => {
    const ku = keyUsage(cert);
    return !ku || ku.cRLSign;
  };
  for (const wk of known) {
    if (!dnEqual(wk.from.pkijs.subject, crl.issuer)) continue;
    if (!mayCrlSign(wk.from)) {
      tried.push(`${describe(wk.from)} lacks keyUsage cRLSign`);
      continue;
    }
    if (await verifies(wk)) return wk;
    tried.push(`the signature does not verify with the key of ${describe(wk.from)}`);
  }
  const knownIds = new Set(known.map((k) => k.from.id));
  for (const cand of ctx.candidates) {
    if (knownIds.has(cand.id) || !dnEqual(cand.pkijs.subject, crl.issuer)) continue;
    if (!mayCrlSign(cand)) {
      tried.push(`${describe(cand)} lacks keyUsage cRLSign`);
      continue;
    }
    // Cheap test first: does the candidate's own key verify the CRL? Only then validate its path.
    let k;
    try {
      k = await cand.loadPublicKey();
    } catch {
      continue;
    }
    if (!(await verifies({ key: k, algorithm: cand.pkijs.subjectPublicKeyInfo.algorithm.algorithmId, params: undefined, from: cand }))) continue;
    const v = await ctx.validateCrlIssuer(cand);
    if ('failure' in v) {
      if (v.revoked) throw new CrlIssuerRevoked(`the CRL issuer certificate ${describe(cand)} is revoked`);
      tried.push(`the CRL issuer certificate ${describe(cand)} is not valid: ${v.failure}`);
      continue;
    }
    return v;
  }
  return tried.length ? tried.join('; ') : 'no certificate of the CRL issuer verifies its signature';
}

/** Section 6.3.3 (c): the delta CRL for a complete CRL, when one is usable. */
async function deltaFor(complete: PreparedCrl, signer: WorkingKey, ctx: CrlContext): Promise<PreparedCrl | undefined> {
  if (ctx.useDeltas === false || complete.crlNumber === undefined) return undefined;
  for (const d of ctx.crls) {
    if (d.baseCrlNumber === undefined || d.problem) continue;
    // (c)(1) the same issuer, (c)(2) the same scope, (c)(3) the same key identifier.
    if (!dnEqual(d.issuer, complete.issuer)) continue;
    if ((d.idp?.der ?? '') !== (complete.idp?.der ?? '')) continue;
    if (d.authorityKeyId && complete.authorityKeyId && d.authorityKeyId !== complete.authorityKeyId) continue;
    // Section 5.2.4: the delta's base is no newer than the complete CRL, and the delta is newer.
    if (d.baseCrlNumber > complete.crlNumber) continue;
    if (d.crlNumber !== undefined && d.crlNumber <= complete.crlNumber) continue;
    if (currentProblem(d, ctx)) continue;
    // (h) the delta's signature, with the complete CRL's key.
    const c = d.crl;
    if ((await signatureProblem(c.signatureAlgorithm.algorithmId, c.tbsView, c.signatureValue.valueBlock.valueHexView, signer, ctx.signaturePolicy)) !== undefined) continue;
    return d;
  }
  return undefined;
}

/**
 * Section 6.3: the revocation status of `cert` from the CRLs in `ctx`.
 * `known`: the working keys that need no further validation (the
 * certificate's issuer in the path, the trust anchor). Throws
 * {@link CrlIssuerRevoked} when the only CRL issuer is revoked.
 */
export async function crlStatus(cert: VerifierCertificate, known: readonly WorkingKey[], ctx: CrlContext): Promise<CrlStatus> {
  let reasonsMask = 0;
  let status: 'revoked' | 'unrevoked' = 'unrevoked';
  let revReason: number | undefined;
  let revDate: Date | undefined;
  const notes: string[] = [];
  const origins: string[] = [];
  let nextUpdate: Date | undefined;
  let thisUpdate: Date | undefined;
  let stale = false;
  let used = false;
  const complete = ctx.crls.filter((c) => c.baseCrlNumber === undefined);
  for (const dp of distributionPoints(cert)) {
    if (reasonsMask === ALL_REASONS || status === 'revoked') break;
    for (const crl of complete) {
      if (reasonsMask === ALL_REASONS || status === 'revoked') break;
      const scope = inScope(crl, cert, dp);
      if (scope) continue;
      if (crl.problem) {
        notes.push(`${crl.origin}: ${crl.problem}`);
        continue;
      }
      // (a) current
      const cur = currentProblem(crl, ctx);
      if (cur) {
        notes.push(`${crl.origin}: ${cur}`);
        stale = true;
        continue;
      }
      // (d) interim reasons mask, (e) something new to learn
      const interim = (crl.idp?.reasons ?? ALL_REASONS) & dp.reasons & ALL_REASONS;
      if ((interim & ~reasonsMask) === 0) continue;
      // (f), (g)
      const signer = await crlSigner(crl, known, ctx);
      if (typeof signer === 'string') {
        notes.push(`${crl.origin}: ${signer}`);
        continue;
      }
      // (c), (h)
      const delta = await deltaFor(crl, signer, ctx);
      let entryStatus: { reason: number; date: Date } | undefined;
      // (i) the delta CRL first
      const de = delta?.find(cert);
      if (de) entryStatus = { reason: de.reason, date: de.date };
      // (j) then the complete CRL
      if (!entryStatus) {
        const ce = crl.find(cert);
        if (ce) entryStatus = { reason: ce.reason, date: ce.date };
      }
      used = true;
      origins.push(crl.origin, ...(delta ? [delta.origin] : []));
      for (const n of [crl.nextUpdate, delta?.nextUpdate]) if (n && (!nextUpdate || n < nextUpdate)) nextUpdate = n;
      for (const t of [crl.thisUpdate, delta?.thisUpdate]) if (t && (!thisUpdate || t > thisUpdate)) thisUpdate = t;
      // (k) removeFromCRL means unrevoked
      if (entryStatus && entryStatus.reason !== CRL_REASONS.removeFromCRL) {
        status = 'revoked';
        revReason = entryStatus.reason;
        revDate = entryStatus.date;
      }
      // (l)
      reasonsMask |= interim;
    }
  }
  if (status === 'revoked') {
    return { status, ...(revReason !== undefined ? { reason: revReason } : {}), ...(revDate ? { revocationDate: revDate } : {}), notes, origins, ...(nextUpdate ? { nextUpdate } : {}) };
  }
  if (reasonsMask === ALL_REASONS) return { status: 'unrevoked', notes, origins, ...(nextUpdate ? { nextUpdate } : {}), ...(thisUpdate ? { thisUpdate } : {}) };
  if (used) notes.push('the CRLs in scope do not cover every revocation reason');
  if (!notes.length) notes.push('no CRL in scope for this certificate');
  return { status: 'undetermined', notes, origins, ...(stale ? { stale } : {}) };
}

/** Parses CRL DER into {@link PreparedCrl}s; throws on bytes that are not a CRL. */
export function prepareCrl(der: Uint8Array, origin: string): PreparedCrl {
  return new PreparedCrl(pkijs.CertificateRevocationList.fromBER(der), origin);
}
