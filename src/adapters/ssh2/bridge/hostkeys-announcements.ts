/**
 * The client's answer to a server's host key announcement (OpenSSH's
 * `hostkeys-00@openssh.com`, sent after login; PROTOCOL section 2.5).
 *
 * ssh2 1.17 (lib/client.js, the `GLOBAL_REQUEST` handler and
 * `hostKeysProve`) answers every announcement at once with a
 * `hostkeys-prove-00@openssh.com` request for each key it can parse, whether
 * or not anybody asked, and only then emits `hostkeys` with the keys proved.
 * OpenSSH's client asks only under UpdateHostKeys, and only for keys it does
 * not know. PKIX-SSH announces the plain twin of an X.509 host key, and its
 * monitor aborts the connection when asked to prove it.
 *
 * So, for the clients of the ssh2 the bridge is installed into, an
 * announcement goes to ssh2's own handler (and its prove request goes out)
 * only when the application listens for `hostkeys`, the one place ssh2 gives
 * the answer to; otherwise it is acknowledged as ssh2 acknowledges it and
 * nothing is proved. `Client.prototype.connect` is wrapped to reach each
 * connection's message handlers; every other global request is ssh2's.
 *
 * @module
 */
import { unsupported, type Ssh2Internals } from './ssh2-internals.js';

/** Marks ssh2's `Client.prototype.connect` as wrapped, and a handler table as guarded (`Symbol.for`: every copy of the library agrees). */
const CONNECT_PATCHED = Symbol.for('ssh-x509.client-connect-patched');
const GUARDED = Symbol.for('ssh-x509.hostkeys-guarded');

const ANNOUNCEMENT = 'hostkeys-00@openssh.com';

/** What the guard reads of a client and its Protocol object (ssh2 1.17 lib/client.js, lib/protocol/Protocol.js). */
interface ClientInternals {
  _protocol?: {
    _handlers?: Record<string | symbol, unknown>;
    _debug?: (msg: string) => void;
    requestSuccess(): void;
  };
  listenerCount(event: string): number;
}

type GlobalRequestHandler = (proto: ClientInternals['_protocol'], name: string, wantReply: boolean, data: unknown) => unknown;

/**
 * Wraps ssh2's `Client.prototype.connect` so that host key announcements are
 * proved only when asked for (see the module comment). Idempotent; throws
 * `ERR_SSH2_UNSUPPORTED` when the Client or Protocol is not the one this was
 * written against.
 */
export function installHostKeysAnnouncementGuard(internals: Ssh2Internals): void {
  const Client = internals.client() as { prototype: Record<string | symbol, unknown> };
  const current = Client.prototype.connect as ((...a: unknown[]) => unknown) & { [CONNECT_PATCHED]?: boolean };
  if (typeof current !== 'function') throw unsupported('Client.prototype.connect is missing');
  if (typeof internals.Protocol.prototype.requestSuccess !== 'function' || typeof internals.Protocol.prototype.openssh_hostKeysProve !== 'function') {
    throw unsupported('Protocol.prototype.requestSuccess or openssh_hostKeysProve is missing');
  }
  if (current[CONNECT_PATCHED]) return;
  const original = current;
  const connect = function connect(this: ClientInternals, ...args: unknown[]) {
    const result = original.apply(this, args);
    guard(this);
    return result;
  };
  Object.defineProperty(connect, CONNECT_PATCHED, { value: true });
  Object.defineProperty(connect, 'length', { value: original.length });
  Client.prototype.connect = connect;
}

/** Guards the connection `connect` just made (none when ssh2 deferred it until the previous one closed: that call comes back through here). */
function guard(client: ClientInternals): void {
  const handlers = client._protocol?._handlers;
  if (!handlers || handlers[GUARDED]) return;
  const original = handlers.GLOBAL_REQUEST as GlobalRequestHandler | undefined;
  if (typeof original !== 'function') throw unsupported('the client has no GLOBAL_REQUEST handler');
  Object.defineProperty(handlers, GUARDED, { value: true });
  handlers.GLOBAL_REQUEST = function (this: unknown, proto: ClientInternals['_protocol'], name: string, wantReply: boolean, data: unknown) {
    if (name !== ANNOUNCEMENT || client.listenerCount('hostkeys') > 0) return original.call(this, proto, name, wantReply, data);
    proto?._debug?.(`ssh-x509: ${ANNOUNCEMENT}: not proving the keys announced (nothing listens for 'hostkeys')`);
    if (wantReply) proto?.requestSuccess();
    return undefined;
  } satisfies GlobalRequestHandler;
}
