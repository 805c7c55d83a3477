/**
 * What the built `ssh-x509 connect` does to start and log in fast (issue 11;
 * the speed itself is measured by `npm run bench`, never here): its TCP
 * connection has Nagle's algorithm off, and it loads ssh2's client modules,
 * not ssh2's entry point (which also loads ssh2's server, key generator and
 * node:http/https), and of its own build only dist/cli/main.js and
 * dist/cli/connect.js (not the other subcommands' dist/cli/commands.js, nor
 * the host-certificate verifier dist/cli/verify-host.js before an X.509 host
 * key is met). Seen from inside the process by a preload that records
 * `setNoDelay` per socket and the CommonJS modules loaded; control runs (plain
 * ssh2 and a bare socket, another subcommand, an X.509 host key) show that
 * the preload sees the opposite.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSshPublicKeyLine } from '../src/keys/ssh-public-key.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki, OID_SECURE_SHELL_SERVER, type IssuedCert, type TestPki } from './helpers/pki.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');

let dir: string;
let leaf: IssuedCert;
let server: AsyncSshServer;
let pki: TestPki;
let knownHosts: string;
let preload: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-start-'));
  pki = await createTestPki(join(dir, 'pki'));
  leaf = await pki.issue('start', 'p256');
  server = await startAsyncSshServer({
    trust: [pki.root.certPath],
    dir: join(dir, 'server'),
    authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,*', openSshPublicKeyLine(createPrivateKey(leaf.keyPem))],
  });
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine}\n`);
  preload = join(dir, 'record.cjs');
  writeFileSync(
    preload,
    `const net = require('node:net');
const sockets = [];
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0]; // net.connect() passes its normalized arguments as one array
  const o = typeof first === 'object' && first !== null ? first : { port: first };
  const entry = { port: Number(o.port), noDelay: false };
  sockets.push(entry);
  this.__record = entry;
  return connect.apply(this, args);
};
const setNoDelay = net.Socket.prototype.setNoDelay;
net.Socket.prototype.setNoDelay = function (enable) {
  if (this.__record) this.__record.noDelay = enable === undefined ? true : Boolean(enable);
  return setNoDelay.call(this, enable);
};
// How many connections had been opened when the process's stdin stream was first made (null: never made).
let stdinAt = null;
const stdinGetter = Object.getOwnPropertyDescriptor(process, 'stdin');
Object.defineProperty(process, 'stdin', { configurable: true, enumerable: stdinGetter.enumerable, get() { if (stdinAt === null) stdinAt = sockets.length; return stdinGetter.get.call(this); } });
process.on('exit', () => {
  const ssh2 = Object.keys(require.cache).flatMap((k) => { const m = /node_modules\\/ssh2\\/(lib\\/.*)$/.exec(k); return m ? [m[1]] : []; }).sort();
  const sshConfig = Object.keys(require.cache).flatMap((k) => { const m = /node_modules\\/ssh-config\\/(.*)$/.exec(k); return m ? [m[1]] : []; }).sort();
  const cli = Object.keys(require.cache).flatMap((k) => { const m = /\\/(cli\\/[^\\/]+\\.js)$/.exec(k); return m && !k.includes('node_modules') ? [m[1]] : []; }).sort();
  require('node:fs').writeFileSync(process.env.RECORD_LOG, JSON.stringify({ sockets, ssh2, sshConfig, cli, stdinAt, x509: Object.keys(require.cache).some((k) => k.includes('/node_modules/@peculiar/x509/')), readline: process.moduleLoadList.includes('NativeModule readline') }));
});
`,
  );
}, 90_000);

const others: AsyncSshServer[] = [];

afterAll(async () => {
  await Promise.all(others.map((s) => s.stop()));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Recorded {
  sockets: { port: number; noDelay: boolean }[];
  ssh2: string[];
  /** ssh-config's files in the CommonJS module cache (empty when it was imported as ESM, or not loaded). */
  sshConfig: string[];
  /** The command's own files in the CommonJS module cache (cli/main.js, cli/connect.js, ...). */
  cli: string[];
  /** How many connections had been opened when process.stdin was first made (null: never). */
  stdinAt: number | null;
  /** Whether @peculiar/x509 was loaded. */
  x509: boolean;
  /** Whether node:readline was loaded. */
  readline: boolean;
}

function recorded(args: string[]): { status: number | null; stderr: string; record: Recorded } {
  const log = join(dir, `record-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(process.execPath, ['-r', preload, ...args], { encoding: 'utf8', env: { ...process.env, RECORD_LOG: log }, timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, record: JSON.parse(readFileSync(log, 'utf8')) as Recorded };
}

describe('connect starts and logs in without avoidable waits', () => {
  it('logs in with Nagle off on its connection, loading ssh2 client modules but not ssh2 lib/index.js, server.js, keygen.js or http-agents.js', () => {
    const r = recorded([
      CLI, 'connect', '-F', 'none', '-p', String(server.port), '--known-hosts', knownHosts,
      '--cert', leaf.chainPath, '--key', leaf.keyPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'start@127.0.0.1', 'true',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.sockets).toEqual([{ port: server.port, noDelay: true }]);
    expect(r.record.ssh2).toEqual(expect.arrayContaining(['lib/client.js', 'lib/agent.js', 'lib/protocol/Protocol.js', 'lib/protocol/keyParser.js']));
    for (const skipped of ['lib/index.js', 'lib/server.js', 'lib/keygen.js', 'lib/http-agents.js']) expect(r.record.ssh2).not.toContain(skipped);
  });

  it('loads its own code from cli/main.js and cli/connect.js only: not the other subcommands (cli/commands.js) nor the host-certificate verifier (cli/verify-host.js)', () => {
    const r = recorded([
      CLI, 'connect', '-F', 'none', '-p', String(server.port), '--known-hosts', knownHosts,
      '--cert', leaf.chainPath, '--key', leaf.keyPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'start@127.0.0.1', 'true',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.cli).toEqual(['cli/connect.js', 'cli/main.js']);
    expect(r.record.x509).toBe(false);
    // node:readline is for a host key question (StrictHostKeyChecking ask), asked only on a terminal.
    expect(r.record.readline).toBe(false);
  });

  it('makes the process\'s stdin stream only once its connection is open (the session pipes it to the command; -n never makes it)', () => {
    const args = ['-F', 'none', '-p', String(server.port), '--known-hosts', knownHosts, '--cert', leaf.chainPath, '--key', leaf.keyPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'start@127.0.0.1', 'true'];
    const r = recorded([CLI, 'connect', ...args]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.stdinAt).toBe(1);
    const n = recorded([CLI, 'connect', '-n', ...args]);
    expect(n.status, n.stderr).toBe(0);
    expect(n.record.stdinAt).toBeNull();
  });

  it('--raw-key logs in without loading @peculiar/x509 (the key\'s comment, the leaf subject, is read only if listed); control: -v names the subject, which loads it', () => {
    const args = ['-F', 'none', '-p', String(server.port), '--known-hosts', knownHosts, '--cert', leaf.chainPath, '--key', leaf.keyPath, '--raw-key', 'start@127.0.0.1', 'true'];
    const r = recorded([CLI, 'connect', ...args]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.x509).toBe(false);
    const v = recorded([CLI, 'connect', '-v', ...args]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).toContain('CN=start');
    expect(v.record.x509).toBe(true);
  });

  it('control: another subcommand loads cli/commands.js and not cli/connect.js; an X.509 host key under --host-trust loads cli/verify-host.js', async () => {
    const r = recorded([CLI, 'export-pub', '--cert', leaf.chainPath]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.cli).toEqual(['cli/commands.js', 'cli/main.js']);

    const host = await pki.issue('start-host', 'p256', { dns: ['host.example'], ip: ['127.0.0.1'], eku: [OID_SECURE_SHELL_SERVER], email: null, upn: [] });
    const x509Host = await startAsyncSshServer({
      trust: [pki.root.certPath],
      dir: join(dir, 'server-x509-host'),
      hostX509: [{ keyPath: host.keyPath, chainPath: host.chainPath }],
      authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,*'],
    });
    others.push(x509Host);
    const v = recorded([
      CLI, 'connect', '-F', 'none', '-p', String(x509Host.port), '--known-hosts', join(dir, 'empty_known_hosts'), '--host-trust', pki.root.certPath,
      '--host-key-algorithms', 'x509v3-ecdsa-sha2-nistp256', '--cert', leaf.chainPath, '--key', leaf.keyPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'start@127.0.0.1', 'true',
    ]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.record.cli).toEqual(['cli/connect.js', 'cli/main.js', 'cli/verify-host.js']);
  }, 60_000);

  it('reads ssh_config through ssh-config\'s CommonJS build (required: a dynamic import would start the ESM loader)', () => {
    const config = join(dir, 'ssh_config');
    writeFileSync(config, `Host start-alias\n  HostName 127.0.0.1\n  Port ${server.port}\n  User start\n`);
    const r = recorded([CLI, 'connect', '-F', config, '--known-hosts', knownHosts, '--cert', leaf.chainPath, '--key', leaf.keyPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'start-alias', 'true']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.sockets).toEqual([{ port: server.port, noDelay: true }]);
    expect(r.record.sshConfig).toContain('dist/ssh-config.js');
  });

  it('control: the preload sees ssh2 loaded through its entry point, a socket left with Nagle on, and stdin made before it', () => {
    const script = `require('ssh2'); require('node:readline'); process.stdin; const s = require('node:net').connect(${server.port}, '127.0.0.1', () => s.end());`;
    const r = recorded(['-e', script]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.record.sockets).toEqual([{ port: server.port, noDelay: false }]);
    expect(r.record.ssh2).toEqual(expect.arrayContaining(['lib/index.js', 'lib/server.js', 'lib/http-agents.js']));
    expect(r.record.stdinAt).toBe(0);
    expect(r.record.readline).toBe(true);
  });
});
