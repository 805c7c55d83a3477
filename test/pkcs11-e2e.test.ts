/**
 * End to end: SSH login to a real RFC 6187 server (AsyncSSH) through the
 * ssh2 adapter, with the private key on a SoftHSM token.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509AuthHandler } from '../src/index.js';
import { Pkcs11Signer } from '../src/pkcs11.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

let hsm: SoftHsm;
let server: AsyncSshServer;

beforeAll(async () => {
  hsm = await createSoftHsm([
    {
      label: 'card',
      pin: '2468',
      keys: [
        { name: 'user-rsa', kind: 'rsa2048', id: '01', source: 'generate' },
        { name: 'user-p256', kind: 'p256', id: '02', source: 'generate' },
        { name: 'user-p384', kind: 'p384', id: '03', source: 'import' },
        { name: 'user-p521', kind: 'p521', id: '04', source: 'generate' },
        { name: 'user-ed25519', kind: 'ed25519', id: '05', source: 'generate' },
      ],
    },
  ]);
  server = await startAsyncSshServer({ trust: [hsm.pki.root.certPath], dir: join(hsm.dir, 'server') });
});

afterAll(async () => {
  await server?.stop();
  hsm?.cleanup();
});

const CASES: [algorithm: string, key: string, allowMechanisms?: string[]][] = [
  ['x509v3-rsa2048-sha256', 'user-rsa'],
  ['x509v3-ssh-rsa', 'user-rsa'],
  ['x509v3-rsa2048-sha256', 'user-rsa', ['CKM_RSA_PKCS']],
  ['x509v3-ecdsa-sha2-nistp256', 'user-p256'],
  ['x509v3-ecdsa-sha2-nistp384', 'user-p384'],
  ['x509v3-ecdsa-sha2-nistp521', 'user-p521'],
  ['x509v3-ssh-ed25519', 'user-ed25519'],
];

describe('ssh2 adapter with a PKCS#11 signer against AsyncSSH', () => {
  it.each(CASES)('logs in with %s, key %s on the token (mechanisms %s)', async (algorithm, name, allowMechanisms) => {
    const k = hsm.keys[name]!;
    const signer = await Pkcs11Signer.open({
      module: hsm.module,
      uri: `pkcs11:token=card;id=%${k.id}`,
      intermediatesFile: hsm.pki.intermediate.certPath,
      pin: async () => '2468',
      ...(allowMechanisms ? { allowMechanisms } : {}),
    });
    try {
      expect(signer.chain.certificates).toHaveLength(2);
      const r = await ssh2Exec(
        { host: '127.0.0.1', port: server.port, username: name, authHandler: x509AuthHandler(name, { signer, algorithms: [algorithm] }) },
        `echo "$USER" ${algorithm}`,
      );
      expect(r.stdout.trim()).toBe(`${name} ${algorithm}`);
      expect(r.code).toBe(0);
      await waitForLog(server.log, `user=${name} alg=${algorithm} phase=sign`);
      const line = server
        .log()
        .split('\n')
        .filter((l) => l.startsWith('AUTH ') && l.includes(`user=${name} `) && l.includes('phase=sign'))
        .at(-1);
      expect(line).toContain(`alg=${algorithm} phase=sign`);
      expect(line).toContain('result=ok');
    } finally {
      await signer.close();
    }
  });
});
