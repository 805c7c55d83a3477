/**
 * The one reader of private keys, for user keys (`SoftwareSigner`) and host
 * keys (`serve`, `readHostKeyFile`) alike: PKCS#8 (PEM or DER, encrypted or
 * not), PKCS#1 and SEC1 PEM through node:crypto, and OpenSSH's own format
 * through ssh2's public `utils.parseKey`.
 *
 * @module
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { describeContent, USER_ROLES, type ContentRoles } from './content.js';

/** Options of {@link parsePrivateKey}. */
export interface PrivateKeyOptions {
  /** Passphrase of an encrypted key (encrypted PKCS#8 or PEM, or an encrypted OpenSSH key). */
  passphrase?: string | Uint8Array;
}

const OPENSSH_PEM = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PRIVATE_PEM = /-----BEGIN ((ENCRYPTED |RSA |EC |DSA )?PRIVATE KEY)-----/;
const ENCRYPTED_PEM = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

function keyError(message: string, cause?: unknown): SshX509Error {
  return new SshX509Error(ErrorCodes.KEY_INVALID, message, cause === undefined ? undefined : { cause });
}

function ssh2Utils(): typeof import('ssh2').utils {
  return (createRequire(import.meta.url)('ssh2') as typeof import('ssh2')).utils;
}

/**
 * Whether `key` is an encrypted private key: a PEM one (`ENCRYPTED PRIVATE
 * KEY`, `Proc-Type: 4,ENCRYPTED`) or an OpenSSH one that ssh2 cannot read
 * without a passphrase. Callers ask for a passphrase only when this is true.
 */
export function isEncryptedPrivateKey(key: Uint8Array | string): boolean {
  const buf = Buffer.from(key);
  const text = buf.subarray(0, 1 << 16).toString('latin1');
  if (text.includes(OPENSSH_PEM)) {
    const parsed = ssh2Utils().parseKey(buf);
    return parsed instanceof Error && /passphrase/i.test(parsed.message);
  }
  return ENCRYPTED_PEM.test(text);
}

/** An OpenSSH-format private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), read by ssh2's parser. */
function openSshKey(buf: Buffer, passphrase: string | Uint8Array | undefined, where: string): KeyObject {
  const parsed = ssh2Utils().parseKey(buf, passphrase === undefined ? undefined : Buffer.from(passphrase));
  if (parsed instanceof Error) {
    if (passphrase === undefined && /no passphrase/i.test(parsed.message)) {
      throw keyError(`${where} is an encrypted OpenSSH private key and no passphrase was given`);
    }
    if (/bad passphrase|integrity/i.test(parsed.message)) throw keyError(`cannot decrypt the OpenSSH private key ${where}: wrong passphrase`);
    throw keyError(`cannot read the OpenSSH private key ${where}: ${parsed.message}`);
  }
  const keys = Array.isArray(parsed) ? parsed : [parsed];
  if (keys.length !== 1) throw keyError(`${where} holds ${keys.length} OpenSSH private keys; give a file with one`);
  const pem = keys[0]!.getPrivatePEM();
  if (!pem) throw keyError(`${where} is an OpenSSH file that holds no private key`);
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw keyError(`${where} is an OpenSSH ${keys[0]!.type} key, which this library cannot sign with`, e);
  }
}

/**
 * Reads a private key: PKCS#8 (PEM or DER, encrypted with `passphrase`),
 * PKCS#1 or SEC1 PEM, or OpenSSH's format as `ssh-keygen` writes it
 * (encrypted or not). Every error is an `ERR_KEY_INVALID` that names
 * `where` and says what the input holds instead (a certificate, a public
 * key, an encrypted key without passphrase, something that is no key);
 * never the key or the passphrase.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { parsePrivateKey } from 'ssh-x509';
 *
 * const key = parsePrivateKey(await readFile('host.key'), 'host.key');
 * ```
 */
export function parsePrivateKey(data: Uint8Array | string, where = 'the private key', options: PrivateKeyOptions = {}): KeyObject {
  return readPrivateKey(data, where, options);
}

/**
 * {@link parsePrivateKey}, with the options that take a certificate and a
 * key named when the input is one of those instead (`roles`).
 *
 * @internal
 */
export function readPrivateKey(data: Uint8Array | string, where: string, options: PrivateKeyOptions, roles: ContentRoles = USER_ROLES): KeyObject {
  const { passphrase } = options;
  const buf = Buffer.from(data);
  const head = buf.subarray(0, 1 << 16).toString('latin1');
  if (head.includes(OPENSSH_PEM)) return openSshKey(buf, passphrase, where);
  const isPem = head.includes('-----BEGIN');
  if ((isPem && !PRIVATE_PEM.test(head)) || (!isPem && buf[0] !== 0x30)) {
    throw keyError(`${where} is not a private key: ${describeContent(buf, roles)}`);
  }
  const encrypted = ENCRYPTED_PEM.test(head);
  if (encrypted && passphrase === undefined) throw keyError(`${where} is encrypted and no passphrase was given`);
  const secret = passphrase !== undefined ? { passphrase: Buffer.from(passphrase) } : {};
  try {
    return createPrivateKey(isPem ? { key: buf, format: 'pem', ...secret } : { key: buf, format: 'der', type: 'pkcs8', ...secret });
  } catch (e) {
    throw keyError(
      encrypted
        ? `cannot decrypt ${where}: wrong passphrase or unsupported encryption`
        : `cannot read ${where} (expected PEM PKCS#8, PKCS#1, SEC1 or OpenSSH, or DER PKCS#8): ${describeContent(buf, roles)}`,
      e,
    );
  }
}
