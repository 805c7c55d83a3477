/**
 * The rules CAs must follow when they issue certificates (RFC 5280 section
 * 4 "conforming CAs MUST", RFC 5480, and the CA/Browser Forum's key rules),
 * checked on every certificate of a path, the trust anchor included: a
 * certificate that breaks one is refused with its own reason, though section
 * 6.1's algorithm alone would let it through. Each answer is a pure function
 * of the certificate and its place in the path, so it is remembered per
 * certificate: a login pays for it once per certificate ever seen.
 *
 * @module
 */
import * as asn1js from 'asn1js';
import type * as pkijs from 'pkijs';
import { CURVE_OIDS, EXTENSION_OIDS, KEY_ALGORITHM_OIDS } from '../../oids.js';
import { children, extensionValueDecode, is } from '../../certs/pkijs-form.js';
import type { VerifierCertificate } from '../certificates.js';
import { basicConstraints, describe, extension, keyUsage } from './facts.js';
import { GN, dnEmpty, validDnsName, validMailbox } from './names.js';
import { PkixFailure, fail, type PathValidationReason } from './result.js';

/** Where a certificate sits in the path. */
export type PathRole = 'leaf' | 'intermediate' | 'anchor';

/** Smallest RSA modulus accepted, bits (NIST SP 800-131A, CA/B Forum BR 6.1.5). */
export const MIN_RSA_MODULUS_BITS = 2048;

/** The most octets of a serial number (RFC 5280 section 4.1.2.2). */
const MAX_SERIAL_OCTETS = 20;

const NAMED_CURVES: ReadonlySet<string> = new Set(Object.values(CURVE_OIDS));

function raw(cert: VerifierCertificate, oid: string): pkijs.Extension | undefined {
  return (cert.pkijs.extensions ?? []).find((e) => e.extnID === oid);
}

/**
 * The elements of an extension value that must be a SEQUENCE, from the
 * value's one asn1js decode (a pkijs class is more than these rules need);
 * a value that is not a whole SEQUENCE is `malformedCertificate`.
 */
function sequenceOf(cert: VerifierCertificate, ext: pkijs.Extension, what: string): asn1js.BaseBlock[] {
  const d = extensionValueDecode(ext, asn1js);
  if (!d || d.offset !== ext.extnValue.valueBlock.valueHexView.byteLength || !is(d.result, 1, 16, true)) fail('malformedCertificate', `${describe(cert)} has a corrupt ${what}`);
  return children(d.result);
}

/** Section 4.1.2.2: a positive integer, at most 20 octets. */
function checkSerial(cert: VerifierCertificate): void {
  const v = cert.pkijs.serialNumber.valueBlock.valueHexView;
  if (v.length > MAX_SERIAL_OCTETS) fail('serialNumber', `${describe(cert)} has a serial number of ${v.length} octets (RFC 5280 section 4.1.2.2: at most 20)`);
  if ((v[0] ?? 0) & 0x80) fail('serialNumber', `${describe(cert)} has a negative serial number (RFC 5280 section 4.1.2.2: positive)`);
  if (v.every((b) => b === 0)) fail('serialNumber', `${describe(cert)} has serial number 0 (RFC 5280 section 4.1.2.2: positive)`);
}

/** Section 4.1.2.1: extensions only in v3; a CA certificate is v3 (section 6.1.4 (k) has no other way to know it is a CA). */
function checkVersion(cert: VerifierCertificate, role: PathRole): void {
  const v = cert.pkijs.version;
  if (v === 2) return;
  if ((cert.pkijs.extensions?.length ?? 0) > 0) fail('certificateVersion', `${describe(cert)} is a version ${v + 1} certificate with extensions (RFC 5280 section 4.1.2.1: version 3)`);
  if (role !== 'leaf') fail('certificateVersion', `${describe(cert)} is a version ${v + 1} CA certificate (RFC 5280 section 6.1.4 (k): a CA certificate is version 3 with basicConstraints)`);
}

/** The NIST named curves of the OID registry (RFC 5480 section 2.1.1.1) only, RSA of 2048 bits or more in whole octets, no DSA. */
function checkKey(cert: VerifierCertificate): void {
  const spki = cert.pkijs.subjectPublicKeyInfo;
  const alg = spki.algorithm.algorithmId;
  if (alg === KEY_ALGORITHM_OIDS.ecPublicKey) {
    const p = spki.algorithm.algorithmParams as unknown;
    if (!(p instanceof asn1js.ObjectIdentifier)) fail('explicitCurve', `${describe(cert)} has an EC key with explicit curve parameters (RFC 5480 section 2.1.1: namedCurve only)`);
    const curve = p.valueBlock.toString();
    if (!NAMED_CURVES.has(curve)) fail('weakKey', `${describe(cert)} has an EC key on curve ${curve}; only the NIST curves of 256, 384 and 521 bits are accepted`);
    return;
  }
  if (alg === KEY_ALGORITHM_OIDS.dsa) fail('weakKey', `${describe(cert)} has a DSA key (no longer approved for signatures, FIPS 186-5)`);
  if (alg === KEY_ALGORITHM_OIDS.rsaEncryption || alg === KEY_ALGORITHM_OIDS.rsassaPss) {
    let bits: number | undefined;
    try {
      bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
    } catch {
      return; // The working key step says why the key cannot be used.
    }
    if (bits !== undefined && bits < MIN_RSA_MODULUS_BITS) fail('weakKey', `${describe(cert)} has a ${bits}-bit RSA key, below ${MIN_RSA_MODULUS_BITS} bits`);
    if (bits !== undefined && bits % 8 !== 0) fail('weakKey', `${describe(cert)} has a ${bits}-bit RSA key, not a whole number of octets`);
  }
}

/** Sections 4.2.1.1, 4.2.1.2: key identifiers present where required, never critical, AKI with its keyIdentifier. */
function checkKeyIdentifiers(cert: VerifierCertificate, role: PathRole): void {
  const aki = raw(cert, EXTENSION_OIDS.authorityKeyIdentifier);
  const ski = raw(cert, EXTENSION_OIDS.subjectKeyIdentifier);
  if (aki?.critical) fail('keyIdentifier', `${describe(cert)} marks authorityKeyIdentifier critical (RFC 5280 section 4.2.1.1: non-critical)`);
  if (ski?.critical) fail('keyIdentifier', `${describe(cert)} marks subjectKeyIdentifier critical (RFC 5280 section 4.2.1.2: non-critical)`);
  if (!ski && role !== 'leaf') fail('keyIdentifier', `the CA certificate ${describe(cert)} has no subjectKeyIdentifier (RFC 5280 section 4.2.1.2)`);
  if (!aki) {
    if (!cert.selfIssued) fail('keyIdentifier', `${describe(cert)} has no authorityKeyIdentifier (RFC 5280 section 4.2.1.1: required but in self-signed certificates)`);
    return;
  }
  // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1] OPTIONAL, authorityCertSerialNumber [2] OPTIONAL }
  const fields = sequenceOf(cert, aki, 'authorityKeyIdentifier');
  const keyId = fields.find((f) => is(f, 3, 0, false));
  const id = keyId ? (keyId as asn1js.Primitive).valueBlock.valueHexView : undefined;
  if (!id || id.length === 0) fail('keyIdentifier', `${describe(cert)} has an authorityKeyIdentifier without keyIdentifier (RFC 5280 section 4.2.1.1)`);
  if (role === 'anchor' && cert.selfIssued) {
    // A self-signed trust anchor identifies its own key: anything else in its AKI names a certificate that is not there.
    if (fields.length > 1) fail('keyIdentifier', `the trust anchor ${describe(cert)} names an issuer certificate in its authorityKeyIdentifier, though it is self-signed`);
    const own = ski ? extension<asn1js.OctetString>(cert, EXTENSION_OIDS.subjectKeyIdentifier)?.value.valueBlock.valueHexView : undefined;
    if (own && !Buffer.from(own).equals(Buffer.from(id))) fail('keyIdentifier', `the self-signed trust anchor ${describe(cert)} has an authorityKeyIdentifier other than its subjectKeyIdentifier`);
  }
}

/** Sections 4.2.1.3, 4.2.1.9: a CA certificate has a critical basicConstraints with cA; keyCertSign goes with cA. */
function checkCaExtensions(cert: VerifierCertificate, role: PathRole, webPki: boolean): void {
  const bc = basicConstraints(cert);
  const ku = keyUsage(cert);
  if (ku?.keyCertSign && !bc?.ca) fail('caExtensions', `${describe(cert)} asserts keyUsage keyCertSign without basicConstraints cA (RFC 5280 section 4.2.1.9)`);
  if (role === 'leaf') {
    if (webPki && bc?.ca) fail('caExtensions', `the end entity ${describe(cert)} is a CA certificate (CA/Browser Forum BR 7.1.2.7.8: cA false in subscriber certificates)`);
    if (raw(cert, EXTENSION_OIDS.nameConstraints) && !bc?.ca) fail('caExtensions', `the end entity ${describe(cert)} has nameConstraints (RFC 5280 section 4.2.1.10: CA certificates only)`);
    return;
  }
  if (!bc?.ca) fail('notCA', `the trust anchor or CA ${describe(cert)} is not a CA certificate (basicConstraints cA)`);
  if (!raw(cert, EXTENSION_OIDS.basicConstraints)!.critical) fail('extensionCriticality', `the CA certificate ${describe(cert)} marks basicConstraints non-critical (RFC 5280 section 4.2.1.9: critical)`);
  if (ku && !ku.keyCertSign) fail('keyCertSignMissing', `the CA certificate ${describe(cert)} has keyUsage without keyCertSign`);
  if (dnEmpty(cert.pkijs.subject)) fail('caExtensions', `the CA certificate ${describe(cert)} has an empty subject (RFC 5280 section 4.1.2.6)`);
}

/** A dNSName name constraint: a host name, or empty (every name); no wildcard, no leading period (section 4.2.1.10). */
export function validDnsConstraint(s: string): boolean {
  return s === '' || validDnsName(s);
}

/** An rfc822Name constraint: a mailbox, a host, or `.domain` (section 4.2.1.10). */
function validEmailConstraint(s: string): boolean {
  if (s.includes('@')) return validMailbox(s);
  return validDnsName(s.startsWith('.') ? s.slice(1) : s);
}

/** An iPAddress constraint: address and mask of 8 or 32 octets, the mask a run of ones (section 4.2.1.10). */
function validIpConstraint(b: Uint8Array): boolean {
  if (b.length !== 8 && b.length !== 32) return false;
  const mask = b.subarray(b.length / 2);
  let zero = false;
  for (const octet of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((octet >> bit) & 1) === 1;
      if (one && zero) return false;
      if (!one) zero = true;
    }
  }
  return true;
}

function gnText(gn: pkijs.GeneralName): string | undefined {
  const v = gn.value as unknown;
  return typeof v === 'string' ? v : undefined;
}

/** Section 4.2.1.10: critical, in a CA certificate, not empty, each base well-formed, no minimum or maximum. */
function checkNameConstraints(cert: VerifierCertificate, webPki: boolean): void {
  const e = raw(cert, EXTENSION_OIDS.nameConstraints);
  if (!e) return;
  // The Baseline Requirements (7.1.2.5.2) allow a non-critical nameConstraints, as an explicit exception to RFC 5280.
  if (!e.critical && !webPki) fail('extensionCriticality', `${describe(cert)} marks nameConstraints non-critical (RFC 5280 section 4.2.1.10: critical)`);
  const nc = extension<pkijs.NameConstraints>(cert, EXTENSION_OIDS.nameConstraints)!.value;
  const all = [...(nc.permittedSubtrees ?? []), ...(nc.excludedSubtrees ?? [])];
  if (all.length === 0) fail('malformedCertificate', `${describe(cert)} has nameConstraints with neither permitted nor excluded subtrees (RFC 5280 section 4.2.1.10)`);
  for (const s of all) {
    if ((s.minimum !== undefined && Number(s.minimum) !== 0) || s.maximum !== undefined) fail('malformedCertificate', `${describe(cert)} has a name constraint with minimum or maximum (RFC 5280 section 4.2.1.10)`);
    const b = s.base;
    const t = gnText(b);
    let ok = true;
    if (b.type === GN.dNSName) ok = t !== undefined && validDnsConstraint(t);
    else if (b.type === GN.rfc822Name) ok = t !== undefined && validEmailConstraint(t);
    else if (b.type === GN.iPAddress) ok = validIpConstraint((b.value as { valueBlock?: { valueHexView?: Uint8Array } })?.valueBlock?.valueHexView ?? new Uint8Array(0));
    if (!ok) fail('malformedCertificate', `${describe(cert)} has a malformed name constraint (${b.type === GN.iPAddress ? 'iPAddress' : JSON.stringify(t)}; RFC 5280 section 4.2.1.10)`);
  }
}

/** Sections 4.2.1.6, 4.2.1.11, 4.2.1.14 and 4.2.2.1: criticality and shape of the other extensions. */
function checkOtherExtensions(cert: VerifierCertificate): void {
  const pc = raw(cert, EXTENSION_OIDS.policyConstraints);
  if (pc && !pc.critical) fail('extensionCriticality', `${describe(cert)} marks policyConstraints non-critical (RFC 5280 section 4.2.1.11: critical)`);
  const iap = raw(cert, EXTENSION_OIDS.inhibitAnyPolicy);
  if (iap && !iap.critical) fail('extensionCriticality', `${describe(cert)} marks inhibitAnyPolicy non-critical (RFC 5280 section 4.2.1.14: critical)`);
  const san = raw(cert, EXTENSION_OIDS.subjectAltName);
  if (dnEmpty(cert.pkijs.subject)) {
    if (!san) fail('caExtensions', `${describe(cert)} has an empty subject and no subjectAltName (RFC 5280 section 4.1.2.6)`);
    if (!san.critical) fail('extensionCriticality', `${describe(cert)} has an empty subject and a non-critical subjectAltName (RFC 5280 section 4.2.1.6: critical)`);
  } else if (san?.critical) {
    fail('extensionCriticality', `${describe(cert)} has a subject and a critical subjectAltName (RFC 5280 section 4.2.1.6: non-critical then)`);
  }
  // Both are SEQUENCE SIZE (1..MAX): of purposes (section 4.2.1.12), of AccessDescriptions (section 4.2.2.1).
  const eku = raw(cert, EXTENSION_OIDS.extendedKeyUsage);
  if (eku) {
    const purposes = sequenceOf(cert, eku, 'extendedKeyUsage');
    if (purposes.length === 0 || !purposes.every((p) => is(p, 1, 6, false))) fail('malformedCertificate', `${describe(cert)} has an empty or corrupt extendedKeyUsage (RFC 5280 section 4.2.1.12: one purpose or more)`);
  }
  const aia = raw(cert, EXTENSION_OIDS.authorityInfoAccess);
  if (aia) {
    const access = sequenceOf(cert, aia, 'authorityInfoAccess');
    if (access.length === 0 || !access.every((a) => is(a, 1, 16, true) && children(a).length === 2)) fail('malformedCertificate', `${describe(cert)} has an empty or corrupt authorityInfoAccess (RFC 5280 section 4.2.2.1)`);
  }
}

type Answer = { reason: PathValidationReason; message: string } | null;
const memo = new Map<string, WeakMap<VerifierCertificate, Answer>>();

/**
 * Refuses (a `PkixFailure`) a certificate that breaks an issuance rule for
 * its place in the path (with `webPki`, the CA/Browser Forum's rules too).
 * Remembered per certificate, place and profile.
 */
export function checkIssuance(cert: VerifierCertificate, role: PathRole, webPki = false): void {
  const key = `${role} ${webPki}`;
  let answers = memo.get(key);
  if (!answers) memo.set(key, (answers = new WeakMap()));
  let r = answers.get(cert);
  if (r === undefined) {
    r = null;
    try {
      // A trust anchor's serial number names nothing on the path (roots in wide use have serial 0).
      if (role !== 'anchor') checkSerial(cert);
      checkVersion(cert, role);
      checkKey(cert);
      checkKeyIdentifiers(cert, role);
      checkCaExtensions(cert, role, webPki);
      if (role !== 'leaf') checkNameConstraints(cert, webPki);
      checkOtherExtensions(cert);
    } catch (e) {
      if (!(e instanceof PkixFailure)) throw e;
      r = { reason: e.reason, message: e.message };
    }
    answers.set(cert, r);
  }
  if (r) fail(r.reason, r.message);
}
