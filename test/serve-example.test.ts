import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startExampleServer } from '../examples/ssh2-server.js';
import { runAsyncSshClient } from './helpers/asyncssh.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';

let dir: string;
let pki: TestPki;
let alice: IssuedCert;
let server: { port: number; close: () => Promise<void> };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-example-'));
  pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  const hostKey = join(dir, 'host');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  server = await startExampleServer(hostKey, pki.root.certPath);
}, 60_000);

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

it('examples/ssh2-server.ts lets alice in as alice, and not as bob', async () => {
  const opts = { port: server.port, keyPath: alice.keyPath, chainPath: alice.chainPath, algorithm: 'x509v3-ecdsa-sha2-nistp256', command: 'x' };
  const ok = await runAsyncSshClient({ ...opts, username: 'alice' });
  expect(ok).toMatchObject({ exitCode: 0, stdout: 'hello alice\n' });
  const bad = await runAsyncSshClient({ ...opts, username: 'bob' });
  expect(bad.exitCode).toBe(255);
  expect(bad.stdout).toBe('');
});
