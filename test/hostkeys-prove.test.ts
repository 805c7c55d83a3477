/**
 * An X.509 host after login, as PKIX-SSH behaves: it announces its host keys (OpenSSH's `hostkeys-00@openssh.com`,
 * the plain twin of its X.509 key among them), and it may drop the connection. ssh2 answers every announcement
 * with an unasked `hostkeys-prove-00@openssh.com` (PKIX-SSH's monitor aborts on it): through the bridge, a prove
 * request goes out only when the application listens for `hostkeys`. `connect` never exits without a line saying
 * why, and a host whose host key formats it does not offer gets a hint.
 *
 * The server is an ssh2 Server with an X.509 host key (x509Server) that this test drives: it sends the
 * announcement on login, and ssh2's debug log names every global request it receives.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner, x509Authentication, x509AuthHandler, x509HostKeyAlgorithms, x509HostVerifier, x509Server, X509Verifier, type Signer } from '../src/index.js';
import { SshWriter } from '../src/wire/writer.js';
import { createTestPki, HOST_CERT, type IssuedCert, type TestPki } from './helpers/pki.js';
import { runCommand } from './helpers/ssh2-run.js';

const ANNOUNCE = 'hostkeys-00@openssh.com';
const PROVE = 'hostkeys-prove-00@openssh.com';
/** ssh2's own packet writer, for the announcement its Server has no method for (test code only). */
const { sendPacket } = createRequire(import.meta.url)('ssh2/lib/protocol/utils.js') as { sendPacket: (proto: unknown, packet: Buffer) => void };

let dir: string;
let pki: TestPki;
let alice: IssuedCert;
let hostSigner: Signer;
let aliceSigner: Signer;
let plainHostKey: Buffer;
let plainHostBlob: Buffer;
let verifier: X509Verifier;

type Behaviour = 'answer' | 'drop';

interface DrivenServer {
  port: number;
  /** ssh2's debug lines of the server (`Inbound: GLOBAL_REQUEST (<name>)` for each global request received). */
  log: string[];
  announced: number;
  close(): Promise<void>;
}

/** Sends SSH_MSG_GLOBAL_REQUEST hostkeys-00@openssh.com (want_reply false) with each key blob, as OpenSSH's sshd does after login. */
function announce(conn: unknown, blobs: Buffer[]): void {
  const proto = (conn as { _protocol: { _packetRW: { write: { alloc(n: number): Buffer; allocStart: number; finalize(b: Buffer): Buffer } } } })._protocol;
  const w = new SshWriter().byte(80).string(ANNOUNCE).byte(0);
  for (const b of blobs) w.string(b);
  const payload = w.toBuffer();
  const packet = proto._packetRW.write.alloc(payload.length);
  packet.set(payload, proto._packetRW.write.allocStart);
  sendPacket(proto, proto._packetRW.write.finalize(packet));
}

/** An ssh2 Server with the X.509 host key (and the plain one unless `x509Only`) that announces its keys on login; `drop` closes the socket at the first exec. */
async function startServer(behaviour: Behaviour, opts: { x509Only?: boolean } = {}): Promise<DrivenServer> {
  const log: string[] = [];
  const state = { announced: 0 };
  const server = new ssh2.Server({ hostKeys: opts.x509Only ? [] : [plainHostKey], debug: (m: string) => log.push(m) }, (conn) => {
    conn.on('authentication', x509Authentication(verifier));
    conn.on('error', () => undefined);
    conn.on('ready', () => {
      // PKIX-SSH announces the plain key of its X.509 host key (the X.509 blobs ssh2 cannot parse, and skips).
      announce(conn, [plainHostBlob, Buffer.from(hostSigner.chain.der[0]!)]);
      state.announced++;
      conn.on('session', (accept) =>
        accept().on('exec', (acceptExec) => {
          if (behaviour === 'drop') return void (conn as unknown as { _sock: { destroy(): void } })._sock.destroy();
          const stream = acceptExec();
          stream.write('ok\n');
          stream.exit(0);
          stream.end();
        }),
      );
    });
  });
  x509Server(server, { hostKeys: [hostSigner], verifier });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    log,
    get announced() {
      return state.announced;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const proveRequests = (s: DrivenServer) => s.log.filter((l) => l.includes(`GLOBAL_REQUEST (${PROVE})`));

function connect(port: number, args: string[], command = 'echo'): ReturnType<typeof runCommand> {
  return runCommand(['connect', '-p', String(port), '--cert', alice.chainPath, '--key', alice.keyPath, '--known-hosts', join(dir, 'known_hosts'), ...args, 'alice@127.0.0.1', command], { timeoutMs: 60_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-hostkeys-prove-'));
  pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  const host = await pki.issue('host', 'p256', HOST_CERT);
  hostSigner = await SoftwareSigner.fromFiles({ certificateFile: host.chainPath, keyFile: host.keyPath });
  aliceSigner = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
  const keyPath = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
  plainHostKey = readFileSync(keyPath);
  plainHostBlob = Buffer.from(readFileSync(`${keyPath}.pub`, 'utf8').split(' ')[1]!, 'base64');
  verifier = await X509Verifier.create({ trustAnchors: [pki.root.certPem], account: { map: 'upn-local' }, revocation: { mode: 'off' } });
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('host key announcements after login', () => {
  let server: DrivenServer;
  beforeAll(async () => {
    server = await startServer('answer');
  });
  afterAll(() => server.close());

  it('connect to an X.509 host: no prove request for the keys announced, and the session runs', async () => {
    const r = await connect(server.port, ['--host-trust', pki.root.certPath, '-vvv']);
    expect(r.stdout).toBe('ok\n');
    expect(r.code).toBe(0);
    expect(server.announced).toBeGreaterThan(0);
    // The client received the announcement and let it be.
    expect(r.stderr).toContain(`Inbound: GLOBAL_REQUEST (${ANNOUNCE})`);
    expect(r.stderr).toContain(`ssh-x509: ${ANNOUNCE}: not proving the keys announced`);
    expect(proveRequests(server)).toEqual([]);
  });

  /** An ssh2 Client of the SDK, logged in over the X.509 host key; resolves once the announcement has had its answer. */
  async function sdkLogin(listen: boolean): Promise<{ hostkeys: unknown[] }> {
    const client = new ssh2.Client();
    const seen = { hostkeys: [] as unknown[] };
    if (listen) client.on('hostkeys', (keys: unknown[]) => seen.hostkeys.push(...keys));
    await new Promise<void>((resolve, reject) => {
      client.on('error', reject);
      client.on('ready', () => {
        // A command after the announcement: its answer comes after whatever the client sent for the announcement.
        client.exec('echo', (err, stream) => {
          if (err) return reject(err);
          stream.on('close', () => resolve()).resume();
        });
      });
      client.connect({
        host: '127.0.0.1',
        port: server.port,
        username: 'alice',
        authHandler: x509AuthHandler('alice', { signer: aliceSigner }),
        hostVerifier: x509HostVerifier({ host: '127.0.0.1', port: server.port, hostTrustAnchors: [pki.root.certPath], revocation: { mode: 'off' } }),
        algorithms: { serverHostKey: x509HostKeyAlgorithms({ x509Only: true }) },
      });
    });
    client.end();
    return seen;
  }

  it('an ssh2 Client of the SDK that does not listen for hostkeys sends no prove request', async () => {
    const before = proveRequests(server).length;
    const announced = server.announced;
    await sdkLogin(false);
    expect(server.announced).toBe(announced + 1);
    expect(proveRequests(server).length).toBe(before);
  });

  it("control: one that listens for hostkeys gets ssh2's own behaviour, the prove request", async () => {
    const before = proveRequests(server).length;
    await sdkLogin(true);
    expect(proveRequests(server).length).toBe(before + 1);
  });
});

describe('connect says why it exits', () => {
  it('an X.509 host that drops the connection after login: exit 255 with a line naming the host', async () => {
    const server = await startServer('drop');
    try {
      const r = await connect(server.port, ['--host-trust', pki.root.certPath]);
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^ssh-x509: connection to 127\\.0\\.0\\.1 port ${server.port} closed by the remote host\\n$`, 'm'));
    } finally {
      await server.close();
    }
  });

  it('an X.509-only host without host trust: no matching host key format, with what was offered and the --host-trust hint', async () => {
    const server = await startServer('answer', { x509Only: true });
    try {
      const r = await connect(server.port, []);
      expect(r.code).toBe(255);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ssh-x509: 127\.0\.0\.1 port \d+: no matching host key format: the host offers none of ssh-ed25519,[^ ]*ecdsa-sha2-nistp256[^ ]*; if its host key is an X\.509 certificate, give --host-trust <ca\.pem> \(the CA that issued it\) to accept the x509v3-\* host key algorithms \(-vvv shows what the host offers\)$/);
    } finally {
      await server.close();
    }
  });

  it('an X.509-only host with host trust but only plain host key algorithms asked for: the --host-key-algorithms hint', async () => {
    const server = await startServer('answer', { x509Only: true });
    try {
      const r = await connect(server.port, ['--host-trust', pki.root.certPath, '--host-key-algorithms', 'ssh-ed25519']);
      expect(r.code).toBe(255);
      expect(r.stderr.trim()).toMatch(/^ssh-x509: 127\.0\.0\.1 port \d+: no matching host key format: the host offers none of ssh-ed25519; choose others with --host-key-algorithms \(-vvv shows what the host offers\)$/);
    } finally {
      await server.close();
    }
  });
});
