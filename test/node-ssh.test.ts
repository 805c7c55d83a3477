/**
 * node-ssh with X.509 certificate login (`nodeSshConfig`), end to end
 * against AsyncSSH (RFC 6187) and, in raw-key mode, OpenSSH.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH } from 'node-ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner } from '../src/index.js';
import { nodeSshConfig } from '../src/adapters/node-ssh.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { startOpenSshServer, waitForLog, type OpenSshServer } from './helpers/openssh.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';

let dir: string;
let pki: TestPki;
let server: AsyncSshServer;
let alice: IssuedCert;
const open: NodeSSH[] = [];
const others: OpenSshServer[] = [];

/** A hostVerifier that accepts only the server's own host key. */
function pinned(publicKeyLine: string): (key: Buffer) => boolean {
  const expected = Buffer.from(publicKeyLine.split(' ')[1]!, 'base64');
  return (key: Buffer) => key.equals(expected);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-node-ssh-'));
  pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
});

afterAll(async () => {
  for (const ssh of open) ssh.dispose();
  await Promise.all([server?.stop(), ...others.map((s) => s.stop())]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('node-ssh adapter', () => {
  it('logs in with a certificate and runs a command (execCommand)', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
    const ssh = new NodeSSH();
    open.push(ssh);
    await ssh.connect(nodeSshConfig({ host: '127.0.0.1', port: server.port, username: 'alice', signer, connect: { hostVerifier: pinned(server.hostPublicKeyLine), readyTimeout: 20_000 } }));
    const r = await ssh.execCommand('echo "node-ssh as $USER"; echo err >&2; exit 3');
    expect(r).toMatchObject({ stdout: 'node-ssh as alice', stderr: 'err', code: 3 });
    const signed = /AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=ecdsa-sha2-nistp256 result=ok/;
    expect(await waitForLog(server.log, signed)).toMatch(signed);
    ssh.dispose();
  });

  it('fails to connect when the server refuses the certificate', async () => {
    const mallory = await pki.issue('mallory', 'p256', { eku: [] });
    const other = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'strict'), authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=alice'] });
    try {
      const signer = await SoftwareSigner.fromFiles({ certificateFile: mallory.chainPath, keyFile: mallory.keyPath });
      const ssh = new NodeSSH();
      open.push(ssh);
      await expect(ssh.connect(nodeSshConfig({ host: '127.0.0.1', port: other.port, username: 'mallory', signer }))).rejects.toThrow(/authentication methods failed/);
      expect(await waitForLog(other.log, /AUTH user=mallory .*result=fail/)).toMatch(/AUTH user=mallory .*result=fail/);
    } finally {
      await other.stop();
    }
  });

  it('logs in to OpenSSH in raw-key mode', async () => {
    const line = execSync(`openssl x509 -in '${alice.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
    const sshd = await startOpenSshServer({ dir: join(dir, 'sshd'), authorizedKeys: [line] });
    others.push(sshd);
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
    const ssh = new NodeSSH();
    open.push(ssh);
    await ssh.connect(nodeSshConfig({ host: '127.0.0.1', port: sshd.port, username: 'root', signer, rawKey: true, connect: { hostVerifier: pinned(sshd.hostPublicKeyLine) } }));
    const r = await ssh.execCommand('id -un');
    expect(r.stdout).toBe('root');
    const accepted = /Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA SHA256:/;
    expect(await waitForLog(sshd.log, accepted)).toMatch(accepted);
    ssh.dispose();
  });

  it('rejects bad connection options with ERR_INVALID_ARGUMENT before connecting', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
    expect(() => nodeSshConfig({ host: '', username: 'alice', signer })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => nodeSshConfig({ host: 'h', port: 70000, username: 'alice', signer })).toThrow(/port must be an integer from 1 to 65535/);
    const config = nodeSshConfig({ host: 'h', username: 'alice', signer, connect: { readyTimeout: 5 } });
    expect(config).toMatchObject({ host: 'h', port: 22, username: 'alice', readyTimeout: 5 });
    const handler = config.authHandler as unknown as (left: null, partial: null, cb: () => void) => unknown;
    expect(handler(null, null, () => undefined)).toMatchObject({ type: 'agent', username: 'alice' });
    expect(handler(null, null, () => undefined)).toBe(false);
  });
});
