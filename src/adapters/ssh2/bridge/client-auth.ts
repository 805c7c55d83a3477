/**
 * The client's publickey requests with X.509 keys (RFC 6187 section 3).
 *
 * ssh2 signs publickey requests as `string(algorithm) || string(signature)`
 * with the *public key algorithm* name. RFC 6187 section 3 wants the
 * underlying signature format name (`ecdsa-sha2-nistp256`, not
 * `x509v3-ecdsa-sha2-nistp256`), and strict servers refuse anything else.
 * ssh2 has no hook for that, so {@link installClientAuth} wraps
 * `Protocol.prototype.authPK` (lib/protocol/Protocol.js): for a key made by
 * {@link x509Key} it writes the USERAUTH_REQUEST itself, with the right
 * inner name (and, for a key whose signer needs nobody, answers ssh2's
 * publickey query with the signed request at once); for every other key it
 * calls ssh2's own method unchanged.
 *
 * @module
 */
import { encodePublickeyRequest, publickeySignedData, SSH_MSG_USERAUTH_REQUEST, type PublickeyRequest } from '../../../rfc6187/userauth.js';
import { wrapSignature } from '../../../rfc6187/signature.js';
import { derivedKey } from './key-objects.js';
import { unsupported, type Ssh2Internals } from './ssh2-internals.js';

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

/**
 * Wraps ssh2's `Protocol.prototype.authPK` so that our keys are sent in
 * RFC 6187 form. Idempotent, also across copies of this library (the mark is
 * a `Symbol.for`); throws `ERR_SSH2_UNSUPPORTED` when authPK or the message
 * table are not the ones this was written against.
 */
export function installClientAuth(internals: Ssh2Internals): void {
  const proto = internals.Protocol.prototype;
  const current = proto.authPK as ((...a: unknown[]) => unknown) & { [PATCHED]?: boolean };
  if (typeof current !== 'function' || current.length !== 4) throw unsupported('Protocol.prototype.authPK has an unknown shape');
  const constants = internals.lib('protocol/constants.js') as { MESSAGE?: { USERAUTH_REQUEST?: number } };
  if (constants.MESSAGE?.USERAUTH_REQUEST !== SSH_MSG_USERAUTH_REQUEST) throw unsupported('protocol/constants.MESSAGE is missing');
  if (current[PATCHED]) return;
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

/**
 * A key object that ssh2 accepts as a parsed key and that the wrapped
 * `authPK` recognises as ours. `comment` may be a function, called when the
 * comment is first read.
 */
export function x509Key(internals: Ssh2Internals, info: X509KeyInfo, comment: string | (() => string)): object {
  return derivedKey(internals, {
    type: info.algorithm,
    comment,
    publicKeyBlob: info.publicKeyBlob,
    marks: { [X509_KEY]: { value: info } },
    // Signing goes through the agent; a synchronous sign() cannot reach a smartcard.
    sign: () => new Error('ssh-x509 keys sign through their agent'),
  });
}
