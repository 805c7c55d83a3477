/**
 * What the caller asks of the end entity beyond a valid path: the names it
 * must carry (RFC 6125 for DNS names, the subjectAltName only, never the
 * subject's CN) and the extended key usages it must allow (RFC 5280 section
 * 4.2.1.12; a CA's extendedKeyUsage constrains what it issues, as most
 * validators read it).
 *
 * @module
 */
import type * as pkijs from 'pkijs';
import { isIP } from 'node:net';
import { EKU_OIDS, EXTENSION_OIDS, NAME_ATTRIBUTE_OIDS, type EkuName } from '../../oids.js';
import type { VerifierCertificate } from '../certificates.js';
import { describe, extension, subjectAltNames } from './facts.js';
import { GN, validDnsName, validMailbox } from './names.js';
import { fail } from './result.js';

/** A name the end entity must carry. */
export interface PeerName {
  readonly kind: 'dns' | 'ip' | 'email';
  readonly value: string;
}

/** The octets of an IPv4 or IPv6 address in text, or `undefined` when it is not one. */
export function ipOctets(text: string): Uint8Array | undefined {
  const v = isIP(text);
  if (v === 4) return Uint8Array.from(text.split('.').map(Number));
  if (v !== 6) return undefined;
  // The URL parser writes IPv6 in one canonical form; expanded from there (an embedded IPv4 tail comes out as hex).
  const canon = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head, tail] = canon.includes('::') ? canon.split('::') : [canon, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/**
 * RFC 6125 section 6.4: `presented` (a dNSName) names `reference`,
 * case-insensitively, label by label. With `wildcard`, a left-most label
 * that is exactly `*` stands for one non-empty label, and only when at least
 * two labels follow it (`*.com` names nothing).
 */
export function dnsNameMatches(presented: string, reference: string, wildcard: boolean): boolean {
  const p = presented.toLowerCase().replace(/\.$/, '');
  const r = reference.toLowerCase().replace(/\.$/, '');
  if (!validDnsName(r)) return false;
  if (p === r) return validDnsName(p);
  if (!wildcard || !p.startsWith('*.')) return false;
  const rest = p.slice(2);
  if (!validDnsName(rest) || !rest.includes('.')) return false;
  const dot = r.indexOf('.');
  return dot > 0 && r.slice(dot + 1) === rest;
}

function text(gn: pkijs.GeneralName): string {
  return typeof gn.value === 'string' ? gn.value : '';
}

/** Email addresses: the local part exactly, the host case-insensitively (RFC 5280 section 7.5). */
function mailboxMatches(presented: string, reference: string): boolean {
  const a = presented.lastIndexOf('@');
  const b = reference.lastIndexOf('@');
  return a > 0 && b > 0 && presented.slice(0, a) === reference.slice(0, b) && presented.slice(a + 1).toLowerCase() === reference.slice(b + 1).toLowerCase();
}

/** The canonical text of an iPAddress name's octets (RFC 3986 dotted decimal, RFC 5952 for IPv6), or `undefined`. */
function ipText(b: Uint8Array): string | undefined {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return undefined;
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * CA/Browser Forum BR 7.1.4.3: a host certificate's subject commonName, when
 * present, is one of its subjectAltName values, written exactly as there
 * (an address in its canonical text): a CN that says something else is a
 * name some clients would trust that the SAN never granted.
 */
function checkCommonNames(leaf: VerifierCertificate, sans: readonly pkijs.GeneralName[]): void {
  const cns = leaf.pkijs.subject.typesAndValues
    .filter((t) => t.type === NAME_ATTRIBUTE_OIDS.CN)
    .map((t) => (t.value as { valueBlock?: { value?: unknown } }).valueBlock?.value);
  for (const cn of cns) {
    const ok = sans.some((s) => {
      if (s.type === GN.dNSName) return text(s) === cn;
      if (s.type !== GN.iPAddress) return false;
      const b = (s.value as { valueBlock?: { valueHexView?: Uint8Array } })?.valueBlock?.valueHexView;
      return !!b && ipText(b) === cn;
    });
    if (!ok) fail('peerNameMismatch', `${describe(leaf)}: its commonName ${JSON.stringify(cn)} is not one of its subjectAltName names, written as there (CA/Browser Forum BR 7.1.4.3)`);
  }
}

/**
 * Refuses (`peerNameMismatch`) unless the end entity's subjectAltName
 * carries every name of `names`. In the Web PKI profile the subject
 * commonName must also be one of the subjectAltName names ({@link checkCommonNames}).
 */
export function checkPeerNames(leaf: VerifierCertificate, names: readonly PeerName[], wildcard: boolean, webPki: boolean): void {
  const sans = subjectAltNames(leaf);
  if (webPki) checkCommonNames(leaf, sans);
  if (names.length === 0) return;
  for (const n of names) {
    let found = false;
    if (n.kind === 'dns') {
      if (!validDnsName(n.value.replace(/\.$/, ''))) fail('peerNameMismatch', `the peer name ${JSON.stringify(n.value)} is not a valid DNS name`);
      found = sans.some((s) => s.type === GN.dNSName && dnsNameMatches(text(s), n.value, wildcard));
    } else if (n.kind === 'ip') {
      const want = ipOctets(n.value);
      if (!want) fail('peerNameMismatch', `the peer name ${JSON.stringify(n.value)} is not an IP address`);
      found = sans.some((s) => {
        const got = (s.value as { valueBlock?: { valueHexView?: Uint8Array } })?.valueBlock?.valueHexView;
        return s.type === GN.iPAddress && !!got && Buffer.from(got).equals(Buffer.from(want));
      });
    } else {
      if (!validMailbox(n.value)) fail('peerNameMismatch', `the peer name ${JSON.stringify(n.value)} is not a valid email address`);
      found = sans.some((s) => s.type === GN.rfc822Name && mailboxMatches(text(s), n.value));
    }
    if (!found) {
      const hint = n.kind === 'dns' && !wildcard && sans.some((s) => s.type === GN.dNSName && dnsNameMatches(text(s), n.value, true)) ? ' (only a wildcard name matches it: option wildcardPeerNames)' : '';
      fail('peerNameMismatch', `${describe(leaf)} does not name ${n.kind === 'email' ? 'the email address' : n.kind === 'ip' ? 'the address' : 'the host'} ${n.value} in its subjectAltName${hint}`);
    }
  }
}

/** The OID of an EKU given as an OID or as a name of {@link EKU_OIDS}; `undefined` for neither. */
export function ekuOid(v: string): string | undefined {
  if (/^[0-2](\.\d+)+$/.test(v)) return v;
  return Object.hasOwn(EKU_OIDS, v) ? EKU_OIDS[v as EkuName] : undefined;
}

function ekusOf(cert: VerifierCertificate): { oids: string[]; critical: boolean } | undefined {
  const e = extension<pkijs.ExtKeyUsage>(cert, EXTENSION_OIDS.extendedKeyUsage);
  if (!e) return undefined;
  const oids = e.value.keyPurposes;
  // Section 4.2.1.12: KeyPurposeId SEQUENCE SIZE (1..MAX).
  if (!Array.isArray(oids) || oids.length === 0) fail('malformedCertificate', `${describe(cert)} has an empty or corrupt extendedKeyUsage (RFC 5280 section 4.2.1.12)`);
  return { oids, critical: e.critical };
}

/**
 * Refuses (`extendedKeyUsage`) unless each certificate's extendedKeyUsage,
 * where present, allows every purpose wanted (or anyExtendedKeyUsage).
 * In the Web PKI profile id-kp-serverAuth is wanted, and the CA/Browser
 * Forum's rules apply too: the end entity has a non-critical
 * extendedKeyUsage without anyExtendedKeyUsage, and the trust anchor has
 * none (Baseline Requirements 7.1.2.1.2, 7.1.2.7.6).
 * `path` is leaf first, anchor last.
 */
export function checkExtendedKeyUsages(path: readonly VerifierCertificate[], wanted: readonly string[], webPki: boolean): void {
  const oids = wanted.map((w) => ekuOid(w) ?? fail('extendedKeyUsage', `${JSON.stringify(w)} is not an extended key usage OID or name`));
  const tls = webPki;
  if (tls && !oids.includes(EKU_OIDS.serverAuth)) oids.push(EKU_OIDS.serverAuth);
  if (oids.length === 0) return;
  for (const [i, cert] of path.entries()) {
    const e = ekusOf(cert);
    const leaf = i === 0;
    if (!e) {
      if (tls && leaf) fail('extendedKeyUsage', `${describe(cert)} has no extendedKeyUsage, which a TLS server certificate must have (CA/Browser Forum BR 7.1.2.7.6)`);
      continue;
    }
    if (tls && i === path.length - 1 && !leaf) fail('extendedKeyUsage', `the trust anchor ${describe(cert)} has extendedKeyUsage, which a TLS root must not (CA/Browser Forum BR 7.1.2.1.2)`);
    if (tls && leaf && e.critical) fail('extendedKeyUsage', `${describe(cert)} marks extendedKeyUsage critical (CA/Browser Forum BR 7.1.2.7.6)`);
    const any = e.oids.includes(EKU_OIDS.anyExtendedKeyUsage);
    if (tls && leaf && any) fail('extendedKeyUsage', `${describe(cert)} has anyExtendedKeyUsage, which a TLS server certificate must not (CA/Browser Forum BR 7.1.2.7.6)`);
    if (any) continue;
    const missing = oids.filter((o) => !e.oids.includes(o));
    if (missing.length > 0) fail('extendedKeyUsage', `the extendedKeyUsage of ${describe(cert)} (${e.oids.join(', ')}) does not allow ${missing.join(', ')}`);
  }
}
