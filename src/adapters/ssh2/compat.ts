/**
 * The one module that reaches into ssh2's internals (../shared/ssh2-notes.md).
 *
 * ssh2 signs publickey requests as `string(algorithm) || string(signature)`
 * with the *public key algorithm* name. RFC 6187 section 3 wants the
 * underlying signature format name (`ecdsa-sha2-nistp256`, not
 * `x509v3-ecdsa-sha2-nistp256`), and strict servers refuse anything else.
 * ssh2 has no hook for that, so {@link installSsh2Compat} wraps
 * `Protocol.prototype.authPK`: for a key made by this library it writes the
 * USERAUTH_REQUEST itself, with the right inner name; for every other key it
 * calls ssh2's own method unchanged.
 *
 * Installed explicitly (the adapters call it), idempotent (also across
 * several copies of this library, ESM and CommonJS, in one process), and
 * refusing with `ERR_SSH2_UNSUPPORTED` on an ssh2 whose internals it does
 * not recognise.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { ErrorCodes, SshX509Error } from '../../errors.js';
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
   * `authPK` recognises as ours.
   */
  makeKey(info: X509KeyInfo, comment: string): object;
  /** ssh2's own parse of an OpenSSH public key line (for raw-key mode, where ssh2 signs as usual). */
  parsePublicKey(line: string): object;
}

interface Ssh2Internals {
  version: string;
  BaseAgent: new () => object;
  parseKey: (data: string | Buffer) => unknown;
  Protocol: { prototype: Record<string | symbol, unknown> };
  sendPacket: (proto: unknown, packet: Buffer) => unknown;
}

function unsupported(why: string, cause?: unknown): SshX509Error {
  return new SshX509Error(
    ErrorCodes.SSH2_UNSUPPORTED,
    `ssh-x509 cannot work with this ssh2: ${why}. Supported: ssh2 ${SUPPORTED_SSH2_RANGE}.`,
    { cause },
  );
}

function loadInternals(ssh2Entry?: string): Ssh2Internals {
  const req = createRequire(import.meta.url);
  let base: string;
  let version: string;
  let ssh2: Record<string, unknown>;
  try {
    const entry = ssh2Entry ?? req.resolve('ssh2');
    base = entry.replace(/[\\/]lib[\\/]index\.js$/, '');
    version = (req(`${base}/package.json`) as { version?: string }).version ?? '';
    ssh2 = req(entry) as Record<string, unknown>;
  } catch (e) {
    throw unsupported('ssh2 is not installed (npm install ssh2)', e);
  }
  if (!isSupportedVersion(version)) throw unsupported(`found version ${JSON.stringify(version)}`);
  try {
    const Protocol = req(`${base}/lib/protocol/Protocol.js`) as Ssh2Internals['Protocol'];
    const utils = req(`${base}/lib/protocol/utils.js`) as { sendPacket?: unknown };
    const constants = req(`${base}/lib/protocol/constants.js`) as { MESSAGE?: { USERAUTH_REQUEST?: number } };
    const parseKey = (ssh2.utils as { parseKey?: unknown } | undefined)?.parseKey;
    const BaseAgent = ssh2.BaseAgent;
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
function sendAuthPK(internals: Ssh2Internals, proto: ProtocolInternals, username: string, info: X509KeyInfo, cbSign?: (data: Buffer, cb: (sig: Buffer) => void) => void): void {
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
  cbSign(publickeySignedData(proto._kex!.sessionID!, request), (signature) => {
    // RFC 6187 section 3: the inner name is the signature format, not the key algorithm.
    info.onSend?.(true);
    proto._debug?.(`Outbound: Sending USERAUTH_REQUEST (publickey, ${info.algorithm}, signature ${info.signatureFormat})`);
    send(encodePublickeyRequest(request, wrapSignature(info.signatureFormat, signature)));
  });
}

let installed: Ssh2Compat | undefined;

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
      const sign = typeof keyAlgo === 'function' ? keyAlgo : cbSign;
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
    makeKey(info, comment) {
      const key = Object.create(base) as Record<string | symbol, unknown>;
      Object.defineProperties(key, {
        [X509_KEY]: { value: info },
        type: { value: info.algorithm, enumerable: true },
        comment: { value: comment, enumerable: true },
        getPublicSSH: { value: () => Buffer.from(info.publicKeyBlob) },
        getPublicPEM: { value: () => null },
        getPrivatePEM: { value: () => null },
        isPrivateKey: { value: () => false },
        // Signing goes through the agent; a synchronous sign() cannot reach a smartcard.
        sign: { value: () => new Error('ssh-x509 keys sign through their agent') },
        verify: { value: () => new Error('ssh-x509 keys do not verify') },
        equals: { value: (other: unknown) => Buffer.isBuffer(other) && Buffer.from(info.publicKeyBlob).equals(other) },
      });
      return key;
    },
    parsePublicKey: (line) => parsePublicKeyWith(internals, line),
  };
  if (!options.ssh2Entry) installed = compat;
  return compat;
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
