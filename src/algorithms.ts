/**
 * The one table of X.509v3 public key algorithms (RFC 6187 section 3, plus
 * the `x509v3-ssh-ed25519` extension of PKIX-SSH and AsyncSSH). Every other
 * layer reads this table; there is no second list.
 *
 * @module
 */
import { ErrorCodes, SshX509Error } from './errors.js';
import { CURVE_OIDS, HASH_OIDS, SIGNATURE_ALGORITHM_OIDS } from './oids.js';

/** The key types this library handles, named as node:crypto names them. */
export type KeyType = 'rsa' | 'ec' | 'ed25519' | 'dsa';

/** A NIST curve as SSH (RFC 5656) names it. */
export type SshCurveName = 'nistp256' | 'nistp384' | 'nistp521';

/** The hash a signature is made over (none for Ed25519, which hashes internally). */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** One row of the algorithms table. */
export interface AlgorithmInfo {
  /** The RFC 6187 public key algorithm name, e.g. `x509v3-ecdsa-sha2-nistp256`. */
  readonly name: string;
  /** The key type of the leaf certificate. */
  readonly keyType: KeyType;
  /** For ECDSA, the SSH curve name. */
  readonly curve?: SshCurveName;
  /** For ECDSA, the curve as node:crypto names it (`namedCurve`). */
  readonly nodeCurve?: string;
  /** For ECDSA, the curve's bit size (the width of r and s). */
  readonly curveBits?: number;
  /** For ECDSA, the curve's OID (RFC 5480 namedCurve). */
  readonly curveOid?: string;
  /** For ECDSA, the curve as WebCrypto (and people) name it (`P-256`): also its display name. */
  readonly webCryptoCurve?: string;
  /** For ECDSA, true when node:crypto imports the curve's public keys faster from a JWK (x, y) than from the point (OpenSSL's own P-256 code). */
  readonly jwkImportFaster?: boolean;
  /** The hash, or `null` for Ed25519. */
  readonly hash: HashName | null;
  /** The signature format name inside the signature blob (RFC 6187 section 3). */
  readonly signatureFormat: string;
  /** The plain SSH key type of the same key (RFC 4253 / 5656 / 8709). */
  readonly plainKeyType: string;
  /** Minimum key size in bits, where the RFC sets one. */
  readonly minKeyBits?: number;
  /** True when the algorithm relies on SHA-1: off by default wherever a policy decides. */
  readonly sha1: boolean;
  /**
   * A pre-RFC name (`x509v3-sign-rsa`, PKIX-SSH's "legacy" format): the
   * public key blob is the leaf certificate's DER alone, and the signature
   * format name is the algorithm name. Sent only when explicitly requested.
   */
  readonly legacy?: boolean;
}

const table = [
  {
    name: 'x509v3-ecdsa-sha2-nistp256',
    keyType: 'ec',
    curve: 'nistp256',
    nodeCurve: 'prime256v1',
    curveBits: 256,
    curveOid: CURVE_OIDS.nistp256,
    webCryptoCurve: 'P-256',
    hash: 'sha256',
    signatureFormat: 'ecdsa-sha2-nistp256',
    plainKeyType: 'ecdsa-sha2-nistp256',
    sha1: false,
  },
  {
    name: 'x509v3-ecdsa-sha2-nistp384',
    keyType: 'ec',
    curve: 'nistp384',
    nodeCurve: 'secp384r1',
    curveBits: 384,
    curveOid: CURVE_OIDS.nistp384,
    webCryptoCurve: 'P-384',
    hash: 'sha384',
    signatureFormat: 'ecdsa-sha2-nistp384',
    plainKeyType: 'ecdsa-sha2-nistp384',
    sha1: false,
  },
  {
    name: 'x509v3-ecdsa-sha2-nistp521',
    keyType: 'ec',
    curve: 'nistp521',
    nodeCurve: 'secp521r1',
    curveBits: 521,
    curveOid: CURVE_OIDS.nistp521,
    webCryptoCurve: 'P-521',
    hash: 'sha512',
    signatureFormat: 'ecdsa-sha2-nistp521',
    plainKeyType: 'ecdsa-sha2-nistp521',
    sha1: false,
  },
  {
    name: 'x509v3-ssh-ed25519',
    keyType: 'ed25519',
    hash: null,
    signatureFormat: 'ssh-ed25519',
    plainKeyType: 'ssh-ed25519',
    sha1: false,
  },
  {
    name: 'x509v3-rsa2048-sha256',
    keyType: 'rsa',
    hash: 'sha256',
    signatureFormat: 'rsa2048-sha256',
    plainKeyType: 'ssh-rsa',
    minKeyBits: 2048,
    sha1: false,
  },
  {
    name: 'x509v3-ssh-rsa',
    keyType: 'rsa',
    hash: 'sha1',
    signatureFormat: 'ssh-rsa',
    plainKeyType: 'ssh-rsa',
    sha1: true,
  },
  {
    name: 'x509v3-sign-rsa',
    keyType: 'rsa',
    hash: 'sha1',
    signatureFormat: 'x509v3-sign-rsa',
    plainKeyType: 'ssh-rsa',
    sha1: true,
    legacy: true,
  },
  {
    name: 'x509v3-ssh-dss',
    keyType: 'dsa',
    hash: 'sha1',
    signatureFormat: 'ssh-dss',
    plainKeyType: 'ssh-dss',
    sha1: true,
  },
] as const satisfies readonly AlgorithmInfo[];

/** The table, in order of preference (strongest first). */
export const ALGORITHMS: readonly AlgorithmInfo[] = Object.freeze(table.map((a) => Object.freeze({ ...a })));

const byName = new Map<string, AlgorithmInfo>(ALGORITHMS.map((a) => [a.name, a]));

/** The row for `name`, or `undefined` when the name is not an X.509v3 algorithm this library knows. */
export function findAlgorithm(name: string): AlgorithmInfo | undefined {
  return byName.get(name);
}

/** The row for `name`; throws `ERR_ALGORITHM_UNSUPPORTED` for an unknown name. */
export function getAlgorithm(name: string): AlgorithmInfo {
  const a = byName.get(name);
  if (!a) {
    throw new SshX509Error(
      ErrorCodes.ALGORITHM_UNSUPPORTED,
      `unsupported X.509v3 algorithm ${JSON.stringify(name)}; known: ${ALGORITHMS.map((x) => x.name).join(', ')}`,
    );
  }
  return a;
}

/** The ECDSA row of a curve named as node:crypto names it (`prime256v1`), or `undefined`. */
export function findCurve(nodeCurve: string | undefined): AlgorithmInfo | undefined {
  return nodeCurve === undefined ? undefined : ALGORITHMS.find((a) => a.nodeCurve === nodeCurve);
}

/** The hashes a signature can be made over, weakest first. */
export const HASHES: readonly HashName[] = Object.freeze(Object.keys(HASH_OIDS) as HashName[]);

/** The hash named by a hash algorithm OID (`HASH_OIDS`), or `undefined` when the table does not know it. */
export function hashOfOid(oid: string): HashName | undefined {
  return HASHES.find((h) => HASH_OIDS[h] === oid);
}

/** The hash of each signature algorithm of certificates, CRLs and OCSP responses (`null`: EdDSA hashes internally). */
const SIGNATURE_ALGORITHM_HASHES: Readonly<Record<keyof typeof SIGNATURE_ALGORITHM_OIDS, HashName | null>> = Object.freeze({
  sha1WithRSAEncryption: 'sha1',
  sha256WithRSAEncryption: 'sha256',
  sha384WithRSAEncryption: 'sha384',
  sha512WithRSAEncryption: 'sha512',
  dsaWithSha1: 'sha1',
  dsaWithSha256: 'sha256',
  ecdsaWithSha1: 'sha1',
  ecdsaWithSha256: 'sha256',
  ecdsaWithSha384: 'sha384',
  ecdsaWithSha512: 'sha512',
  ed25519: null,
  ed448: null,
});

/**
 * The hash of a signature algorithm OID of a certificate, CRL or OCSP
 * response, and whether it is SHA-1; `undefined` for an algorithm the table
 * does not list (RSA-PSS, unknown ones).
 */
export function signatureAlgorithmHash(oid: string): { readonly hash: HashName | null; readonly sha1: boolean } | undefined {
  return signatureHashByOid.get(oid);
}

const signatureHashByOid = new Map<string, { readonly hash: HashName | null; readonly sha1: boolean }>(
  (Object.keys(SIGNATURE_ALGORITHM_HASHES) as (keyof typeof SIGNATURE_ALGORITHM_OIDS)[]).map((n) => {
    const hash = SIGNATURE_ALGORITHM_HASHES[n];
    return [SIGNATURE_ALGORITHM_OIDS[n], Object.freeze({ hash, sha1: hash === 'sha1' })] as const;
  }),
);

/** The facts about a public key that decide which algorithms it can serve. */
export interface KeyFacts {
  readonly keyType: string;
  /** node:crypto's `namedCurve` for EC keys. */
  readonly nodeCurve?: string;
  /** Modulus size for RSA keys. */
  readonly bits?: number;
}

/**
 * Why `key` cannot be used with `alg`, or `undefined` when it can
 * (key type, curve, and minimum size all match).
 */
export function keyMismatch(alg: AlgorithmInfo, key: KeyFacts): string | undefined {
  if (key.keyType !== alg.keyType) {
    return `${alg.name} needs a ${alg.keyType} key, the certificate has a ${key.keyType} key`;
  }
  if (alg.nodeCurve && key.nodeCurve !== alg.nodeCurve) {
    return `${alg.name} needs curve ${alg.nodeCurve}, the key is on ${key.nodeCurve ?? 'an unknown curve'}`;
  }
  if (alg.minKeyBits && (key.bits ?? 0) < alg.minKeyBits) {
    return `${alg.name} needs an RSA key of at least ${alg.minKeyBits} bits, the key has ${key.bits ?? 'an unknown number of'} bits`;
  }
  return undefined;
}

/** Throws `ERR_KEY_ALGORITHM_MISMATCH` unless `key` can serve `alg`. */
export function assertKeyMatches(alg: AlgorithmInfo, key: KeyFacts): void {
  const why = keyMismatch(alg, key);
  if (why) throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, why);
}

/**
 * The algorithms a key can serve, best first. SHA-1 algorithms
 * (`x509v3-ssh-rsa`, `x509v3-ssh-dss`) are left out unless `allowSha1` is
 * set; legacy names (`x509v3-sign-rsa`) unless `allowLegacy` is set too.
 */
export function algorithmsForKey(key: KeyFacts, options: { allowSha1?: boolean; allowLegacy?: boolean } = {}): AlgorithmInfo[] {
  return ALGORITHMS.filter(
    (a) => (options.allowSha1 || !a.sha1) && (!a.legacy || (options.allowSha1 && options.allowLegacy)) && keyMismatch(a, key) === undefined,
  );
}

/**
 * The plain SSH signature algorithms a certificate's key can use "as a raw
 * SSH2 key" (RFC 8332 for RSA; the ECDSA and Ed25519 names are the
 * `plainKeyType` of the rows above). Used only in raw-key mode.
 */
export interface RawSignatureAlgorithm {
  readonly name: string;
  readonly keyType: KeyType;
  readonly nodeCurve?: string;
  readonly hash: HashName | null;
  readonly sha1: boolean;
}

/** Raw-key signature algorithms, best first: RSA's three hashes, then the plain key types of the table. */
export const RAW_SIGNATURE_ALGORITHMS: readonly RawSignatureAlgorithm[] = Object.freeze([
  { name: 'rsa-sha2-512', keyType: 'rsa', hash: 'sha512', sha1: false },
  { name: 'rsa-sha2-256', keyType: 'rsa', hash: 'sha256', sha1: false },
  { name: 'ssh-rsa', keyType: 'rsa', hash: 'sha1', sha1: true },
  ...ALGORITHMS.filter((a) => a.keyType !== 'rsa').map((a) => ({ name: a.plainKeyType, keyType: a.keyType, nodeCurve: a.nodeCurve, hash: a.hash, sha1: a.sha1 })),
]);

/**
 * The raw-key signature algorithm `name` for a key; throws
 * `ERR_ALGORITHM_UNSUPPORTED` for an unknown name and
 * `ERR_KEY_ALGORITHM_MISMATCH` when the key cannot use it.
 */
export function rawSignatureAlgorithm(name: string, key: KeyFacts): RawSignatureAlgorithm {
  const row = RAW_SIGNATURE_ALGORITHMS.find((r) => r.name === name);
  if (!row) {
    throw new SshX509Error(
      ErrorCodes.ALGORITHM_UNSUPPORTED,
      `unsupported raw-key algorithm ${JSON.stringify(name)}; known: ${RAW_SIGNATURE_ALGORITHMS.map((r) => r.name).join(', ')}`,
    );
  }
  if (row.keyType !== key.keyType || (row.nodeCurve !== undefined && row.nodeCurve !== key.nodeCurve)) {
    throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, `${name} needs a ${row.keyType}${row.nodeCurve ? ` ${row.nodeCurve}` : ''} key, the certificate has a ${key.keyType}${key.nodeCurve ? ` ${key.nodeCurve}` : ''} key`);
  }
  return row;
}
