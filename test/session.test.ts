/**
 * SecureCRT-style session options against AsyncSSH: username from the
 * certificate, defaults with per-connection overrides, the config file,
 * certificate selection with an attempt cap, and query-first (PK_OK) so that
 * only the accepted certificate is ever opened for signing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeferredSigner, SessionDefaults, SoftwareSigner, type Signer, type TraceEvent } from '../src/index.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

let dir: string;
let pki: TestPki;
let server: AsyncSshServer;
let knownHosts: string;
const five: IssuedCert[] = [];
let alice: IssuedCert;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-session-'));
  pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  // Five certificates of one user, as on a card; the server accepts only the fifth.
  for (let i = 1; i <= 5; i++) five.push(await pki.issue(`card${i}`, 'p256', { cn: `carol-${i}`, email: 'carol@example.com', upn: 'carol@EXAMPLE.COM' }));
  server = await startAsyncSshServer({
    trust: [pki.root.certPath],
    dir: join(dir, 'server'),
    authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=alice', 'x509v3-sign-rsa subject=O=ssh-x509 Test,CN=carol-5'],
  });
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const attempts = (user: string, since: number) =>
  server
    .log()
    .slice(since)
    .split('\n')
    .filter((l) => l.startsWith(`AUTH user=${user} `));

/** Software signers standing in for a card's certificates; `opened` counts PIN prompts. */
async function cardSigners(): Promise<{ signers: DeferredSigner[]; opened: string[] }> {
  const opened: string[] = [];
  const signers = await Promise.all(
    five.map(async (c) => {
      const real = await SoftwareSigner.fromFiles({ certificateFile: c.chainPath, keyFile: c.keyPath });
      return new DeferredSigner(real.chain, c.name, async (): Promise<Signer> => {
        opened.push(c.name);
        return real;
      });
    }),
  );
  return { signers, opened };
}

describe('certificate selection', () => {
  it('asks the server first (query form) and opens only the certificate it accepts', async () => {
    const { signers, opened } = await cardSigners();
    const since = server.log().length;
    const defaults = new SessionDefaults({ signer: signers, username: 'carol' });
    const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, ...defaults.connectConfig() }, 'echo ok');
    expect(r.stdout).toBe('ok\n');
    expect(opened).toEqual(['card5']);
    await waitForLog(() => server.log().slice(since), 'phase=sign');
    const log = attempts('carol', since);
    expect(log.filter((l) => l.includes('phase=query'))).toHaveLength(5);
    expect(log.filter((l) => l.includes('phase=sign'))).toEqual([expect.stringContaining('result=ok')]);
  });

  it('stops at the attempt cap: 2 of 5 offered, nothing signed, and the trace says what was left untried', async () => {
    const { signers, opened } = await cardSigners();
    const since = server.log().length;
    const events: TraceEvent[] = [];
    const defaults = new SessionDefaults({ signer: signers, username: 'carol', maxAttempts: 2, logger: (e: TraceEvent) => events.push(e) });
    await expect(ssh2Exec({ host: '127.0.0.1', port: server.port, ...defaults.connectConfig() }, 'true')).rejects.toMatchObject({ level: 'client-authentication' });
    // The server's log trails the client by a moment; give a third attempt the time to show up if there were one.
    await waitForLog(() => server.log().slice(since), (l) => l.split('\n').filter((x) => x.startsWith('AUTH user=carol ')).length >= 3, 1_000);
    expect(attempts('carol', since)).toHaveLength(2);
    expect(opened).toEqual([]);
    expect(events.map((e) => e.message)).toContain('attempt cap 2 leaves 3 of 5 identities untried');
    // Why each failed, with the fingerprints, and no secrets.
    const refusals = events.filter((e) => e.message === 'server refused the key (no PK_OK)');
    expect(refusals.map((e) => e.fields.sha256)).toEqual(signers.slice(0, 2).map((s) => s.chain.fingerprints.sha256));
  });

  it('reports through a debug-style logger (a function with a namespace) as one line per event', async () => {
    const { signers } = await cardSigners();
    const lines: string[] = [];
    const debug = Object.assign((fmt: string, ...args: unknown[]) => void lines.push(fmt === '%s' ? String(args[0]) : fmt), { namespace: 'ssh-x509' });
    const defaults = new SessionDefaults({ signer: signers.slice(4), username: 'carol', logger: debug });
    const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, ...defaults.connectConfig() }, 'echo dbg');
    expect(r.stdout).toBe('dbg\n');
    expect(lines[0]).toMatch(/^offering certificate algorithm=x509v3-ecdsa-sha2-nistp256 subject="O=ssh-x509 Test, CN=carol-5" .*sha256=SHA256:/);
    expect(lines.some((l) => l.startsWith('server accepted the key (PK_OK); signing'))).toBe(true);
  });
});

describe('username from the certificate', () => {
  it('takes the UPN local part, and an explicit username wins over it', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
    const defaults = new SessionDefaults({ signer, usernameFromCertificate: 'upn-local' });
    expect(defaults.connectConfig().username).toBe('alice');
    expect(defaults.connectConfig({ username: 'bob' }).username).toBe('bob');
    expect(defaults.connectConfig({ usernameFromCertificate: 'upn' }).username).toBe('alice@EXAMPLE.COM');
    const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, ...defaults.connectConfig() }, 'echo $USER');
    expect(r.stdout).toBe('alice\n');
  });

  it('says which field is missing or ambiguous, on the command line too', async () => {
    const noUpn = await pki.issue('noupn', 'p256', { upn: [] });
    const twoUpn = await pki.issue('twoupn', 'p256', { upn: ['x@EXAMPLE.COM', 'y@EXAMPLE.COM'] });
    const base = ['connect', '-p', String(server.port), '--known-hosts', knownHosts, '--username-from-cert', 'upn'];
    const missing = await runCommand([...base, '--cert', noUpn.chainPath, '--key', noUpn.keyPath, '127.0.0.1', 'true']);
    expect(missing.code).toBe(255);
    expect(missing.stderr).toMatch(/^ssh-x509: certificate .*CN=noupn has no UPN subjectAltName\n$/);
    const ambiguous = await runCommand([...base, '--cert', twoUpn.chainPath, '--key', twoUpn.keyPath, '127.0.0.1', 'true']);
    expect(ambiguous.code).toBe(255);
    expect(ambiguous.stderr).toContain('has 2 values for UPN subjectAltName: x@EXAMPLE.COM, y@EXAMPLE.COM');
  });

  it('lets the command omit user@ with --username-from-cert', async () => {
    const r = await runCommand(['connect', '-p', String(server.port), '--known-hosts', knownHosts, '--cert', alice.chainPath, '--key', alice.keyPath, '--username-from-cert', 'upn-local', '127.0.0.1', 'echo', '$USER']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alice\n');
  });
});

describe('config file: defaults, per-host settings, command options winning', () => {
  it('reads the default section and the host section, and the command line overrides both', async () => {
    const cfg = join(dir, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        default: { cert: [alice.chainPath], key: alice.keyPath, 'username-from-cert': 'cn', 'known-hosts': knownHosts, port: 1 },
        hosts: { '127.0.0.1': { port: server.port, algorithm: ['x509v3-ecdsa-sha2-nistp256'] } },
      }),
    );
    const r = await runCommand(['connect', '--config', cfg, '127.0.0.1', 'echo', '$USER']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alice\n');
    // A command-line option beats the host section: a port nobody listens on.
    const overridden = await runCommand(['connect', '--config', cfg, '-p', '1', '--connect-timeout', '5', '127.0.0.1', 'true']);
    expect(overridden.code).toBe(255);
    expect(overridden.stderr).toMatch(/127\.0\.0\.1 port 1: .*ECONNREFUSED/);
  });

  it('refuses unknown settings and bad JSON with the file name', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ default: { 'no-such-option': 1 } }));
    const r = await runCommand(['connect', '--config', bad, 'a@127.0.0.1', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: unknown setting "no-such-option" in default`);
    writeFileSync(bad, '{ not json');
    const r2 = await runCommand(['connect', '--config', bad, 'a@127.0.0.1', 'true']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`${bad} is not valid JSON`);
  });
});
