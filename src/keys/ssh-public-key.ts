/**
 * Plain SSH public key encodings of a node:crypto key (RFC 4253 section
 * 6.6, RFC 5656 section 3.1, RFC 8709 section 4): the key of a certificate
 * used "as a raw SSH2 key", and its OpenSSH `.pub` line.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { ALGORITHMS } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { SshWriter } from '../wire/writer.js';

function b64u(s: string | undefined): Buffer {
  return Buffer.from(s ?? '', 'base64url');
}

/** The plain SSH key type of a key: `ssh-rsa`, `ecdsa-sha2-nistp256`, `ssh-ed25519`, ... (read from the algorithms table). */
export function plainKeyType(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  const row = ALGORITHMS.find((a) => a.keyType === key.asymmetricKeyType && (a.nodeCurve === undefined || a.nodeCurve === d.namedCurve));
  if (!row) throw new SshX509Error(ErrorCodes.ALGORITHM_UNSUPPORTED, `no SSH key type for a ${key.asymmetricKeyType} key${d.namedCurve ? ` on ${d.namedCurve}` : ''}`);
  return row.plainKeyType;
}

/** The SSH public key blob of a public (or private) key. */
export function sshPublicKeyBlob(key: KeyObject): Buffer {
  const type = plainKeyType(key);
  const jwk = key.export({ format: 'jwk' });
  const w = new SshWriter().string(type);
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return w.mpintUnsigned(b64u(jwk.e)).mpintUnsigned(b64u(jwk.n)).toBuffer();
    case 'ec':
      return w.string(type.slice('ecdsa-sha2-'.length)).string(Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)])).toBuffer();
    case 'ed25519':
      return w.string(b64u(jwk.x)).toBuffer();
    default:
      throw new SshX509Error(ErrorCodes.ALGORITHM_UNSUPPORTED, `cannot encode a ${key.asymmetricKeyType} key as an SSH public key`);
  }
}

/** The OpenSSH `.pub` / authorized_keys line: `<type> <base64 blob> [comment]`. */
export function openSshPublicKeyLine(key: KeyObject, comment?: string): string {
  const line = `${plainKeyType(key)} ${sshPublicKeyBlob(key).toString('base64')}`;
  return comment ? `${line} ${comment.replace(/[\r\n]/g, ' ')}` : line;
}
