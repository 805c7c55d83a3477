/**
 * What path validation reads from a certificate: its extensions, decoded by
 * pkijs and checked here (a corrupt or duplicated extension is a typed
 * failure, never an exception), its working public key (RFC 5280 section
 * 6.1.4 (d)-(f), with DSA parameter inheritance), and signature checks with
 * node:crypto.
 *
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { EXTENSION_OIDS, KEY_ALGORITHM_OIDS } from '../../oids.js';
import { extensionParsedValue, extensionValueDecode } from '../../certs/pkijs-form.js';
import { answerOfValue } from '../../certs/model.js';
import { verifySignedObject, type VerifierCertificate } from '../certificates.js';
import { fail } from './result.js';

/** The extension with `oid`, decoded; `undefined` when absent. A corrupt value or a duplicate is a `malformedCertificate` failure. */
export function extension<T>(cert: VerifierCertificate, oid: string): { value: T; critical: boolean } | undefined {
  const all = (cert.pkijs.extensions ?? []).filter((e) => e.extnID === oid);
  if (all.length === 0) return undefined;
  if (all.length > 1) fail('malformedCertificate', `${describe(cert)} has extension ${oid} twice (RFC 5280 section 4.2)`);
  const e = all[0]!;
  let v: unknown;
  try {
    v = extensionParsedValue(e, { pkijs, asn1js });
  } catch {
    v = undefined;
  }
  if (v === undefined || v === null || (typeof v === 'object' && 'parsingError' in (v as object))) {
    fail('malformedCertificate', `${describe(cert)} has a corrupt extension ${oid}`);
  }
  return { value: v as T, critical: e.critical };
}

/** DER of AlgorithmIdentifiers by OID, for the shapes whose encoding is the OID's alone: see {@link algorithmIdentifierDer}. */
const algorithmDerMemo = new Map<string, Uint8Array>();
/** The most shapes {@link algorithmDerMemo} keeps (OIDs come from the peer: beyond this, each is encoded afresh). */
const ALGORITHM_DER_MEMO_MAX = 64;

/**
 * What pkijs's `toSchema().toBER(false)` gives for an AlgorithmIdentifier
 * (a new copy is never needed: callers only read it). With no parameters,
 * or parameters decoded from exactly `05 00` (a DER NULL, which re-encodes
 * as itself), that is a function of the OID alone and is encoded once per
 * OID; any other parameters are encoded each time, as pkijs does.
 */
export function algorithmIdentifierDer(a: pkijs.AlgorithmIdentifier): Uint8Array {
  const p = a.algorithmParams as asn1js.BaseBlock | undefined;
  let key: string | undefined;
  if (!p || p instanceof asn1js.Any) key = `${a.algorithmId} -`;
  else {
    const b = p.valueBeforeDecodeView;
    if (p instanceof asn1js.Null && b?.byteLength === 2 && b[0] === 0x05 && b[1] === 0x00) key = `${a.algorithmId} null`;
  }
  if (key === undefined) return new Uint8Array(a.toSchema().toBER(false));
  let der = algorithmDerMemo.get(key);
  if (!der) {
    der = new Uint8Array(a.toSchema().toBER(false));
    if (algorithmDerMemo.size < ALGORITHM_DER_MEMO_MAX) algorithmDerMemo.set(key, der);
  }
  return der;
}

/** A certificate for messages: its subject, as pkijs decoded it. */
export function describe(cert: VerifierCertificate): string {
  try {
    return JSON.stringify(cert.subject);
  } catch {
    return `certificate ${cert.id.slice(0, 16)}`;
  }
}

/** basicConstraints (section 4.2.1.9), or `undefined`; a value seen before (in any certificate) is answered as it was then. */
export function basicConstraints(cert: VerifierCertificate): { readonly ca: boolean; readonly pathLen?: number } | undefined {
  const all = (cert.pkijs.extensions ?? []).filter((e) => e.extnID === EXTENSION_OIDS.basicConstraints);
  // Once in the certificate: the answer is the value's alone (the failures, which name the certificate, are not kept).
  return all.length === 1 ? answerOfValue('pkix basicConstraints', all[0]!, () => readBasicConstraints(cert)) : readBasicConstraints(cert);
}

function readBasicConstraints(cert: VerifierCertificate): { readonly ca: boolean; readonly pathLen?: number } | undefined {
  const e = extension<pkijs.BasicConstraints>(cert, EXTENSION_OIDS.basicConstraints);
  if (!e) return undefined;
  const len = e.value.pathLenConstraint as unknown;
  if (len === undefined) return Object.freeze({ ca: !!e.value.cA });
  if (typeof len === 'number') return Object.freeze({ ca: !!e.value.cA, pathLen: len });
  if (len instanceof asn1js.Integer) {
    const n = len.valueBlock.valueDec;
    return Object.freeze({ ca: !!e.value.cA, pathLen: n < 0 ? 0 : n });
  }
  return fail('malformedCertificate', `${describe(cert)} has a corrupt pathLenConstraint`);
}

/** keyUsage bits (section 4.2.1.3), or `undefined` when absent. */
export function keyUsage(cert: VerifierCertificate): { digitalSignature: boolean; keyCertSign: boolean; cRLSign: boolean } | undefined {
  const e = extension<asn1js.BitString>(cert, EXTENSION_OIDS.keyUsage);
  if (!e) return undefined;
  if (!(e.value instanceof asn1js.BitString)) fail('malformedCertificate', `${describe(cert)} has a corrupt keyUsage`);
  const b = e.value.valueBlock.valueHexView;
  const bit = (n: number): boolean => ((b[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0;
  return { digitalSignature: bit(0), keyCertSign: bit(5), cRLSign: bit(6) };
}

/** A small integer extension value (inhibitAnyPolicy) or field. */
export function smallInt(v: unknown, cert: VerifierCertificate, what: string): number {
  if (typeof v === 'number') return v;
  if (v instanceof asn1js.Integer) {
    if (v.valueBlock.valueHexView.length > 4) return Number.MAX_SAFE_INTEGER;
    return Math.max(0, v.valueBlock.valueDec);
  }
  return fail('malformedCertificate', `${describe(cert)} has a corrupt ${what}`);
}

/** The subjectAltName names (section 4.2.1.6). */
export function subjectAltNames(cert: VerifierCertificate): pkijs.GeneralName[] {
  const e = extension<pkijs.AltName>(cert, EXTENSION_OIDS.subjectAltName);
  if (!e) return [];
  if (!Array.isArray(e.value.altNames)) fail('malformedCertificate', `${describe(cert)} has a corrupt subjectAltName`);
  return e.value.altNames;
}

function tagged(b: asn1js.BaseBlock | undefined, tagClass: number, tagNumber: number, constructed: boolean): boolean {
  const id = b?.idBlock;
  return !!id && id.tagClass === tagClass && id.tagNumber === tagNumber && id.isConstructed === constructed && !id.isHexOnly;
}

/**
 * True when the subjectAltName is known to decode as {@link subjectAltNames}
 * reads it (absent, or once, with a value pkijs's AltName is sure to
 * accept), judged from asn1js's decode of the value alone (the one decode
 * every reader of the value shares): a SEQUENCE of
 * rfc822Name, dNSName, URI and iPAddress primitives and otherNames (an
 * OBJECT IDENTIFIER and a [0] with a value), each of which pkijs's
 * GeneralName takes without a further check that can fail. `false` means
 * only that it takes the full decode to know.
 */
export function subjectAltNamesKnownToDecode(cert: VerifierCertificate): boolean {
  const all = (cert.pkijs.extensions ?? []).filter((e) => e.extnID === EXTENSION_OIDS.subjectAltName);
  if (all.length === 0) return true;
  if (all.length > 1) return false;
  const octets = all[0]!.extnValue.valueBlock.valueHexView;
  // The value's one decode, which the full decode and the identities read too.
  const decoded = extensionValueDecode(all[0]!, asn1js);
  // asn1js throws on some malformed contents (a GeneralizedTime): the full decode says what it makes of them.
  if (!decoded) return false;
  if (decoded.offset !== octets.byteLength || !tagged(decoded.result, 1, 16, true)) return false;
  return ((decoded.result as asn1js.Sequence).valueBlock.value as asn1js.BaseBlock[]).every((n) => {
    const t = n.idBlock.tagNumber;
    if (t === 1 || t === 2 || t === 6 || t === 7) return tagged(n, 3, t, false);
    if (t !== 0 || !tagged(n, 3, 0, true)) return false;
    const [type, value] = (n as asn1js.Constructed).valueBlock.value as Array<asn1js.BaseBlock | undefined>;
    return tagged(type, 1, 6, false) && tagged(value, 3, 0, true) && ((value as asn1js.Constructed).valueBlock.value?.length ?? 0) > 0;
  });
}

/** The extensions path validation processes (sections 6.1.4 (o), 6.1.5 (f)). */
export const PROCESSED_EXTENSIONS: ReadonlySet<string> = new Set([
  EXTENSION_OIDS.keyUsage,
  EXTENSION_OIDS.basicConstraints,
  EXTENSION_OIDS.certificatePolicies,
  EXTENSION_OIDS.policyMappings,
  EXTENSION_OIDS.policyConstraints,
  EXTENSION_OIDS.inhibitAnyPolicy,
  EXTENSION_OIDS.nameConstraints,
  EXTENSION_OIDS.subjectAltName,
  EXTENSION_OIDS.issuerAltName,
  EXTENSION_OIDS.extendedKeyUsage,
  EXTENSION_OIDS.subjectKeyIdentifier,
  EXTENSION_OIDS.authorityKeyIdentifier,
  EXTENSION_OIDS.cRLDistributionPoints,
  EXTENSION_OIDS.freshestCRL,
]);

/** The first unprocessed critical extension, or `undefined`. */
export function unknownCritical(cert: VerifierCertificate, extra: ReadonlySet<string> = new Set()): string | undefined {
  return (cert.pkijs.extensions ?? []).find((e) => e.critical && !PROCESSED_EXTENSIONS.has(e.extnID) && !extra.has(e.extnID))?.extnID;
}

/** The working public key state of section 6.1.2 (g)-(i). */
export interface WorkingKey {
  readonly key: KeyObject;
  readonly algorithm: string;
  /** The key's algorithm parameters (DSA domain parameters), for inheritance. */
  readonly params: unknown;
  /** The certificate the key came from (a pkijs fallback for algorithms node:crypto does not name). */
  readonly from: VerifierCertificate;
  /** True when the key took its parameters from the previous one (section 6.1.4 (f)): not the certificate's own key. */
  readonly inherited?: boolean;
}

/** Limits on keys. */
export interface KeyLimits {
  /** Largest RSA modulus accepted, bits (default 8192). */
  readonly maxRsaModulusBits?: number;
}

/** The default bound on RSA moduli. */
export const DEFAULT_MAX_RSA_MODULUS_BITS = 8192;

function hasParams(p: unknown): boolean {
  return p !== undefined && p !== null && !(p instanceof asn1js.Null) && !(p instanceof asn1js.Any);
}

/**
 * Sections 6.1.4 (d)-(f) and 6.1.5 (c)-(e): the working public key from
 * `cert`, inheriting DSA parameters from the previous working key when the
 * certificate omits them (section 6.1.4 (f), RFC 3279 section 2.3.2).
 */
export async function workingKeyOf(cert: VerifierCertificate, previous: WorkingKey | undefined, limits: KeyLimits): Promise<WorkingKey> {
  const spki = cert.pkijs.subjectPublicKeyInfo;
  const algorithm = spki.algorithm.algorithmId;
  const params = spki.algorithm.algorithmParams as unknown;
  let key: KeyObject;
  let effective = params;
  try {
    if (algorithm === KEY_ALGORITHM_OIDS.dsa && !hasParams(params)) {
      if (!previous || previous.algorithm !== KEY_ALGORITHM_OIDS.dsa || !hasParams(previous.params)) {
        fail('unsupportedKey', `${describe(cert)} has a DSA key without parameters and its issuer's key has none to inherit (RFC 5280 section 6.1.4 (f))`);
      }
      effective = previous.params;
      const full = new pkijs.PublicKeyInfo({
        algorithm: new pkijs.AlgorithmIdentifier({ algorithmId: algorithm, algorithmParams: previous.params as asn1js.AsnType }),
        subjectPublicKey: spki.subjectPublicKey,
      });
      key = createPublicKey({ key: Buffer.from(full.toSchema().toBER(false)), format: 'der', type: 'spki' });
    } else {
      key = await cert.loadPublicKey();
    }
  } catch (e) {
    if (e instanceof Error && e.name === 'PkixFailure') throw e;
    fail('unsupportedKey', `the public key of ${describe(cert)} cannot be used: ${e instanceof Error ? e.message : String(e)}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  const max = limits.maxRsaModulusBits ?? DEFAULT_MAX_RSA_MODULUS_BITS;
  if (key.asymmetricKeyType?.startsWith('rsa') && bits !== undefined && bits > max) {
    fail('keyTooLarge', `${describe(cert)} has a ${bits}-bit RSA key, above the ${max}-bit bound (option maxRsaModulusBits)`);
  }
  return { key, algorithm, params: effective, from: cert, ...(effective !== params ? { inherited: true } : {}) };
}

/** Signature checking policy. */
export interface SignaturePolicy {
  readonly allowSha1?: boolean;
}

/**
 * Verifies a signed object (certificate or CRL) with a working key: returns
 * `undefined` when it verifies, otherwise the reason it does not.
 */
export async function signatureProblem(
  algorithmOid: string,
  tbs: Uint8Array,
  signature: Uint8Array,
  wk: WorkingKey,
  policy: SignaturePolicy,
  pkijsFallback?: () => Promise<boolean>,
): Promise<'badSignature' | 'weakSignatureAlgorithm' | 'unsupportedSignatureAlgorithm' | undefined> {
  const ok = verifySignedObject(algorithmOid, tbs, signature, wk.key, { allowSha1: policy.allowSha1 ?? false });
  if (ok === undefined) {
    if (!pkijsFallback) return 'unsupportedSignatureAlgorithm';
    let r = false;
    try {
      r = await pkijsFallback();
    } catch {
      r = false;
    }
    return r ? undefined : 'badSignature';
  }
  if (ok) return undefined;
  if (!policy.allowSha1 && verifySignedObject(algorithmOid, tbs, signature, wk.key, { allowSha1: true })) return 'weakSignatureAlgorithm';
  return 'badSignature';
}

/** The keyIdentifier of authorityKeyIdentifier, hex, or `undefined`. */
export function authorityKeyId(cert: VerifierCertificate): string | undefined {
  try {
    const e = extension<pkijs.AuthorityKeyIdentifier>(cert, EXTENSION_OIDS.authorityKeyIdentifier);
    const id = e?.value.keyIdentifier?.valueBlock.valueHexView;
    return id ? Buffer.from(id).toString('hex') : undefined;
  } catch {
    return undefined;
  }
}

/** The subjectKeyIdentifier, hex, or `undefined`. */
export function subjectKeyId(cert: VerifierCertificate): string | undefined {
  try {
    const e = extension<asn1js.OctetString>(cert, EXTENSION_OIDS.subjectKeyIdentifier);
    const id = e?.value.valueBlock?.valueHexView;
    return id ? Buffer.from(id).toString('hex') : undefined;
  } catch {
    return undefined;
  }
}
