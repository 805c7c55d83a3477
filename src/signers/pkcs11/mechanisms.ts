/**
 * Choosing the signing mechanism from what the token reports
 * (C_GetMechanismList / C_GetMechanismInfo), and preparing its input.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { Null, OctetString } from 'asn1js';
import { AlgorithmIdentifier, DigestInfo } from 'pkijs';
import type { HashName } from '../../algorithms.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { HASH_OIDS } from '../../oids.js';
import { CKM, CKM_NAMES } from './constants.js';

/** CKF_SIGN in CK_MECHANISM_INFO.flags. */
const CKF_SIGN = 0x800;

/** The RSA mechanisms that hash on the token. */
const RSA_HASHED: Record<HashName, number> = {
  sha1: CKM.SHA1_RSA_PKCS,
  sha256: CKM.SHA256_RSA_PKCS,
  sha384: CKM.SHA384_RSA_PKCS,
  sha512: CKM.SHA512_RSA_PKCS,
};

/**
 * The DER DigestInfo (RFC 8017 section 9.2, step 2) over `digest`, the input
 * of CKM_RSA_PKCS for an RSASSA-PKCS1-v1_5 signature.
 */
export function digestInfo(hash: HashName, digest: Uint8Array): Uint8Array {
  const di = new DigestInfo({
    digestAlgorithm: new AlgorithmIdentifier({ algorithmId: HASH_OIDS[hash], algorithmParams: new Null() }),
    digest: new OctetString({ valueHex: digest }),
  });
  return new Uint8Array(di.toSchema().toBER(false));
}

/** Parses mechanism names (`CKM_RSA_PKCS`, `RSA_PKCS`, or a number) into numbers. */
export function parseMechanismNames(names: readonly (string | number)[]): Set<number> {
  const byName = new Map([...CKM_NAMES].map(([v, n]) => [n, v]));
  const out = new Set<number>();
  for (const n of names) {
    if (typeof n === 'number') {
      out.add(n);
      continue;
    }
    const key = n.toUpperCase().startsWith('CKM_') ? n.toUpperCase() : `CKM_${n.toUpperCase()}`;
    const v = byName.get(key);
    if (v === undefined) {
      throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `unknown mechanism ${JSON.stringify(n)} (known: ${[...byName.keys()].join(', ')})`);
    }
    out.add(v);
  }
  return out;
}

/** The sign mechanisms the slot reports (numbers), or an empty set when it reports none. */
export function slotSignMechanisms(slot: { getMechanisms(): { length: number; items(i: number): { type: number; flags: number } } }): Set<number> {
  const out = new Set<number>();
  const list = slot.getMechanisms();
  for (let i = 0; i < list.length; i++) {
    try {
      const m = list.items(i);
      if (m.flags & CKF_SIGN) out.add(m.type);
    } catch {
      /* an unreadable mechanism is not offered */
    }
  }
  return out;
}

/** How to make one signature: the mechanism and its input. */
export interface SignPlan {
  readonly mechanism: number;
  readonly input: Buffer;
}

/** The mechanisms a key type can use, best first, for messages. */
export function candidateMechanisms(keyType: string, hash: HashName | null): number[] {
  switch (keyType) {
    case 'rsa':
      return hash ? [RSA_HASHED[hash], CKM.RSA_PKCS] : [];
    case 'ec':
      return [CKM.ECDSA];
    case 'ed25519':
      return [CKM.EDDSA];
    default:
      return [];
  }
}

/** The CKM_ names of `mechs`, for messages. */
export function mechanismNames(mechs: Iterable<number>): string {
  return [...mechs].map((m) => CKM_NAMES.get(m) ?? `0x${m.toString(16)}`).join(', ') || 'none';
}

/**
 * Picks the mechanism for `keyType` and `hash` among `available`, and
 * prepares its input from `data`:
 * - RSA: CKM_SHA*_RSA_PKCS over the data; else CKM_RSA_PKCS over a DigestInfo;
 * - ECDSA: CKM_ECDSA over the digest (made here with node:crypto);
 * - Ed25519: CKM_EDDSA over the data.
 * Throws `ERR_PKCS11_MECHANISM_UNSUPPORTED` when none is available and
 * `ERR_ALGORITHM_UNSUPPORTED` for a hash the key type cannot use.
 */
export function planSignature(keyType: string, hash: HashName | null, data: Uint8Array, available: ReadonlySet<number>): SignPlan {
  if (keyType === 'ed25519') {
    if (hash !== null) throw new SshX509Error(ErrorCodes.ALGORITHM_UNSUPPORTED, `Ed25519 signs the message itself; hash must be null, got ${hash}`);
  } else if (hash === null || !(hash in HASH_OIDS)) {
    throw new SshX509Error(ErrorCodes.ALGORITHM_UNSUPPORTED, `a ${keyType} signature needs a hash (sha1, sha256, sha384 or sha512), got ${String(hash)}`);
  }
  for (const mechanism of candidateMechanisms(keyType, hash)) {
    if (!available.has(mechanism)) continue;
    if (mechanism === CKM.RSA_PKCS) {
      return { mechanism, input: Buffer.from(digestInfo(hash!, createHash(hash!).update(data).digest())) };
    }
    if (mechanism === CKM.ECDSA) return { mechanism, input: createHash(hash!).update(data).digest() };
    return { mechanism, input: Buffer.from(data) };
  }
  throw new SshX509Error(
    ErrorCodes.PKCS11_MECHANISM_UNSUPPORTED,
    `the token offers none of the mechanisms a ${keyType}${hash ? `/${hash}` : ''} signature needs (${mechanismNames(candidateMechanisms(keyType, hash))}); the signing mechanisms it offers are: ${mechanismNames([...available].filter((m) => CKM_NAMES.has(m)))}`,
  );
}
