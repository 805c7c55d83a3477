/**
 * The client bridge for X.509 host keys (RFC 6187 server authentication):
 * ssh2's client negotiates an x509v3-* host key and the server's signature
 * of the exchange hash is checked with the certificate's key. Whether the
 * certificate itself is trusted is the host verifier's business
 * (src/adapters/ssh2/host-verifier.ts), not this module's.
 *
 * ssh2 1.17's client cannot take an x509v3-* host key (read in
 * lib/protocol/kex.js, lib/client.js, lib/protocol/Protocol.js):
 *
 * 1. `client.js` checks `algorithms.serverHostKey` against the array
 *    `SUPPORTED_SERVER_HOST_KEY` of `protocol/constants.js` (the same array
 *    object, destructured): x509v3 names are refused as unsupported.
 * 2. The key exchange object's `finish()` hashes K_S as received (right),
 *    then requires the signature's name to equal the negotiated algorithm
 *    (an RFC 6187 server sends the signature format name of section 3
 *    there, `ecdsa-sha2-nistp256`, not the x509v3 name), and builds the
 *    key with `parseDERKey(K_S, name)`, bound by destructuring when kex.js
 *    loads, which knows no x509v3 name: the handshake always fails.
 * 3. `hostVerifier` is called with the raw K_S, before `finish()`, through
 *    `this._protocol._hostVerifier(...)`.
 *
 * The hook, for key exchanges that negotiated an x509v3 host key only:
 *
 * - the x509v3 names are added to `SUPPORTED_SERVER_HOST_KEY` (never to the
 *   default list: a connection that does not ask for them offers exactly
 *   what it offered before);
 * - ssh2 reads `protocol._hostVerifier` right after it has stored K_S on
 *   the key exchange object. An accessor on `Protocol.prototype` for that
 *   one property (the value stays per instance) sees the key exchange at
 *   that moment and, when its negotiated host key algorithm is an x509v3
 *   name, gives that one object its own `finish()`;
 * - that `finish()` computes the exchange hash H from the object's own
 *   fields exactly as ssh2's does, verifies the server's signature of H with
 *   the leaf's key (RFC 6187 form; `string(x509v3 name)` inside only when
 *   the host verifier opted into the lax form), and only then lets ssh2's
 *   own `finish()` run, with K_S and the signature replaced, after K_S has
 *   been hashed, by a throwaway Ed25519 key of this process and its
 *   signature of the H computed here. ssh2 then checks that signature itself, with its own H:
 *   if the two exchange hashes ever differed, ssh2 would refuse the
 *   handshake. The hook fails closed.
 *
 * @module
 */
import { X509Certificate, createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { ALGORITHMS, findAlgorithm, getAlgorithm, keyMismatch } from '../../../algorithms.js';
import { keyFacts } from '../../../certs/key.js';
import { ErrorCodes, SshX509Error } from '../../../errors.js';
import { decodePublicKeyBlob } from '../../../rfc6187/publickey-blob.js';
import { wrapSignature } from '../../../rfc6187/signature.js';
import { HostKeyRefusedError, Refusal, refuse } from '../../../verify/reasons.js';
import { verifyUserSignature } from '../../../verify/signature.js';
import { SshWriter } from '../../../wire/writer.js';
import { installHostKeysAnnouncementGuard } from './hostkeys-announcements.js';
import { loadInternals, unsupported, type Ssh2Internals } from './ssh2-internals.js';

/** Marks `Protocol.prototype` as carrying the host-key accessor. */
const HOST_PATCHED = Symbol.for('ssh-x509.hostVerifier-accessor');
/** Where the accessor keeps each Protocol's own `_hostVerifier`. */
const HOST_VERIFIER_SLOT = Symbol.for('ssh-x509.hostVerifier');
/** Marks a key exchange object whose `finish()` is ours. */
const KEX_HOOKED = Symbol.for('ssh-x509.kex-hooked');

/**
 * Per-K_S choices of the host verifier that saw it (set synchronously when
 * it is called). One registry per process, so that the hook installed by one
 * copy of this library (ESM or CommonJS) sees what another copy's verifier set.
 */
const POLICIES = Symbol.for('ssh-x509.host-key-policies');
const hostKeyPolicies: WeakMap<Buffer, HostKeySignaturePolicy> = ((globalThis as { [POLICIES]?: WeakMap<Buffer, HostKeySignaturePolicy> })[POLICIES] ??= new WeakMap());

/** How the exchange-hash signature of one K_S is checked. */
export interface HostKeySignaturePolicy {
  /** Also accept `string(x509v3 name)` as the signature's inner name (lax; what an unpatched ssh2 server sends). */
  readonly acceptX509FormatName?: boolean;
  /** Called when the signature is refused, with the reason's message. */
  readonly onRefused?: (message: string) => void;
}

/**
 * Records how the exchange-hash signature made with `hostKey` (the K_S
 * buffer ssh2 passed to the host verifier) is to be checked.
 */
export function setHostKeySignaturePolicy(hostKey: Buffer, policy: HostKeySignaturePolicy): void {
  hostKeyPolicies.set(hostKey, policy);
}

/** The key exchange object's fields the hook reads (ssh2 1.17 lib/protocol/kex.js `KeyExchange`). */
interface KexInternals {
  _protocol: { _server: boolean; _debug?: (m: string) => void };
  negotiated: { serverHostKey: string };
  type: string;
  hashName: string;
  _identRaw: Buffer;
  _remoteIdentRaw: Buffer;
  _kexinit: Buffer;
  _remoteKexinit: Buffer;
  _hostKey: Buffer;
  _dhData: Buffer;
  _sig: Buffer;
  _minBits?: number;
  _prefBits?: number;
  _maxBits?: number;
  finish(scOnly?: boolean): unknown;
  getPublicKey(): Buffer;
  convertPublicKey(b: Buffer): Buffer;
  computeSecret(b: Buffer): Buffer | Error;
  getDHParams(): { prime: Buffer; generator: Buffer } | undefined;
  [KEX_HOOKED]?: boolean;
}

interface HostInternals {
  supportedServerHostKey: string[];
  defaultServerHostKey: readonly string[];
  doFatalError: (proto: unknown, msg: string | Error, level?: string | number, reason?: number) => unknown;
  keyExchangeFailed: number;
}

let hostInstalled: HostInternals | undefined;

/** Every host key algorithm ssh2's client accepts in `algorithms.serverHostKey`, the x509v3 ones included. */
export function supportedServerHostKeyAlgorithms(): string[] {
  installSsh2HostKeyCompat();
  return [...hostInstalled!.supportedServerHostKey];
}

/** ssh2's default `algorithms.serverHostKey` list (the plain host key algorithms it offers). */
export function defaultServerHostKeyAlgorithms(): string[] {
  installSsh2HostKeyCompat();
  return [...hostInstalled!.defaultServerHostKey];
}

function loadHostInternals(ssh2Entry?: string): { internals: Ssh2Internals; host: HostInternals } {
  const internals = loadInternals(ssh2Entry);
  try {
    const constants = internals.lib('protocol/constants.js') as {
      SUPPORTED_SERVER_HOST_KEY?: unknown;
      DEFAULT_SERVER_HOST_KEY?: unknown;
      DISCONNECT_REASON?: { KEY_EXCHANGE_FAILED?: number };
    };
    const utils = internals.lib('protocol/utils.js') as { doFatalError?: unknown };
    const list = constants.SUPPORTED_SERVER_HOST_KEY;
    if (!Array.isArray(list) || !list.includes('ssh-ed25519')) throw unsupported('protocol/constants.SUPPORTED_SERVER_HOST_KEY has an unknown shape');
    const defaults = constants.DEFAULT_SERVER_HOST_KEY;
    if (!Array.isArray(defaults) || !defaults.includes('ssh-ed25519')) throw unsupported('protocol/constants.DEFAULT_SERVER_HOST_KEY has an unknown shape');
    if (typeof utils.doFatalError !== 'function') throw unsupported('protocol/utils.doFatalError is missing');
    if (constants.DISCONNECT_REASON?.KEY_EXCHANGE_FAILED !== 3) throw unsupported('protocol/constants.DISCONNECT_REASON is missing');
    const own = Object.getOwnPropertyDescriptor(internals.Protocol.prototype, '_hostVerifier');
    if (own && !(own.get as { [HOST_PATCHED]?: boolean } | undefined)?.[HOST_PATCHED]) throw unsupported('Protocol.prototype already defines _hostVerifier');
    return {
      internals,
      host: {
        supportedServerHostKey: list as string[],
        defaultServerHostKey: [...(defaults as string[])],
        doFatalError: utils.doFatalError as HostInternals['doFatalError'],
        keyExchangeFailed: 3,
      },
    };
  } catch (e) {
    if (e instanceof SshX509Error) throw e;
    throw unsupported('its internal modules could not be loaded', e);
  }
}

/**
 * Lets ssh2's client negotiate and verify x509v3-* host keys (see the
 * module comment). Explicit (the host verifiers of this library call it),
 * idempotent, a no-op for every key exchange that does not negotiate an
 * x509v3 host key; throws `ERR_SSH2_UNSUPPORTED` on an ssh2 whose
 * internals it does not recognise.
 *
 * @param options.ssh2Entry the path of the ssh2 entry module to patch, when
 *   the application's ssh2 is not the one this package resolves.
 */
export function installSsh2HostKeyCompat(options: { ssh2Entry?: string } = {}): void {
  if (hostInstalled && !options.ssh2Entry) return;
  const { internals, host } = loadHostInternals(options.ssh2Entry);
  installHostKeysAnnouncementGuard(internals);
  for (const a of ALGORITHMS) if (!a.legacy && !host.supportedServerHostKey.includes(a.name)) host.supportedServerHostKey.push(a.name);
  const proto = internals.Protocol.prototype;
  const own = Object.getOwnPropertyDescriptor(proto, '_hostVerifier');
  if (!own) {
    const get = function (this: Record<symbol, unknown> & { _server?: boolean; _kex?: unknown }) {
      const value = this[HOST_VERIFIER_SLOT];
      if (!this._server && this._kex) hookKeyExchange(this._kex as Partial<KexInternals>, host);
      return value;
    };
    Object.defineProperty(get, HOST_PATCHED, { value: true });
    Object.defineProperty(proto, '_hostVerifier', {
      configurable: true,
      get,
      set(this: Record<symbol, unknown>, v: unknown) {
        this[HOST_VERIFIER_SLOT] = v;
      },
    });
  }
  if (!options.ssh2Entry) hostInstalled = host;
}

function isX509HostKeyName(name: unknown): name is string {
  return typeof name === 'string' && findAlgorithm(name) !== undefined;
}

function checkKex(k: Partial<KexInternals>): asserts k is KexInternals {
  const bufs = [k._identRaw, k._remoteIdentRaw, k._kexinit, k._remoteKexinit, k._hostKey, k._dhData, k._sig];
  if (
    typeof k.finish !== 'function' ||
    typeof k.getPublicKey !== 'function' ||
    typeof k.convertPublicKey !== 'function' ||
    typeof k.computeSecret !== 'function' ||
    typeof k.hashName !== 'string' ||
    typeof k.type !== 'string' ||
    !bufs.every((b) => Buffer.isBuffer(b))
  ) {
    throw unsupported('the key exchange object has an unknown shape');
  }
}

/** Gives one client key exchange that negotiated an x509v3 host key its own `finish()`. */
function hookKeyExchange(k: Partial<KexInternals>, host: HostInternals): void {
  if (k[KEX_HOOKED] || !isX509HostKeyName(k.negotiated?.serverHostKey)) return;
  Object.defineProperty(k, KEX_HOOKED, { value: true });
  const original = k.finish!;
  k.finish = function finish(this: KexInternals, scOnly?: boolean) {
    const kex = this as Partial<KexInternals>;
    try {
      checkKex(kex);
    } catch (e) {
      (this as unknown as { _finished: boolean })._finished = true;
      return host.doFatalError(this._protocol, handshakeError(e as Error), host.keyExchangeFailed);
    }
    if ((this as unknown as { _finished?: boolean })._finished) return original.call(this, scOnly);
    const realKS = this._hostKey;
    const realSig = this._sig;
    const policy = hostKeyPolicies.get(realKS) ?? {};
    let H: Buffer;
    try {
      H = exchangeHash(this);
      verifyHostSignature(this.negotiated.serverHostKey, realKS, H, realSig, policy);
    } catch (e) {
      policy.onRefused?.((e as Error).message);
      // As ssh2's finish() does first: a later call (the host verifier's answer) must not run it again.
      (this as unknown as { _finished: boolean })._finished = true;
      return host.doFatalError(this._protocol, handshakeError(e as Error), host.keyExchangeFailed);
    }
    this._protocol._debug?.(`ssh-x509: verified the ${this.negotiated.serverHostKey} host signature of the exchange hash`);
    const stand = standInSignature(H, this.negotiated.serverHostKey);
    const getPublicKey = this.getPublicKey;
    const ownGetPublicKey = Object.prototype.hasOwnProperty.call(this, 'getPublicKey');
    // ssh2's finish() reads K_S for the hash, then calls getPublicKey(), then parses K_S and the signature.
    this.getPublicKey = function (this: KexInternals) {
      this._hostKey = stand.hostKey;
      this._sig = stand.signature;
      return getPublicKey.call(this);
    };
    try {
      return original.call(this, scOnly);
    } finally {
      if (ownGetPublicKey) this.getPublicKey = getPublicKey;
      else delete (this as Partial<KexInternals>).getPublicKey;
      this._hostKey = realKS;
      this._sig = realSig;
    }
  };
}

function handshakeError(e: Error): Error {
  const err = e instanceof SshX509Error ? e : new SshX509Error(ErrorCodes.HOST_KEY_REJECTED, e.message, { cause: e });
  (err as Error & { level?: string }).level = 'handshake';
  return err;
}

/** RFC 4253 section 8 / RFC 5656 section 4 / RFC 4419 section 3: H, from the key exchange's own fields, as ssh2's finish() computes it (client side). */
function exchangeHash(k: KexInternals): Buffer {
  const secret = k.computeSecret(k._dhData);
  if (!Buffer.isBuffer(secret)) throw new SshX509Error(ErrorCodes.HOST_KEY_REJECTED, `cannot compute the shared secret: ${secret.message}`);
  const w = new SshWriter()
    .string(k._identRaw)
    .string(k._remoteIdentRaw)
    .string(k._kexinit)
    .string(k._remoteKexinit)
    .string(k._hostKey);
  if (k.type === 'groupex') {
    const params = k.getDHParams();
    if (!params || k._minBits === undefined || k._prefBits === undefined || k._maxBits === undefined) throw unsupported('the group exchange object has an unknown shape');
    w.uint32(k._minBits).uint32(k._prefBits).uint32(k._maxBits).string(params.prime).string(params.generator);
  }
  w.string(k.getPublicKey()).string(k.convertPublicKey(k._dhData)).string(secret);
  return createHash(k.hashName).update(w.toBuffer()).digest();
}

/** The server's signature of H, checked with the leaf key of K_S. Throws a `HOST_KEY_REJECTED` error naming the reason. */
function verifyHostSignature(name: string, hostKey: Buffer, H: Buffer, signature: Buffer, policy: HostKeySignaturePolicy): void {
  try {
    const blob = decodePublicKeyBlob(hostKey);
    const alg = getAlgorithm(name);
    if (blob.algorithm !== name) refuse('malformedBlob', `K_S names ${blob.algorithm}, the negotiated algorithm is ${name}`);
    // node:crypto's parse (the certificate itself was validated by the host verifier before this).
    const key = new X509Certificate(blob.certificates[0]!).publicKey;
    const mismatch = keyMismatch(alg, keyFacts(key));
    if (mismatch) refuse('keyAlgorithmMismatch', mismatch);
    verifyUserSignature(alg, key, H, signature, !policy.acceptX509FormatName);
  } catch (e) {
    const reason = e instanceof Refusal ? e.reason : 'malformedBlob';
    throw new HostKeyRefusedError(reason, `the host's signature of the key exchange: ${(e as Error).message}`, { cause: e });
  }
}

let standInKey: { privateKey: KeyObject; blob: Buffer } | undefined;

/** An Ed25519 K_S and signature of H in ssh2's terms, for ssh2's own check of H (see the module comment). */
function standInSignature(H: Buffer, negotiatedName: string): { hostKey: Buffer; signature: Buffer } {
  if (!standInKey) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    standInKey = { privateKey, blob: new SshWriter().string('ssh-ed25519').string(raw).toBuffer() };
  }
  const sig = cryptoSign(null, H, standInKey.privateKey);
  // ssh2 compares the outer name with the negotiated one and passes the bytes to the Ed25519 key as they are.
  return { hostKey: standInKey.blob, signature: wrapSignature(negotiatedName, sig) };
}
