/**
 * The user's signature (RFC 4252 section 7, RFC 6187 section 3): decoded
 * from the SSH signature blob and verified with node:crypto.
 *
 * @module
 */
import { verify as cryptoVerify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { AlgorithmInfo } from '../algorithms.js';
import { signatureLayout, signaturePrimitive, type SignatureLayout } from '../rfc6187/signature.js';
import { refuse } from './reasons.js';

/**
 * A leaf key prepared for checking user signatures, with what each check
 * reads off the algorithm's row read once ({@link userSignatureKey}): a
 * cached chain keeps one, so that its logins read the same shape of object
 * whatever the algorithm.
 */
export interface UserSignatureKey {
  readonly layout: SignatureLayout;
  readonly hash: string | null;
  /** The key as node:crypto's `verify` takes it: ECDSA and DSA with the IEEE P1363 encoding (raw `r || s`). */
  readonly verifyKey: KeyObject | VerifyKeyObjectInput;
  readonly signatureFormat: string;
}

/** Prepares `key` for checking `alg` user signatures ({@link checkUserSignature}). */
export function userSignatureKey(alg: AlgorithmInfo, key: KeyObject): UserSignatureKey {
  const plain = alg.keyType === 'ed25519' || alg.keyType === 'rsa';
  return {
    layout: signatureLayout(alg),
    hash: alg.keyType === 'ed25519' ? null : alg.hash,
    verifyKey: plain ? key : { key, dsaEncoding: 'ieee-p1363' },
    signatureFormat: alg.signatureFormat,
  };
}

/**
 * Verifies `signature` (an SSH signature blob: `string format, string sig`)
 * over `data` with `key`. The format name must be the RFC 6187 one
 * (`ecdsa-sha2-nistp256`, `rsa2048-sha256`, ...) or, unless `strict`, the
 * x509v3 name itself (what an unpatched ssh2 client sends); nothing else.
 * Refuses `badSignature`.
 */
export function verifyUserSignature(alg: AlgorithmInfo, key: KeyObject, data: Uint8Array, signature: Uint8Array, strict = false): void {
  checkUserSignature(userSignatureKey(alg, key), data, signature, strict);
}

/** {@link verifyUserSignature} with a key prepared by {@link userSignatureKey}. */
export function checkUserSignature(key: UserSignatureKey, data: Uint8Array, signature: Uint8Array, strict = false): void {
  let primitive: Uint8Array;
  try {
    primitive = signaturePrimitive(signature, key.layout, !strict);
  } catch (e) {
    refuse('badSignature', `malformed signature: ${(e as Error).message}`);
  }
  let ok = false;
  try {
    ok = cryptoVerify(key.hash, data, key.verifyKey, primitive);
  } catch {
    ok = false;
  }
  if (!ok) refuse('badSignature', `the ${key.signatureFormat} signature does not verify with the leaf's key`);
}
