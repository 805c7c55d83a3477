/**
 * Binding a certificate to an account, failing closed: a certificate from
 * a trusted CA logs in only as an account it is bound to, by an identity
 * field (UPN, UPN local part, CN, email, or a function) and/or by an
 * authorized list per account in PKIX-SSH's syntax
 * (`x509v3-sign-rsa Subject: CN=alice,O=Org`, or a blob).
 *
 * @module
 */
import { Name } from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { usernameFromCertificate, type UsernameRule } from '../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { decodePublicKeyBlob } from '../rfc6187/publickey-blob.js';
import type { VerifierCertificate } from './certificates.js';
import { sha256Hex } from './certificates.js';
import { leafIdentities, usernameFromLeafIdentities } from './identities.js';
import { refuse } from './reasons.js';

/** One entry of an authorized list: a subject DN, or a certificate. */
export type AuthorizedEntry =
  | { readonly kind: 'subject'; readonly dn: string; readonly rdns: readonly string[] }
  | { readonly kind: 'certificate'; readonly sha256: string };

/** Attribute names PKIX-SSH and OpenSSL users write that @peculiar/x509 does not know by default. */
const EXTRA_NAMES: Record<string, string> = {
  E: '1.2.840.113549.1.9.1',
  emailAddress: '1.2.840.113549.1.9.1',
  UID: '0.9.2342.19200300.100.1.1',
  DC: '0.9.2342.19200300.100.1.25',
  serialNumber: '2.5.4.5',
  SN: '2.5.4.4',
  GN: '2.5.4.42',
  givenName: '2.5.4.42',
  surname: '2.5.4.4',
  title: '2.5.4.12',
  street: '2.5.4.9',
};

function normValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** The RDN attributes of a pkijs name as sorted `oid=value` strings (order free, case and space insensitive). */
function rdnSet(name: pkijs.RelativeDistinguishedNames): string[] {
  return name.typesAndValues.map((tv) => `${tv.type}=${normValue(String(tv.value.valueBlock.value ?? ''))}`).sort();
}

/** Parses a DN in RFC 4514 form (`CN=alice,O=Org`) or OpenSSL's slash form (`/O=Org/CN=alice`). */
export function parseDistinguishedName(dn: string): string[] {
  let text = dn.trim();
  if (text.startsWith('/')) {
    text = text
      .slice(1)
      .split(/(?<!\\)\//)
      .map((p) => p.replace(/(?<!\\),/g, '\\,'))
      .join(',');
  }
  try {
    const der = new Name(text, EXTRA_NAMES).toArrayBuffer();
    return rdnSet(pkijs.RelativeDistinguishedNames.fromBER(der));
  } catch (e) {
    throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `cannot parse distinguished name ${JSON.stringify(dn)}`, { cause: e });
  }
}

const SUBJECT_KEYWORD = /^(subject|dn|distinguished[ _-]?name)\s*[:=]\s*/i;

/**
 * Parses one PKIX-SSH authorized_keys entry for an X.509 certificate:
 * `<x509v3-alg> Subject: <DN>` (also `DN:` and `Distinguished Name:`,
 * any case; RDN order does not matter), or `<x509v3-alg> <base64 blob>`
 * (an RFC 6187 public key blob, or a bare DER certificate), matching that
 * leaf certificate exactly.
 */
export function parseAuthorizedEntry(line: string): AuthorizedEntry {
  const m = /^\s*(x509v3-[A-Za-z0-9@.-]+)\s+(.*?)\s*$/.exec(line);
  if (!m) throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `not an X.509 authorized entry: ${JSON.stringify(line)}`);
  const rest = m[2]!;
  const kw = SUBJECT_KEYWORD.exec(rest);
  if (kw) {
    const dn = rest.slice(kw[0].length);
    return { kind: 'subject', dn, rdns: parseDistinguishedName(dn) };
  }
  const b64 = rest.split(/\s+/)[0]!;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `expected "Subject: <DN>" or a base64 blob in ${JSON.stringify(line)}`);
  }
  const bytes = Buffer.from(b64, 'base64');
  let leaf: Uint8Array = bytes;
  try {
    leaf = decodePublicKeyBlob(bytes).certificates[0]!;
  } catch {
    // not a blob: a bare DER certificate
  }
  return { kind: 'certificate', sha256: sha256Hex(leaf) };
}

/**
 * Parses the authorized-subjects file of `ssh-x509 serve`: one
 * `<account> <PKIX-SSH entry>` per line; `#` comments and blank lines ignored.
 */
export function parseAuthorizedSubjectsFile(text: string, origin = 'authorized subjects'): Map<string, AuthorizedEntry[]> {
  const out = new Map<string, AuthorizedEntry[]>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `${origin} line ${i + 1}: expected "<account> <entry>"`);
    let entry: AuthorizedEntry;
    try {
      entry = parseAuthorizedEntry(m[2]!);
    } catch (e) {
      throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `${origin} line ${i + 1}: ${(e as Error).message}`, { cause: e });
    }
    const list = out.get(m[1]!) ?? [];
    list.push(entry);
    out.set(m[1]!, list);
  });
  return out;
}

/** The authorized entries of an account: a map, a record, or a function (possibly async). Strings are parsed with {@link parseAuthorizedEntry}. */
export type AuthorizedSource =
  | ReadonlyMap<string, ReadonlyArray<AuthorizedEntry | string>>
  | Readonly<Record<string, ReadonlyArray<AuthorizedEntry | string>>>
  | ((account: string) => ReadonlyArray<AuthorizedEntry | string> | undefined | Promise<ReadonlyArray<AuthorizedEntry | string> | undefined>);

/** How certificates are bound to accounts. At least one of the two must be set; with neither, nobody logs in. */
export interface AccountBindingOptions {
  /** The account must equal what one of these rules yields from the leaf. */
  map?: UsernameRule | readonly UsernameRule[];
  /** The account's authorized list must name the leaf's subject or the leaf itself. */
  authorized?: AuthorizedSource;
}

/** How a login was bound to its account. */
export interface AccountBindingResult {
  readonly account: string;
  /** `map:<rule>` or `authorized:subject` / `authorized:certificate`. */
  readonly via: string;
}

async function entriesFor(source: AuthorizedSource, account: string): Promise<AuthorizedEntry[]> {
  let list: ReadonlyArray<AuthorizedEntry | string> | undefined;
  if (typeof source === 'function') list = await source(account);
  else if (source instanceof Map) list = source.get(account);
  else list = Object.prototype.hasOwnProperty.call(source, account) ? (source as Record<string, ReadonlyArray<AuthorizedEntry | string>>)[account] : undefined;
  return (list ?? []).map((e) => (typeof e === 'string' ? parseAuthorizedEntry(e) : e));
}

/** Prepared leaf facts for binding, so that a cached chain binds without reparsing. */
export interface BindingFacts {
  readonly leaf: VerifierCertificate;
  readonly subjectRdns: readonly string[];
  /** rule name → username (or the error message when the rule yields none). */
  readonly mapped: ReadonlyMap<string, { username?: string; error?: string }>;
}

/** Computes the facts that binding reads from the leaf (string rules only; function rules run per login). */
export function bindingFacts(leaf: VerifierCertificate, options: AccountBindingOptions): BindingFacts {
  const mapped = new Map<string, { username?: string; error?: string }>();
  const rules = ruleList(options);
  let ids: ReturnType<typeof leafIdentities> | undefined;
  for (const r of rules) {
    if (typeof r !== 'string') continue;
    try {
      ids ??= leafIdentities(leaf);
      mapped.set(r, { username: usernameFromLeafIdentities(ids, leaf, r) });
    } catch (e) {
      mapped.set(r, { error: (e as Error).message });
    }
  }
  return { leaf, subjectRdns: rdnSet(leaf.pkijs.subject), mapped };
}

function ruleList(options: AccountBindingOptions): readonly UsernameRule[] {
  if (options.map === undefined) return [];
  return Array.isArray(options.map) ? (options.map as readonly UsernameRule[]) : [options.map as UsernameRule];
}

function sameRdns(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Binds `account` to the leaf, or refuses `accountMismatch`. */
export async function bindAccount(facts: BindingFacts, account: string, options: AccountBindingOptions): Promise<AccountBindingResult> {
  const rules = ruleList(options);
  if (rules.length === 0 && !options.authorized) refuse('accountMismatch', 'no account binding is configured (map or authorized list): refusing every login');
  const why: string[] = [];
  for (const r of rules) {
    if (typeof r === 'string') {
      const m = facts.mapped.get(r);
      if (m?.username === account) return { account, via: `map:${r}` };
      why.push(m?.username !== undefined ? `${r} gives ${JSON.stringify(m.username)}` : `${r}: ${m?.error ?? 'no value'}`);
    } else {
      try {
        if (usernameFromCertificate(facts.leaf.x509, r) === account) return { account, via: 'map:function' };
        why.push('the username function gives another account');
      } catch (e) {
        why.push(`the username function: ${(e as Error).message}`);
      }
    }
  }
  if (options.authorized) {
    const entries = await entriesFor(options.authorized, account);
    for (const e of entries) {
      if (e.kind === 'subject' && sameRdns(e.rdns, facts.subjectRdns)) return { account, via: 'authorized:subject' };
      if (e.kind === 'certificate' && e.sha256 === facts.leaf.id) return { account, via: 'authorized:certificate' };
    }
    why.push(entries.length ? `none of the ${entries.length} authorized entries of ${JSON.stringify(account)} names this certificate` : `no authorized entries for ${JSON.stringify(account)}`);
  }
  refuse('accountMismatch', `certificate ${JSON.stringify(facts.leaf.subject)} is not bound to account ${JSON.stringify(account)} (${why.join('; ')})`);
}
