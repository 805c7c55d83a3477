/**
 * `ssh-x509 serve` end to end: the AsyncSSH client (an independent RFC 6187
 * implementation) logs in with each algorithm; a subset of the negative
 * matrix is refused with its reason code in the server log.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsyncSshClient } from './helpers/asyncssh.js';
import { createTestPki, OID_SECURE_SHELL_SERVER, type IssuedCert, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { startServe, type ServeProcess } from './helpers/serve.js';

// startServe lives in a helper so that other test files can use it without importing (and so
// re-running) this file's tests; re-exported here for existing callers.
export { startServe, type ServeProcess } from './helpers/serve.js';

let dir: string;
let pki: TestPki;
let hostKey: string;
const certs: Record<string, IssuedCert> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-serve-'));
  pki = await createTestPki(join(dir, 'pki'));
  hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const issue = async (name: string, kind: Parameters<TestPki['issue']>[1], opts?: Parameters<TestPki['issue']>[2]) => (certs[name] = await pki.issue(name, kind, opts));
  await Promise.all([
    issue('alice', 'p256'),
    issue('p384user', 'p384'),
    issue('p521user', 'p521'),
    issue('eduser', 'ed25519'),
    issue('rsauser', 'rsa2048'),
    issue('expired', 'p256', { notBefore: new Date(Date.now() - 3 * 86400_000), notAfter: new Date(Date.now() - 86400_000) }),
    issue('sshserver', 'p256', { eku: [OID_SECURE_SHELL_SERVER] }),
    issue('revoked', 'p256'),
  ]);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ssh-x509 serve with the AsyncSSH client', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    const rev = new OpensslRevocation(join(dir, 'ca'), pki.intermediate);
    rev.valid(certs.alice!.certPem);
    rev.revoke(certs.revoked!.certPem);
    const crl = join(dir, 'crl.der');
    writeFileSync(crl, rev.crl());
    server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--allow-sha1', '--revocation', 'prefer', '--crl', crl]);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  // No override of what the server advertises: AsyncSSH offers an x509v3 algorithm only when
  // server-sig-algs lists it (SSHClientConnection._choose_signature_alg), and serve lists them.
  const logins: Array<[string, string]> = [
    ['alice', 'x509v3-ecdsa-sha2-nistp256'],
    ['p384user', 'x509v3-ecdsa-sha2-nistp384'],
    ['p521user', 'x509v3-ecdsa-sha2-nistp521'],
    ['eduser', 'x509v3-ssh-ed25519'],
    ['rsauser', 'x509v3-ssh-rsa'],
    ['rsauser', 'x509v3-rsa2048-sha256'],
  ];
  for (const [name, algorithm] of logins) {
    it(`logs in with ${algorithm}`, async () => {
      const c = certs[name]!;
      const r = await runAsyncSshClient({ port: server.port, username: name, keyPath: c.keyPath, chainPath: c.chainPath, algorithm, command: 'whoami' });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^authenticated ${name} via ${algorithm} subject=O=ssh-x509 Test, CN=${name} sha256=SHA256:[A-Za-z0-9+/]{43} revocation=crl\\n$`),
      );
    });
  }

  const refusals: Array<[string, string, string]> = [
    ['expired', 'expired', 'expired'],
    ['sshserver', 'sshserver', 'ekuMismatch'],
    ['revoked', 'revoked', 'revoked'],
    ['alice', 'bob', 'accountMismatch'],
  ];
  for (const [name, username, reason] of refusals) {
    it(`refuses ${name} as ${username}: ${reason}`, async () => {
      const c = certs[name]!;
      const r = await runAsyncSshClient({ port: server.port, username, keyPath: c.keyPath, chainPath: c.chainPath, algorithm: 'x509v3-ecdsa-sha2-nistp256', command: 'whoami' });
      expect(r.exitCode).toBe(255);
      expect(r.stdout).toBe('');
      await server.waitForLog(new RegExp(`refused \\(${reason}\\)`));
      expect(server.log()).toMatch(new RegExp(`reason=${reason}.*|username=${username}`));
    });
  }

  it('the server log never carries signatures or keys', () => {
    expect(server.log()).not.toMatch(/BEGIN|signature=|[A-Za-z0-9+/]{200}/);
  });
});
