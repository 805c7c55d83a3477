/**
 * Names for RFC 5280 path validation: distinguished name comparison
 * (section 7.1), general names, and name constraints (sections 4.2.1.10 and
 * 6.1.3 (b), (c), 6.1.4 (g)), over the names pkijs parses.
 *
 * @module
 */
import type * as pkijs from 'pkijs';
import { NAME_ATTRIBUTE_OIDS } from '../../oids.js';

/** A preferred-syntax DNS name (RFC 1034 section 3.5, as RFC 5280 section 4.2.1.6 asks): letters, digits, hyphens; no empty label. */
export function validDnsName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split('.').every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** An rfc822Name (RFC 5280 section 4.2.1.6): one `@`, a non-empty local part, a host name. */
export function validMailbox(s: string): boolean {
  const at = s.indexOf('@');
  if (at <= 0 || at !== s.lastIndexOf('@')) return false;
  return /^[\x21-\x7e]+$/.test(s.slice(0, at)) && validDnsName(s.slice(at + 1));
}

/** GeneralName CHOICE tags (RFC 5280 section 4.2.1.6). */
export const GN = { otherName: 0, rfc822Name: 1, dNSName: 2, x400Address: 3, directoryName: 4, ediPartyName: 5, uri: 6, iPAddress: 7, registeredID: 8 } as const;

/**
 * RFC 5280 section 7.1: two names match when their RDN sequences match
 * attribute by attribute (pkijs compares strings case- and
 * space-insensitively). Two names decoded from the same bytes match
 * without that comparison (it finds every attribute equal to itself).
 */
export function dnEqual(a: pkijs.RelativeDistinguishedNames, b: pkijs.RelativeDistinguishedNames): boolean {
  const x = a.valueBeforeDecode;
  const y = b.valueBeforeDecode;
  if (x.byteLength > 0 && x.byteLength === y.byteLength && Buffer.from(x).equals(Buffer.from(y))) return true;
  return dnEqualByAttributes(a, b);
}

/** {@link dnEqual} attribute by attribute, always (exported for its test). */
export function dnEqualByAttributes(a: pkijs.RelativeDistinguishedNames, b: pkijs.RelativeDistinguishedNames): boolean {
  const x = a.typesAndValues;
  const y = b.typesAndValues;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!x[i]!.isEqual(y[i]!)) return false;
  return true;
}

/** Section 4.2.1.10: `name` is within the directoryName subtree `base` when `base` is a prefix of it. */
export function dnWithin(name: pkijs.RelativeDistinguishedNames, base: pkijs.RelativeDistinguishedNames): boolean {
  const x = name.typesAndValues;
  const y = base.typesAndValues;
  if (y.length > x.length) return false;
  for (let i = 0; i < y.length; i++) if (!x[i]!.isEqual(y[i]!)) return false;
  return true;
}

/** True when the DN has no attributes (an empty subject). */
export function dnEmpty(n: pkijs.RelativeDistinguishedNames): boolean {
  return n.typesAndValues.length === 0;
}

function text(gn: pkijs.GeneralName): string {
  const v = gn.value as unknown;
  if (typeof v === 'string') return v;
  const s = (v as { valueBlock?: { value?: unknown } })?.valueBlock?.value;
  return typeof s === 'string' ? s : '';
}

function bytes(gn: pkijs.GeneralName): Uint8Array {
  const v = gn.value as { valueBlock?: { valueHexView?: Uint8Array } } | undefined;
  return v?.valueBlock?.valueHexView ?? new Uint8Array(0);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Equality of two general names, as the distribution point comparison of section 6.3.3 (b)(2)(i) needs. */
export function generalNameEqual(a: pkijs.GeneralName, b: pkijs.GeneralName): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case GN.directoryName:
      return dnEqual(a.value as pkijs.RelativeDistinguishedNames, b.value as pkijs.RelativeDistinguishedNames);
    case GN.rfc822Name:
    case GN.dNSName:
    case GN.uri:
      return text(a).toLowerCase() === text(b).toLowerCase();
    case GN.iPAddress:
      return sameBytes(bytes(a), bytes(b));
    default: {
      const da = (a.value as { valueBeforeDecodeView?: Uint8Array })?.valueBeforeDecodeView;
      const db = (b.value as { valueBeforeDecodeView?: Uint8Array })?.valueBeforeDecodeView;
      return !!da && !!db && sameBytes(da, db);
    }
  }
}

/** dNSName subtree (section 4.2.1.10): the name is the constraint or ends in `.constraint`; a leading dot means subdomains only. */
function dnsWithin(name: string, c: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const k = c.toLowerCase().replace(/\.$/, '');
  if (k === '') return true;
  if (k.startsWith('.')) return n.endsWith(k);
  return n === k || n.endsWith(`.${k}`);
}

/**
 * A wildcard dNSName (`*.example.com`) stands for every name one label
 * deeper: it reaches an excluded subtree that holds any of them
 * (`bar.example.com`), not only one that holds all (CVE-2025-61727).
 */
function wildcardReaches(name: pkijs.GeneralName, base: pkijs.GeneralName): boolean {
  if (name.type !== GN.dNSName || base.type !== GN.dNSName) return false;
  const n = text(name).toLowerCase().replace(/\.$/, '');
  if (!n.startsWith('*.')) return false;
  const rest = n.slice(2);
  const k = text(base).toLowerCase().replace(/\.$/, '');
  const dot = k.indexOf('.');
  return dot > 0 && k.slice(dot + 1) === rest;
}

/** rfc822Name subtree: a mailbox, a host (all mailboxes there), or `.domain` (any host in the domain). */
function emailWithin(name: string, c: string): boolean {
  const at = name.lastIndexOf('@');
  if (at < 0) return false;
  const host = name.slice(at + 1).toLowerCase();
  const k = c.toLowerCase();
  if (k.includes('@')) return name.toLowerCase() === k;
  if (k.startsWith('.')) return host.endsWith(k);
  return host === k;
}

/** The host of a URI (section 4.2.1.10: URI constraints apply to the host part), or `undefined`. */
function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(uri);
  return m?.[1] || undefined;
}

function uriWithin(uri: string, c: string): boolean {
  const host = uriHost(uri);
  if (!host) return false;
  const h = host.toLowerCase();
  const k = c.toLowerCase();
  if (k.startsWith('.')) return h.endsWith(k);
  return h === k;
}

/** iPAddress subtree: the constraint is address and mask (8 or 32 octets). */
function ipWithin(addr: Uint8Array, c: Uint8Array): boolean {
  if (c.length !== addr.length * 2) return false;
  for (let i = 0; i < addr.length; i++) {
    const mask = c[addr.length + i]!;
    if ((addr[i]! & mask) !== (c[i]! & mask)) return false;
  }
  return true;
}

/** True when the name form can be checked here (section 6.1.4 (g): a constraint on another form is refused when that form appears). */
function supportedForm(type: number): boolean {
  return type === GN.rfc822Name || type === GN.dNSName || type === GN.directoryName || type === GN.uri || type === GN.iPAddress;
}

/** Whether `name` lies within the subtree `base` (same form). */
export function withinSubtree(name: pkijs.GeneralName, base: pkijs.GeneralName): boolean {
  switch (base.type) {
    case GN.directoryName:
      return dnWithin(name.value as pkijs.RelativeDistinguishedNames, base.value as pkijs.RelativeDistinguishedNames);
    case GN.dNSName:
      return dnsWithin(text(name), text(base));
    case GN.rfc822Name:
      return emailWithin(text(name), text(base));
    case GN.uri:
      return uriWithin(text(name), text(base));
    case GN.iPAddress:
      return ipWithin(bytes(name), bytes(base));
    default:
      return generalNameEqual(name, base);
  }
}

/**
 * The permitted_subtrees and excluded_subtrees state of section 6.1.2 (b), (c).
 * Permitted subtrees are kept as the list of every certificate's permitted
 * set per name form: a name is permitted when it lies in at least one
 * subtree of each set, which is the intersection of section 6.1.4 (g)(1)
 * without computing it.
 */
export class NameConstraintState {
  private readonly permitted: Array<{ form: number; bases: pkijs.GeneralName[] }> = [];
  private readonly excluded: pkijs.GeneralName[] = [];

  /** How many subtrees are in force (each name is compared with each). */
  get size(): number {
    return this.permitted.reduce((n, p) => n + p.bases.length, 0) + this.excluded.length;
  }

  /** True while no subtree has been added: every name is acceptable. */
  get empty(): boolean {
    return this.permitted.length === 0 && this.excluded.length === 0;
  }

  /** Section 6.1.4 (g): add the nameConstraints of a CA certificate. */
  add(nc: pkijs.NameConstraints): void {
    if (nc.permittedSubtrees && nc.permittedSubtrees.length > 0) {
      const byForm = new Map<number, pkijs.GeneralName[]>();
      for (const s of nc.permittedSubtrees) {
        const list = byForm.get(s.base.type) ?? [];
        list.push(s.base);
        byForm.set(s.base.type, list);
      }
      for (const [form, bases] of byForm) this.permitted.push({ form, bases });
    }
    for (const s of nc.excludedSubtrees ?? []) this.excluded.push(s.base);
  }

  /** Sections 6.1.3 (b) and (c): the reason `name` is not acceptable, or `undefined` when it is. */
  check(name: pkijs.GeneralName): string | undefined {
    const constrained = this.permitted.some((p) => p.form === name.type) || this.excluded.some((e) => e.type === name.type);
    if (!constrained) return undefined;
    if (!supportedForm(name.type)) return `a name of form ${name.type} is constrained, and that form cannot be checked here`;
    // A malformed name has no place in any namespace, so no constraint can be said to permit it (RFC 5280 section 4.2.1.10).
    if (name.type === GN.dNSName && !validDnsName(text(name).replace(/^\*\./, '').replace(/\.$/, ''))) return `${describeName(name)} is not a valid DNS name, and a DNS name constraint is in force`;
    if (name.type === GN.rfc822Name && !validMailbox(text(name))) return `${describeName(name)} is not a valid email address, and an email constraint is in force`;
    for (const p of this.permitted) {
      if (p.form === name.type && !p.bases.some((b) => withinSubtree(name, b))) return `${describeName(name)} is outside the permitted subtrees`;
    }
    for (const e of this.excluded) if (e.type === name.type && (withinSubtree(name, e) || wildcardReaches(name, e))) return `${describeName(name)} is within an excluded subtree`;
    return undefined;
  }
}

/** A general name for messages. */
export function describeName(n: pkijs.GeneralName): string {
  switch (n.type) {
    case GN.directoryName:
      return `directoryName ${(n.value as pkijs.RelativeDistinguishedNames).typesAndValues.map((t) => `${t.type}=${String((t.value as { valueBlock?: { value?: unknown } }).valueBlock?.value ?? '')}`).join(',')}`;
    case GN.rfc822Name:
      return `rfc822Name ${JSON.stringify(text(n))}`;
    case GN.dNSName:
      return `dNSName ${JSON.stringify(text(n))}`;
    case GN.uri:
      return `URI ${JSON.stringify(text(n))}`;
    case GN.iPAddress:
      return `iPAddress ${Buffer.from(bytes(n)).toString('hex')}`;
    default:
      return `a name of form ${n.type}`;
  }
}

/** The emailAddress attributes of a subject DN, as rfc822Name constraints apply to them (section 4.2.1.10). */
export function subjectEmails(subject: pkijs.RelativeDistinguishedNames): string[] {
  return subject.typesAndValues
    .filter((t) => t.type === NAME_ATTRIBUTE_OIDS.emailAddress)
    .map((t) => (t.value as { valueBlock?: { value?: unknown } }).valueBlock?.value)
    .filter((v): v is string => typeof v === 'string');
}
