/**
 * Key objects that ssh2 takes as its own parsed keys: ssh2 accepts a key
 * only when it passes its private `isParsedKey` test, so ours have a real
 * parsed ssh2 key as their prototype and their own type, public blob and
 * signing. Used for X.509 user keys (client-auth.ts) and for plain host keys
 * that ssh2 cannot read itself.
 *
 * @module
 */
import { ErrorCodes, SshX509Error } from '../../../errors.js';
import { SshWriter } from '../../../wire/writer.js';
import { unsupported, type Ssh2Internals } from './ssh2-internals.js';

/** A plain SSH host key that signs in process (see {@link plainHostKey}). */
export interface PlainHostKeyInfo {
  /** The plain key type: `ssh-rsa`, `ecdsa-sha2-nistp256`, `ssh-ed25519`, ... */
  readonly type: string;
  /** The SSH public key blob. */
  readonly publicKeyBlob: Uint8Array;
  /**
   * Signs as ssh2's own keys do: `hash` is ssh2's choice for RSA
   * (`sha256`, `sha512`, or undefined for SHA-1), ECDSA answers in DER,
   * Ed25519 with the 64 bytes; an Error is returned, not thrown.
   */
  sign(data: Buffer, hash?: string): Buffer | Error;
}

/** What a key object derived from ssh2's own (see {@link derivedKey}) says about itself. */
export interface DerivedKeyProps {
  type: string;
  /** A function is called on first read (a label that costs something to make). */
  comment: string | (() => string);
  publicKeyBlob: Uint8Array;
  /** A host key: ssh2's Server only checks that `getPrivatePEM()` is not null; the key itself stays where it is. */
  private?: boolean;
  sign: (data: Buffer, hash?: string) => Buffer | Error;
  /** Further own properties (a mark another part of the bridge recognises). */
  marks?: PropertyDescriptorMap;
}

const prototypes = new WeakMap<Ssh2Internals, object>();

/** A parsed ssh2 key (an ssh-ed25519 public key, never used to sign or verify), the prototype of our key objects. */
export function keyPrototype(internals: Ssh2Internals): object {
  let base = prototypes.get(internals);
  if (!base) {
    const blob = new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(1)).toBuffer();
    const parsed = internals.parseKey(`ssh-ed25519 ${blob.toString('base64')} ssh-x509-prototype`);
    if (parsed instanceof Error || typeof parsed !== 'object' || parsed === null) throw unsupported('utils.parseKey cannot parse an ssh-ed25519 public key');
    prototypes.set(internals, (base = parsed));
  }
  return base;
}

/**
 * A key object whose prototype is a real parsed ssh2 key, so that ssh2's
 * private `isParsedKey` test lets it through unchanged, with our own type,
 * public blob and signing.
 */
export function derivedKey(internals: Ssh2Internals, p: DerivedKeyProps): object {
  const key = Object.create(keyPrototype(internals)) as Record<string | symbol, unknown>;
  Object.defineProperties(key, {
    ...p.marks,
    type: { value: p.type, enumerable: true },
    comment: typeof p.comment === 'function' ? { get: p.comment, enumerable: true } : { value: p.comment, enumerable: true },
    getPublicSSH: { value: () => Buffer.from(p.publicKeyBlob) },
    getPublicPEM: { value: () => null },
    getPrivatePEM: { value: () => (p.private ? '(held by ssh-x509)' : null) },
    isPrivateKey: { value: () => p.private === true },
    sign: { value: p.sign },
    verify: { value: () => new Error('ssh-x509 keys do not verify') },
    equals: { value: (other: unknown) => Buffer.isBuffer(other) && Buffer.from(p.publicKeyBlob).equals(other) },
  });
  return key;
}

/** A plain host key object that ssh2's `Server` accepts in `hostKeys`; ssh2 calls `info.sign` synchronously in the key exchange. */
export function plainHostKey(internals: Ssh2Internals, info: PlainHostKeyInfo): object {
  return derivedKey(internals, { type: info.type, comment: '', publicKeyBlob: info.publicKeyBlob, private: true, sign: info.sign });
}

/** ssh2's own parse of an OpenSSH public key line (for raw-key mode, where ssh2 signs as usual). */
export function parsePublicKey(internals: Ssh2Internals, line: string): object {
  const k = internals.parseKey(line);
  if (k instanceof Error || typeof k !== 'object' || k === null) {
    throw new SshX509Error(ErrorCodes.ALGORITHM_UNSUPPORTED, `ssh2 cannot use this key as a plain SSH key: ${k instanceof Error ? k.message : 'unknown'}`);
  }
  return k;
}
