/**
 * ssh2-sftp-client with X.509 certificate login (`sftpConfig`), as SecureFX
 * does: upload and download against AsyncSSH's SFTP server, contents checked
 * byte for byte on both sides.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner } from '../src/index.js';
import { sftpConfig } from '../src/adapters/sftp.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { waitForLog } from './helpers/wait.js';
import { createTestPki, type IssuedCert, type KeyKind } from './helpers/pki.js';

let dir: string;
let server: AsyncSshServer;
const leaves = new Map<KeyKind, IssuedCert>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-sftp-'));
  const pki = await createTestPki(join(dir, 'pki'));
  for (const kind of ['rsa2048', 'ed25519'] as const) leaves.set(kind, await pki.issue(`sftp-${kind}`, kind));
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  mkdirSync(join(dir, 'remote'));
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ssh2-sftp-client adapter', () => {
  it.each([
    ['rsa2048', 'x509v3-rsa2048-sha256'],
    ['ed25519', 'x509v3-ssh-ed25519'],
  ] as const)('uploads and downloads a file with a %s certificate (%s)', async (kind, algorithm) => {
    const leaf = leaves.get(kind)!;
    const user = `sftp-${kind}`;
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const expectedHostKey = Buffer.from(server.hostPublicKeyLine.split(' ')[1]!, 'base64');
    const sftp = new SftpClient();
    await sftp.connect(sftpConfig({ host: '127.0.0.1', port: server.port, username: user, signer, connect: { hostVerifier: (key: Buffer) => key.equals(expectedHostKey) } }));
    try {
      const up = randomBytes(300 * 1024 + 7);
      const remote = join(dir, 'remote', `${kind}.bin`);
      await sftp.put(up, remote);
      // The server wrote exactly what was sent.
      expect(readFileSync(remote).equals(up)).toBe(true);

      const down = randomBytes(200 * 1024 + 3);
      const served = join(dir, 'remote', `${kind}-served.bin`);
      writeFileSync(served, down);
      const got = await sftp.get(served);
      expect(Buffer.isBuffer(got)).toBe(true);
      expect((got as Buffer).equals(down)).toBe(true);

      const local = join(dir, `${kind}-local.bin`);
      await sftp.fastGet(remote, local);
      expect(readFileSync(local).equals(up)).toBe(true);
      expect((await sftp.stat(remote)).size).toBe(up.length);
    } finally {
      await sftp.end();
    }
    const signed = new RegExp(`AUTH user=${user} alg=${algorithm} phase=sign sig=\\S+ result=ok`);
    expect(await waitForLog(server.log, signed)).toMatch(signed);
  });

  it('rejects the connection when the certificate is not accepted', async () => {
    const leaf = leaves.get('rsa2048')!;
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const sftp = new SftpClient();
    // The certificate maps to user sftp-rsa2048, not to root.
    await expect(sftp.connect(sftpConfig({ host: '127.0.0.1', port: server.port, username: 'root', signer }))).rejects.toThrow(/authentication methods failed/);
    expect(await waitForLog(server.log, /AUTH user=root alg=x509v3-rsa2048-sha256 .*result=fail/)).toMatch(/AUTH user=root alg=x509v3-rsa2048-sha256 .*result=fail/);
  });
});
