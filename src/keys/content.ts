/**
 * What a key or certificate input holds, in words, for error messages: the
 * one describer behind every "X is not a certificate / not a private key"
 * message. Never includes the content itself.
 *
 * @module
 */
import { createPrivateKey } from 'node:crypto';

/** The options that take a certificate and a private key, named in hints ("give it as the key: --key, keyFile"). */
export interface ContentRoles {
  /** Where a certificate belongs, e.g. `--cert, certificateFile`. */
  readonly certificate: string;
  /** Where a private key belongs, e.g. `--key, keyFile`. */
  readonly key: string;
  /** What to say of a private key where none belongs (a trust anchor), instead of "give it as the key: ...". */
  readonly misplacedKey?: string;
}

/** The roles of a user's certificate and key (the command's `--cert`/`--key`, the config's `certificateFile`/`keyFile`). */
export const USER_ROLES: ContentRoles = { certificate: '--cert, certificateFile', key: '--key, keyFile' };

/** The roles of a server's host certificate and host key (`serve --host-cert`/`--host-key`). */
export const HOST_ROLES: ContentRoles = { certificate: '--host-cert', key: '--host-key' };

/** CA certificates (trust anchors, intermediates): no private key belongs there. */
export const CA_ROLES: ContentRoles = { certificate: '', key: '', misplacedKey: "a CA is given by its certificate, never its private key: give the CA's certificate" };

/** What a PEM block type holds, in words, with where it belongs. */
function pemWords(type: string, roles: ContentRoles): string {
  if (/^(X509 |TRUSTED )?CERTIFICATE$/.test(type)) return `a certificate (give it as the certificate: ${roles.certificate})`;
  const key = roles.misplacedKey ?? `give it as the key: ${roles.key}`;
  if (type === 'OPENSSH PRIVATE KEY') return `an OpenSSH private key (${key})`;
  if (/^(ENCRYPTED |RSA |EC |DSA )?PRIVATE KEY$/.test(type)) return `a private key (${key})`;
  if (/^(RSA )?PUBLIC KEY$/.test(type)) return 'a public key, not a certificate or private key';
  if (type === 'SSH2 PUBLIC KEY') return 'an RFC 4716 SSH public key, not a certificate or private key';
  if (/^(NEW )?CERTIFICATE REQUEST$/.test(type)) return 'a certificate request (CSR): the CA has to sign it first';
  if (type === 'X509 CRL') return 'a certificate revocation list';
  if (type === 'PKCS7') return 'a PKCS#7 bundle: extract the certificates with `openssl pkcs7 -print_certs`';
  return `a PEM ${type} block`;
}

/**
 * Describes what a PEM, DER or text input holds: the PEM block types found
 * ("a private key (give it as the key ...)"), an OpenSSH public key line or
 * PuTTY key, or a byte count.
 *
 * @internal
 */
export function describeContent(input: Uint8Array | string, roles: ContentRoles = USER_ROLES): string {
  const text = typeof input === 'string' ? input : Buffer.from(input.subarray(0, 1 << 16)).toString('latin1');
  const types = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!);
  if (types.length > 0) return `it holds ${[...new Set(types.map((t) => pemWords(t, roles)))].join(' and ')}`;
  if (/^PuTTY-User-Key-File-/.test(text)) return 'it is a PuTTY key: convert it with `puttygen key.ppk -O private-openssh -o key`';
  if (/^(ssh-|ecdsa-sha2-|x509v3-|sk-)\S+ AAAA/.test(text.trimStart())) return 'it is an SSH public key line, not a certificate or private key';
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size === 0) return 'it is empty';
  if (typeof input !== 'string' && input[0] === 0x30) {
    if (isDerPrivateKey(input)) return `it holds a DER PKCS#8 private key (${roles.misplacedKey ?? `give it as the key: ${roles.key}`})`;
    return `it holds ${size} bytes of DER that are neither an X.509 certificate nor a PKCS#8 private key`;
  }
  return `it holds ${size} bytes that are neither PEM nor DER`;
}

function isDerPrivateKey(der: Uint8Array): boolean {
  try {
    createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    return true;
  } catch {
    return false;
  }
}
