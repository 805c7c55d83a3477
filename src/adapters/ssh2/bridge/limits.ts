/**
 * sshd's limits for an ssh2 `Server`, under OpenSSH's names and defaults:
 * LoginGraceTime, MaxAuthTries, MaxStartups (with its random early drop),
 * PerSourceMaxStartups and MaxSessions; and a graceful `close()`.
 *
 * ssh2 1.17 (lib/server.js) has none of them, and it only shows a connection
 * to the application after the client's identification line, so a silent
 * connection is never seen. What is reached into, and why:
 * - the Server's `_srv` (its net.Server): its `connection` listener is
 *   wrapped, so that every socket is counted and timed from accept, and
 *   dropped before ssh2 builds anything for it;
 * - a connection's `_sock` ties ssh2's `connection` event to that socket;
 *   `_protocol.authFailure` is wrapped per connection to count failures and
 *   send sshd's DISCONNECT in place of the last USERAUTH_FAILURE;
 *   `_chanMgr` tells the sessions open (MaxSessions) and when the last
 *   channel is gone (shutdown).
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import type { Server as NetServer, Socket } from 'node:net';
import { ErrorCodes, SshX509Error } from '../../../errors.js';
import { SshWriter } from '../../../wire/writer.js';
import { emitTrace, type TraceLogger } from '../../trace.js';
import { unsupported } from './ssh2-internals.js';

/** sshd's MaxStartups: random early drop from `start` unauthenticated connections (`rate` percent), refusal of all at `full`. */
export interface MaxStartups {
  readonly start: number;
  readonly rate: number;
  readonly full: number;
}

/** The limits of {@link x509Server}, named and defaulted as OpenSSH's sshd_config(5). */
export interface ServerLimits {
  /** Seconds a connection has to authenticate, from accept; then it is closed. 0: no limit. Default 120. */
  loginGraceTime?: number;
  /** Failed authentications after which the connection is ended (SSH_MSG_DISCONNECT, "Too many authentication failures"). Default 6. */
  maxAuthTries?: number;
  /**
   * Unauthenticated connections: `start:rate:full` (a string as sshd_config
   * writes it, a number N for N:100:N, or the three numbers). From `start`
   * on, a new connection is dropped with probability `rate`% rising
   * linearly to 100% at `full`. Default `10:30:100`.
   */
  maxStartups?: string | number | MaxStartups;
  /** Unauthenticated connections from one source address; `'none'` (the default) for no limit. */
  perSourceMaxStartups?: number | 'none';
  /** Open sessions (session channels) per connection; a further one is refused. Default 10. */
  maxSessions?: number;
  /** Seconds `close()` lets authenticated connections finish their sessions before ending them. Default 10. */
  shutdownGrace?: number;
}

/** What `x509Server` adds to the server: a `close()` that stops gracefully and resolves when done. */
export interface GracefulClose {
  /**
   * Stops accepting, ends unauthenticated connections at once, refuses new
   * sessions, ends each authenticated connection when its last channel
   * closes (and every one still open after `shutdownGrace`), and resolves
   * when the listener and every connection are closed. Called again while
   * it waits, it ends every connection at once. `callback`, as
   * net.Server's, gets an error when the server was not listening; the
   * promise resolves either way.
   */
  close(callback?: (err?: Error) => void): Promise<void>;
}

/** The defaults of {@link ServerLimits}: sshd's. */
export const DEFAULT_SERVER_LIMITS = {
  loginGraceTime: 120,
  maxAuthTries: 6,
  maxStartups: { start: 10, rate: 30, full: 100 } as MaxStartups,
  perSourceMaxStartups: 'none' as const,
  maxSessions: 10,
  shutdownGrace: 10,
} as const;

interface ResolvedLimits {
  loginGraceTime: number;
  maxAuthTries: number;
  maxStartups: MaxStartups;
  perSourceMaxStartups: number;
  maxSessions: number;
  shutdownGrace: number;
}

function invalid(message: string): SshX509Error {
  return new SshX509Error(ErrorCodes.INVALID_ARGUMENT, message);
}

/**
 * Parses `start:rate:full` (or a single number N, meaning N:100:N) as
 * sshd_config(5) writes MaxStartups. `name` names the option in the error.
 * Throws `ERR_INVALID_ARGUMENT` unless start ≤ full and 1 ≤ rate ≤ 100.
 */
export function parseMaxStartups(text: string, name = 'maxStartups'): MaxStartups {
  const m = /^(\d{1,9})(?::(\d{1,3}):(\d{1,9}))?$/.exec(text.trim());
  if (!m) throw invalid(`${name} must be <start:rate:full> (as sshd's MaxStartups, e.g. 10:30:100) or one number, got ${JSON.stringify(text)}`);
  if (m[2] === undefined) return checkMaxStartups({ start: Number(m[1]), rate: 100, full: Number(m[1]) }, name);
  return checkMaxStartups({ start: Number(m[1]), rate: Number(m[2]), full: Number(m[3]) }, name);
}

function checkMaxStartups(s: MaxStartups, name: string): MaxStartups {
  const { start, rate, full } = s;
  if (![start, rate, full].every((n) => Number.isInteger(n) && n >= 0)) throw invalid(`${name}: start, rate and full must be whole numbers, got ${start}:${rate}:${full}`);
  if (full < 1) throw invalid(`${name}: full must be at least 1 (it refuses every connection from that many unauthenticated ones), got ${full}`);
  if (rate < 1 || rate > 100) throw invalid(`${name}: rate is a percentage from 1 to 100, got ${rate}`);
  if (start > full) throw invalid(`${name}: start (${start}) must not exceed full (${full})`);
  return { start, rate, full };
}

function count(value: unknown, name: string, min: number): number {
  if (value === Infinity) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw invalid(`${name} must be a whole number of at least ${min}, got ${String(value)}`);
  return value;
}

function seconds(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(`${name} must be a number of seconds, 0 or more, got ${String(value)}`);
  return value;
}

/** Checks `limits` and fills in the defaults; throws `ERR_INVALID_ARGUMENT` naming the option that is wrong. */
export function resolveServerLimits(limits: ServerLimits = {}): ResolvedLimits {
  const d = DEFAULT_SERVER_LIMITS;
  const ms = limits.maxStartups ?? d.maxStartups;
  const per = limits.perSourceMaxStartups ?? d.perSourceMaxStartups;
  return {
    loginGraceTime: seconds(limits.loginGraceTime ?? d.loginGraceTime, 'loginGraceTime'),
    maxAuthTries: count(limits.maxAuthTries ?? d.maxAuthTries, 'maxAuthTries', 1),
    maxStartups:
      typeof ms === 'string' ? parseMaxStartups(ms) : typeof ms === 'number' ? checkMaxStartups({ start: ms, rate: 100, full: ms }, 'maxStartups') : checkMaxStartups(ms, 'maxStartups'),
    perSourceMaxStartups: per === 'none' ? Infinity : count(per, 'perSourceMaxStartups', 1),
    maxSessions: count(limits.maxSessions ?? d.maxSessions, 'maxSessions', 0),
    shutdownGrace: seconds(limits.shutdownGrace ?? d.shutdownGrace, 'shutdownGrace'),
  };
}

/** The parts of ssh2's server-side connection (lib/server.js `Client`) read here. */
interface Ssh2Connection {
  _sock?: Socket;
  _protocol?: Ssh2Protocol;
  _chanMgr?: { _count: number; _channels: Record<number, unknown>; remove(id: number): void };
  authenticated?: boolean;
  noMoreSessions?: boolean;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  end(): unknown;
}

interface Ssh2Protocol {
  authFailure(...args: unknown[]): unknown;
  _authsQueue?: unknown[];
  _packetRW?: { write?: { allocStartKEX: number; alloc(n: number, force?: boolean): Buffer; finalize(b: Buffer, force?: boolean): Buffer } };
  _cipher?: { encrypt(packet: Buffer): unknown };
}

/** One accepted socket. */
interface Tracked {
  readonly socket: Socket;
  readonly address: string;
  readonly port: number | undefined;
  authenticated: boolean;
  /** Counted among the startups (unauthenticated connections) until it authenticates or closes. */
  startup: boolean;
  client?: Ssh2Connection;
  timer?: NodeJS.Timeout;
  attempts: number;
  failures: number;
}

interface LimitsState {
  limits: ResolvedLimits;
  logger: TraceLogger | undefined;
  readonly conns: Set<Tracked>;
  readonly bySocket: WeakMap<Socket, Tracked>;
  /** Unauthenticated connections, in all and per source address. */
  startups: number;
  readonly perSource: Map<string, number>;
  closing?: Promise<void>;
  /** Ends every connection now (a second close()). */
  closeNow?: () => void;
}

const LIMITS = Symbol.for('ssh-x509.server-limits');
/** SSH_DISCONNECT_PROTOCOL_ERROR, as sshd's auth_maxtries_exceeded() sends it (RFC 4253 section 11.1). */
const DISCONNECT_PROTOCOL_ERROR = 2;
/** SSH_MSG_DISCONNECT. */
const MSG_DISCONNECT = 1;

type LimitedServer = { _srv?: NetServer; emit(event: string | symbol, ...args: unknown[]): boolean; close(cb?: (err?: Error) => void): unknown; [LIMITS]?: LimitsState };

/**
 * Puts `limits` on an ssh2 Server (again: replaces them for later
 * connections) and gives it a graceful `close()`. The caller has checked
 * that `server` is an ssh2 Server of the ssh2 the bridge loads.
 */
export function applyServerLimits(server: object, limits: ServerLimits | undefined, logger: TraceLogger | undefined): void {
  const resolved = resolveServerLimits(limits);
  const target = server as LimitedServer;
  if (target[LIMITS]) {
    target[LIMITS].limits = resolved;
    target[LIMITS].logger = logger;
    return;
  }
  const srv = target._srv;
  if (!srv || typeof srv.listeners !== 'function' || srv.listeners('connection').length === 0) {
    throw unsupported('its Server has no net.Server `_srv` with a connection listener');
  }
  const state: LimitsState = { limits: resolved, logger, conns: new Set(), bySocket: new WeakMap(), startups: 0, perSource: new Map() };
  target[LIMITS] = state;

  const ssh2Listeners = srv.listeners('connection') as Array<(socket: Socket) => void>;
  srv.removeAllListeners('connection');
  srv.on('connection', (socket: Socket) => {
    if (!admit(state, socket)) return;
    for (const l of ssh2Listeners) l.call(srv, socket);
  });

  // ssh2 emits `connection` (the client, after its identification line) from the server's emit.
  const emit = target.emit;
  target.emit = function (this: LimitedServer, event: string | symbol, ...args: unknown[]) {
    if (event === 'connection') watchConnection(state, args[0] as Ssh2Connection);
    return emit.call(this, event, ...args);
  };

  const netClose = target.close;
  target.close = (callback?: (err?: Error) => void) => {
    if (state.closing) state.closeNow?.();
    state.closing ??= shutDown(state, (cb) => netClose.call(target, cb));
    // net.Server's callback form: the error (not listening) goes to the callback, as net's does.
    void state.closing.then(() => callback?.(), (e: Error) => callback?.(e));
    return state.closing.catch(() => undefined);
  };
}

/** Decides at accept: drop (MaxStartups, PerSourceMaxStartups, shutting down), or track and time the socket. */
function admit(state: LimitsState, socket: Socket): boolean {
  const address = socket.remoteAddress ?? 'unknown';
  const where = { address, port: socket.remotePort };
  if (state.closing) {
    socket.destroy();
    return false;
  }
  const { maxStartups, perSourceMaxStartups, loginGraceTime } = state.limits;
  const from = state.perSource.get(address) ?? 0;
  const drop = (why: string) => {
    emitTrace(state.logger, 'warn', `drop connection from ${address}: ${why}`, where);
    socket.destroy();
    return false;
  };
  if (state.startups >= maxStartups.full) return drop(`past MaxStartups (${state.startups} unauthenticated connections, full at ${maxStartups.full})`);
  if (state.startups >= maxStartups.start && earlyDrop(state.startups, maxStartups)) {
    return drop(`past MaxStartups (${state.startups} unauthenticated connections: random early drop from ${maxStartups.start})`);
  }
  if (from >= perSourceMaxStartups) return drop(`past PerSourceMaxStartups (${from} unauthenticated connections from this address)`);

  const t: Tracked = { socket, address, port: socket.remotePort, authenticated: false, startup: true, attempts: 0, failures: 0 };
  // ssh2 writes a flight as several packets (the KEX reply then NEWKEYS, ...): with Nagle's algorithm each one after
  // the first waits for the client's delayed ACK, ~40 ms. Measured: 58 ms per sequential login without, 5 ms with.
  // A stream given to injectSocket() need not be a TCP socket.
  if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
  state.conns.add(t);
  state.bySocket.set(socket, t);
  state.startups++;
  state.perSource.set(address, from + 1);
  if (loginGraceTime > 0) {
    t.timer = setTimeout(() => {
      emitTrace(state.logger, 'warn', `timeout before authentication for ${address} (LoginGraceTime ${loginGraceTime} s)`, where);
      socket.destroy();
    }, loginGraceTime * 1000);
  }
  socket.once('close', () => {
    state.conns.delete(t);
    leaveStartup(state, t);
  });
  return true;
}

/** sshd's drop_connection(): the drop probability rises linearly from `rate`% at `start` to 100% at `full`. */
function earlyDrop(startups: number, { start, rate, full }: MaxStartups): boolean {
  if (full === start) return true;
  const p = rate + ((100 - rate) * (startups - start)) / (full - start);
  return randomInt(100) < p;
}

/** A connection stops counting as a startup once it authenticated or closed. */
function leaveStartup(state: LimitsState, t: Tracked): void {
  if (t.timer) clearTimeout(t.timer);
  t.timer = undefined;
  if (!t.startup) return;
  t.startup = false;
  state.startups--;
  const n = (state.perSource.get(t.address) ?? 1) - 1;
  if (n > 0) state.perSource.set(t.address, n);
  else state.perSource.delete(t.address);
}

/** From ssh2's `connection` event on: authentication failures, authentication, and sessions of this connection. */
function watchConnection(state: LimitsState, client: Ssh2Connection): void {
  const t = client?._sock ? state.bySocket.get(client._sock) : undefined;
  const proto = client?._protocol;
  if (!t || !proto || typeof proto.authFailure !== 'function' || typeof client.emit !== 'function') return;
  t.client = client;
  const where = { address: t.address, port: t.port };
  client.once('ready', () => {
    t.authenticated = true;
    leaveStartup(state, t);
  });

  const authFailure = proto.authFailure;
  proto.authFailure = function (this: Ssh2Protocol, ...args: unknown[]) {
    t.attempts++;
    // As sshd (auth2.c): a first "none" request is how clients ask for the methods; it costs no try.
    const method = Array.isArray(this._authsQueue) ? this._authsQueue[0] : undefined;
    if (!(t.attempts === 1 && method === 'none')) t.failures++;
    const max = state.limits.maxAuthTries;
    if (t.failures >= max) {
      emitTrace(state.logger, 'warn', `too many authentication failures from ${t.address} (MaxAuthTries ${max}); disconnecting`, { ...where, method });
      disconnect(this, DISCONNECT_PROTOCOL_ERROR, 'Too many authentication failures');
      t.socket.end();
      return undefined;
    }
    return authFailure.apply(this, args);
  };

  const emit = client.emit;
  client.emit = function (this: Ssh2Connection, event: string | symbol, ...args: unknown[]) {
    if (event === 'session') {
      const reject = args[1] as (() => void) | undefined;
      const max = state.limits.maxSessions;
      const open = openSessions(client);
      if (state.closing || open >= max) {
        if (!state.closing) emitTrace(state.logger, 'warn', `session refused for ${t.address}: MaxSessions (${max}) open on this connection`, where);
        reject?.();
        return true;
      }
    }
    return emit.call(this, event, ...args);
  };
}

/** Session channels open on a connection (ssh2 keeps a session's entry in `_chanMgr` until the channel closes; `true` is one being opened). */
function openSessions(client: Ssh2Connection): number {
  const channels = client._chanMgr?._channels ?? {};
  let n = 0;
  for (const c of Object.values(channels)) if (c && typeof c === 'object' && (c as { type?: unknown }).type === 'session') n++;
  return n;
}

/** SSH_MSG_DISCONNECT with a description (ssh2's own `disconnect()` sends an empty one). */
function disconnect(proto: Ssh2Protocol, reason: number, description: string): void {
  const w = proto._packetRW?.write;
  if (!w || !proto._cipher) return;
  try {
    const payload = new SshWriter().byte(MSG_DISCONNECT).uint32(reason).string(description).string('').toBuffer();
    // As ssh2's disconnect(): a full packet, sent even in the middle of a key exchange.
    const packet = w.alloc(payload.length, true);
    packet.set(payload, w.allocStartKEX);
    proto._cipher.encrypt(w.finalize(packet, true));
  } catch {
    // the connection is going away anyway
  }
}

/**
 * Graceful stop: the listener closes; unauthenticated connections end now;
 * authenticated ones get no new session and end when their last channel
 * closes, or when `shutdownGrace` runs out. Resolves when all are closed.
 */
function shutDown(state: LimitsState, closeListener: (cb: (err?: Error) => void) => void): Promise<void> {
  const listenerClosed = new Promise<Error | undefined>((resolve) => closeListener((err) => resolve(err)));
  const endWhenIdle = (t: Tracked) => {
    const client = t.client!;
    client.noMoreSessions = true;
    const mgr = client._chanMgr;
    if (!mgr || mgr._count === 0) {
      client.end();
      return;
    }
    const remove = mgr.remove;
    mgr.remove = function (this: typeof mgr, id: number) {
      remove.call(this, id);
      if (this._count === 0) client.end();
    };
  };
  for (const t of state.conns) {
    if (t.authenticated && t.client) endWhenIdle(t);
    else t.socket.destroy();
  }
  const allClosed = new Promise<void>((resolve) => {
    const pending = [...state.conns].map((t) => new Promise<void>((r) => (t.socket.destroyed ? r() : t.socket.once('close', () => r()))));
    void Promise.all(pending).then(() => resolve());
  });
  const grace = state.limits.shutdownGrace;
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<void>((resolve) => {
    const now = (why: string) => {
      clearTimeout(timer);
      for (const t of state.conns) {
        emitTrace(state.logger, 'warn', `${why}: closing the connection from ${t.address}`, { address: t.address, port: t.port });
        t.socket.destroy();
      }
      resolve();
    };
    state.closeNow = () => now('closed again while shutting down');
    timer = setTimeout(() => now(`shutdown grace (${grace} s) over`), grace * 1000);
  });
  return Promise.race([allClosed, graceOver]).then(async () => {
    clearTimeout(timer);
    const err = await listenerClosed;
    if (err) throw err;
  });
}
