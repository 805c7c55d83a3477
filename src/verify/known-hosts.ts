/**
 * OpenSSH known_hosts: the one module that reads and writes the format
 * (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): plain and hashed (`|1|salt|hash`)
 * host patterns, `[host]:port`, wildcards, negation, `@revoked`;
 * StrictHostKeyChecking `yes`, `ask`, `accept-new`, `no`; and X.509 entries
 * as PKIX-SSH writes them: `host x509v3-ecdsa-sha2-nistp256 Subject: CN=host,O=Org`
 * (read by the same code as the server's authorized subjects), or a pinned
 * certificate blob. Messages are OpenSSH's: the fingerprint, the file and
 * line, and the `ssh-keygen -R` command.
 *
 * @module
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { findAlgorithm } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { decodePublicKeyBlob, encodePublicKeyBlob } from '../rfc6187/publickey-blob.js';
import { SshReader } from '../wire/reader.js';
import { peculiarX509 } from '../certs/model.js';
import { distinguishedNameKey, parseAuthorizedEntry, sameDistinguishedName, type AuthorizedEntry } from '../certs/authorized-keys.js';

/** OpenSSH's StrictHostKeyChecking values. */
export type StrictHostKeyChecking = 'yes' | 'ask' | 'accept-new' | 'no';

/** The StrictHostKeyChecking values, for option parsing. */
export const STRICT_HOST_KEY_CHECKING: readonly StrictHostKeyChecking[] = ['yes', 'ask', 'accept-new', 'no'];

interface Entry {
  readonly line: number;
  readonly marker?: string;
  readonly patterns: string;
  readonly keyType: string;
  /** Plain keys: the key blob. */
  readonly key?: Buffer;
  /** X.509 entries: a subject or a pinned certificate. */
  readonly x509?: AuthorizedEntry;
}

function parse(text: string): Entry[] {
  const out: Entry[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(@\S+\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!m) continue;
    const marker = m[1]?.trim();
    const [patterns, keyType, rest] = [m[2]!, m[3]!, m[4]!];
    if (keyType.startsWith('x509v3-')) {
      try {
        out.push({ line: i + 1, marker, patterns, keyType, x509: parseAuthorizedEntry(`${keyType} ${rest}`) });
      } catch {
        // A malformed line is skipped, as OpenSSH does.
      }
      continue;
    }
    out.push({ line: i + 1, marker, patterns, keyType, key: Buffer.from(rest.split(/\s+/)[0]!, 'base64') });
  }
  return out;
}

function wildcard(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** True when a host pattern list (or a hashed entry) names `host`. */
function matches(patterns: string, host: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(host).digest('base64');
    return mac === hash;
  }
  let hit = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (wildcard(p.slice(1), host)) return false;
    } else if (wildcard(p, host)) hit = true;
  }
  return hit;
}

/** The name OpenSSH records for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** A host key as known_hosts compares it. */
interface HostKey {
  readonly keyType: string;
  readonly blob: Buffer;
  /** The leaf certificate of an X.509 host key. */
  readonly leaf?: Uint8Array;
  /** OpenSSH's `SHA256:...` (of the key blob; of the leaf certificate for X.509). */
  readonly fingerprint: string;
  /** As OpenSSH names key types in messages (`ED25519`, `ECDSA`, `RSA`, or the x509v3 name). */
  readonly display: string;
}

function displayType(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519';
  if (keyType.startsWith('ecdsa-sha2-')) return 'ECDSA';
  if (keyType === 'ssh-rsa' || keyType.startsWith('rsa-sha2-')) return 'RSA';
  if (keyType === 'ssh-dss') return 'DSA';
  return keyType;
}

function sha256Fingerprint(bytes: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '')}`;
}

function hostKeyOf(blob: Buffer): HostKey {
  let keyType = 'unknown';
  try {
    keyType = new SshReader(blob).readUtf8('host key type');
  } catch {
    // an unreadable blob never matches anything
  }
  let leaf: Uint8Array | undefined;
  if (findAlgorithm(keyType)) {
    try {
      leaf = decodePublicKeyBlob(blob).certificates[0];
    } catch {
      leaf = undefined;
    }
  }
  return { keyType, blob, leaf, fingerprint: sha256Fingerprint(leaf ?? blob), display: displayType(keyType) };
}

/** The OpenSSH fingerprint of a host key blob (`SHA256:...`; for an X.509 host key, of its leaf certificate). */
export function hostKeyFingerprint(blob: Buffer): string {
  return hostKeyOf(blob).fingerprint;
}

/** What {@link checkHostKey} decided. */
export interface HostKeyDecision {
  readonly accepted: boolean;
  /** `known`, `added` (ask, accept-new, no), `changed`, `revoked`, `unknown`, `declined` (ask answered no). */
  readonly status: 'known' | 'added' | 'changed' | 'revoked' | 'unknown' | 'declined';
  /** One line, as OpenSSH says it: fingerprint, file:line, and for a changed key the `ssh-keygen -R` command. */
  readonly message: string;
  /** The host key's fingerprint (`SHA256:...`). */
  readonly fingerprint: string;
  readonly file: string;
  /** The matching, offending or revoking line of `file`. */
  readonly line?: number;
}

/** Options of {@link checkHostKey}. */
export interface CheckHostKeyOptions {
  /** For `ask`: puts the question on the terminal and resolves with the answer line. */
  ask?: (question: string) => Promise<string>;
  /** The X.509 host key's chain was verified to a host trust anchor: a `Subject:` entry for the host then binds it. */
  certificateTrusted?: boolean;
}

/** True when an X.509 entry names the certificate `der`: its subject (as the authorized-subjects reader compares them) or exactly that certificate. */
function entryNamesCertificate(entry: AuthorizedEntry, der: Uint8Array): boolean {
  if (entry.kind === 'certificate') return entry.sha256 === createHash('sha256').update(der).digest('hex');
  return sameDistinguishedName(entry.rdns, distinguishedNameKey(new (peculiarX509().X509Certificate)(der).subjectName));
}

function entryMatches(e: Entry, key: HostKey, trusted: boolean): boolean {
  if (e.x509) {
    if (!key.leaf) return false;
    // A Subject: entry binds a host only to a certificate a trust anchor vouches for.
    if (e.x509.kind === 'subject' && !trusted) return false;
    return entryNamesCertificate(e.x509, key.leaf);
  }
  return e.key !== undefined && e.key.equals(key.blob);
}

/** The line written for a new host key: the key blob (for X.509, the certificates without stapled OCSP responses: a pin). */
function entryLine(name: string, key: HostKey): string {
  let blob = key.blob;
  if (key.leaf) {
    const b = decodePublicKeyBlob(key.blob);
    blob = encodePublicKeyBlob({ algorithm: b.algorithm, certificates: b.certificates, ocspResponses: [] });
  }
  return `${name} ${key.keyType} ${blob.toString('base64')}\n`;
}

async function askToAdd(ask: (q: string) => Promise<string>, name: string, host: string, key: HostKey): Promise<boolean> {
  let question =
    `The authenticity of host '${name} (${host})' can't be established.\n` +
    `${key.display} key fingerprint is ${key.fingerprint}.\n` +
    `Are you sure you want to continue connecting (yes/no/[fingerprint])? `;
  for (let i = 0; i < 3; i++) {
    const answer = (await ask(question)).trim();
    if (answer.toLowerCase() === 'yes' || answer === key.fingerprint) return true;
    if (answer.toLowerCase() === 'no' || answer === '') return false;
    question = `Please type 'yes', 'no' or the fingerprint: `;
  }
  return false;
}

/**
 * Checks a server's host key blob against a known_hosts file, adding it for
 * `accept-new` and `no` (and `ask`, when the answer is yes) when the host
 * is new. A changed key is refused under `yes`, `ask` and `accept-new`, as
 * OpenSSH does; `@revoked` always refuses.
 */
export async function checkHostKey(
  file: string,
  host: string,
  port: number,
  keyBlob: Buffer,
  mode: StrictHostKeyChecking,
  options: CheckHostKeyOptions = {},
): Promise<HostKeyDecision> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot read known_hosts file ${file}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
    }
  }
  const name = knownHostsName(host, port);
  const key = hostKeyOf(keyBlob);
  const { fingerprint } = key;
  const entries = parse(text).filter((e) => matches(e.patterns, name));
  const decision = (d: Omit<HostKeyDecision, 'fingerprint' | 'file'>): HostKeyDecision => ({ ...d, fingerprint, file });
  // @revoked names a key (or an X.509 subject or certificate) whatever the trust.
  const revoked = entries.find((e) => e.marker === '@revoked' && entryMatches(e, key, true));
  if (revoked) {
    return decision({ accepted: false, status: 'revoked', line: revoked.line, message: `Host key ${key.display} ${fingerprint} of ${name} is revoked by file ${file}:${revoked.line}` });
  }
  const plain = entries.filter((e) => e.marker === undefined);
  const known = plain.find((e) => entryMatches(e, key, options.certificateTrusted ?? false));
  if (known) return decision({ accepted: true, status: 'known', line: known.line, message: `Host '${name}' is known and matches the ${key.display} host key (${file}:${known.line})` });
  const offending = plain.find((e) => e.keyType === key.keyType && !(e.x509?.kind === 'subject' && !options.certificateTrusted));
  if (offending) {
    const message =
      `REMOTE HOST IDENTIFICATION HAS CHANGED! The fingerprint for the ${key.display} key sent by the remote host is ${fingerprint}; ` +
      `offending ${key.display} key in ${file}:${offending.line}; remove with: ssh-keygen -f '${file}' -R '${name}'`;
    return decision({ accepted: mode === 'no', status: 'changed', line: offending.line, message });
  }
  if (mode === 'yes' || (mode === 'ask' && !options.ask)) {
    return decision({
      accepted: false,
      status: 'unknown',
      message: `No ${key.display} host key is known for ${name} and you have requested strict checking (${key.display} key fingerprint is ${fingerprint}); add it to ${file}, or use --strict-host-key-checking accept-new`,
    });
  }
  if (mode === 'ask' && !(await askToAdd(options.ask!, name, host, key))) {
    return decision({ accepted: false, status: 'declined', message: `Host key verification failed: the ${key.display} host key ${fingerprint} of ${name} was not accepted` });
  }
  await mkdir(dirname(file), { recursive: true });
  const before = text.length === 0 ? 0 : text.split(/\r?\n/).length - (text.endsWith('\n') ? 1 : 0);
  await appendFile(file, `${text.length && !text.endsWith('\n') ? '\n' : ''}${entryLine(name, key)}`, { mode: 0o600 });
  return decision({ accepted: true, status: 'added', line: before + 1, message: `Warning: Permanently added '${name}' (${key.display}) to the list of known hosts (${file}).` });
}
