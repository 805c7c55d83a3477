/**
 * OpenSSH known_hosts checking for the command (sshd(8) "SSH_KNOWN_HOSTS
 * FILE FORMAT"): plain and hashed (`|1|salt|hash`) host patterns, `[host]:port`,
 * wildcards, negation, `@revoked`; StrictHostKeyChecking `yes`, `accept-new`, `no`.
 *
 * @module
 */
import { createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { SshReader } from '../wire/reader.js';

/** OpenSSH's StrictHostKeyChecking values that the command supports. */
export type StrictHostKeyChecking = 'yes' | 'accept-new' | 'no';

interface Entry {
  readonly marker?: string;
  readonly patterns: string;
  readonly keyType: string;
  readonly key: Buffer;
}

function parse(text: string): Entry[] {
  const out: Entry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    const marker = f[0]!.startsWith('@') ? f.shift() : undefined;
    if (f.length < 3) continue;
    out.push({ marker, patterns: f[0]!, keyType: f[1]!, key: Buffer.from(f[2]!, 'base64') });
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

function keyTypeOf(blob: Buffer): string {
  try {
    return new SshReader(blob).readUtf8('host key type');
  } catch {
    return 'unknown';
  }
}

/** What {@link checkHostKey} decided. */
export interface HostKeyDecision {
  readonly accepted: boolean;
  /** `known`, `added` (accept-new / no), `unverified` (no, not written), `changed`, `revoked`, `unknown`. */
  readonly status: 'known' | 'added' | 'changed' | 'revoked' | 'unknown';
  readonly message: string;
}

/**
 * Checks a server's host key blob against a known_hosts file, adding it for
 * `accept-new` and `no` when the host is new. A changed key is refused
 * under `yes` and `accept-new`, as OpenSSH does.
 */
export async function checkHostKey(file: string, host: string, port: number, keyBlob: Buffer, mode: StrictHostKeyChecking): Promise<HostKeyDecision> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot read known_hosts file ${file}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
    }
  }
  const name = knownHostsName(host, port);
  const keyType = keyTypeOf(keyBlob);
  const entries = parse(text).filter((e) => matches(e.patterns, name));
  if (entries.some((e) => e.marker === '@revoked' && e.key.equals(keyBlob))) {
    return { accepted: false, status: 'revoked', message: `the host key of ${name} is marked @revoked in ${file}` };
  }
  const plain = entries.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(keyBlob))) return { accepted: true, status: 'known', message: `host key of ${name} found in ${file}` };
  if (plain.some((e) => e.keyType === keyType)) {
    const msg = `REMOTE HOST IDENTIFICATION HAS CHANGED: the ${keyType} host key of ${name} differs from the one in ${file}`;
    return { accepted: mode === 'no', status: 'changed', message: msg };
  }
  if (mode === 'yes') {
    return {
      accepted: false,
      status: 'unknown',
      message: `no ${keyType} host key is known for ${name} in ${file}; add it, or use --strict-host-key-checking accept-new`,
    };
  }
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, `${name} ${keyType} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
  return { accepted: true, status: 'added', message: `permanently added ${name} (${keyType}) to ${file}` };
}
