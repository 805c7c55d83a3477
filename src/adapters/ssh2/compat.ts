/**
 * The one module that reaches into ssh2's internals.
 *
 * ssh2 signs publickey requests as `string(algorithm) || string(signature)`
 * with the *public key algorithm* name. RFC 6187 section 3 wants the
 * underlying signature format name (`ecdsa-sha2-nistp256`, not
 * `x509v3-ecdsa-sha2-nistp256`), and strict servers refuse anything else.
 * ssh2 has no hook for that, so {@link installSsh2Compat} wraps
 * `Protocol.prototype.authPK`: for a key made by this library it writes the
 * USERAUTH_REQUEST itself, with the right inner name (and, for a key whose
 * signer needs nobody, answers ssh2's publickey query with the signed request
 * at once); for every other key it calls ssh2's own method unchanged.
 *
 * Installed explicitly (the adapters call it), idempotent (also across
 * several copies of this library, ESM and CommonJS, in one process), and
 * refusing with `ERR_SSH2_UNSUPPORTED` on an ssh2 whose internals it does
 * not recognise.
 *
 * The server side ({@link Ssh2Compat.attachServer}, used by `x509Server`)
 * touches only the `Server` instances given to it. What ssh2 1.17's source
 * shows, and what is done about it:
 *
 * - lib/server.js builds the host key map and the KEXINIT offer once in
 *   the Server constructor, refusing x509v3 names in
 *   `algorithms.serverHostKey` ("Unsupported algorithm"); each connection's
 *   Protocol object keeps them as `_hostKeys` and `_offer`. The Server emits
 *   `connection` after the client's identification line and before it sends
 *   its own KEXINIT (Protocol.js, `onHeader` then `kexinit`). So the
 *   server's `emit` is wrapped, and on `connection` that connection's
 *   `_offer` is replaced by a KexInit (lib/protocol/kex.js) whose host key
 *   list has the x509v3 names first, and `_hostKeys` by a copy with one key
 *   object per x509v3 name.
 * - lib/protocol/kex.js `finish()` (server side) hashes
 *   `hostKey.getPublicSSH()` as K_S, calls `hostKey.sign(H)` synchronously,
 *   writes the KEX reply with the *negotiated* name as the signature name
 *   (the x509v3 name, where RFC 6187 section 3 wants the format name),
 *   encrypts it and sends NEWKEYS at once (resetting the sequence number
 *   in strict kex). Our key object's `sign()` returns a placeholder and
 *   holds what goes out next: the reply (read before compression and kept
 *   out of the stream), NEWKEYS and the sequence number writes, in order.
 *   When the {@link X509HostKeyInfo} has signed (asynchronously: a token
 *   can), the reply is rebuilt with the RFC 6187 signature blob and sent,
 *   then the rest is released. The client sends nothing before the reply;
 *   a signing failure ends the connection with KEY_EXCHANGE_FAILED.
 * - server-sig-algs (RFC 8308): Protocol.js `sendExtInfo` is module-local
 *   and sends a fixed list (1.17 lacks the comma between
 *   `ecdsa-sha2-nistp521` and `rsa-sha2-512`) from `_onHandshakeComplete`
 *   when `_kex.remoteExtInfoEnabled`. For our connections that flag is
 *   cleared in a wrapper of `_onHandshakeComplete`, and our EXT_INFO (the
 *   hooks' names, then ssh2's own, comma-separated) goes out through
 *   `sendPacket` as the first packet after NEWKEYS.
 *
 * The client side of X.509 host keys ({@link installSsh2HostKeyCompat},
 * used by `x509HostVerifier`) is described where it is written, below: the
 * x509v3 names accepted in `algorithms.serverHostKey`, and, only for a key
 * exchange that negotiated one, the exchange-hash signature checked with the
 * certificate's key before ssh2's own `finish()` goes on.
 *
 * @module
 */
import { X509Certificate, createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ALGORITHMS, findAlgorithm, getAlgorithm, keyMismatch } from '../../algorithms.js';
import { keyFacts } from '../../certs/key.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { SshReader } from '../../wire/reader.js';
import { decodePublicKeyBlob } from '../../rfc6187/publickey-blob.js';
import { HostKeyRefusedError, Refusal, refuse } from '../../verify/reasons.js';
import { verifyUserSignature } from '../../verify/signature.js';
import { SshWriter } from '../../wire/writer.js';
import { encodePublickeyRequest, publickeySignedData, SSH_MSG_USERAUTH_REQUEST, type PublickeyRequest } from '../../rfc6187/userauth.js';
import { wrapSignature } from '../../rfc6187/signature.js';

/** The versions of ssh2 whose internals this module was checked against: from `minimum` up to, not including, `below`. */
const SSH2_RANGE = { minimum: [1, 15, 0], below: [2, 0, 0] } as const;

/** The versions of ssh2 whose internals this module was checked against, as npm writes a range. */
export const SUPPORTED_SSH2_RANGE = `>=${SSH2_RANGE.minimum.join('.')} <${SSH2_RANGE.below.join('.')}`;

/** True when `version` (`major.minor.patch`, anything after ignored) lies in {@link SUPPORTED_SSH2_RANGE}. */
function isSupportedVersion(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  const compare = (bound: readonly number[]) => {
    for (let i = 0; i < 3; i++) if (v[i] !== bound[i]) return v[i]! - bound[i]!;
    return 0;
  };
  return compare(SSH2_RANGE.minimum) >= 0 && compare(SSH2_RANGE.below) < 0;
}

/** Marks a key object as ours; `Symbol.for` so that every copy of the library agrees. */
const X509_KEY = Symbol.for('ssh-x509.x509-key');
/** Marks ssh2's `authPK` as already wrapped. */
const PATCHED = Symbol.for('ssh-x509.authPK-patched');

/** What the wrapped `authPK` needs to know about one of our keys. */
export interface X509KeyInfo {
  /** The public key algorithm name sent in the request (`x509v3-...`). */
  readonly algorithm: string;
  /** The RFC 6187 public key blob. */
  readonly publicKeyBlob: Uint8Array;
  /** The signature format name of RFC 6187 section 3 (`ecdsa-sha2-nistp256`, ...). */
  readonly signatureFormat: string;
  /** Called when the key is offered (query, no signature) or sent signed. */
  readonly onSend?: (signed: boolean) => void;
  /**
   * When present, the publickey query ssh2 asks for is sent signed at once
   * instead (the server then answers success or failure, never PK_OK):
   * this signs `data` (the RFC 4252 signed data) and calls `done` with the
   * signature as ssh2's own signing callback gives it, or with
   * `undefined` to send the query after all.
   */
  readonly signAtOnce?: (data: Buffer, done: (signature: Buffer | undefined) => void) => void;
}

/** The parts of ssh2 the adapters use. */
export interface Ssh2Compat {
  /** The installed ssh2 version. */
  readonly version: string;
  /** ssh2's `BaseAgent`, for in-process agents. */
  readonly BaseAgent: new () => object;
  /**
   * Makes a key object that ssh2 accepts as a parsed key (it passes ssh2's
   * private `isParsedKey` test through its prototype) and that the wrapped
   * `authPK` recognises as ours. `comment` may be a function, called when
   * the comment is first read.
   */
  makeKey(info: X509KeyInfo, comment: string | (() => string)): object;
  /** ssh2's own parse of an OpenSSH public key line (for raw-key mode, where ssh2 signs as usual). */
  parsePublicKey(line: string): object;
  /**
   * Makes an ssh2 `Server` ours: its connections offer the X.509 host keys
   * (ahead of its plain ones) and advertise `server-sig-algs` with
   * `hooks.serverSigAlgs` ahead of ssh2's own names. Calling it again for
   * the same server replaces the hooks for later connections. Every other
   * Server is left as ssh2 made it.
   */
  attachServer(server: object, hooks: X509ServerHooks): void;
  /**
   * Makes a plain host key object that ssh2's `Server` accepts in
   * `hostKeys` (through its prototype, as {@link Ssh2Compat.makeKey}) for a
   * key that ssh2 cannot read itself (PKCS#8): ssh2 calls `info.sign`
   * synchronously in the key exchange.
   */
  makePlainHostKey(info: PlainHostKeyInfo): object;
}

/** A plain SSH host key that signs in process (see {@link Ssh2Compat.makePlainHostKey}). */
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

/** One X.509 host key, as the server side of this module sees it. */
export interface X509HostKeyInfo {
  /** The host key algorithm name offered in KEXINIT (`x509v3-...`). */
  readonly algorithm: string;
  /** K_S, the RFC 6187 public key blob, asked for at each key exchange (so that a stapled OCSP response can be renewed). */
  publicKeyBlob(): Uint8Array;
  /** Signs the exchange hash H; resolves with the whole signature blob (RFC 6187 section 3). */
  signExchangeHash(exchangeHash: Uint8Array): Promise<Uint8Array>;
}

/** What {@link Ssh2Compat.attachServer} adds to a server. */
export interface X509ServerHooks {
  /** X.509 host keys, offered in this order ahead of the server's plain ones. */
  readonly hostKeys: readonly X509HostKeyInfo[];
  /** Names put ahead of ssh2's own in `server-sig-algs` (RFC 8308). */
  readonly serverSigAlgs: readonly string[];
}

interface Ssh2Internals {
  version: string;
  BaseAgent: new () => object;
  parseKey: (data: string | Buffer) => unknown;
  Protocol: { prototype: Record<string | symbol, unknown> };
  sendPacket: (proto: unknown, packet: Buffer) => unknown;
  /** Where ssh2 lives and how to load its other modules (the server side loads them on first use). */
  require: NodeJS.Require;
  base: string;
  /** ssh2's `Client` class, loaded on first call. */
  client(): unknown;
}

function unsupported(why: string, cause?: unknown): SshX509Error {
  return new SshX509Error(
    ErrorCodes.SSH2_UNSUPPORTED,
    `ssh-x509 cannot work with this ssh2: ${why}. Supported: ssh2 ${SUPPORTED_SSH2_RANGE}.`,
    { cause },
  );
}

/**
 * One of ssh2's own modules (`lib/<file>`), or undefined when the file is not there. The client side
 * loads these rather than ssh2's entry point: lib/index.js also loads its Server, key generator and HTTP
 * agents (node:http, node:https), about a tenth of a command's start that a client never uses. An ssh2
 * laid out otherwise is read through its entry point.
 */
function ownModule(req: NodeJS.Require, base: string, file: string): Record<string, unknown> | undefined {
  const path = `${base}/lib/${file}`;
  return existsSync(path) ? (req(path) as Record<string, unknown>) : undefined;
}

/** What {@link readInternals} found, by ssh2 entry point (`''` for the one `ssh2` resolves to): the client and host installs read them once. */
const internalsByEntry = new Map<string, Ssh2Internals>();

function loadInternals(ssh2Entry?: string): Ssh2Internals {
  let found = internalsByEntry.get(ssh2Entry ?? '');
  if (!found) internalsByEntry.set(ssh2Entry ?? '', (found = readInternals(ssh2Entry)));
  return found;
}

function readInternals(ssh2Entry?: string): Ssh2Internals {
  const req = createRequire(import.meta.url);
  let base: string;
  let version: string;
  let entry: string;
  try {
    entry = ssh2Entry ?? req.resolve('ssh2');
    base = entry.replace(/[\\/]lib[\\/]index\.js$/, '');
    version = (req(`${base}/package.json`) as { version?: string }).version ?? '';
  } catch (e) {
    throw unsupported('ssh2 is not installed (npm install ssh2)', e);
  }
  if (!isSupportedVersion(version)) throw unsupported(`found version ${JSON.stringify(version)}`);
  const ssh2 = () => req(entry) as Record<string, unknown>;
  try {
    const Protocol = req(`${base}/lib/protocol/Protocol.js`) as Ssh2Internals['Protocol'];
    const utils = req(`${base}/lib/protocol/utils.js`) as { sendPacket?: unknown };
    const constants = req(`${base}/lib/protocol/constants.js`) as { MESSAGE?: { USERAUTH_REQUEST?: number } };
    const parseKey = (ownModule(req, base, 'protocol/keyParser.js') ?? (ssh2().utils as Record<string, unknown> | undefined))?.parseKey;
    const BaseAgent = (ownModule(req, base, 'agent.js') ?? ssh2()).BaseAgent;
    const authPK = Protocol?.prototype?.authPK;
    if (typeof authPK !== 'function' || authPK.length !== 4) throw unsupported('Protocol.prototype.authPK has an unknown shape');
    if (typeof utils.sendPacket !== 'function') throw unsupported('protocol/utils.sendPacket is missing');
    if (constants.MESSAGE?.USERAUTH_REQUEST !== SSH_MSG_USERAUTH_REQUEST) throw unsupported('protocol/constants.MESSAGE is missing');
    if (typeof parseKey !== 'function' || typeof BaseAgent !== 'function') throw unsupported('utils.parseKey or BaseAgent is missing');
    return {
      version,
      BaseAgent: BaseAgent as Ssh2Internals['BaseAgent'],
      parseKey: parseKey as Ssh2Internals['parseKey'],
      Protocol,
      sendPacket: utils.sendPacket as Ssh2Internals['sendPacket'],
      require: req,
      base,
      client: () => {
        let Client: unknown;
        try {
          Client = existsSync(`${base}/lib/client.js`) ? req(`${base}/lib/client.js`) : ssh2().Client;
        } catch (e) {
          throw unsupported('its Client class could not be loaded', e);
        }
        if (typeof Client !== 'function') throw unsupported('its Client class is missing');
        return Client;
      },
    };
  } catch (e) {
    if (e instanceof SshX509Error) throw e;
    throw unsupported('its internal modules could not be loaded', e);
  }
}

/** The fields of ssh2's Protocol object that the wrapped authPK touches; checked on every call. */
interface ProtocolInternals {
  _server: boolean;
  _kex?: { sessionID?: Buffer };
  _authsQueue: string[];
  _packetRW: { write: { alloc(n: number): Buffer; allocStart: number; finalize(b: Buffer): Buffer } };
  _debug?: (msg: string) => void;
}

function checkProtocol(p: Partial<ProtocolInternals>): asserts p is ProtocolInternals {
  if (p._server) throw new Error('Client-only method called in server mode');
  if (!Array.isArray(p._authsQueue) || typeof p._packetRW?.write?.alloc !== 'function' || !Buffer.isBuffer(p._kex?.sessionID)) {
    throw unsupported('the Protocol object has an unknown shape');
  }
}

/** Sends one of our publickey requests (built by src/rfc6187), signed or not, the way ssh2's own authPK would. */
function sendAuthPK(internals: Ssh2Internals, proto: ProtocolInternals, username: string, info: X509KeyInfo, cbSign?: (data: Buffer, cb: (sig: Buffer | undefined) => void) => void): void {
  const request: PublickeyRequest = { username, algorithm: info.algorithm, publicKeyBlob: info.publicKeyBlob };
  const send = (payload: Buffer) => {
    const w = proto._packetRW.write;
    const packet = w.alloc(payload.length);
    packet.set(payload, w.allocStart);
    proto._authsQueue.push('publickey');
    internals.sendPacket(proto, w.finalize(packet));
  };
  if (!cbSign) {
    info.onSend?.(false);
    proto._debug?.(`Outbound: Sending USERAUTH_REQUEST (publickey -- check, ${info.algorithm})`);
    send(encodePublickeyRequest(request));
    return;
  }
  cbSign(publickeySignedData(proto._kex!.sessionID!, request), (signature: Buffer | undefined) => {
    if (signature === undefined) return sendAuthPK(internals, proto, username, info);
    // RFC 6187 section 3: the inner name is the signature format, not the key algorithm.
    info.onSend?.(true);
    proto._debug?.(`Outbound: Sending USERAUTH_REQUEST (publickey, ${info.algorithm}, signature ${info.signatureFormat})`);
    send(encodePublickeyRequest(request, wrapSignature(info.signatureFormat, signature)));
  });
}

let installed: Ssh2Compat | undefined;
let installedInternals: Ssh2Internals | undefined;

/**
 * ssh2's `Client` class, from the ssh2 that {@link installSsh2Compat}
 * patches (installing it first), loaded without ssh2's entry point (see
 * {@link ownModule}): what `import('ssh2')` gives, for a command's start.
 */
export function ssh2ClientClass(): typeof import('ssh2').Client {
  installSsh2Compat();
  return installedInternals!.client() as typeof import('ssh2').Client;
}

/**
 * Installs the RFC 6187 fix into ssh2 and returns what the adapters need.
 * Explicit and idempotent: the adapters call it; calling it again returns
 * the same object. Throws `ERR_SSH2_UNSUPPORTED` when ssh2 is missing or
 * its internals are not the ones this was written against.
 *
 * @param options.ssh2Entry the path of the ssh2 entry module to patch, when
 *   the application's ssh2 is not the one this package resolves.
 */
export function installSsh2Compat(options: { ssh2Entry?: string } = {}): Ssh2Compat {
  if (installed && !options.ssh2Entry) return installed;
  const internals = loadInternals(options.ssh2Entry);
  const proto = internals.Protocol.prototype;
  const current = proto.authPK as ((...a: unknown[]) => unknown) & { [PATCHED]?: boolean };
  if (!current[PATCHED]) {
    const original = current;
    const wrapped = function authPK(this: unknown, username: string, pubKey: unknown, keyAlgo: unknown, cbSign: unknown) {
      const info = (pubKey as { [X509_KEY]?: X509KeyInfo } | null | undefined)?.[X509_KEY];
      if (!info) return original.call(this, username, pubKey, keyAlgo, cbSign);
      const p = this as Partial<ProtocolInternals>;
      checkProtocol(p);
      // ssh2 asks for a query (no signing callback) first; a key that signs at once answers it signed.
      const sign = (typeof keyAlgo === 'function' ? keyAlgo : cbSign) ?? info.signAtOnce;
      sendAuthPK(internals, p, username, info, sign as Parameters<typeof sendAuthPK>[4]);
      return undefined;
    };
    Object.defineProperty(wrapped, PATCHED, { value: true });
    Object.defineProperty(wrapped, 'length', { value: 4 });
    proto.authPK = wrapped;
  }
  const base = internals.parseKey(baseKeyLine());
  if (base instanceof Error || typeof base !== 'object' || base === null) throw unsupported('utils.parseKey cannot parse an ssh-ed25519 public key');
  const compat: Ssh2Compat = {
    version: internals.version,
    BaseAgent: internals.BaseAgent,
    makeKey: (info, comment) => derivedKey(base, {
      type: info.algorithm,
      comment,
      publicKeyBlob: info.publicKeyBlob,
      [X509_KEY]: info,
      // Signing goes through the agent; a synchronous sign() cannot reach a smartcard.
      sign: () => new Error('ssh-x509 keys sign through their agent'),
    }),
    parsePublicKey: (line) => parsePublicKeyWith(internals, line),
    attachServer: (server, hooks) => attachServer(internals, server, hooks),
    makePlainHostKey: (info) => derivedKey(base, { type: info.type, comment: '', publicKeyBlob: info.publicKeyBlob, private: true, sign: info.sign }),
  };
  if (!options.ssh2Entry) {
    installed = compat;
    installedInternals = internals;
  }
  return compat;
}

/** What a key object derived from ssh2's own (see {@link derivedKey}) says about itself. */
interface DerivedKeyProps {
  type: string;
  /** A function is called on first read (a label that costs something to make). */
  comment: string | (() => string);
  publicKeyBlob: Uint8Array;
  /** A host key: ssh2's Server only checks that `getPrivatePEM()` is not null; the key itself stays where it is. */
  private?: boolean;
  sign: (data: Buffer, hash?: string) => Buffer | Error;
  [X509_KEY]?: X509KeyInfo;
}

/**
 * A key object whose prototype is a real parsed ssh2 key, so that ssh2's
 * private `isParsedKey` test lets it through unchanged, with our own type,
 * public blob and signing.
 */
function derivedKey(base: object, p: DerivedKeyProps): object {
  const key = Object.create(base) as Record<string | symbol, unknown>;
  Object.defineProperties(key, {
    ...(p[X509_KEY] ? { [X509_KEY]: { value: p[X509_KEY] } } : {}),
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

function parsePublicKeyWith(internals: Ssh2Internals, line: string): object {
  const k = internals.parseKey(line);
  if (k instanceof Error || typeof k !== 'object' || k === null) {
    throw new SshX509Error(ErrorCodes.ALGORITHM_UNSUPPORTED, `ssh2 cannot use this key as a plain SSH key: ${k instanceof Error ? k.message : 'unknown'}`);
  }
  return k;
}

/** An ssh-ed25519 public key line (never used to sign or verify) whose parsed form serves as the prototype of our key objects. */
function baseKeyLine(): string {
  const blob = new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(1)).toBuffer();
  return `ssh-ed25519 ${blob.toString('base64')} ssh-x509-prototype`;
}

// ---------------------------------------------------------------------------
// Server side: X.509 host keys and server-sig-algs (see the module header).

/** The ssh2 server internals the server hooks use, loaded on first {@link Ssh2Compat.attachServer}. */
interface ServerInternals {
  Server: new (...a: never[]) => object;
  KexInit: new (algorithms: object) => KexInitLike;
  doFatalError: (proto: unknown, msg: string, level: string, reason: number) => unknown;
  EXT_INFO: number;
  KEY_EXCHANGE_FAILED: number;
  /** ssh2's own server-sig-algs (Protocol.js `sendExtInfo`), with the comma 1.17 lacks. */
  ownSigAlgs: readonly string[];
}

/** ssh2's KexInit (lib/protocol/kex.js): the lists it sends in KEXINIT. */
interface KexInitLike {
  lists: {
    kex: { array: string[] };
    serverHostKey: { array: string[] };
    cs: Record<'cipher' | 'mac' | 'compress' | 'lang', { array: string[] }>;
    sc: Record<'cipher' | 'mac' | 'compress' | 'lang', { array: string[] }>;
  };
}

/** The fields of a server-side Protocol object that the hooks touch; checked per connection. */
interface ServerProtocol {
  _server: true;
  _offer: KexInitLike;
  _hostKeys: Record<string, unknown>;
  _kexinit: Buffer | undefined;
  _kex?: { remoteExtInfoEnabled?: boolean };
  _onHandshakeComplete: (...a: unknown[]) => unknown;
  _cipher: { encrypt(packet: Buffer): unknown; outSeqno: number };
  _packetRW: { write: { alloc(n: number, force?: boolean): Buffer; allocStart: number; allocStartKEX: number; finalize(b: Buffer, force?: boolean): Buffer } };
  _debug?: (msg: string) => void;
  /** Present until ssh2 cleans the connection up. */
  _destruct?: unknown;
}

const SERVER_HOOKS = Symbol.for('ssh-x509.server-hooks');
/** ssh2 1.17's server-sig-algs, name by name (its string runs nistp521 and rsa-sha2-512 together). */
const SSH2_SERVER_SIG_ALGS = ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-dss'];

let serverInternals: ServerInternals | undefined;

function loadServerInternals(internals: Ssh2Internals): ServerInternals {
  if (serverInternals) return serverInternals;
  try {
    const req = internals.require;
    const ssh2 = req(`${internals.base}/lib/index.js`) as { Server?: unknown };
    const kex = req(`${internals.base}/lib/protocol/kex.js`) as { KexInit?: unknown };
    const utils = req(`${internals.base}/lib/protocol/utils.js`) as { doFatalError?: unknown };
    const constants = req(`${internals.base}/lib/protocol/constants.js`) as {
      MESSAGE?: { EXT_INFO?: number };
      DISCONNECT_REASON?: { KEY_EXCHANGE_FAILED?: number };
      eddsaSupported?: boolean;
    };
    if (typeof ssh2.Server !== 'function' || typeof kex.KexInit !== 'function' || typeof utils.doFatalError !== 'function') {
      throw unsupported('Server, protocol/kex.KexInit or protocol/utils.doFatalError is missing');
    }
    if (constants.MESSAGE?.EXT_INFO !== 7 || constants.DISCONNECT_REASON?.KEY_EXCHANGE_FAILED !== 3) throw unsupported('protocol/constants has an unknown shape');
    serverInternals = {
      Server: ssh2.Server as ServerInternals['Server'],
      KexInit: kex.KexInit as ServerInternals['KexInit'],
      doFatalError: utils.doFatalError as ServerInternals['doFatalError'],
      EXT_INFO: 7,
      KEY_EXCHANGE_FAILED: 3,
      ownSigAlgs: constants.eddsaSupported ? ['ssh-ed25519', ...SSH2_SERVER_SIG_ALGS] : SSH2_SERVER_SIG_ALGS,
    };
    return serverInternals;
  } catch (e) {
    if (e instanceof SshX509Error) throw e;
    throw unsupported('its server modules could not be loaded', e);
  }
}

/** Per-server state: the hooks in force and the KEXINIT offer built from them. */
interface ServerState {
  hooks: X509ServerHooks;
  offers: WeakMap<KexInitLike, KexInitLike>;
}

/**
 * Wraps the server instance's `emit` once, so that every `connection`
 * event (emitted by ssh2 after the client's identification line and before
 * the server's KEXINIT, lib/server.js and Protocol.js) first patches that
 * connection's Protocol object. Only this server instance is touched.
 */
function attachServer(internals: Ssh2Internals, server: object, hooks: X509ServerHooks): void {
  const si = loadServerInternals(internals);
  if (!(server instanceof si.Server)) throw unsupported('attachServer needs an ssh2 Server of the ssh2 this library loads');
  const target = server as { emit: (event: string | symbol, ...args: unknown[]) => boolean; [SERVER_HOOKS]?: ServerState };
  if (target[SERVER_HOOKS]) {
    target[SERVER_HOOKS] = { hooks, offers: new WeakMap() };
    return;
  }
  target[SERVER_HOOKS] = { hooks, offers: new WeakMap() };
  const emit = target.emit;
  target.emit = function (this: typeof target, event: string | symbol, ...args: unknown[]) {
    if (event === 'connection') patchConnection(internals, si, this[SERVER_HOOKS]!, (args[0] as { _protocol?: unknown } | undefined)?._protocol);
    return emit.call(this, event, ...args);
  };
}

function checkServerProtocol(p: unknown): asserts p is ServerProtocol {
  const q = p as Partial<ServerProtocol> | undefined;
  if (
    !q ||
    q._server !== true ||
    !Array.isArray(q._offer?.lists?.serverHostKey?.array) ||
    typeof q._hostKeys !== 'object' ||
    typeof q._onHandshakeComplete !== 'function' ||
    typeof q._packetRW?.write?.alloc !== 'function' ||
    q._kexinit !== undefined
  ) {
    throw unsupported('the server Protocol object has an unknown shape');
  }
}

/** One connection of our server: its offer, its host keys, and its EXT_INFO. */
function patchConnection(internals: Ssh2Internals, si: ServerInternals, state: ServerState, proto: unknown): void {
  checkServerProtocol(proto);
  const { hooks } = state;
  if (hooks.hostKeys.length > 0) {
    proto._offer = offerWithHostKeys(si, state, proto._offer);
    const keys = Object.assign(Object.create(null) as Record<string, unknown>, proto._hostKeys);
    for (const k of hooks.hostKeys) if (!(k.algorithm in keys)) keys[k.algorithm] = connectionHostKey(si, proto, k);
    proto._hostKeys = keys;
  }
  // ssh2 sends its EXT_INFO inside _onHandshakeComplete after the first
  // key exchange when the client asked for it (kex.remoteExtInfoEnabled);
  // ours goes out in its place, as the first packet after NEWKEYS.
  const onHandshakeComplete = proto._onHandshakeComplete;
  let first = true;
  proto._onHandshakeComplete = function (this: ServerProtocol, ...args: unknown[]) {
    if (first) {
      first = false;
      if (this._kex?.remoteExtInfoEnabled) {
        this._kex.remoteExtInfoEnabled = false;
        sendServerSigAlgs(internals, si, this, [...hooks.serverSigAlgs, ...si.ownSigAlgs.filter((n) => !hooks.serverSigAlgs.includes(n))]);
      }
    }
    return onHandshakeComplete.apply(this, args);
  };
}

/** The server's KEXINIT lists with our host key algorithms first (ssh2 refuses x509v3 names in `algorithms.serverHostKey`). */
function offerWithHostKeys(si: ServerInternals, state: ServerState, offer: KexInitLike): KexInitLike {
  const cached = state.offers.get(offer);
  if (cached) return cached;
  const ours = state.hooks.hostKeys.map((k) => k.algorithm).filter((n, i, all) => all.indexOf(n) === i);
  const l = offer.lists;
  const side = (d: KexInitLike['lists']['cs']) => ({ cipher: d.cipher.array, mac: d.mac.array, compress: d.compress.array, lang: d.lang.array });
  const next = new si.KexInit({
    kex: l.kex.array,
    serverHostKey: [...ours, ...l.serverHostKey.array.filter((n) => !ours.includes(n))],
    cs: side(l.cs),
    sc: side(l.sc),
  });
  state.offers.set(offer, next);
  return next;
}

/** Sends SSH_MSG_EXT_INFO with one extension, server-sig-algs (RFC 8308 sections 2.3 and 3.1). */
function sendServerSigAlgs(internals: Ssh2Internals, si: ServerInternals, proto: ServerProtocol, names: readonly string[]): void {
  const payload = new SshWriter().byte(si.EXT_INFO).uint32(1).string('server-sig-algs').string(names.join(',')).toBuffer();
  proto._debug?.(`Outbound: Sending EXT_INFO (server-sig-algs: ${names.join(',')})`);
  const w = proto._packetRW.write;
  const packet = w.alloc(payload.length);
  packet.set(payload, w.allocStart);
  internals.sendPacket(proto, w.finalize(packet));
}

/**
 * The host key object ssh2's key exchange sees for one connection.
 * ssh2 (lib/protocol/kex.js, `finish()`) hashes `getPublicSSH()` as K_S,
 * calls `sign(H)` synchronously, writes the reply with the negotiated name
 * as the signature name, encrypts it and sends NEWKEYS at once. A token
 * signs asynchronously and RFC 6187 section 3 wants the signature format
 * name, so `sign()` returns a placeholder and holds the outgoing packets
 * ({@link holdKexReply}); the reply is rebuilt once the signer answers.
 */
function connectionHostKey(si: ServerInternals, proto: ServerProtocol, key: X509HostKeyInfo): object {
  return {
    type: key.algorithm,
    getPublicSSH: () => Buffer.from(key.publicKeyBlob()),
    sign: (exchangeHash: Buffer) => {
      holdKexReply(si, proto, key, Buffer.from(exchangeHash));
      return Buffer.alloc(0);
    },
  };
}

/**
 * Holds what ssh2 sends after the placeholder signature (the KEX reply,
 * NEWKEYS and any sequence-number reset of strict kex, in order), signs the
 * exchange hash, then sends the reply with the real signature blob and
 * releases the rest. The client sends nothing before it has the reply.
 */
function holdKexReply(si: ServerInternals, proto: ServerProtocol, key: X509HostKeyInfo, exchangeHash: Buffer): void {
  const w = proto._packetRW.write;
  const cipher = proto._cipher;
  let seqno = cipher.outSeqno;
  const held: Array<{ packet: Buffer } | { seqno: number }> = [];
  let placeholder: Buffer | undefined;
  let reply: { type: number; hostKey: Uint8Array; serverPublic: Uint8Array } | undefined;
  // The next finalize is the reply's: read it before compression, and keep it out of the stream.
  w.finalize = (packet: Buffer) => {
    delete (w as Partial<typeof w>).finalize;
    const r = new SshReader(packet.subarray(w.allocStartKEX), 1 << 20);
    reply = { type: r.readByte('message'), hostKey: r.readString('K_S'), serverPublic: r.readString('server public key') };
    placeholder = packet;
    return packet;
  };
  cipher.encrypt = (packet: Buffer) => {
    if (packet !== placeholder) held.push({ packet });
  };
  Object.defineProperty(cipher, 'outSeqno', { configurable: true, enumerable: true, get: () => seqno, set: (v: number) => held.push({ seqno: v }) });
  const release = () => {
    delete (cipher as Partial<typeof cipher>).encrypt;
    delete (w as Partial<typeof w>).finalize;
    Object.defineProperty(cipher, 'outSeqno', { configurable: true, enumerable: true, writable: true, value: seqno });
  };
  // The connection may be gone by the time the signer answers (ssh2's cleanup drops `_destruct`).
  const gone = () => proto._destruct === undefined;
  const fatal = (msg: string) => {
    try {
      si.doFatalError(proto, `Handshake failed: ${msg}`, 'handshake', si.KEY_EXCHANGE_FAILED);
    } catch {
      // the connection is already unusable
    }
  };
  key.signExchangeHash(exchangeHash).then(
    (signatureBlob) => {
      release();
      if (gone()) return;
      if (!reply) return fatal('the key exchange reply was not written as expected');
      const payload = new SshWriter().byte(reply.type).string(reply.hostKey).string(reply.serverPublic).string(signatureBlob).toBuffer();
      proto._debug?.(`Outbound: Sending KEX reply (host key ${key.algorithm}, X.509 signature)`);
      const packet = w.alloc(payload.length, true);
      packet.set(payload, w.allocStartKEX);
      cipher.encrypt(w.finalize(packet, true));
      for (const h of held) {
        if ('packet' in h) cipher.encrypt(h.packet);
        else cipher.outSeqno = h.seqno;
      }
    },
    (e: unknown) => {
      release();
      if (!gone()) fatal(`the ${key.algorithm} host key could not sign: ${e instanceof Error ? e.message : String(e)}`);
    },
  ).catch((e: unknown) => {
    if (!gone()) fatal(e instanceof Error ? e.message : String(e));
  });
}

/* ------------------------------------------------------------------------ *
 * Client key exchange with X.509 host keys (RFC 6187 server authentication)
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
 * ------------------------------------------------------------------------ */

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
  const req = createRequire(import.meta.url);
  const base = (ssh2Entry ?? req.resolve('ssh2')).replace(/[\\/]lib[\\/]index\.js$/, '');
  try {
    const constants = req(`${base}/lib/protocol/constants.js`) as {
      SUPPORTED_SERVER_HOST_KEY?: unknown;
      DEFAULT_SERVER_HOST_KEY?: unknown;
      DISCONNECT_REASON?: { KEY_EXCHANGE_FAILED?: number };
    };
    const utils = req(`${base}/lib/protocol/utils.js`) as { doFatalError?: unknown };
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
 * comment above). Explicit (the host verifiers of this library call it),
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

/** An Ed25519 K_S and signature of H in ssh2's terms, for ssh2's own check of H (see the comment above). */
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
