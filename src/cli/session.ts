/**
 * The ssh2 side of `connect`: logins hop by hop through jump hosts
 * (forwarded channels), host-key checking, port forwarding (-L, -R, -D
 * SOCKS5, and more at run time from `~C`), the remote command, shell or
 * subsystem with a pseudo-terminal that follows the window size, and
 * OpenSSH's escapes (`~.`, `~?`, `~#`, `~C`, `~^Z`). Loaded only once the
 * command line is checked.
 *
 * @module
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig, PseudoTtyOptions } from 'ssh2';
import { x509ForwardAgent } from '../adapters/ssh2/agent-forward.js';
import { ssh2ClientClass } from '../adapters/ssh2/compat.js';
import { applyCardRemovalPolicy, resolveUsername, x509ConnectConfig, type SessionSettings } from '../adapters/ssh2/session.js';
import { emitTrace, type TraceLogger } from '../adapters/trace.js';
import { chainCertificates, omittedRoot } from '../certs/chain.js';
import { ErrorCodes, isSshX509Error, SshX509Error } from '../errors.js';
import type { Signer } from '../signers/signer.js';
import { escapeFilter, escapeHelp, showEscape } from './escapes.js';
import { parseForward, type Forward } from './forward.js';
import type { CliIo } from './io.js';
import type { HostCertificateResult } from '../verify/host.js';
import type { StrictHostKeyChecking } from '../verify/known-hosts.js';

/** One login: a jump host or the target. */
export interface Hop {
  /** The name as typed (what known_hosts and messages use). */
  readonly alias: string;
  /** The address to connect to (HostName). */
  readonly host: string;
  readonly port: number;
  readonly knownHosts: string;
  readonly globalKnownHosts: readonly string[];
  readonly strict: StrictHostKeyChecking;
  /** `--host-key-algorithms` / HostKeyAlgorithms as written (`list`, `+list`, `-list`, `^list`). */
  readonly hostKeyAlgorithms?: string;
  /** `--host-trust`: host trust anchors for X.509 host keys. */
  readonly hostTrust?: readonly string[];
  readonly settings: SessionSettings;
}

/** Everything `connect` decided, checked. */
export interface SessionPlan {
  readonly io: CliIo;
  readonly logger: TraceLogger | undefined;
  readonly verbosity: number;
  readonly quiet: boolean;
  readonly jumps: readonly Hop[];
  readonly target: Hop;
  readonly command: readonly string[];
  readonly noCommand: boolean;
  /** The command names a subsystem to start (-s, SessionType subsystem). */
  readonly subsystem?: boolean;
  readonly stdinNull: boolean;
  readonly requestTty: 'no' | 'yes' | 'force' | 'auto';
  readonly forwards: readonly Forward[];
  readonly gatewayPorts: boolean;
  /** Serve the target's signers to it as an ssh-agent (-A, ForwardAgent). */
  readonly forwardAgent: boolean;
  readonly env: Readonly<Record<string, string>>;
  readonly compression: boolean;
  readonly escapeChar: string | undefined;
  readonly timeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  /** Called once every hop has logged in, before the session takes the terminal. */
  readonly onSessionStart?: () => void;
}

function warn(plan: SessionPlan, line: string): void {
  if (!plan.quiet) plan.io.stderr.write(`ssh-x509: warning: ${line}\n`);
}

/**
 * What to check when a server refused every certificate (the protocol says
 * no more than that): that it trusts the CA the chain leads to and admits
 * the certificate for the user; and, since a server without RFC 6187 refuses
 * every x509v3 algorithm alike, the plain-key route (--raw-key).
 */
function refusalHints(signers: readonly Signer[], username: string): string {
  const cas = [...new Set(signers.map((s) => {
    const certs = chainCertificates(s.chain);
    return omittedRoot(s.chain)?.subject ?? certs[certs.length - 1]!.issuer;
  }))];
  return (
    `The server must trust ${cas.map((c) => JSON.stringify(c)).join(' or ')} and admit the certificate for ${username}; ` +
    "a server without X.509 support (RFC 6187; OpenSSH has none) refuses every x509v3 algorithm: log in there with --raw-key (the key's authorized_keys line: ssh-x509 export-pub)"
  );
}

/** A host certificate refused because no path leads from it to the host trust anchors given (not for another flaw of a path that does). */
function notIssuedByAnchors(r: HostCertificateResult): boolean {
  return r.reason === 'missingIntermediate' || (r.reason === 'untrusted' && /not a trust anchor|does not verify with the key of/.test(r.message));
}

/** What is wrong when the host's certificate does not lead to the CAs of --host-trust / CACertificateFile, and what to do. */
async function untrustedHostLine(alias: string, r: HostCertificateResult, hostTrust: readonly string[]): Promise<string> {
  const { loadCertificateSources } = await import('../verify/anchors.js');
  const cas = await loadCertificateSources(hostTrust).then(
    (certs) => [...new Set(certs.map((c) => JSON.stringify(c.subject)))].join(', '),
    () => hostTrust.join(', '),
  );
  return (
    `host key verification failed (untrusted): the host certificate of ${alias} (${JSON.stringify(r.subject)}, issued by ${JSON.stringify(r.issuer)}) is not issued by the CA given ` +
    `with --host-trust / CACertificateFile (${cas}): give the CA that issued it, or check that ${alias} is the host you meant`
  );
}

/** Which card left, for the removal line: its token and reader when the signer is on a token (else nothing). */
function removedCard(signer: unknown): string {
  const at = (signer as { location?: { tokenLabel?: string; tokenSerial?: string; reader?: string } } | undefined)?.location;
  return at?.tokenLabel !== undefined && at.reader !== undefined ? `: token "${at.tokenLabel}" (serial ${at.tokenSerial}) in reader "${at.reader}"` : '';
}

/** Logs in to one hop (over `sock` when given) and resolves with the ready client. */
async function login(plan: SessionPlan, hop: Hop, sock?: Duplex, forwardAgent = false): Promise<Client> {
  const Ssh2Client = ssh2ClientClass();
  const client = new Ssh2Client();
  const { settings } = hop;
  const logger = settings.logger;
  const username = resolveUsername(settings);
  const auth = x509ConnectConfig({ ...settings, username });
  const signers = settings.signer as Signer[];
  const { hostCheckConfig, hostKeyAlgorithmsFor } = await import('./host-check.js');
  const hostCheck = hostCheckConfig({
    host: hop.host,
    port: hop.port,
    knownHosts: hop.knownHosts,
    globalKnownHosts: hop.globalKnownHosts,
    mode: hop.strict,
    ...(hop.hostTrust ? { hostTrust: hop.hostTrust } : {}),
    ...(hop.hostKeyAlgorithms !== undefined ? { hostKeyAlgorithms: hop.hostKeyAlgorithms } : {}),
    logger,
    io: plan.io,
    warn: (line) => {
      if (!plan.quiet) plan.io.stderr.write(`ssh-x509: ${line}\n`);
    },
  });
  let cardRemoved: string | undefined;
  client.on('card-removed' as never, (signer: unknown) => (cardRemoved = removedCard(signer)));
  applyCardRemovalPolicy(client, settings);
  const where = `${hop.alias} port ${hop.port}`;
  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const fail = (code: string | undefined, message: string) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(code ? new SshX509Error(code as never, message) : new Error(message));
    };
    client.once('ready', () => {
      settled = true;
      emitTrace(logger, 'info', 'authenticated', { user: username, host: hop.alias, port: hop.port });
      client.on('error', (err: Error) => plan.io.stderr.write(`ssh-x509: ${where}: ${err.message}\n`));
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string }) => {
      const hostRefusal = hostCheck.hostVerifier.refusal;
      const checked = hostCheck.hostVerifier.last?.certificate;
      if (hostRefusal && checked && !checked.ok && hop.hostTrust && notIssuedByAnchors(checked)) {
        // Said in the command's terms, with the CAs given (read again: only on this failure).
        settled = true;
        client.end();
        void untrustedHostLine(hop.alias, checked, hop.hostTrust).then((line) => reject(new SshX509Error(ErrorCodes.HOST_KEY_REJECTED, line)));
        return;
      }
      if (hostRefusal && checked && !checked.ok) {
        return fail(ErrorCodes.HOST_KEY_REJECTED, `host key verification failed (${hostRefusal.reason}): the host certificate of ${hop.alias} was refused: ${checked.message.replace(/^host certificate refused \([^)]*\): /, '')}`);
      }
      if (hostRefusal) return fail(ErrorCodes.HOST_KEY_REJECTED, `host key verification failed (${hostRefusal.reason}): ${hostRefusal.message.slice(hostRefusal.reason.length + 2)}`);
      if (err.level === 'client-authentication') {
        const offered = signers.map((s) => `${s.chain.leaf.subject} [${s.chain.fingerprints.sha256}]`).join('; ');
        const capped = settings.maxAttempts !== undefined ? ` (at most ${settings.maxAttempts} attempt${settings.maxAttempts === 1 ? '' : 's'}, --max-attempts)` : '';
        if (settings.rawKey) return fail(ErrorCodes.AUTH_FAILED, `Permission denied (publickey): ${username}@${hop.alias} refused every key offered${capped}: ${offered}`);
        return fail(ErrorCodes.AUTH_FAILED, `Permission denied (publickey): ${username}@${hop.alias} refused every certificate offered${capped}: ${offered}. ${refusalHints(signers, username)}`);
      }
      if (err.level === 'handshake' && /no matching host key format/.test(err.message)) {
        // ssh2 names no algorithm: say what was offered, and the way to the x509v3 ones.
        const offered = (hostCheck.algorithms?.serverHostKey as string[] | undefined) ?? hostKeyAlgorithmsFor(undefined, false);
        const hint = hop.hostTrust?.length
          ? 'choose others with --host-key-algorithms'
          : 'if its host key is an X.509 certificate, give --host-trust <ca.pem> (the CA that issued it) to accept the x509v3-* host key algorithms';
        return fail(undefined, `${where}: no matching host key format: the host offers none of ${offered.join(',')}; ${hint} (-vvv shows what the host offers)`);
      }
      // The signer's own failure (a refused PIN, a pulled card) is the user's to act on, not the network's: no host prefix.
      if (err.level === 'agent' && isSshX509Error(err)) return fail(err.code, err.message);
      fail(undefined, `${where}: ${err.message}`);
    });
    client.on('close', () => {
      if (cardRemoved !== undefined) return fail(ErrorCodes.TOKEN_REMOVED, `connection closed: the smartcard was removed (--disconnect-on-card-removal)${cardRemoved}`);
      fail(undefined, `connection to ${where} closed`);
    });
    const config: ConnectConfig = {
      ...(sock ? { sock: sock as never } : { host: hop.host, port: hop.port }),
      readyTimeout: plan.timeoutMs,
      keepaliveInterval: plan.keepaliveIntervalMs,
      keepaliveCountMax: plan.keepaliveCountMax,
      ...auth,
      ...(forwardAgent ? { agent: x509ForwardAgent(signers, { logger }), agentForward: true } : {}),
      algorithms: {
        ...(hostCheck.algorithms?.serverHostKey ? { serverHostKey: hostCheck.algorithms.serverHostKey } : {}),
        ...(plan.compression ? { compress: ['zlib@openssh.com', 'zlib', 'none'] as never } : {}),
      },
      hostVerifier: hostCheck.hostVerifier,
      debug: logger
        ? (msg: string) => {
            if (plan.verbosity >= 3 || /USERAUTH_(FAILURE|SUCCESS|PK_OK)|Agent: |auth failed/.test(msg)) emitTrace(logger, 'debug', `ssh2: ${msg}`);
          }
        : undefined,
    } as ConnectConfig;
    client.connect(config);
    // ssh2 writes each SSH packet with its own socket write. With Nagle's algorithm on, a packet that follows
    // another (KEXINIT then KEX_ECDH_INIT, NEWKEYS then SERVICE_REQUEST, env then exec) waits for the
    // server's delayed ACK of the first: about 40 ms each on Linux, four times per login. (A no-op over a jump.)
    client.setNoDelay(true);
  });
}

/** A forwarded channel from `client` to host:port. */
function forwardOut(client: Client, host: string, port: number, from = { host: '127.0.0.1', port: 0 }): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.forwardOut(from.host, from.port, host, port, (err, ch) => (err ? reject(err) : resolve(ch))));
}

/** The local address to listen on for -L and -D: OpenSSH's rules (loopback unless a bind address or GatewayPorts); undefined is every address. */
function localBind(bind: string | undefined, gatewayPorts: boolean): string | undefined {
  if (bind === undefined) return gatewayPorts ? undefined : '127.0.0.1';
  if (bind === '' || bind === '*') return undefined;
  return bind === 'localhost' ? '127.0.0.1' : bind;
}

function pipeBoth(a: Duplex, b: Duplex): void {
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.pipe(b).pipe(a);
}

/** A minimal SOCKS5 server side (RFC 1928: no authentication, CONNECT) over `open`. */
function socks5(sock: Socket, open: (host: string, port: number) => Promise<ClientChannel>): void {
  let buf = Buffer.alloc(0);
  let stage: 'greeting' | 'request' | 'done' = 'greeting';
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (stage === 'greeting') {
      if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
      if (buf[0] !== 5) return sock.destroy();
      const methods = buf.subarray(2, 2 + buf[1]!);
      buf = buf.subarray(2 + buf[1]!);
      if (!methods.includes(0)) {
        sock.end(Buffer.from([5, 0xff]));
        return;
      }
      sock.write(Buffer.from([5, 0]));
      stage = 'request';
    }
    if (stage === 'request') {
      if (buf.length < 5) return;
      const atyp = buf[3]!;
      const len = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + buf[4]! : -1;
      if (len < 0 || buf[0] !== 5) return sock.destroy();
      if (buf.length < 4 + len + 2) return;
      const addr = buf.subarray(4, 4 + len);
      const host = atyp === 1 ? [...addr].join('.') : atyp === 3 ? addr.subarray(1).toString('latin1') : (addr.toString('hex').match(/.{4}/g) ?? []).join(':');
      const port = buf.readUInt16BE(4 + len);
      const rest = buf.subarray(4 + len + 2);
      stage = 'done';
      sock.off('data', onData);
      sock.pause();
      const reply = (code: number) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
      if (buf[1] !== 1) {
        sock.end(reply(7));
        return;
      }
      open(host, port).then(
        (ch) => {
          sock.write(reply(0));
          if (rest.length) ch.write(rest);
          pipeBoth(sock, ch);
          sock.resume();
        },
        () => sock.end(reply(5)),
      );
    }
  };
  sock.on('data', onData);
  sock.on('error', () => undefined);
}

/** One open connection, for `~#`. */
interface OpenConnection {
  readonly id: number;
  readonly description: string;
}

/**
 * The forwards of a session: started from the plan, added and cancelled at
 * run time from the `~C` command line, and the connections open through
 * them (listed by `~#`).
 */
class Forwarder {
  private readonly local = new Map<number, { server: Server; forward: Forward }>();
  private readonly remote = new Map<number, Forward>();
  private readonly open = new Map<number, OpenConnection>();
  private nextId = 1;
  private remoteHandler = false;

  constructor(
    private readonly plan: SessionPlan,
    private readonly client: Client,
  ) {}

  /** Registers an open connection; returns its removal. */
  track(description: string): () => void {
    const id = this.nextId++;
    this.open.set(id, { id, description });
    return () => this.open.delete(id);
  }

  /** The open connections, oldest first. */
  connections(): OpenConnection[] {
    return [...this.open.values()];
  }

  /** Starts one forward; resolves to an error line, or undefined when it listens. */
  async add(f: Forward): Promise<string | undefined> {
    const { plan, client } = this;
    if (f.kind === 'remote') {
      const bound = await new Promise<number>((resolve, reject) =>
        client.forwardIn(remoteBind(f.bind), f.port, (err, port) => (err ? reject(err) : resolve(port || f.port))),
      ).catch((e: Error) => e);
      if (bound instanceof Error) return `remote port forwarding failed for listen port ${f.port}: ${bound.message}`;
      if (f.port === 0) plan.io.stderr.write(`Allocated port ${bound} for remote forward to ${f.toHost}:${f.toPort}\n`);
      this.remote.set(bound, f);
      this.listenRemote();
      emitTrace(plan.logger, 'info', 'remote forward', { listen: bound, to: `${f.toHost}:${f.toPort}` });
      return undefined;
    }
    const server = createServer((sock) => {
      const from = { host: sock.remoteAddress ?? '127.0.0.1', port: sock.remotePort ?? 0 };
      const listening = (server.address() as { port: number } | null)?.port ?? f.port;
      const done = this.track(
        f.kind === 'dynamic'
          ? `dynamic-tcpip: SOCKS listening port ${listening}, connect from ${from.host} port ${from.port}`
          : `direct-tcpip: listening port ${listening} for ${f.toHost} port ${f.toPort}, connect from ${from.host} port ${from.port}`,
      );
      sock.once('close', done);
      if (f.kind === 'dynamic') return socks5(sock, (host, port) => forwardOut(client, host, port, from));
      sock.pause();
      forwardOut(client, f.toHost!, f.toPort!, from).then(
        (ch) => {
          pipeBoth(sock, ch);
          sock.resume();
        },
        (e: Error) => {
          emitTrace(plan.logger, 'warn', `channel open failed for ${f.toHost}:${f.toPort}: ${e.message}`);
          sock.destroy();
        },
      );
    });
    const address = localBind(f.bind, plan.gatewayPorts);
    const failed = await new Promise<string | undefined>((resolve) => {
      server.once('error', (e: Error) => resolve(`bind ${address ?? '*'} port ${f.port}: ${e.message}`));
      server.listen(f.port, address, () => resolve(undefined));
    });
    if (failed) return failed;
    const bound = server.address() as { address: string; port: number };
    this.local.set(bound.port, { server, forward: f });
    emitTrace(plan.logger, 'info', `${f.kind} forward`, { listen: `${bound.address}:${bound.port}`, ...(f.toHost ? { to: `${f.toHost}:${f.toPort}` } : {}) });
    return undefined;
  }

  /** Cancels the forward listening on `port` (~C -KL, -KR, -KD); resolves to an error line, or undefined. */
  async cancel(kind: Forward['kind'], port: number): Promise<string | undefined> {
    if (kind === 'remote') {
      const f = this.remote.get(port);
      if (!f) return `Unknown remote forward port ${port}`;
      this.remote.delete(port);
      return new Promise((resolve) => this.client.unforwardIn(remoteBind(f.bind), port, (err) => resolve(err ? `cancel remote forward ${port}: ${err.message}` : undefined)));
    }
    const l = this.local.get(port);
    if (!l || l.forward.kind !== kind) return `Unknown ${kind} forward port ${port}`;
    this.local.delete(port);
    l.server.close();
    return undefined;
  }

  /** Stops listening (the open connections end with the session). */
  close(): void {
    for (const { server } of this.local.values()) server.close();
    this.local.clear();
  }

  private listenRemote(): void {
    if (this.remoteHandler) return;
    this.remoteHandler = true;
    this.client.on('tcp connection', (info, accept, reject) => {
      const f = this.remote.get(info.destPort);
      if (!f) return reject();
      const ch = accept();
      const done = this.track(`forwarded-tcpip: listening port ${info.destPort} for ${f.toHost} port ${f.toPort}, connect from ${info.srcIP} port ${info.srcPort}`);
      ch.once('close', done);
      ch.pause();
      const sock = netConnect(f.toPort!, f.toHost!, () => {
        pipeBoth(ch, sock);
        ch.resume();
      });
      sock.on('error', () => ch.destroy());
    });
  }
}

/** The address a remote forward asks the server to listen on (OpenSSH: loopback unless given). */
function remoteBind(bind: string | undefined): string {
  return bind === undefined || bind === 'localhost' ? 'localhost' : bind === '*' ? '' : bind;
}

/** Starts the plan's forwards on `client`; a forward that fails is a warning, as in OpenSSH. */
async function startForwards(plan: SessionPlan, client: Client): Promise<Forwarder> {
  const forwarder = new Forwarder(plan, client);
  for (const f of plan.forwards) {
    const failed = await forwarder.add(f);
    if (failed) warn(plan, failed);
  }
  return forwarder;
}

const COMMAND_LINE_HELP = [
  'Commands:',
  '      -L[bind_address:]port:host:hostport    Request local forward',
  '      -R[bind_address:]port:host:hostport    Request remote forward',
  '      -D[bind_address:]port                  Request dynamic forward',
  '      -KL[bind_address:]port                 Cancel local forward',
  '      -KR[bind_address:]port                 Cancel remote forward',
  '      -KD[bind_address:]port                 Cancel dynamic forward',
  '',
].join('\r\n');

/**
 * The `~C` command line: `-L`, `-R`, `-D` add a forward, `-KL`, `-KR`, `-KD`
 * cancel one (by its listening port), as in OpenSSH. Resolves to what to
 * print (CR LF line ends: the terminal is raw).
 */
async function commandLine(line: string, forwarder: Forwarder): Promise<string> {
  const t = line.trim();
  if (t === '') return '';
  if (t === '?' || t === '-h' || t === 'help') return COMMAND_LINE_HELP;
  const m = /^-(K?)([LRD])\s*(.+)$/.exec(t);
  if (!m) return `Invalid command.\r\n${COMMAND_LINE_HELP}`;
  const kind = ({ L: 'local', R: 'remote', D: 'dynamic' } as const)[m[2] as 'L' | 'R' | 'D'];
  let failed: string | undefined;
  try {
    if (m[1]) {
      const port = Number(m[3]!.split(':').pop());
      if (!Number.isInteger(port) || port < 1 || port > 65535) return `Bad forwarding close port ${JSON.stringify(m[3])}\r\n`;
      failed = await forwarder.cancel(kind, port);
      return failed ? `${failed}\r\n` : 'Canceled forwarding.\r\n';
    }
    failed = await forwarder.add(parseForward(kind, m[3]!.trim()));
  } catch (e) {
    return `${(e as Error).message}\r\n`;
  }
  return failed ? `${failed}\r\n` : 'Forwarding port.\r\n';
}

/**
 * Logs in through the jump hosts to the target (each client is added to
 * `clients`, for the caller to end) and resolves with the target's client.
 */
export async function loginAll(plan: SessionPlan, clients: Client[]): Promise<Client> {
  let sock: Duplex | undefined;
  const hops = [...plan.jumps, plan.target];
  for (let i = 0; i < hops.length; i++) {
    const hop = hops[i]!;
    const client = await login(plan, hop, sock, plan.forwardAgent && i === hops.length - 1);
    clients.push(client);
    const next = hops[i + 1];
    if (next) {
      emitTrace(plan.logger, 'info', 'jump', { via: `${hop.alias}:${hop.port}`, to: `${next.host}:${next.port}` });
      sock = await forwardOut(client, next.host, next.port).catch((e: Error) => {
        throw new Error(`jump host ${hop.alias} could not open a channel to ${next.host} port ${next.port}: ${e.message}`);
      });
    }
  }
  return clients[clients.length - 1]!;
}

/**
 * What the user types on a terminal, with OpenSSH's escapes (`~.`, `~?`,
 * `~#`, `~^Z`, `~&`, `~C`, `~~`): returns the listener for the terminal's
 * data.
 */
function escapeSession(
  plan: SessionPlan,
  stream: ClientChannel,
  forwards: Forwarder,
  session: { disconnect: () => void; rawMode: (on: boolean) => void; what: string },
): (d: Buffer) => void {
  const esc = plan.escapeChar!;
  const shown = showEscape(esc);
  const say = (text: string) => void plan.io.stderr.write(text);
  // The ~C command line while it is typed (undefined: not in it). As OpenSSH,
  // the remote side's output waits while the prompt is up (it stays in the
  // channel, under its flow control) and follows once the command has answered.
  let line: string | undefined;
  const holdOutput = (hold: boolean) => {
    const { stdout, stderr } = plan.io;
    if (hold) {
      stream.unpipe(stdout);
      stream.stderr.unpipe(stderr);
      stream.pause();
      stream.stderr.pause();
    } else {
      stream.pipe(stdout, { end: false });
      stream.stderr.pipe(stderr, { end: false });
    }
  };
  const lineInput = (d: Buffer): Buffer => {
    for (let i = 0; i < d.length; i++) {
      const b = d[i]!;
      if (b === 0x0d || b === 0x0a) {
        const typed = line!;
        line = undefined;
        say('\r\n');
        void commandLine(typed, forwards).then((answer) => {
          say(answer);
          holdOutput(false);
        });
        return d.subarray(i + 1);
      }
      if (b === 0x03 || b === 0x1b) {
        line = undefined;
        say('\r\n');
        holdOutput(false);
        return d.subarray(i + 1);
      }
      if (b === 0x7f || b === 0x08) {
        if (line!.length) {
          line = line!.slice(0, -1);
          say('\b \b');
        }
        continue;
      }
      if (b >= 0x20 && b < 0x7f) {
        line += String.fromCharCode(b);
        say(String.fromCharCode(b));
      }
    }
    return Buffer.alloc(0);
  };
  const filter = escapeFilter(esc, (command, rest) => {
    switch (command) {
      case '.':
        return session.disconnect();
      case '?':
        return say(`${shown}?\r\n${escapeHelp(esc)}`);
      case '#': {
        const open = [`  #0 client-session (${session.what})`, ...forwards.connections().map((c) => `  #${c.id} ${c.description}`)];
        return say(`${shown}#\r\nThe following connections are open:\r\n${open.join('\r\n')}\r\n`);
      }
      case '&':
        return say(`${shown}& [not available: ssh-x509 cannot detach from the terminal and keep serving]\r\n`);
      case 'suspend':
        say(`${shown}^Z [suspend ssh-x509]\r\n`);
        session.rawMode(false);
        process.once('SIGCONT', () => session.rawMode(true));
        process.kill(process.pid, 'SIGTSTP');
        return;
      case 'C':
        line = '';
        after = rest;
        holdOutput(true);
        return say('\r\nssh> ');
    }
  });
  // What was typed after ~C in the same read: it goes to the command line.
  let after: Buffer | undefined;
  const typed = (d: Buffer): void => {
    let data: Buffer | undefined = d;
    while (data?.length) {
      if (line !== undefined) {
        data = lineInput(data);
        continue;
      }
      after = undefined;
      const send = filter(data);
      if (send.length) stream.write(send);
      data = after;
    }
  };
  return typed;
}

/** Logs in through the jump hosts to the target, runs the plan, and resolves to the exit status. */
export async function runSession(plan: SessionPlan): Promise<number> {
  const clients: Client[] = [];
  let forwarder: Forwarder | undefined;
  const { io } = plan;
  // The process's streams are taken when first needed (main.ts makes them lazily; each costs some milliseconds):
  // standard input at the latest while the server opens the channel, not before logging in.
  let stdinTaken: CliIo['stdin'] | undefined;
  const stdin = (): CliIo['stdin'] => (stdinTaken ??= io.stdin);
  let rawMode = false;
  let onTyped: ((d: Buffer) => void) | undefined;
  const restore = () => {
    if (rawMode && stdinTaken?.setRawMode) stdinTaken.setRawMode(false);
    rawMode = false;
  };
  try {
    const client = await loginAll(plan, clients);
    plan.onSessionStart?.();
    forwarder = await startForwards(plan, client);
    const forwards = forwarder;

    return await new Promise<number>((resolve) => {
      let done = false;
      let channel: ClientChannel | undefined;
      const finish = (code: number, line?: string) => {
        if (done) return;
        done = true;
        process.off('SIGWINCH', onResize);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        restore();
        if (line) io.stderr.write(line);
        resolve(code);
      };
      const onSignal = () => finish(plan.noCommand ? 0 : 255);
      const out = () => io.stdout as NodeJS.WriteStream;
      const onResize = () => channel?.setWindow(out().rows ?? 24, out().columns ?? 80, 0, 0);
      // Any hop closing ends the session; a pulled card says so (--disconnect-on-card-removal).
      let cardRemoved: string | undefined;
      const removedLine = () => (cardRemoved !== undefined ? `ssh-x509: connection closed: the smartcard was removed (--disconnect-on-card-removal)${cardRemoved}\n` : undefined);
      // A connection that closes before the session ends says so, as OpenSSH's "closed by remote host" (a server that
      // drops it after login, say, would otherwise leave an exit status of 255 and nothing on the screen).
      const hops = [...plan.jumps, plan.target];
      clients.forEach((c, i) => {
        c.on('card-removed' as never, (signer: unknown) => (cardRemoved = removedCard(signer)));
        c.on('close', () => finish(255, removedLine() ?? `ssh-x509: connection to ${hops[i]?.alias ?? plan.target.alias} port ${hops[i]?.port ?? plan.target.port} closed by the remote host\n`));
      });
      if (plan.noCommand) {
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        return;
      }
      const shell = plan.command.length === 0;
      const wantTty = plan.requestTty === 'force' || ((plan.requestTty === 'yes' || (plan.requestTty === 'auto' && shell)) && stdin().isTTY === true);
      if (plan.requestTty === 'yes' && !stdin().isTTY) warn(plan, 'Pseudo-terminal will not be allocated because stdin is not a terminal.');
      const pty: PseudoTtyOptions | false = wantTty ? { term: io.env.TERM ?? 'xterm', rows: out().rows ?? 24, cols: out().columns ?? 80 } : false;
      const onStream = (err: Error | undefined, stream: ClientChannel) => {
        if (err) return finish(255, `ssh-x509: cannot start the remote ${shell ? 'shell' : 'command'}: ${err.message}\n`);
        channel = stream;
        let status = 255;
        stream.on('exit', (code: number | null) => {
          if (typeof code === 'number') status = code;
        });
        stream.on('close', () => (cardRemoved !== undefined ? finish(255, removedLine()) : finish(status)));
        stream.pipe(io.stdout, { end: false });
        stream.stderr.pipe(io.stderr, { end: false });
        if (pty) process.on('SIGWINCH', onResize);
        const tty = pty ? stdin() : undefined;
        if (tty?.isTTY && tty.setRawMode) {
          tty.setRawMode(true);
          rawMode = true;
        }
        if (plan.stdinNull) return void stream.end();
        const input = stdin();
        if (pty && input.isTTY && plan.escapeChar) {
          onTyped = escapeSession(plan, stream, forwards, {
            disconnect: () => {
              // As OpenSSH's ~.: what the server sends from now on (its next prompt, say) is not shown after the last line.
              stream.unpipe(io.stdout);
              stream.stderr.unpipe(io.stderr);
              client.end();
              finish(255, `\r\nConnection to ${plan.target.alias} closed.\r\n`);
            },
            rawMode: (on) => {
              if (!input.setRawMode) return;
              input.setRawMode(on);
              rawMode = on;
              if (on) onResize();
            },
            what: `${shell ? 'the shell' : 'the command'} on ${plan.target.alias}`,
          });
          input.on('data', onTyped);
          input.on('end', () => stream.end());
          input.resume();
          return;
        }
        if (!input.isTTY || shell || pty) input.pipe(stream);
      };
      const env = Object.keys(plan.env).length ? { env: { ...plan.env } } : {};
      if (plan.subsystem) client.subsys(plan.command.join(' '), onStream);
      else if (!shell) client.exec(plan.command.join(' '), { ...(pty ? { pty } : {}), ...env }, onStream);
      else client.shell(pty, env, onStream);
      // The request is on its way: the streams are made while the server answers.
      if (!plan.stdinNull) stdin();
      void io.stdout;
      void io.stderr;
    });
  } finally {
    restore();
    forwarder?.close();
    for (const c of clients.reverse()) c.end();
    stdinTaken?.unpipe?.();
    if (onTyped) stdinTaken?.off('data', onTyped);
    stdinTaken?.pause?.();
  }
}
