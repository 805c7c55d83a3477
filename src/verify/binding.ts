/**
 * Binding a certificate to an account, failing closed: a certificate from
 * a trusted CA logs in only as an account it is bound to, by an identity
 * field (UPN, UPN local part, CN, email, or a function) and/or by an
 * authorized list per account in PKIX-SSH's syntax
 * (`x509v3-sign-rsa Subject: CN=alice,O=Org`, or a blob).
 *
 * @module
 */
import { distinguishedNameKey, parseAuthorizedEntry, readDistinguishedName, sameDistinguishedName, type AuthorizedEntry } from '../certs/authorized-keys.js';
import { usernameFromCertificate, type UsernameRule } from '../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import type { VerifierCertificate } from './certificates.js';
import { leafIdentities, usernameFromLeafIdentities } from './identities.js';
import { refuse } from './reasons.js';

export { parseAuthorizedEntry, type AuthorizedEntry } from '../certs/authorized-keys.js';

/**
 * Parses a DN in RFC 4514 form (`CN=alice,O=Org`) or OpenSSL's slash form
 * (`/O=Org/CN=alice`) into its comparable form (see {@link readDistinguishedName}).
 */
export const parseDistinguishedName: (dn: string) => string[] = readDistinguishedName;

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
  /** rule name → username and the binding it makes (or the error message when the rule yields none). */
  readonly mapped: ReadonlyMap<string, { username?: string; bound?: AccountBindingResult; error?: string }>;
}

/** Computes the facts that binding reads from the leaf (string rules only; function rules run per login). */
export function bindingFacts(leaf: VerifierCertificate, options: AccountBindingOptions): BindingFacts {
  const mapped = new Map<string, { username?: string; bound?: AccountBindingResult; error?: string }>();
  const rules = ruleList(options);
  let ids: ReturnType<typeof leafIdentities> | undefined;
  for (const r of rules) {
    if (typeof r !== 'string') continue;
    try {
      ids ??= leafIdentities(leaf);
      const username = usernameFromLeafIdentities(ids, leaf, r);
      // What binding that account by this rule returns, made once: a login bound by it makes no object.
      mapped.set(r, { username, bound: Object.freeze({ account: username, via: `map:${r}` }) });
    } catch (e) {
      mapped.set(r, { error: (e as Error).message });
    }
  }
  let rdns: readonly string[] | undefined;
  return {
    leaf,
    // Read only by an authorized list's subject entries: made on first use.
    get subjectRdns() {
      return (rdns ??= distinguishedNameKey(leaf.pkijs.subject));
    },
    mapped,
  };
}

function ruleList(options: AccountBindingOptions): readonly UsernameRule[] {
  if (options.map === undefined) return [];
  return Array.isArray(options.map) ? (options.map as readonly UsernameRule[]) : [options.map as UsernameRule];
}

/**
 * Binds `account` to the leaf, or refuses `accountMismatch`. Synchronous
 * unless the authorized list has to be read (it may be an async function):
 * a login bound by a mapping rule waits for nothing.
 */
export function bindAccount(facts: BindingFacts, account: string, options: AccountBindingOptions): AccountBindingResult | Promise<AccountBindingResult> {
  // One string rule that binds the account (the usual server): its binding as made in bindingFacts, no list made.
  if (typeof options.map === 'string') {
    const m = facts.mapped.get(options.map);
    if (m?.bound && m.username === account) return m.bound;
  }
  const rules = ruleList(options);
  if (rules.length === 0 && !options.authorized) refuse('accountMismatch', 'no account binding is configured (map or authorized list): refusing every login');
  const why: string[] = [];
  for (const r of rules) {
    if (typeof r === 'string') {
      const m = facts.mapped.get(r);
      if (m?.bound && m.username === account) return m.bound;
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
  if (!options.authorized) notBound(facts, account, why);
  return bindAuthorized(facts, account, options.authorized, why);
}

async function bindAuthorized(facts: BindingFacts, account: string, authorized: AuthorizedSource, why: string[]): Promise<AccountBindingResult> {
  const entries = await entriesFor(authorized, account);
  for (const e of entries) {
    if (e.kind === 'subject' && sameDistinguishedName(e.rdns, facts.subjectRdns)) return { account, via: 'authorized:subject' };
    if (e.kind === 'certificate' && e.sha256 === facts.leaf.id) return { account, via: 'authorized:certificate' };
  }
  why.push(entries.length ? `none of the ${entries.length} authorized entries of ${JSON.stringify(account)} names this certificate` : `no authorized entries for ${JSON.stringify(account)}`);
  notBound(facts, account, why);
}

function notBound(facts: BindingFacts, account: string, why: readonly string[]): never {
  refuse('accountMismatch', `certificate ${JSON.stringify(facts.leaf.subject)} is not bound to account ${JSON.stringify(account)} (${why.join('; ')})`);
}
