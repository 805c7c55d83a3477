/**
 * The ssh2 client adapter and `ssh-x509 connect` against a real, independent
 * RFC 6187 server (AsyncSSH), with every algorithm and both chain shapes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeferredSigner, ErrorCodes, SoftwareSigner, SshX509Error, x509AuthHandler, type Signer, type TraceEvent } from '../src/index.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki, type IssuedCert, type KeyKind, type TestPki } from './helpers/pki.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

const CASES: Array<[algorithm: string, kind: KeyKind, format: string]> = [
  ['x509v3-ssh-rsa', 'rsa2048', 'ssh-rsa'],
  ['x509v3-rsa2048-sha256', 'rsa2048', 'rsa2048-sha256'],
  ['x509v3-ecdsa-sha2-nistp256', 'p256', 'ecdsa-sha2-nistp256'],
  ['x509v3-ecdsa-sha2-nistp384', 'p384', 'ecdsa-sha2-nistp384'],
  ['x509v3-ecdsa-sha2-nistp521', 'p521', 'ecdsa-sha2-nistp521'],
  ['x509v3-ssh-ed25519', 'ed25519', 'ssh-ed25519'],
];

let dir: string;
let pki: TestPki;
let server: AsyncSshServer;
const leaves = new Map<KeyKind, IssuedCert>();
let knownHosts: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-client-'));
  pki = await createTestPki(join(dir, 'pki'));
  for (const kind of new Set(CASES.map((c) => c[1]))) leaves.set(kind, await pki.issue(`user-${kind}`, kind));
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The server's log lines for one user's signed attempts. */
function signedAttempts(user: string): string[] {
  return server
    .log()
    .split('\n')
    .filter((l) => l.startsWith('AUTH ') && l.includes(`user=${user} `) && l.includes('phase=sign'));
}

describe('ssh2 client adapter against AsyncSSH', () => {
  for (const chainKind of ['leaf+intermediate', 'leaf+intermediate+root'] as const) {
    it.each(CASES)(`logs in with %s (%s key), ${chainKind}`, async (algorithm, kind, format) => {
      const leaf = leaves.get(kind)!;
      const signer = await SoftwareSigner.fromFiles({
        certificateFile: chainKind === 'leaf+intermediate' ? leaf.chainPath : leaf.fullChainPath,
        keyFile: leaf.keyPath,
        includeRoot: chainKind !== 'leaf+intermediate',
      });
      expect(signer.chain.certificates.length).toBe(chainKind === 'leaf+intermediate' ? 2 : 3);
      const user = `user-${kind}`;
      const before = signedAttempts(user).length;
      const events: TraceEvent[] = [];
      const r = await ssh2Exec(
        {
          host: '127.0.0.1',
          port: server.port,
          username: user,
          authHandler: x509AuthHandler(user, { signer, algorithms: [algorithm], logger: (e: TraceEvent) => events.push(e) }),
        },
        `echo "$USER" ${algorithm}`,
      );
      expect(r.stdout.trim()).toBe(`${user} ${algorithm}`);
      expect(r.code).toBe(0);
      await waitForLog(() => signedAttempts(user).slice(before).join('\n'), 'result=ok');
      const attempts = signedAttempts(user).slice(before);
      expect(attempts.at(-1)).toContain(`alg=${algorithm} phase=sign sig=${format} result=ok`);
      const offered = events.find((e) => e.message === 'offering certificate');
      expect(offered?.fields).toMatchObject({ algorithm, sha256: signer.chain.fingerprints.sha256, sha1: signer.chain.fingerprints.sha1 });
      expect(JSON.stringify(events)).not.toMatch(/PRIVATE KEY/);
    });
  }

  it('signs a key file\'s request at once (no query), and asks the server first with askFirst or a signer that may prompt', async () => {
    const leaf = leaves.get('p256')!;
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    expect(signer.signsUnattended).toBe(true);
    const user = 'user-p256';
    const phases = async (options: Partial<Parameters<typeof x509AuthHandler>[1]>, s: Signer = signer) => {
      const before = server.log().length;
      const events: TraceEvent[] = [];
      const r = await ssh2Exec(
        { host: '127.0.0.1', port: server.port, username: user, authHandler: x509AuthHandler(user, { signer: s, algorithms: ['x509v3-ecdsa-sha2-nistp256'], logger: (e: TraceEvent) => events.push(e), ...options }) },
        'echo in',
      );
      expect(r.stdout.trim()).toBe('in');
      const log = await waitForLog(() => server.log().slice(before), 'result=ok');
      const mine = log.split('\n').filter((l) => l.startsWith(`AUTH user=${user} `));
      return { phases: mine.map((l) => /phase=(\w+)/.exec(l)![1]), events: events.map((e) => e.message) };
    };
    // At once: the server sees one signed request and nothing else.
    const atOnce = await phases({});
    expect(atOnce.phases).toEqual(['sign']);
    expect(atOnce.events).toContain('signing at once, without a publickey query (the key is at hand)');
    expect(atOnce.events).not.toContain('server accepted the key (PK_OK); signing');
    // askFirst: the query, PK_OK, then the signed request.
    const asked = await phases({ askFirst: true });
    expect(asked.phases).toEqual(['query', 'sign']);
    expect(asked.events).toContain('server accepted the key (PK_OK); signing');
    // A signer that does not say it signs unattended (a card behind DeferredSigner) is asked only after PK_OK.
    const card = new DeferredSigner(signer.chain, 'card', async () => signer);
    expect((card as Signer).signsUnattended).toBeUndefined();
    expect((await phases({}, card)).phases).toEqual(['query', 'sign']);
  });

  it('an unattended signer whose signature fails sends the query after all and fails with its typed error, nothing signed sent', async () => {
    const leaf = leaves.get('p256')!;
    const real = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    let calls = 0;
    const failing: Signer = {
      chain: real.chain,
      label: 'failing',
      signsUnattended: true,
      sign: async () => {
        calls++;
        throw new SshX509Error(ErrorCodes.SIGN_FAILED, 'the key is gone');
      },
    };
    const events: TraceEvent[] = [];
    const before = server.log().length;
    await expect(
      ssh2Exec(
        { host: '127.0.0.1', port: server.port, username: 'user-p256', authHandler: x509AuthHandler('user-p256', { signer: failing, algorithms: ['x509v3-ecdsa-sha2-nistp256'], logger: (e: TraceEvent) => events.push(e) }) },
        'true',
      ),
    ).rejects.toMatchObject({ code: ErrorCodes.SIGN_FAILED, message: 'the key is gone' });
    // Signed at once (failed), then the query and PK_OK, then the agent's signature (failed): no signed request reaches the server.
    expect(calls).toBe(2);
    const log = await waitForLog(() => server.log().slice(before), 'phase=query');
    const mine = log.split('\n').filter((l) => l.startsWith('AUTH user=user-p256 '));
    expect(mine.map((l) => /phase=(\w+)/.exec(l)![1])).toEqual(['query']);
    expect(events.filter((e) => e.message.startsWith('signing failed')).map((e) => e.fields)).toEqual([{ code: ErrorCodes.SIGN_FAILED }, { code: ErrorCodes.SIGN_FAILED }]);
  });

  it('with a key file the server refuses, tries the next one signed at once and traces the refusal', async () => {
    const other = await createTestPki(join(dir, 'other-pki-at-once'));
    const stranger = await other.issue('user-p256', 'p256');
    const refusedSigner = await SoftwareSigner.fromFiles({ certificateFile: stranger.chainPath, keyFile: stranger.keyPath });
    const leaf = leaves.get('p256')!;
    const good = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const events: TraceEvent[] = [];
    const before = server.log().length;
    const r = await ssh2Exec(
      { host: '127.0.0.1', port: server.port, username: 'user-p256', authHandler: x509AuthHandler('user-p256', { signer: [refusedSigner, good], algorithms: ['x509v3-ecdsa-sha2-nistp256'], logger: (e: TraceEvent) => events.push(e) }) },
      'echo second',
    );
    expect(r.stdout.trim()).toBe('second');
    const log = await waitForLog(() => server.log().slice(before), 'result=ok');
    expect(log.split('\n').filter((l) => l.startsWith('AUTH user=user-p256 ')).map((l) => /phase=(\w+) .*result=(\w+)/.exec(l)!.slice(1).join(' '))).toEqual(['sign fail', 'sign ok']);
    const refusal = events.find((e) => e.message === 'server refused the key or its signature');
    expect(refusal?.fields).toMatchObject({ sha256: refusedSigner.chain.fingerprints.sha256 });
  });

  it('is refused with a certificate the server does not trust', async () => {
    const other = await createTestPki(join(dir, 'other-pki'));
    const stranger = await other.issue('user-p256', 'p256');
    const signer = await SoftwareSigner.fromFiles({ certificateFile: stranger.chainPath, keyFile: stranger.keyPath });
    await expect(
      ssh2Exec({ host: '127.0.0.1', port: server.port, username: 'user-p256', authHandler: x509AuthHandler('user-p256', { signer }) }, 'true'),
    ).rejects.toMatchObject({ level: 'client-authentication' });
  });
});

describe('ssh-x509 connect against AsyncSSH', () => {
  it.each(CASES)('runs a remote command with %s (%s key)', async (algorithm, kind, format) => {
    const leaf = leaves.get(kind)!;
    const user = `user-${kind}`;
    const before = signedAttempts(user).length;
    const r = await runCommand([
      'connect',
      '-p',
      String(server.port),
      '--cert',
      leaf.chainPath,
      '--key',
      leaf.keyPath,
      '--algorithm',
      algorithm,
      '--known-hosts',
      knownHosts,
      `${user}@127.0.0.1`,
      'echo',
      'out-$USER;',
      'echo',
      'err-line',
      '>&2;',
      'exit',
      '3',
    ]);
    expect(r.stdout).toBe(`out-${user}\n`);
    expect(r.stderr).toBe('err-line\n');
    expect(r.code).toBe(3);
    await waitForLog(() => signedAttempts(user).slice(before).join('\n'), 'result=ok');
    expect(signedAttempts(user).slice(before).at(-1)).toContain(`alg=${algorithm} phase=sign sig=${format} result=ok`);
  });

  it('picks the best algorithm for the key by default and traces what it tries', async () => {
    const leaf = leaves.get('p384')!;
    const r = await runCommand(['connect', '-p', String(server.port), '--cert', leaf.fullChainPath, '--key', leaf.keyPath, '--known-hosts', knownHosts, '--trace', 'user-p384@127.0.0.1', '--', 'echo', 'ok']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ok\n');
    const fp = (await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath })).chain.fingerprints;
    expect(r.stderr).toContain('trace: offering certificate algorithm=x509v3-ecdsa-sha2-nistp384');
    expect(r.stderr).toContain(`sha256=${fp.sha256}`);
    expect(r.stderr).toContain(`sha1=${fp.sha1}`);
    expect(r.stderr).toContain('subject="O=ssh-x509 Test, CN=user-p384"');
    // A key file signs unattended: the request goes signed at once, no query and no PK_OK.
    expect(r.stderr).toMatch(/^trace: offering certificate algorithm=x509v3-ecdsa-sha2-nistp384 .*signed=true$/m);
    expect(r.stderr).toContain('trace: ssh2: Inbound: Received USERAUTH_SUCCESS');
    expect(r.stderr).not.toContain('PK_OK');
    expect(r.stderr).not.toMatch(/PRIVATE KEY/);
  });

  it('prints one clear line and exits 255 when authentication fails', async () => {
    const leaf = leaves.get('p256')!;
    const r = await runCommand(['connect', '-p', String(server.port), '--cert', leaf.chainPath, '--key', leaf.keyPath, '--known-hosts', knownHosts, 'somebody-else@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ssh-x509: Permission denied \(publickey\): somebody-else@127\.0\.0\.1/);
  });

  it('refuses an unknown host key under the default strict checking, and accept-new records it', async () => {
    const leaf = leaves.get('p256')!;
    const fresh = join(dir, 'fresh_known_hosts');
    const args = ['connect', '-p', String(server.port), '--cert', leaf.chainPath, '--key', leaf.keyPath, '--known-hosts', fresh];
    const refused = await runCommand([...args, 'user-p256@127.0.0.1', 'true']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/host key verification failed \(unknownHost\): No ED25519 host key is known for \[127\.0\.0\.1\]:\d+ and you have requested strict checking \(ED25519 key fingerprint is SHA256:[A-Za-z0-9+/]{43}\)/);
    const accepted = await runCommand([...args, '--strict-host-key-checking', 'accept-new', 'user-p256@127.0.0.1', 'echo', 'hi']);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toBe('hi\n');
    expect(readFileSync(fresh, 'utf8')).toBe(`[127.0.0.1]:${server.port} ${server.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
    const again = await runCommand([...args, 'user-p256@127.0.0.1', 'echo', 'again']);
    expect(again.stdout).toBe('again\n');
  });

  it('refuses a changed host key even with accept-new', async () => {
    const leaf = leaves.get('p256')!;
    const changed = join(dir, 'changed_known_hosts');
    writeFileSync(changed, `[127.0.0.1]:${server.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQhHR5sQJ8G6EAWfJHplkcg6N7O1pWl9mW5r4jzKhpn\n`);
    const r = await runCommand(['connect', '-p', String(server.port), '--cert', leaf.chainPath, '--key', leaf.keyPath, '--known-hosts', changed, '--strict-host-key-checking', 'accept-new', 'user-p256@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
  });

  it('gives usage errors exit 2 and file errors a clear line', async () => {
    const bad = await runCommand(['connect', '--strict-host-key-checking', 'maybe', 'a@b']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--strict-host-key-checking must be yes, ask, accept-new or no');
    const missing = await runCommand(['connect', '--cert', join(dir, 'nope.pem'), '--key', join(dir, 'nope.key'), 'a@127.0.0.1']);
    expect(missing.code).toBe(255);
    expect(missing.stderr).toMatch(/cannot read certificate file .*nope\.pem: no such file \(ENOENT\)/);
  });
});
