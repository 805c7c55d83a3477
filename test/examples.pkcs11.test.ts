/**
 * Runs the PKCS#11 examples as a user would, against a fresh SoftHSM token,
 * so that they never rot.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';

const cwd = new URL('..', import.meta.url).pathname;
const run = (file: string, env: NodeJS.ProcessEnv) =>
  spawnSync(process.execPath, ['--import', 'tsx', file], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });

let created: Record<string, string> = {};
let server: AsyncSshServer | undefined;

afterAll(async () => {
  await server?.stop();
  if (created.SOFTHSM2_CONF) rmSync(dirname(created.SOFTHSM2_CONF), { recursive: true, force: true });
});

describe('PKCS#11 examples', () => {
  it('scripts/pkcs11-demo-token.ts creates a token and prints its environment', () => {
    const r = run('scripts/pkcs11-demo-token.ts', { PIN: '7531' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/token "ssh-x509 demo" \(serial [0-9a-f]+\) created with 2 keys/);
    created = Object.fromEntries([...r.stdout.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(created).sort()).toEqual(['INTERMEDIATE_CA', 'PKCS11_MODULE', 'ROOT_CA', 'SOFTHSM2_CONF']);
  });

  it('pkcs11-list.ts lists both certificates, with and without a PIN', () => {
    const anonymous = run('examples/pkcs11-list.ts', created);
    expect(anonymous.status).toBe(0);
    expect(anonymous.stdout).toContain('subject:     O=ssh-x509 Test, CN=alice-p256');
    expect(anonymous.stdout).toContain('key:         RSA 2048; algorithms: x509v3-rsa2048-sha256');
    expect(anonymous.stdout).toContain('private key: unknown (log in to see)');
    expect(anonymous.stdout).toContain('2 certificate(s)');
    const withPin = run('examples/pkcs11-list.ts', { ...created, PIN: '7531' });
    expect(withPin.status).toBe(0);
    expect(withPin.stdout.match(/private key: yes/g)).toHaveLength(2);
  });

  it('pkcs11-connect.ts logs in to AsyncSSH with the key on the token', async () => {
    server = await startAsyncSshServer({ trust: [created.ROOT_CA!], dir: join(dirname(created.SOFTHSM2_CONF!), 'server') });
    const r = run('examples/pkcs11-connect.ts', {
      ...created,
      PIN: '7531',
      PKCS11_URI: 'pkcs11:token=ssh-x509%20demo;id=%01',
      INTERMEDIATES: created.INTERMEDIATE_CA!,
      SSH_HOST: '127.0.0.1',
      SSH_PORT: String(server.port),
      SSH_USER: 'alice-p256',
      SSH_HOST_KEY: server.hostPublicKeyLine,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/certificate: O=ssh-x509 Test, CN=alice-p256 \(SHA256:\S+\) on token "ssh-x509 demo"/);
    expect(r.stdout).toContain('remote output: logged in as alice-p256');
  });
});
