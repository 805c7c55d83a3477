import { createHash } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';

/** Fingerprints of a certificate's DER encoding. */
export interface Fingerprints {
  /** OpenSSH style: `SHA256:` followed by unpadded base64 of the SHA-256 digest. */
  readonly sha256: string;
  /** SHA-256 as lower-case hex with no separators. */
  readonly sha256Hex: string;
  /** The SHA-1 thumbprint as Windows and SecureCRT show it: upper-case hex pairs separated by colons. */
  readonly sha1: string;
}

function der(cert: X509Certificate | Uint8Array): Uint8Array {
  return cert instanceof Uint8Array ? cert : new Uint8Array(cert.rawData);
}

/** SHA-256 and SHA-1 fingerprints of a certificate (or of any DER bytes). */
export function fingerprints(cert: X509Certificate | Uint8Array): Fingerprints {
  const bytes = der(cert);
  const s256 = createHash('sha256').update(bytes).digest();
  const s1 = createHash('sha1').update(bytes).digest('hex').toUpperCase();
  return {
    sha256: `SHA256:${s256.toString('base64').replace(/=+$/, '')}`,
    sha256Hex: s256.toString('hex'),
    sha1: s1.match(/../g)!.join(':'),
  };
}

/**
 * True when `fingerprint` names `cert`: accepts `SHA256:<base64>`,
 * `sha256:<hex>`, a bare SHA-256 hex, or a SHA-1 thumbprint (hex, with or
 * without colons, any case).
 */
export function matchesFingerprint(cert: X509Certificate | Uint8Array, fingerprint: string): boolean {
  const fp = fingerprints(cert);
  const f = fingerprint.trim();
  if (/^SHA256:/i.test(f)) {
    const rest = f.slice(7);
    if (/^[0-9a-f:]{64,95}$/i.test(rest)) return rest.replace(/:/g, '').toLowerCase() === fp.sha256Hex;
    return rest.replace(/=+$/, '') === fp.sha256.slice(7);
  }
  const hex = f.replace(/^sha1:/i, '').replace(/:/g, '').toLowerCase();
  if (hex.length === 64) return hex === fp.sha256Hex;
  if (hex.length === 40) return hex === fp.sha1.replace(/:/g, '').toLowerCase();
  return false;
}
