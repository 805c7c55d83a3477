/**
 * The user's signature (RFC 4252 section 7, RFC 6187 section 3): decoded
 * from the SSH signature blob and verified with node:crypto.
 *
 * @module
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { AlgorithmInfo } from '../algorithms.js';
import { signaturePrimitive } from '../rfc6187/signature.js';
import { refuse } from './reasons.js';

/**
 * Verifies `signature` (an SSH signature blob: `string format, string sig`)
 * over `data` with `key`. The format name must be the RFC 6187 one
 * (`ecdsa-sha2-nistp256`, `rsa2048-sha256`, ...) or, unless `strict`, the
 * x509v3 name itself (what an unpatched ssh2 client sends); nothing else.
 * Refuses `badSignature`.
 */
export function verifyUserSignature(alg: AlgorithmInfo, key: KeyObject, data: Uint8Array, signature: Uint8Array, strict = false): void {
  let primitive: Uint8Array;
  try {
    primitive = signaturePrimitive(signature, alg, !strict);
  } catch (e) {
    refuse('badSignature', `malformed signature: ${(e as Error).message}`);
  }
  let ok = false;
  try {
    if (alg.keyType === 'ed25519') ok = cryptoVerify(null, data, key, primitive);
    else if (alg.keyType === 'rsa') ok = cryptoVerify(alg.hash, data, key, primitive);
    else ok = cryptoVerify(alg.hash, data, { key, dsaEncoding: 'ieee-p1363' }, primitive);
  } catch {
    ok = false;
  }
  if (!ok) refuse('badSignature', `the ${alg.signatureFormat} signature does not verify with the leaf's key`);
}
