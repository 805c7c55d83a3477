/**
 * The server bridge: an ssh2 `Server` that offers X.509 host keys (RFC 6187
 * server authentication) and advertises `server-sig-algs` (RFC 8308).
 * {@link attachServer} touches only the `Server` instances given to it.
 * What ssh2 1.17's source shows, and what is done about it:
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
 * @module
 */
import { SshX509Error } from '../../../errors.js';
import { SshReader } from '../../../wire/reader.js';
import { SshWriter } from '../../../wire/writer.js';
import { unsupported, type Ssh2Internals } from './ssh2-internals.js';

/** One X.509 host key, as the server bridge sees it. */
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


/** The ssh2 server internals the server hooks use, loaded on first {@link attachServer}. */
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

const serverInternals = new WeakMap<Ssh2Internals, ServerInternals>();

function loadServerInternals(internals: Ssh2Internals): ServerInternals {
  let si = serverInternals.get(internals);
  if (si) return si;
  try {
    const ssh2 = internals.entry() as { Server?: unknown };
    const kex = internals.lib('protocol/kex.js') as { KexInit?: unknown };
    const utils = internals.lib('protocol/utils.js') as { doFatalError?: unknown };
    const constants = internals.lib('protocol/constants.js') as {
      MESSAGE?: { EXT_INFO?: number };
      DISCONNECT_REASON?: { KEY_EXCHANGE_FAILED?: number };
      eddsaSupported?: boolean;
    };
    if (typeof ssh2.Server !== 'function' || typeof kex.KexInit !== 'function' || typeof utils.doFatalError !== 'function') {
      throw unsupported('Server, protocol/kex.KexInit or protocol/utils.doFatalError is missing');
    }
    if (constants.MESSAGE?.EXT_INFO !== 7 || constants.DISCONNECT_REASON?.KEY_EXCHANGE_FAILED !== 3) throw unsupported('protocol/constants has an unknown shape');
    si = {
      Server: ssh2.Server as ServerInternals['Server'],
      KexInit: kex.KexInit as ServerInternals['KexInit'],
      doFatalError: utils.doFatalError as ServerInternals['doFatalError'],
      EXT_INFO: 7,
      KEY_EXCHANGE_FAILED: 3,
      ownSigAlgs: constants.eddsaSupported ? ['ssh-ed25519', ...SSH2_SERVER_SIG_ALGS] : SSH2_SERVER_SIG_ALGS,
    };
    serverInternals.set(internals, si);
    return si;
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
export function attachServer(internals: Ssh2Internals, server: object, hooks: X509ServerHooks): void {
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
