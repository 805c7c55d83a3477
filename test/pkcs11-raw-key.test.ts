/**
 * "Use certificate as raw SSH2 key" and public key export with keys on a
 * SoftHSM token: `ssh-x509 export-pub` reads the token certificate (no PIN),
 * OpenSSH's ssh-keygen agrees on the fingerprint, and a real OpenSSH sshd
 * accepts `ssh-x509 connect --raw-key` with the key still on the token.
 */
import { execFileSync, execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenSshServer, waitForLog, type OpenSshServer } from './helpers/openssh.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { runCommand } from './helpers/ssh2-run.js';

const KEYS = [
  ['raw-rsa', 'rsa2048', '31', 'RSA'],
  ['raw-p256', 'p256', '32', 'ECDSA'],
  ['raw-p384', 'p384', '33', 'ECDSA'],
] as const;

let hsm: SoftHsm;
let sshd: OpenSshServer;
const exported = new Map<string, string>();

function keygenFingerprint(line: string, name: string): string {
  const f = join(hsm.dir, `${name}.pub`);
  writeFileSync(f, `${line}\n`);
  return execFileSync('ssh-keygen', ['-l', '-f', f], { encoding: 'utf8' }).split(' ')[1]!;
}

beforeAll(async () => {
  hsm = await createSoftHsm([{ label: 'raw', pin: '4321', keys: KEYS.map(([name, kind, id]) => ({ name, kind, id, source: 'generate' as const })) }]);
  for (const [name, , id] of KEYS) {
    const r = await runCommand(['export-pub', '--pkcs11-module', hsm.module, '--pkcs11-uri', `pkcs11:token=raw;id=%${id}`], { env: hsm.env });
    expect(r.stderr).toBe('');
    exported.set(name, r.stdout.trim());
  }
  sshd = await startOpenSshServer({ dir: join(hsm.dir, 'sshd'), authorizedKeys: [...exported.values()] });
});

afterAll(async () => {
  await sshd?.stop();
  hsm?.cleanup();
});

describe('export-pub from a token certificate', () => {
  it.each(KEYS)('%s: the OpenSSH line is the key ssh-keygen derives from the certificate', (name) => {
    const line = exported.get(name)!;
    const k = hsm.keys[name]!;
    const reference = execSync(`openssl x509 -in '${k.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
    expect(line.split(' ').slice(0, 2).join(' ')).toBe(reference);
    expect(keygenFingerprint(line, name)).toBe(keygenFingerprint(reference, `${name}-ref`));
  });

  it('the x509v3 format carries the token chain, and a wrong fingerprint is a clear error', async () => {
    const r = await runCommand(['export-pub', '--pkcs11-module', hsm.module, '--cert-fingerprint', hsm.keys['raw-p256']!.sha256, '--intermediates', hsm.pki.intermediate.certPath, '--format', 'x509v3'], { env: hsm.env });
    expect(r.stdout).toMatch(/^x509v3-ecdsa-sha2-nistp256 [A-Za-z0-9+/=]+ /);
    const bad = await runCommand(['export-pub', '--pkcs11-module', hsm.module, '--cert-fingerprint', 'SHA256:AAAA'], { env: hsm.env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ssh-x509 export-pub: no certificate on token "raw" matches the selection/);
  });
});

describe('raw SSH2 key on the token against OpenSSH', () => {
  it.each(KEYS)('%s logs in with the key on the token', async (name, _kind, id, logType) => {
    const before = sshd.log().length;
    const r = await runCommand(
      ['connect', '-p', String(sshd.port), '--strict-host-key-checking', 'no', '--known-hosts', join(hsm.dir, 'kh'), '--raw-key', '--pkcs11-module', hsm.module, '--pkcs11-uri', `pkcs11:token=raw;id=%${id}`, '--pin-env', 'TOKEN_PIN', 'root@127.0.0.1', 'echo', `token-${name}`],
      { env: { ...hsm.env, TOKEN_PIN: '4321' } },
    );
    expect(r.stdout).toBe(`token-${name}\n`);
    expect(r.code).toBe(0);
    const log = await waitForLog(() => sshd.log().slice(before), 'Accepted publickey');
    expect(log).toContain(`ssh2: ${logType} ${keygenFingerprint(exported.get(name)!, `${name}-log`)}`);
  });
});
