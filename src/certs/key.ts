import { createPublicKey, type KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { findCurve, type KeyFacts } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';

/** The certificate's subject public key as a node:crypto KeyObject. */
export function certificatePublicKey(cert: X509Certificate): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (e) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `unsupported public key in certificate ${cert.subject}`, { cause: e });
  }
}

/** Key type, curve and size of a public or private key. */
export function keyFacts(key: KeyObject): KeyFacts {
  const d = key.asymmetricKeyDetails ?? {};
  return {
    keyType: key.asymmetricKeyType ?? 'unknown',
    ...(d.namedCurve ? { nodeCurve: d.namedCurve } : {}),
    ...(d.modulusLength ? { bits: d.modulusLength } : {}),
  };
}

/** A short description such as `RSA 2048`, `EC P-256` or `Ed25519`. */
export function describeKey(f: KeyFacts): string {
  switch (f.keyType) {
    case 'rsa':
      return `RSA ${f.bits ?? '?'}`;
    case 'ec':
      return `EC ${findCurve(f.nodeCurve)?.webCryptoCurve ?? f.nodeCurve}`;
    case 'ed25519':
      return 'Ed25519';
    case 'dsa':
      return `DSA ${f.bits ?? '?'}`;
    default:
      return f.keyType;
  }
}
