/**
 * sshd's limits on `ssh-x509 serve` (a process, on loopback), with short
 * limits: LoginGraceTime closes connections that never authenticate (silent,
 * banner-only, truncated KEXINIT); MaxAuthTries disconnects after that many
 * failures with sshd's DISCONNECT; MaxStartups drops at random from `start`
 * and refuses all at `full`; PerSourceMaxStartups caps one address;
 * MaxSessions caps the sessions of a connection; SIGTERM ends
 * unauthenticated connections at once and exits 0; invalid values are usage
 * errors. And `x509Server`'s close() in process: it resolves, lets an open
 * session finish, and bounds the wait by shutdownGrace.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ssh2 from 'ssh2';
import { plainHostKey, SoftwareSigner, x509AuthHandler, x509Authentication, x509Server, X509Verifier, type TraceEvent } from '../src/index.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';

let dir: string;
let pki: TestPki;
let hostKey: string;
let alice: IssuedCert;
let aliceSigner: SoftwareSigner;
let wrongKey: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-limits-'));
  pki = await createTestPki(join(dir, 'pki'));
  hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  wrongKey = join(dir, 'wrong_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
  alice = await pki.issue('alice', 'p256');
  aliceSigner = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const serveArgs = (...more: string[]) => ['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'off', ...more];

/** A raw TCP connection: `admitted` once the server's identification line arrives, `closed` (ms after connect) when it goes. */
interface Raw {
  socket: Socket;
  /** True when the server sent its identification line, false when it closed the connection without one. */
  admitted: Promise<boolean>;
  /** Milliseconds from connect to close. */
  closed: Promise<number>;
  received(): Buffer;
}

function raw(port: number, opts: { localAddress?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...opts });
    let data = Buffer.alloc(0);
    let start = 0;
    let onAdmit: (v: boolean) => void = () => undefined;
    const admitted = new Promise<boolean>((r) => (onAdmit = r));
    const closed = new Promise<number>((r) => socket.once('close', () => {
      onAdmit(false);
      r(Date.now() - start);
    }));
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.includes('\r\n') && data.subarray(0, 4).toString() === 'SSH-') onAdmit(true);
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      start = Date.now();
      resolve({ socket, admitted, closed, received: () => data });
    });
    socket.once('error', reject);
  });
}

/** An SSH binary packet (cleartext, before NEWKEYS), RFC 4253 section 6. */
function packet(payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(1 + payload.length + pad);
  head[4] = pad;
  return Buffer.concat([head, payload, Buffer.alloc(pad)]);
}

/** A client KEXINIT (RFC 4253 section 7.1) naming algorithms ssh2 serves. */
function kexinit(): Buffer {
  const list = (s: string) => {
    const b = Buffer.alloc(4 + s.length);
    b.writeUInt32BE(s.length);
    b.write(s, 4);
    return b;
  };
  return Buffer.concat([
    Buffer.from([20]),
    Buffer.alloc(16, 7),
    ...['curve25519-sha256', 'ssh-ed25519', 'aes128-ctr', 'aes128-ctr', 'hmac-sha2-256', 'hmac-sha2-256', 'none', 'none', '', ''].map(list),
    Buffer.from([0, 0, 0, 0, 0]),
  ]);
}

/** An ssh2 Client logged in as alice with her certificate. */
async function loginAlice(port: number): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: 'alice', authHandler: x509AuthHandler('alice', { signer: aliceSigner }) });
  });
  return client;
}

/** Waits until `pred` holds or `ms` pass. */
async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return pred();
}

/** An ssh2 Client that authenticates with `next()` until it says false; resolves with the tries made and how the connection ended. */
function failingLogins(port: number, next: (n: number) => Record<string, unknown> | false): Promise<{ tries: number; error?: Error & { code?: unknown; level?: string } }> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let tries = 0;
    let error: (Error & { code?: unknown }) | undefined;
    client.on('error', (e) => (error ??= e));
    client.on('ready', () => client.end());
    client.on('close', () => resolve({ tries, ...(error ? { error } : {}) }));
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'alice',
      readyTimeout: 20_000,
      authHandler: (_methods, _partial, cb) => {
        const method = next(tries);
        if (method) tries++;
        cb(method as unknown as ssh2.AuthenticationType);
      },
    });
  });
}

describe('serve --login-grace-time', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(serveArgs('--login-grace-time', '3'));
  }, 30_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('closes a silent, a banner-only and a truncated-KEXINIT connection after 3 s, within 6 s', async () => {
    const silent = await raw(server.port);
    const banner = await raw(server.port);
    banner.socket.write('SSH-2.0-banner-only\r\n');
    const truncated = await raw(server.port);
    const k = packet(kexinit());
    truncated.socket.write(Buffer.concat([Buffer.from('SSH-2.0-truncated\r\n'), k.subarray(0, k.length - 20)]));
    const times = await Promise.all([silent.closed, banner.closed, truncated.closed]);
    for (const t of times) {
      // Not before the grace time (a close for some other reason would come at once), and within 6 s.
      expect(t).toBeGreaterThanOrEqual(2_500);
      expect(t).toBeLessThan(6_000);
    }
    const log = await server.waitForLog(/(timeout before authentication for 127\.0\.0\.1[^\n]*\n[^]*){3}/);
    expect(log).toMatch(/timeout before authentication for 127\.0\.0\.1 \(LoginGraceTime 3 s\) address=127\.0\.0\.1 port=\d+/);
  }, 20_000);

  it('a connection that authenticated in time is not closed by it', async () => {
    const client = await loginAlice(server.port);
    let closed = false;
    client.once('close', () => (closed = true));
    await new Promise((r) => setTimeout(r, 4_000));
    expect(closed).toBe(false);
    client.end();
  }, 20_000);
});

describe('serve --max-auth-tries', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(serveArgs('--max-auth-tries', '3'));
  }, 30_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('disconnects a client offering wrong passwords at its 3rd failure, with "Too many authentication failures" (reason 2)', async () => {
    const r = await failingLogins(server.port, (n) => (n < 20 ? { type: 'password', username: 'alice', password: `wrong${n}` } : false));
    expect(r.tries).toBe(3);
    expect(r.error?.message).toBe('Too many authentication failures');
    expect(r.error?.code).toBe(2);
    await server.waitForLog(/too many authentication failures from 127\.0\.0\.1 \(MaxAuthTries 3\); disconnecting address=127\.0\.0\.1 port=\d+ method=password/);
  }, 30_000);

  it('disconnects a client offering wrong keys at its 3rd failure', async () => {
    const key = readFileSync(wrongKey);
    const r = await failingLogins(server.port, (n) => (n < 20 ? { type: 'publickey', username: 'alice', key } : false));
    expect(r.tries).toBe(3);
    expect(r.error?.message).toBe('Too many authentication failures');
  }, 30_000);

  it('a first "none" request costs no try, as in sshd', async () => {
    const r = await failingLogins(server.port, (n) => (n === 0 ? { type: 'none', username: 'alice' } : n < 20 ? { type: 'password', username: 'alice', password: 'wrong' } : false));
    expect(r.tries).toBe(4);
    expect(r.error?.message).toBe('Too many authentication failures');
  }, 30_000);
});

describe('serve --max-startups and --per-source-max-startups', () => {
  it('drops at random from start (some dropped, some admitted) and refuses every connection at full', async () => {
    const server = await startServe(serveArgs('--max-startups', '2:50:100'));
    try {
      const held = [await raw(server.port), await raw(server.port)];
      expect(await Promise.all(held.map((h) => h.admitted))).toEqual([true, true]);
      // From 2 unauthenticated connections on, each new one is dropped with probability 50% or more:
      // 30 tries all admitted, or all dropped, has a probability under 2^-30.
      const outcomes: boolean[] = [];
      for (let i = 0; i < 30; i++) {
        const c = await raw(server.port);
        outcomes.push(await c.admitted);
        if (outcomes.at(-1)) held.push(c);
      }
      expect(outcomes.filter((a) => a).length).toBeGreaterThan(0);
      expect(outcomes.filter((a) => !a).length).toBeGreaterThan(0);
      await server.waitForLog(/drop connection from 127\.0\.0\.1: past MaxStartups \(\d+ unauthenticated connections: random early drop from 2\) address=127\.0\.0\.1/);
      for (const h of held) h.socket.destroy();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);

  it('refuses every connection from full on; a closed one frees its place; an authenticated one does not count', async () => {
    const server = await startServe(serveArgs('--max-startups', '3'));
    try {
      const held = [await raw(server.port), await raw(server.port), await raw(server.port)];
      expect(await Promise.all(held.map((h) => h.admitted))).toEqual([true, true, true]);
      for (let i = 0; i < 5; i++) expect(await (await raw(server.port)).admitted).toBe(false);
      await server.waitForLog(/drop connection from 127\.0\.0\.1: past MaxStartups \(3 unauthenticated connections, full at 3\)/);
      held.pop()!.socket.destroy();
      // The server sees the close a moment later.
      await new Promise((r) => setTimeout(r, 200));
      let again = await raw(server.port);
      expect(await again.admitted).toBe(true);
      held.push(again);
      // Now full again; an authenticated login frees its place once it is in.
      held.pop()!.socket.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const client = await loginAlice(server.port);
      again = await raw(server.port);
      expect(await again.admitted).toBe(true);
      held.push(again);
      client.end();
      for (const h of held) h.socket.destroy();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);

  it('--per-source-max-startups 2: a third unauthenticated connection from one address is dropped, one from another address is not', async () => {
    const server = await startServe(serveArgs('--per-source-max-startups', '2'));
    try {
      const held = [await raw(server.port), await raw(server.port)];
      expect(await Promise.all(held.map((h) => h.admitted))).toEqual([true, true]);
      expect(await (await raw(server.port)).admitted).toBe(false);
      await server.waitForLog(/drop connection from 127\.0\.0\.1: past PerSourceMaxStartups \(2 unauthenticated connections from this address\) address=127\.0\.0\.1/);
      const other = await raw(server.port, { localAddress: '127.0.0.2' });
      expect(await other.admitted).toBe(true);
      for (const h of [...held, other]) h.socket.destroy();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});

describe('serve --max-sessions', () => {
  it('refuses a third session while two are open on the connection, and takes one again once they closed', async () => {
    const server = await startServe(serveArgs('--max-sessions', '2'));
    try {
      const client = await loginAlice(server.port);
      const exec = () =>
        new Promise<string>((resolve, reject) =>
          client.exec('whoami', (err, stream) => {
            if (err) return reject(err);
            let out = '';
            stream.on('data', (d: Buffer) => (out += d.toString()));
            stream.on('close', () => resolve(out));
          }),
        );
      // The three channel opens leave in one write, before any exec (sent once each open is confirmed):
      // the server sees the third while the first two are open.
      const results = await Promise.allSettled([exec(), exec(), exec()]);
      expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<string>).value)).toEqual([
        expect.stringMatching(/^authenticated alice via /),
        expect.stringMatching(/^authenticated alice via /),
      ]);
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([expect.stringMatching(/open failure/i)]);
      await server.waitForLog(/session refused for 127\.0\.0\.1: MaxSessions \(2\) open on this connection/);
      expect(await exec()).toMatch(/^authenticated alice via /);
      client.end();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});

describe('serve stops on SIGTERM', () => {
  it('with 5 silent and 2 mid-handshake connections open, exits 0 within 5 s and closes them all', async () => {
    const server = await startServe(serveArgs());
    const silent = await Promise.all(Array.from({ length: 5 }, () => raw(server.port)));
    const mid = await Promise.all(Array.from({ length: 2 }, () => raw(server.port)));
    for (const m of mid) m.socket.write(Buffer.concat([Buffer.from('SSH-2.0-mid-handshake\r\n'), packet(kexinit())]));
    // Mid-handshake: the server's KEXINIT (message 20) has arrived after its identification line.
    expect(await until(() => mid.every((m) => m.received().length > 100), 10_000)).toBe(true);
    const t0 = Date.now();
    const code = await new Promise<number | null>((resolve) => {
      server.child.once('exit', (c) => resolve(c));
      server.child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await Promise.all([...silent, ...mid].map((c) => c.closed));
  }, 30_000);

  it('an authenticated connection with no session open is ended at once; SIGINT works as SIGTERM', async () => {
    const server = await startServe(serveArgs('--shutdown-grace', '20'));
    const client = await loginAlice(server.port);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    const t0 = Date.now();
    const code = await new Promise<number | null>((resolve) => {
      server.child.once('exit', (c) => resolve(c));
      server.child.kill('SIGINT');
    });
    await closed;
    expect(code).toBe(0);
    // Far below the 20 s grace: nothing was left to finish.
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 30_000);
});

describe('serve: invalid limits are usage errors', () => {
  it.each([
    [['--login-grace-time', 'soon'], /--login-grace-time must be a number of seconds \(0 or more\), got "soon"/],
    [['--max-auth-tries', '0'], /--max-auth-tries must be a whole number of at least 1, got "0"/],
    [['--max-startups', '10:30'], /--max-startups must be <start:rate:full>.*got "10:30"/],
    [['--max-startups', '30:30:10'], /--max-startups: start \(30\) must not exceed full \(10\)/],
    [['--max-startups', '10:101:100'], /--max-startups: rate is a percentage from 1 to 100, got 101/],
    [['--per-source-max-startups=0'], /--per-source-max-startups must be a whole number of at least 1, got "0"/],
    [['--max-sessions', 'many'], /--max-sessions must be a whole number of at least 0, got "many"/],
    [['--shutdown-grace=-5'], /--shutdown-grace must be a number of seconds \(0 or more\), got "-5"/],
  ])('%j', async (args, message) => {
    const r = await runCommand(['serve', '--listen', '127.0.0.1:0', '--host-key', 'none.pem', '--trust', 'none.pem', '--map', 'upn', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  }, 30_000);

  it('--help says what revocation mode prefer lets in', async () => {
    const r = await runCommand(['serve', '--help']);
    expect(r.stdout).toMatch(/while a responder is down, a revoked certificate can\s+log in/);
    expect(r.stdout).toMatch(/--max-startups <s:r:f>/);
  }, 30_000);
});

describe('serve --revocation prefer with no source answering', () => {
  it('lets the login in and logs a warning with the subject and serial', async () => {
    const bob = await pki.issue('bob', 'p256', { ocspUrl: 'http://127.0.0.1:9/ocsp', serial: '1234abcd' });
    const signer = await SoftwareSigner.fromFiles({ certificateFile: bob.chainPath, keyFile: bob.keyPath });
    const server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'prefer']);
    try {
      const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, username: 'bob', authHandler: x509AuthHandler('bob', { signer }) }, 'whoami');
      expect(r.stdout).toMatch(/^authenticated bob via .* revocation=none/);
      const log = await server.waitForLog(/revocation not checked/);
      expect(log).toMatch(/revocation not checked: no source answered, and revocation mode prefer lets the login in \(a revoked certificate would be let in too\) username=bob account=bob subject="O=ssh-x509 Test, CN=bob" serial=1234abcd sha256=SHA256:\S+ detail=.*http:\/\/127\.0\.0\.1:9\/ocsp/);
      expect(log).not.toMatch(/BEGIN|PRIVATE/);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});

describe('x509Server close()', () => {
  /** An ssh2 Server through x509Server whose exec answers only when `release()` is called. */
  async function heldServer(options: Parameters<typeof x509Server>[1]) {
    const verifier = await X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' } });
    const pending: Array<() => void> = [];
    const events: TraceEvent[] = [];
    const server = new ssh2.Server({ hostKeys: [plainHostKey(generateKeyPairSync('ed25519').privateKey)] }, (client) => {
      client.on('authentication', x509Authentication(verifier));
      client.on('ready', () =>
        client.on('session', (acceptSession) =>
          acceptSession().on('exec', (acceptExec) => {
            const stream = acceptExec();
            pending.push(() => {
              stream.write('done\n');
              stream.exit(0);
              stream.end();
            });
          }),
        ),
      );
      client.on('error', () => undefined);
    });
    const limited = x509Server(server, { verifier, logger: (e: TraceEvent) => events.push(e), ...options });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server: limited, port: (server.address() as AddressInfo).port, pending, events };
  }

  async function login(port: number): Promise<ssh2.Client> {
    const client = await loginAlice(port);
    client.on('error', () => undefined);
    return client;
  }

  it('resolves once unauthenticated connections are closed and a running session has finished; refuses new connections meanwhile', async () => {
    const s = await heldServer({ shutdownGrace: 20 });
    const silent = await raw(s.port);
    const client = await login(s.port);
    const output = new Promise<string>((resolve, reject) =>
      client.exec('work', (err, stream) => {
        if (err) return reject(err);
        let out = '';
        stream.on('data', (d: Buffer) => (out += d.toString()));
        stream.on('close', () => resolve(out));
      }),
    );
    expect(await until(() => s.pending.length === 1, 10_000)).toBe(true);
    let resolved = false;
    const closing = s.server.close().then(() => (resolved = true));
    await silent.closed;
    // The session is still running: close() waits for it.
    await new Promise((r) => setTimeout(r, 300));
    expect(resolved).toBe(false);
    await expect(raw(s.port)).rejects.toThrow(/ECONNREFUSED/);
    s.pending[0]!();
    expect(await output).toBe('done\n');
    await closing;
    expect(resolved).toBe(true);
  }, 30_000);

  it('ends a session still running when shutdownGrace is over', async () => {
    const s = await heldServer({ shutdownGrace: 1 });
    const client = await login(s.port);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.exec('forever', () => undefined);
    expect(await until(() => s.pending.length === 1, 10_000)).toBe(true);
    const t0 = Date.now();
    await s.server.close();
    await closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(s.events.map((e) => e.message)).toContainEqual(expect.stringMatching(/^shutdown grace \(1 s\) over: closing the connection from 127\.0\.0\.1/));
  }, 30_000);

  it('calls a callback as net.Server does, and resolves on a server that never listened', async () => {
    const verifier = await X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' } });
    const server = x509Server(new ssh2.Server({ hostKeys: [] }), { verifier });
    let err: Error | undefined;
    await server.close((e?: Error) => (err = e));
    expect(err).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  it('rejects limits out of range with ERR_INVALID_ARGUMENT', async () => {
    const server = new ssh2.Server({ hostKeys: [] });
    expect(() => x509Server(server, { maxStartups: '5:0:10' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/maxStartups: rate is a percentage from 1 to 100, got 0/) }));
    expect(() => x509Server(server, { maxAuthTries: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: 'maxAuthTries must be a whole number of at least 1, got 0' }));
    expect(() => x509Server(server, { loginGraceTime: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('x509Server with injectSocket()', () => {
  it('takes a stream that is not a TCP socket (no setNoDelay, no address) and logs in over it', async () => {
    const { Duplex } = await import('node:stream');
    const verifier = await X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' } });
    const server = x509Server(
      new ssh2.Server({ hostKeys: [plainHostKey(generateKeyPairSync('ed25519').privateKey)] }, (client) => {
        client.on('authentication', x509Authentication(verifier));
        client.on('error', () => undefined);
      }),
      { verifier },
    );
    // Two in-memory streams wired to each other: what one writes, the other reads.
    let toServer: InstanceType<typeof Duplex> | undefined;
    let toClient: InstanceType<typeof Duplex> | undefined;
    const side = (peer: () => InstanceType<typeof Duplex> | undefined) =>
      new Duplex({
        read() {},
        write(chunk, _enc, cb) {
          peer()!.push(chunk);
          cb();
        },
        final(cb) {
          peer()!.push(null);
          cb();
        },
      });
    toServer = side(() => toClient);
    toClient = side(() => toServer);
    (server as unknown as ssh2.Server).injectSocket(toServer as never);
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ sock: toClient as never, username: 'alice', authHandler: x509AuthHandler('alice', { signer: aliceSigner }) });
    });
    client.end();
    await server.close();
  }, 30_000);
});
