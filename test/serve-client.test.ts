/**
 * `ssh-x509 serve` with our own client: the ssh2 client adapter
 * (x509AuthHandler + SoftwareSigner) logs in with each of the six
 * algorithms, with and without an OCSP response stapled in the blob
 * (real DER responses from `openssl ocsp`), and the serve line says which
 * revocation source answered. A stapled *revoked* response, or one for
 * another certificate, is refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner, x509AuthHandler } from '../src/index.js';
import { createTestPki, type IssuedCert, type KeyKind, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { ssh2Exec, type ExecResult } from './helpers/ssh2-run.js';

let dir: string;
let pki: TestPki;
let hostKey: string;
let rev: OpensslRevocation;
let crlPath: string;
const certs: Record<string, IssuedCert> = {};
/** A DER OCSP response (signed by the issuing CA with `openssl ocsp`) for each certificate. */
const ocsp: Record<string, Buffer> = {};

const ALGORITHMS: Array<[user: string, kind: KeyKind, algorithm: string]> = [
  ['alice', 'p256', 'x509v3-ecdsa-sha2-nistp256'],
  ['p384user', 'p384', 'x509v3-ecdsa-sha2-nistp384'],
  ['p521user', 'p521', 'x509v3-ecdsa-sha2-nistp521'],
  ['eduser', 'ed25519', 'x509v3-ssh-ed25519'],
  ['rsauser', 'rsa2048', 'x509v3-rsa2048-sha256'],
  ['rsauser', 'rsa2048', 'x509v3-ssh-rsa'],
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-serve-client-'));
  pki = await createTestPki(join(dir, 'pki'));
  hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const kinds = new Map<string, KeyKind>([...ALGORITHMS.map(([u, k]) => [u, k] as [string, KeyKind]), ['revoked', 'p256']]);
  await Promise.all([...kinds].map(async ([name, kind]) => (certs[name] = await pki.issue(name, kind))));
  rev = new OpensslRevocation(join(dir, 'ca'), pki.intermediate);
  for (const [name, c] of Object.entries(certs)) {
    if (name === 'revoked') rev.revoke(c.certPem);
    else rev.valid(c.certPem);
  }
  for (const [name, c] of Object.entries(certs)) ocsp[name] = rev.ocspResponse(c.certPath);
  crlPath = join(dir, 'crl.der');
  writeFileSync(crlPath, rev.crl());
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function login(server: ServeProcess, user: string, algorithm: string, opts: { cert?: string; staple?: Buffer } = {}): Promise<ExecResult> {
  const c = certs[opts.cert ?? user]!;
  const signer = await SoftwareSigner.fromFiles({ certificateFile: c.chainPath, keyFile: c.keyPath });
  const handler = x509AuthHandler(user, { signer, algorithms: [algorithm], ...(opts.staple ? { ocspResponses: [opts.staple] } : {}) });
  return ssh2Exec({ host: '127.0.0.1', port: server.port, username: user, authHandler: handler }, 'whoami');
}

function line(user: string, algorithm: string, revocation: string): RegExp {
  return new RegExp(`^authenticated ${user} via ${algorithm} subject=O=ssh-x509 Test, CN=${user} sha256=SHA256:[A-Za-z0-9+/]{43} revocation=${revocation}\\n$`);
}

async function expectRefused(p: Promise<ExecResult>): Promise<void> {
  await expect(p).rejects.toMatchObject({ level: 'client-authentication', message: 'All configured authentication methods failed' });
}

describe('ssh-x509 serve --revocation prefer --crl, with the ssh2 client adapter', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--allow-sha1', '--revocation', 'prefer', '--crl', crlPath]);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  for (const [user, , algorithm] of ALGORITHMS) {
    it(`logs in with ${algorithm}, no stapled response: revocation=crl`, async () => {
      const r = await login(server, user, algorithm);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(line(user, algorithm, 'crl'));
    });
    it(`logs in with ${algorithm} and a stapled OCSP response: revocation=ocsp-stapled`, async () => {
      const r = await login(server, user, algorithm, { staple: ocsp[user]! });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(line(user, algorithm, 'ocsp-stapled'));
    });
  }

  it('refuses a revoked certificate by the CRL', async () => {
    await expectRefused(login(server, 'revoked', 'x509v3-ecdsa-sha2-nistp256'));
    await server.waitForLog(/refused \(revoked\): "O=ssh-x509 Test, CN=revoked" is revoked \(crl/);
  });

  it('refuses a stapled response that answers for another certificate (ocspMismatch), not falling back to the CRL', async () => {
    await expectRefused(login(server, 'alice', 'x509v3-ecdsa-sha2-nistp256', { staple: ocsp.p384user! }));
    await server.waitForLog(/refused \(ocspMismatch\)[^\n]*CN=alice/);
  });
});

describe('ssh-x509 serve --revocation prefer without CRLs: the stapled response decides', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'prefer']);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('lets the revoked certificate in when nothing says it is revoked (revocation=none): the control', async () => {
    const r = await login(server, 'revoked', 'x509v3-ecdsa-sha2-nistp256');
    expect(r.stdout).toMatch(line('revoked', 'x509v3-ecdsa-sha2-nistp256', 'none'));
  });

  it('refuses the same certificate with its stapled revoked OCSP response', async () => {
    await expectRefused(login(server, 'revoked', 'x509v3-ecdsa-sha2-nistp256', { staple: ocsp.revoked! }));
    await server.waitForLog(/refused \(revoked\): "O=ssh-x509 Test, CN=revoked" is revoked \(ocsp-stapled, since /);
  });

  it('accepts a stapled good response: revocation=ocsp-stapled', async () => {
    const r = await login(server, 'alice', 'x509v3-ecdsa-sha2-nistp256', { staple: ocsp.alice! });
    expect(r.stdout).toMatch(line('alice', 'x509v3-ecdsa-sha2-nistp256', 'ocsp-stapled'));
  });
});

describe('ssh-x509 serve --revocation off', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'off']);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('says revocation=none, with or without a stapled response', async () => {
    const plain = await login(server, 'alice', 'x509v3-ecdsa-sha2-nistp256');
    expect(plain.stdout).toMatch(line('alice', 'x509v3-ecdsa-sha2-nistp256', 'none'));
    const stapled = await login(server, 'alice', 'x509v3-ecdsa-sha2-nistp256', { staple: ocsp.alice! });
    expect(stapled.stdout).toMatch(line('alice', 'x509v3-ecdsa-sha2-nistp256', 'none'));
  });

  it('refuses a certificate bound to another account', async () => {
    await expectRefused(login(server, 'bob', 'x509v3-ecdsa-sha2-nistp256', { cert: 'alice' }));
    await server.waitForLog(/refused \(accountMismatch\)[^\n]*"bob"/);
  });
});
