/**
 * Proves the test harness end to end without the library: a fresh PKI, the
 * AsyncSSH server trusting its root, and the AsyncSSH client logging in with
 * every RFC 6187 (+ ed25519) algorithm.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsyncSshClient, startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki, type KeyKind, type TestPki } from './helpers/pki.js';

describe('test harness: PKI + AsyncSSH peer', () => {
  let dir: string;
  let pki: TestPki;
  let server: AsyncSshServer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ssh-x509-harness-'));
    pki = await createTestPki(join(dir, 'pki'));
    server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const srv = (): AsyncSshServer => {
    if (!server) throw new Error('server not started');
    return server;
  };

  it('issues leaves with UPN, email, secureShellClient EKU and a valid chain', async () => {
    const leaf = await pki.issue('carol', 'p256');
    const text = execFileSync('openssl', ['x509', '-in', leaf.certPath, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/othername: ?UPN::?carol@EXAMPLE\.COM/);
    expect(text).toContain('email:carol@example.com');
    expect(text).toContain('SSH Client');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature/);
    expect(text).toContain('Subject: O = ssh-x509 Test, CN = carol');
    const verify = execFileSync(
      'openssl',
      ['verify', '-CAfile', pki.root.certPath, '-untrusted', pki.intermediate.certPath, leaf.certPath],
      { encoding: 'utf8' },
    );
    expect(verify.trim()).toBe(`${leaf.certPath}: OK`);
  });

  const cases: Array<[algorithm: string, kind: KeyKind, user: string]> = [
    ['x509v3-ecdsa-sha2-nistp256', 'p256', 'alice'],
    ['x509v3-ecdsa-sha2-nistp384', 'p384', 'bob'],
    ['x509v3-ecdsa-sha2-nistp521', 'p521', 'dave'],
    ['x509v3-rsa2048-sha256', 'rsa2048', 'erin'],
    ['x509v3-ssh-rsa', 'rsa2048', 'frank'],
    ['x509v3-ssh-ed25519', 'ed25519', 'grace'],
  ];

  it.each(cases)('AsyncSSH client logs in with %s (%s key) and runs a command', async (algorithm, kind, user) => {
    const cert = await pki.issue(user, kind);
    const result = await runAsyncSshClient({
      port: srv().port,
      username: user,
      keyPath: cert.keyPath,
      chainPath: cert.chainPath,
      algorithm,
      command: 'echo hello-$USER; echo to-stderr >&2; exit 7',
      knownHostKeyLine: srv().hostPublicKeyLine,
    });
    expect(result).toEqual({ exitCode: 7, stdout: `hello-${user}\n`, stderr: 'to-stderr\n' });
    // The signature's format name is the underlying algorithm (RFC 6187 section 3).
    expect(srv().log()).toContain(`AUTH user=${user} alg=${algorithm} phase=sign sig=${algorithm.slice(7)} result=ok`);
  });

  it('refuses a certificate from an untrusted PKI', async () => {
    const rogue = await createTestPki(join(dir, 'rogue-pki'));
    const cert = await rogue.issue('trudy', 'p256');
    const result = await runAsyncSshClient({
      port: srv().port,
      username: 'trudy',
      keyPath: cert.keyPath,
      chainPath: cert.chainPath,
      algorithm: 'x509v3-ecdsa-sha2-nistp256',
      command: 'echo should-not-run',
    });
    expect(result.exitCode).toBe(255);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/ERROR PermissionDenied/);
    expect(srv().log()).toMatch(/CHAIN-INVALID subject=O=ssh-x509 Test,CN=trudy .*error=(?!Certificate user principal)/);
    expect(srv().log()).toMatch(/AUTH user=trudy alg=x509v3-ecdsa-sha2-nistp256 phase=\w+ sig=\S+ result=fail/);
    expect(srv().log()).not.toMatch(/AUTH user=trudy .*result=ok/);
  });

  it('refuses a trusted certificate for another user', async () => {
    const cert = await pki.issue('heidi', 'p256');
    const result = await runAsyncSshClient({
      port: srv().port,
      username: 'ivan',
      keyPath: cert.keyPath,
      chainPath: cert.chainPath,
      algorithm: 'x509v3-ecdsa-sha2-nistp256',
      command: 'echo should-not-run',
    });
    expect(result.exitCode).toBe(255);
    expect(srv().log()).toContain('error=Certificate user principal mismatch');
    expect(srv().log()).not.toMatch(/AUTH user=ivan .*result=ok/);
  });
});
