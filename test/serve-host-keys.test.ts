/**
 * `ssh-x509 serve --host-cert ... --host-key ...`: the AsyncSSH client (an
 * independent RFC 6187 implementation) verifies serve's X.509 host
 * certificate (path to its trust anchor, purpose secureShellServer) and
 * logs in, for each x509v3 host key algorithm, with the host keys in
 * PKCS#1, SEC1, PKCS#8 (PEM and DER) and OpenSSH format beside a plain
 * host key; once with the host key on a SoftHSM token; and refuses it with
 * another trust anchor. AsyncSSH accepts only the plain signature format
 * names in the exchange-hash signature (asyncssh SSHKey.verify checks
 * all_sig_algorithms), so each login also shows the RFC 6187 section 3 name.
 * Host key file errors name the file and what it holds.
 */
import { createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsyncSshClient } from './helpers/asyncssh.js';
import { createTestPki, HOST_CERT, type IssuedCert, type KeyKind, type TestPki } from './helpers/pki.js';
import { probeKexReply } from './helpers/kex-probe.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { runCommand } from './helpers/ssh2-run.js';
import { decodePublicKeyBlob } from '../src/index.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';

/** Host key algorithm, key kind, and the format its key file is written in. */
const CASES: Array<[algorithm: string, kind: KeyKind, format: string]> = [
  ['x509v3-ssh-rsa', 'rsa2048', 'PKCS#1'],
  ['x509v3-rsa2048-sha256', 'rsa2048', 'PKCS#1'],
  ['x509v3-ecdsa-sha2-nistp256', 'p256', 'SEC1'],
  ['x509v3-ecdsa-sha2-nistp384', 'p384', 'PKCS#8'],
  ['x509v3-ecdsa-sha2-nistp521', 'p521', 'OpenSSH'],
  ['x509v3-ssh-ed25519', 'ed25519', 'PKCS#8 DER'],
];

let dir: string;
let pki: TestPki;
let otherPki: TestPki;
let alice: IssuedCert;
let plainKey: string;
const hostKeyFiles = new Map<KeyKind, { key: string; chain: string }>();
let ocspFile: string;
let ocspDer: Buffer;

/** Writes the host key of `cert` in `format`. */
function writeKey(cert: IssuedCert, format: string): string {
  const key = createPrivateKey(cert.keyPem);
  const path = join(dir, `host-${cert.kind}.key`);
  if (format === 'PKCS#1') writeFileSync(path, key.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  else if (format === 'SEC1') writeFileSync(path, key.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
  else if (format === 'PKCS#8 DER') writeFileSync(path, key.export({ type: 'pkcs8', format: 'der' }), { mode: 0o600 });
  else {
    writeFileSync(path, cert.keyPem, { mode: 0o600 });
    if (format === 'OpenSSH') execFileSync('ssh-keygen', ['-q', '-p', '-N', '', '-f', path]);
  }
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-serve-hostkeys-'));
  pki = await createTestPki(join(dir, 'pki'));
  otherPki = await createTestPki(join(dir, 'other'));
  alice = await pki.issue('alice', 'p256');
  for (const [, kind, format] of CASES) {
    if (hostKeyFiles.has(kind)) continue;
    const host = await pki.issue(`host-${kind}`, kind, HOST_CERT);
    hostKeyFiles.set(kind, { key: writeKey(host, format), chain: host.chainPath });
    if (kind === 'p384') {
      const rev = new OpensslRevocation(join(dir, 'ca'), pki.intermediate);
      rev.valid(host.certPem);
      ocspDer = rev.ocspResponse(host.certPath);
      ocspFile = join(dir, 'host-p384.ocsp.der');
      writeFileSync(ocspFile, ocspDer);
    }
  }
  plainKey = join(dir, 'plain_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plainKey]);
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const login = (port: number, hostTrust: string, hostKeyAlgorithm: string) =>
  runAsyncSshClient({ port, username: 'alice', keyPath: alice.keyPath, chainPath: alice.chainPath, algorithm: 'x509v3-ecdsa-sha2-nistp256', command: 'id', hostTrust, hostKeyAlgorithm });

describe('ssh-x509 serve with X.509 host keys, verified by AsyncSSH', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    const args = ['--host-key', plainKey];
    for (const { key, chain } of hostKeyFiles.values()) args.push('--host-key', key, '--host-cert', chain);
    server = await startServe([...args, '--host-ocsp', ocspFile, '--trust', pki.root.certPath, '--map', 'upn-local', '--allow-sha1', '--revocation', 'off']);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it.concurrent.each(CASES)('AsyncSSH verifies the %s host certificate (%s key in %s format) and logs in', async (algorithm) => {
    const r = await login(server.port, pki.root.certPath, algorithm);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^authenticated alice via x509v3-ecdsa-sha2-nistp256 subject=O=ssh-x509 Test, CN=alice /);
    expect(r.exitCode).toBe(0);
  });

  it('control: AsyncSSH with another trust anchor refuses the host certificate', async () => {
    const r = await login(server.port, otherPki.root.certPath, 'x509v3-ecdsa-sha2-nistp256');
    expect(r.exitCode).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ERROR HostKeyNotVerifiable/);
  });

  it('--host-ocsp staples the response into K_S of the certificate it answers for, and only there', async () => {
    const p384 = decodePublicKeyBlob((await probeKexReply(server.port, 'x509v3-ecdsa-sha2-nistp384')).hostKeyBlob);
    expect(p384.ocspResponses.map((o) => Buffer.from(o))).toEqual([ocspDer]);
    const p256 = decodePublicKeyBlob((await probeKexReply(server.port, 'x509v3-ecdsa-sha2-nistp256')).hostKeyBlob);
    expect(p256.ocspResponses).toEqual([]);
  });

  it('keeps the plain host key beside them', async () => {
    const line = execFileSync('ssh-keygen', ['-y', '-f', plainKey], { encoding: 'utf8' }).trim();
    const r = await runAsyncSshClient({ port: server.port, username: 'alice', keyPath: alice.keyPath, chainPath: alice.chainPath, algorithm: 'x509v3-ecdsa-sha2-nistp256', command: 'id', knownHostKeyLine: line });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});

describe('ssh-x509 serve with the X.509 host key on a SoftHSM token', () => {
  let hsm: SoftHsm;
  let server: ServeProcess;
  beforeAll(async () => {
    hsm = await createSoftHsm([{ label: 'host', pin: '8642', keys: [{ name: 'host-token', kind: 'p256', id: '01', source: 'generate', cert: HOST_CERT }] }], { pki });
    server = await startServe(
      ['--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:token=host;id=%01', '--pin-env', 'HOST_PIN', '--host-intermediates', pki.intermediate.certPath, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'off'],
      { env: { ...hsm.env, HOST_PIN: '8642' } },
    );
  }, 120_000);
  afterAll(async () => {
    expect(await server?.stop()).toBe(0);
    hsm?.cleanup();
  });

  it('AsyncSSH verifies the token host certificate (key generated on the token) and logs in', async () => {
    const r = await login(server.port, pki.root.certPath, 'x509v3-ecdsa-sha2-nistp256');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^authenticated alice via x509v3-ecdsa-sha2-nistp256 /);
    expect(r.exitCode).toBe(0);
    expect(server.log()).toMatch(/X\.509 host key.*subject="?O=ssh-x509 Test, CN=host-token/);
  });
});

describe.concurrent('ssh-x509 serve: host key errors name the file and what it holds', () => {
  const serve = (...args: string[]) => runCommand(['serve', '--listen', '127.0.0.1:0', '--trust', pki.root.certPath, '--map', 'upn-local', ...args], { env: { SECRET_PASS: 'not-it' } });
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };

  it.each([
    ['a missing file', () => join(dir, 'nope.key'), /cannot read host key file .*nope\.key: no such file \(ENOENT\)/],
    ['a certificate', () => alice.certPath, /host key file .*alice[/\\]cert\.pem is not a private key: it holds a certificate \(give it as the certificate: --host-cert\)/],
    ['an OpenSSH public key line', () => `${plainKey}.pub`, /host key file .*plain_ed25519\.pub is not a private key: it is an SSH public key line/],
    ['text that is no key', () => file('notes.txt', 'hello\n'), /host key file .*notes\.txt is not a private key: it holds 6 bytes that are neither PEM nor DER/],
    ['binary data', () => file('random.bin', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05, 0xff])), /cannot read host key file .*random\.bin \(expected PEM PKCS#8, PKCS#1, SEC1 or OpenSSH, or DER PKCS#8\): it holds 6 bytes of DER that are neither/],
    [
      'an encrypted PKCS#8 key without passphrase',
      () => file('enc.pem', createPrivateKey(alice.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })),
      /host key file .*enc\.pem is encrypted and no passphrase was given/,
    ],
  ])('%s', async (_what, path, message) => {
    const r = await serve('--host-key', path());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/Cannot parse privateKey|at .*\.js:\d+|BEGIN|not-it/);
  });

  it('an encrypted OpenSSH key without passphrase, and with a wrong one', async () => {
    const path = join(dir, 'enc_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'right', '-f', path]);
    const r = await serve('--host-key', path);
    expect(r.stderr).toMatch(/host key file .*enc_ed25519 is an encrypted OpenSSH private key and no passphrase was given/);
    const wrong = await serve('--host-key', path, '--passphrase-env', 'SECRET_PASS');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/cannot decrypt the OpenSSH private key host key file .*enc_ed25519: wrong passphrase/);
    expect(wrong.stderr).not.toMatch(/Cannot parse privateKey|not-it/);
  });

  it('a --host-cert whose key is not among the --host-key files, and a --host-ocsp that is no OCSP response', async () => {
    const r = await serve('--host-key', plainKey, '--host-cert', hostKeyFiles.get('p256')!.chain);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--host-cert .*host-p256[/\\]chain\.pem: no --host-key holds the private key of any of its certificates/);
    const o = await serve('--host-key', plainKey, '--host-ocsp', alice.certPath);
    expect(o.stderr).toMatch(/--host-ocsp .*alice[/\\]cert\.pem is not a successful DER OCSP response/);
  });
});
