/**
 * OCSP stapling by the client: `ssh-x509 connect --staple-ocsp` fetches its
 * own certificate's response from a live `openssl ocsp` responder (which
 * answers one request and exits, so the server cannot fetch it) and staples
 * it into the user-authentication blob; `ssh-x509 serve --revocation
 * require` accepts a good one and refuses a revoked one. And the stapler's
 * cache: kept until shortly before nextUpdate, then fetched again. And the
 * server side: `serve --host-ocsp-fetch` staples its host certificate's
 * fetched response into K_S, which `connect --host-trust` checks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcspStapler, SoftwareSigner, x509AuthHandler, type TraceEvent } from '../src/index.js';
import { HOST_CERT, createTestPki, type TestPki } from './helpers/pki.js';
import { OpensslRevocation, freePort } from './helpers/revocation.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';

let dir: string;
let pki: TestPki;
let db: OpensslRevocation;
let server: ServeProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-staple-'));
  pki = await createTestPki(join(dir, 'pki'));
  db = new OpensslRevocation(join(dir, 'ca'), { certPath: pki.intermediate.certPath, keyPath: join(pki.dir, 'intermediate', 'key.pem') });
  const hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'require']);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A user whose certificate names a responder on a free port; the responder answers once, then exits. */
async function userWithResponder(name: string, revoked: boolean) {
  const port = await freePort();
  const cert = await pki.issue(name, 'p256', { ocspUrl: `http://127.0.0.1:${port}` });
  if (revoked) db.revoke(cert.certPem);
  else db.valid(cert.certPem);
  const responder = await db.startResponder({ port, nrequest: 1 });
  return { cert, responder };
}

const connect = (cert: { chainPath: string; keyPath: string }, user: string) =>
  runCommand(
    ['connect', '-p', String(server.port), '--cert', cert.chainPath, '--key', cert.keyPath, '--strict-host-key-checking', 'no', '--known-hosts', join(dir, `kh-${user}`), '--staple-ocsp', '--trace', `${user}@127.0.0.1`, 'echo', 'stapled-ok'],
    { timeoutMs: 60_000 },
  );

describe('client OCSP stapling against ssh-x509 serve --revocation require', () => {
  it('a good stapled response is accepted, with revocation from the stapled answer', async () => {
    const { cert, responder } = await userWithResponder('carol', false);
    try {
      const r = await connect(cert, 'carol');
      expect(r.stderr).toMatch(/fetched OCSP response.*status=good/);
      // serve answers a command with its decision; the responder answered one request (the client's)
      // and exited, so the server's answer can only come from the stapled response.
      expect(r.stdout).toMatch(/^authenticated carol via x509v3-ecdsa-sha2-nistp256 subject=O=ssh-x509 Test, CN=carol .* revocation=ocsp-stapled\n$/);
      expect(r.code).toBe(0);
    } finally {
      await responder.stop();
    }
  });

  it('a revoked stapled response is refused', async () => {
    const { cert, responder } = await userWithResponder('dave', true);
    try {
      const r = await connect(cert, 'dave');
      expect(r.stderr).toMatch(/fetched OCSP response.*status=revoked/);
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('');
      await server.waitForLog(/dave.*reason=revoked/);
    } finally {
      await responder.stop();
    }
  });

  it('without stapling (and the responder gone), revocation require refuses the same good certificate', async () => {
    const { cert, responder } = await userWithResponder('erin', false);
    await responder.stop();
    const r = await runCommand(
      ['connect', '-p', String(server.port), '--cert', cert.chainPath, '--key', cert.keyPath, '--strict-host-key-checking', 'no', '--known-hosts', join(dir, 'kh-erin'), 'erin@127.0.0.1', 'echo', 'x'],
      { timeoutMs: 60_000 },
    );
    expect(r.code).toBe(255);
    await server.waitForLog(/erin.*reason=revocationUnavailable/);
  });
});

describe('library: x509AuthHandler with ocspStapler', () => {
  it('staples the current response when authenticating; serve --revocation require accepts it', async () => {
    const { cert, responder } = await userWithResponder('grace', false);
    try {
      const signer = await SoftwareSigner.fromFiles({ certificateFile: cert.chainPath, keyFile: cert.keyPath });
      const events: TraceEvent[] = [];
      const handler = x509AuthHandler('grace', { signer, ocspStapler: new OcspStapler(), logger: (e: TraceEvent) => events.push(e) });
      const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, username: 'grace', authHandler: handler }, 'id');
      expect(r.stdout).toMatch(/^authenticated grace via x509v3-ecdsa-sha2-nistp256 .* revocation=ocsp-stapled\n$/);
      expect(events.some((e) => e.message === 'stapling OCSP response')).toBe(true);
    } finally {
      await responder.stop();
    }
  });
});

describe('OcspStapler cache', () => {
  it('keeps a response until shortly before nextUpdate, then fetches a fresh one', async () => {
    const port = await freePort();
    const cert = await pki.issue('frank', 'p256', { ocspUrl: `http://127.0.0.1:${port}` });
    db.valid(cert.certPem);
    const chain = [cert.certDer, pki.intermediate.certDer];
    let now = Date.now();
    const fetched: string[] = [];
    const stapler = new OcspStapler({ now: () => new Date(now), onFetched: (_s, a) => fetched.push(a.status) });

    let responder = await db.startResponder({ port, nrequest: 1 });
    const first = await stapler.responses(chain);
    await responder.stop();
    expect(first).toHaveLength(1);
    expect(fetched).toEqual(['good']);

    // Responder gone: the cached response is stapled, without a fetch.
    expect(await stapler.responses(chain)).toEqual(first);
    expect(fetched).toHaveLength(1);

    // 23.5 hours later (the responder's answers live one day): within the refresh window, a fresh one is fetched.
    now += 23.5 * 3600_000;
    responder = await db.startResponder({ port, nrequest: 1 });
    const second = await stapler.responses(chain);
    await responder.stop();
    expect(fetched).toEqual(['good', 'good']);
    expect(second).toHaveLength(1);
    expect(second[0]!.equals(first[0]!)).toBe(false);

    // Past its nextUpdate, with no responder, nothing is stapled.
    now += 25 * 3600_000;
    expect(await stapler.responses(chain)).toEqual([]);
  }, 60_000);
});

describe('server OCSP stapling: serve --host-ocsp-fetch', () => {
  /** serve with an X.509 host key whose certificate names a responder that answers once (serve's fetch at start), then exits. */
  async function serveWithFetchedHostOcsp(name: string, revoked: boolean) {
    const port = await freePort();
    const host = await pki.issue(name, 'p256', { ...HOST_CERT, ocspUrl: `http://127.0.0.1:${port}` });
    if (revoked) db.revoke(host.certPem);
    else db.valid(host.certPem);
    const responder = await db.startResponder({ port, nrequest: 1 });
    const serve = await startServe(['--host-key', host.keyPath, '--host-cert', host.chainPath, '--host-ocsp-fetch', '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'off']);
    await serve.waitForLog(new RegExp(`fetched OCSP response for a host certificate.*status=${revoked ? 'revoked' : 'good'}`));
    await responder.stop();
    return serve;
  }
  const user = () => pki.issue('heidi', 'p256');
  const connectTo = async (serve: ServeProcess, tag: string) => {
    const u = await user();
    return runCommand(
      ['connect', '-p', String(serve.port), '--cert', u.chainPath, '--key', u.keyPath, '--known-hosts', join(dir, `kh-host-${tag}`), '--host-trust', pki.root.certPath,
        '--host-key-algorithms', 'x509v3-ecdsa-sha2-nistp256', '--trace', 'heidi@127.0.0.1', 'id'],
      { timeoutMs: 60_000 },
    );
  };

  it('staples the good response it fetched; the client checks revocation from K_S with the responder gone', async () => {
    const serve = await serveWithFetchedHostOcsp('host-fetch-good', false);
    try {
      const r = await connectTo(serve, 'good');
      expect(r.stdout).toMatch(/^authenticated heidi via /);
      expect(r.stderr).toMatch(/revocation ocsp-stapled/);
      expect(r.code).toBe(0);
    } finally {
      await serve.stop();
    }
  });

  it('staples a revoked response too, and the client refuses the host with reason revoked', async () => {
    const serve = await serveWithFetchedHostOcsp('host-fetch-revoked', true);
    try {
      const r = await connectTo(serve, 'revoked');
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/host key verification failed \(revoked\)/);
    } finally {
      await serve.stop();
    }
  });
});
