/**
 * Messages a person can act on, for what users get wrong with files and
 * keys: each names the file and what it holds instead, says what to do, and
 * never shows a passphrase or a key. Also OpenSSH-format private keys (read
 * by ssh2's parser), the terminal prompt for a key passphrase (on a real
 * pseudo-terminal), and the warnings about the certificate before connecting.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { CertificateChain, chainWarnings, parsePrivateKey, SoftwareSigner, x509AuthHandler } from '../src/index.js';
import { PYTHON, startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { cliArgs } from './helpers/cli-bin.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';

const ROOT = new URL('..', import.meta.url).pathname;
const PASSPHRASE = 'correct-horse-7731';

let dir: string;
let pki: TestPki;
let alice: IssuedCert;
let server: AsyncSshServer;
/** alice's key in OpenSSH format, unencrypted and encrypted with PASSPHRASE. */
let opensshKey: string;
let opensshEncrypted: string;
let knownHosts: string;

/** Lines of a PEM key's base64 body: none may appear in a message. */
const keyLines = (pem: string) => pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
function expectNoSecrets(text: string): void {
  expect(text).not.toContain(PASSPHRASE);
  for (const l of [...keyLines(alice.keyPem), ...keyLines(readFileSync(opensshKey, 'utf8')), ...keyLines(readFileSync(opensshEncrypted, 'utf8'))]) expect(text).not.toContain(l);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-messages-'));
  pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  // ssh-keygen -p rewrites a key in OpenSSH's own format (its default), as users have them.
  opensshKey = join(dir, 'id_openssh');
  copyFileSync(alice.keyPath, opensshKey);
  execFileSync('ssh-keygen', ['-q', '-p', '-N', '', '-f', opensshKey]);
  writeFileSync(`${opensshKey}.pub`, execFileSync('ssh-keygen', ['-y', '-f', opensshKey]));
  opensshEncrypted = join(dir, 'id_openssh_enc');
  copyFileSync(alice.keyPath, opensshEncrypted);
  execFileSync('ssh-keygen', ['-q', '-p', '-N', PASSPHRASE, '-f', opensshEncrypted]);
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const connect = (...args: string[]) => ['connect', '-p', String(server.port), '--known-hosts', knownHosts, ...args];

describe('file errors name the file and what it holds instead', () => {
  it('a private key given as the certificate', async () => {
    const e = SoftwareSigner.fromFiles({ certificateFile: alice.keyPath, keyFile: alice.keyPath });
    await expect(e).rejects.toMatchObject({
      code: 'ERR_CERT_INVALID',
      message: `certificate file ${alice.keyPath} contains no certificate (no PEM CERTIFICATE block): it holds a private key (give it as the key: --key, keyFile)`,
    });
    // (With the key file itself as --cert the command reads it as a key + chain file and says it has no certificate.)
    const other = await pki.issue('carol', 'p256');
    const r = await runCommand(connect('--cert', alice.keyPath, '--key', other.keyPath, 'alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    expect(r.stderr).toContain(`certificate file ${alice.keyPath} contains no certificate`);
    expect(r.stderr).toContain('it holds a private key (give it as the key: --key, keyFile)');
    expectNoSecrets(r.stderr);
  });

  it('an OpenSSH private key, a DER private key, a public key line, and an empty file given as the certificate', async () => {
    await expect(SoftwareSigner.fromFiles({ certificateFile: opensshKey, keyFile: alice.keyPath })).rejects.toMatchObject({
      message: expect.stringContaining(`certificate file ${opensshKey} contains no certificate (no PEM CERTIFICATE block): it holds an OpenSSH private key`),
    });
    await expect(SoftwareSigner.fromFiles({ certificateFile: `${opensshKey}.pub`, keyFile: alice.keyPath })).rejects.toMatchObject({
      message: expect.stringContaining(`certificate file ${opensshKey}.pub is not a DER X.509 certificate: it is an SSH public key line`),
    });
    const derKey = join(dir, 'key.der');
    execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', alice.keyPath, '-outform', 'DER', '-out', derKey]);
    await expect(SoftwareSigner.fromFiles({ certificateFile: derKey, keyFile: alice.keyPath })).rejects.toMatchObject({
      message: `certificate file ${derKey} is not a DER X.509 certificate: it holds a DER PKCS#8 private key (give it as the key: --key, keyFile)`,
    });
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, '');
    await expect(SoftwareSigner.fromFiles({ certificateFile: empty, keyFile: alice.keyPath })).rejects.toMatchObject({ message: `certificate file ${empty} is not a DER X.509 certificate: it is empty` });
  });

  it('a certificate given as the key', async () => {
    const e = SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.certPath });
    await expect(e).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
      message: `key file ${alice.certPath} is not a private key: it holds a certificate (give it as the certificate: --cert, certificateFile)`,
    });
    const r = await runCommand(connect('--cert', alice.chainPath, '--key', alice.chainPath, 'alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    expect(r.stderr).toContain(`key file ${alice.chainPath} is not a private key: it holds a certificate`);
  });

  it('a missing file and a directory, in words and not a raw ENOENT', async () => {
    const missing = join(dir, 'nope.pem');
    await expect(SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: missing })).rejects.toMatchObject({
      code: 'ERR_FILE_UNREADABLE',
      message: `cannot read key file ${missing}: no such file (ENOENT)`,
    });
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    await expect(SoftwareSigner.fromFiles({ certificateFile: folder, keyFile: alice.keyPath })).rejects.toMatchObject({
      code: 'ERR_FILE_UNREADABLE',
      message: `cannot read certificate file ${folder}: it is a directory, not a file (EISDIR)`,
    });
    const r = await runCommand(connect('--cert', alice.chainPath, '--key', missing, 'alice@127.0.0.1', 'true'));
    expect(r.stderr).toBe(`ssh-x509: cannot read key file ${missing}: no such file (ENOENT)\n`);
    expect(r.stderr).not.toMatch(/ENOENT: no such file or directory, open/);
  });

  it('a key that belongs to none of the certificates names both files', async () => {
    const bob = await pki.issue('bob', 'p256');
    await expect(SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: bob.keyPath })).rejects.toMatchObject({
      code: 'ERR_KEY_CERT_MISMATCH',
      message: `no certificate in ${alice.chainPath} matches key file ${bob.keyPath}: give the certificate issued for this key`,
    });
  });
});

/** A self-signed CA named "O=Elsewhere, CN=Own CA" (no relation to the test PKI) and a leaf it issued, written by openssl. */
function ownCa(name: string): { leafKey: string; leafAndCa: string; ca: string } {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const ca = join(d, 'ca.pem');
  const caKey = join(d, 'ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-subj', '/O=Elsewhere/CN=Own CA', '-days', '5', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'ignore' });
  const leafKey = join(d, 'leaf.key');
  execFileSync('openssl', ['req', ...ec, '-keyout', leafKey, '-out', join(d, 'leaf.csr'), '-subj', '/O=Elsewhere/CN=alice'], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', join(d, 'leaf.csr'), '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', join(d, 'leaf.pem'), '-days', '5'], { stdio: 'ignore' });
  const leafAndCa = join(d, 'leaf-and-ca.pem');
  writeFileSync(leafAndCa, readFileSync(join(d, 'leaf.pem'), 'utf8') + readFileSync(ca, 'utf8'));
  return { leafKey, leafAndCa, ca };
}

describe('the command says what is wrong with what was given, in its own terms', () => {
  it('-i with a missing file names the key (the identity file), not a certificate file', async () => {
    const missing = join(dir, 'no-such-identity');
    const r = await runCommand(connect('-i', missing, 'alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    expect(r.stderr).toBe(`ssh-x509: cannot read key file ${missing}: no such file (ENOENT)\n`);
    // The library alike: the key file that is also the certificate file is named as the key.
    await expect(SoftwareSigner.fromFiles({ certificateFile: missing, keyFile: missing })).rejects.toMatchObject({ code: 'ERR_FILE_UNREADABLE', message: `cannot read key file ${missing}: no such file (ENOENT)` });
  });

  it('--cert and --key naming the same key file: the file holds a private key (no "give --cert", which was given)', async () => {
    const r = await runCommand(connect('--cert', alice.keyPath, '--key', alice.keyPath, 'alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    expect(r.stderr).toBe(`ssh-x509: certificate file ${alice.keyPath} contains no certificate (no PEM CERTIFICATE block): it holds a private key (give it as the key: --key, keyFile)\n`);
    expectNoSecrets(r.stderr);
    // -i alone still says where the chain was looked for.
    const i = await runCommand(connect('-i', alice.keyPath, 'alice@127.0.0.1', 'true'));
    expect(i.stderr).toBe(`ssh-x509: no certificate for the key ${alice.keyPath}: give CertificateFile / --cert, put the chain in ${alice.keyPath}-cert.pem, or in the key file itself\n`);
  });

  it('a leaf with its self-signed CA in one file lacks no intermediate; a refusal names the CA the server must trust', async () => {
    const own = ownCa('own-ca');
    const chain = await CertificateChain.fromFiles(own.leafAndCa);
    expect(chain.certificates).toHaveLength(1); // the root is not sent (RFC 6187)
    expect(chainWarnings(chain)).toEqual([]);
    expect(chainWarnings(await CertificateChain.fromFiles(join(dir, 'own-ca', 'leaf.pem')))[0]).toMatch(/^the chain holds only the certificate O=Elsewhere, CN=alice, not its issuer/);
    const r = await runCommand(connect('--cert', own.leafAndCa, '--key', own.leafKey, 'alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    expect(r.stderr).not.toMatch(/intermediate|warning/);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ssh-x509: Permission denied \(publickey\): alice@127\.0\.0\.1 refused every certificate offered: O=Elsewhere, CN=alice \[SHA256:[A-Za-z0-9+/]{43}\]\. /);
    expect(lines[0]).toContain('The server must trust "O=Elsewhere, CN=Own CA" and admit the certificate for alice; ');
    expect(lines[0]).toContain('refuses every x509v3 algorithm: log in there with --raw-key');
  });
});

describe('OpenSSH-format private keys (what ssh-keygen writes), through ssh2s parser', () => {
  it('reads an unencrypted one and logs in with it', async () => {
    expect(readFileSync(opensshKey, 'utf8')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: opensshKey });
    expect(signer.chain.leaf.subject).toContain('CN=alice');
    const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, username: 'alice', authHandler: x509AuthHandler('alice', { signer }) }, 'echo openssh-key');
    expect(r.stdout).toBe('openssh-key\n');
  });

  it('reads an encrypted one with its passphrase, and says what is wrong otherwise, never showing the passphrase', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: opensshEncrypted, passphrase: PASSPHRASE });
    expect(signer.chain.certificates.length).toBe(2);
    const none = SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: opensshEncrypted });
    await expect(none).rejects.toMatchObject({ code: 'ERR_KEY_INVALID', message: `key file ${opensshEncrypted} is an encrypted OpenSSH private key and no passphrase was given` });
    const wrong = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: opensshEncrypted, passphrase: `${PASSPHRASE}x` }).catch((e: Error) => e);
    expect(wrong).toMatchObject({ code: 'ERR_KEY_INVALID', message: `cannot decrypt the OpenSSH private key key file ${opensshEncrypted}: wrong passphrase` });
    expectNoSecrets((wrong as Error).message);
  });

  it('asks a passphrase callback only for an encrypted key, and logs in from the command with --passphrase-env', async () => {
    let asked: unknown[] = [];
    await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: opensshKey, passphrase: (req) => (asked.push(req), 'unused') });
    expect(asked).toEqual([]);
    await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: opensshEncrypted, passphrase: (req) => (asked.push(req), PASSPHRASE) });
    expect(asked).toEqual([{ keyFile: opensshEncrypted }]);
    asked = [];
    const r = await runCommand(connect('--cert', alice.chainPath, '--key', opensshEncrypted, '--passphrase-env', 'KEY_PASS', '--trace', 'alice@127.0.0.1', 'echo', 'cli-openssh'), { env: { KEY_PASS: PASSPHRASE } });
    expect(r.stdout).toBe('cli-openssh\n');
    expect(r.code).toBe(0);
    expectNoSecrets(r.stderr);
  });

  it('the command, without --passphrase-env and without a terminal, says so at once', async () => {
    const r = await runCommand(connect('--cert', alice.chainPath, '--key', opensshEncrypted, 'alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    expect(r.stderr).toBe(`ssh-x509: key file ${opensshEncrypted} is encrypted and there is no terminal to ask its passphrase on: give it with --passphrase-env VAR\n`);
  });
});

/** Runs the command on a real pseudo-terminal, typing `answer` at the prompt matching `prompt`. */
function onTerminal(args: string[], prompt: string, answer: string): Promise<{ output: string; status: number; answered: boolean }> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [join(ROOT, 'test/peers/pty_run.py'), prompt, 'PTY_ANSWER', '40', '--', process.execPath, ...cliArgs(), ...args],
      { cwd: ROOT, env: { ...process.env, PTY_ANSWER: answer }, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as { output: string; status: number; answered: boolean })),
    );
  });
}

describe('the passphrase prompt on a terminal', () => {
  it('asks for an encrypted key passphrase without echo, as for a PIN, and logs in', async () => {
    const r = await onTerminal(connect('--cert', alice.chainPath, '--key', opensshEncrypted, '--trace', 'alice@127.0.0.1', 'echo', 'tty-login'), 'Passphrase for key file .*: ', PASSPHRASE);
    expect(r.answered).toBe(true);
    expect(r.output).toContain(`Passphrase for key file ${opensshEncrypted}: `);
    expect(r.output).toContain('tty-login');
    expect(r.status).toBe(0);
    // Not echoed, not traced.
    expectNoSecrets(r.output);
  });

  it('a wrong passphrase typed there is reported once, without the passphrase', async () => {
    const r = await onTerminal(connect('--cert', alice.chainPath, '--key', opensshEncrypted, 'alice@127.0.0.1', 'true'), 'Passphrase for key file .*: ', 'not-it-0000');
    expect(r.answered).toBe(true);
    expect(r.output).toContain(`cannot decrypt the OpenSSH private key key file ${opensshEncrypted}: wrong passphrase`);
    expect(r.output).not.toContain('not-it-0000');
    expect(r.status).toBe(255);
  });
});

describe('warnings about the certificate, before connecting', () => {
  it('names an expired certificate, a not yet valid one, and a chain without the leaf issuer', () => {
    const chain = CertificateChain.from(readFileSync(alice.chainPath, 'utf8'));
    expect(chainWarnings(chain)).toEqual([]);
    const after = new Date(chain.leaf.notAfter.getTime() + 3 * 86_400_000);
    expect(chainWarnings(chain, after)[0]).toBe(`the certificate ${chain.leaf.subject} expired on ${chain.leaf.notAfter.toISOString()} (3 days ago): servers refuse it; renew it`);
    const before = new Date(chain.leaf.notBefore.getTime() - 2 * 86_400_000);
    expect(chainWarnings(chain, before)[0]).toBe(`the certificate ${chain.leaf.subject} is not valid until ${chain.leaf.notBefore.toISOString()} (in 2 days): servers refuse it until then; check this computer's clock`);
    const leafOnly = CertificateChain.from(readFileSync(alice.certPath, 'utf8'));
    expect(chainWarnings(leafOnly)).toEqual([
      `the chain holds only the certificate ${leafOnly.leaf.subject}, not its issuer ${leafOnly.leaf.issuer}: unless the server trusts ${leafOnly.leaf.issuer} itself, give the intermediate CA certificates too (--cert or --intermediates)`,
    ]);
  });

  it('the command warns that the certificate has expired before the server refuses it', async () => {
    const old = await pki.issue('old-alice', 'p256', { notBefore: new Date(Date.now() - 20 * 86_400_000), notAfter: new Date(Date.now() - 10 * 86_400_000) });
    const r = await runCommand(connect('--cert', old.chainPath, '--key', old.keyPath, 'old-alice@127.0.0.1', 'true'));
    expect(r.code).toBe(255);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(/^ssh-x509: warning: the certificate .*CN=old-alice.* expired on \d{4}-\d\d-\d\dT.* \((9|10) days ago\): servers refuse it; renew it$/);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(r.stderr).not.toContain(old.keyPem.split('\n')[1]!);
  });

  it('the command warns about a chain without the issuer, and not for a complete one', async () => {
    const r = await runCommand(connect('--cert', alice.certPath, '--key', alice.keyPath, 'alice@127.0.0.1', 'true'));
    expect(r.stderr.split('\n')[0]).toContain('ssh-x509: warning: the chain holds only the certificate');
    expectNoSecrets(r.stderr);
    const ok = await runCommand(connect('--cert', alice.chainPath, '--key', alice.keyPath, 'alice@127.0.0.1', 'echo', 'fine'));
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('fine\n');
  });
});

describe('parsePrivateKey: the one private-key reader, for user and host keys', () => {
  it('reads the same key from PKCS#8, SEC1, OpenSSH and encrypted OpenSSH, and says what a non-key holds', () => {
    const expected = createPublicKey(alice.keyPem).export({ format: 'der', type: 'spki' });
    const sec1 = createPrivateKey(alice.keyPem).export({ format: 'pem', type: 'sec1' });
    for (const [input, options] of [
      [alice.keyPem, {}],
      [sec1, {}],
      [readFileSync(opensshKey), {}],
      [readFileSync(opensshEncrypted), { passphrase: PASSPHRASE }],
    ] as const) {
      expect(createPublicKey(parsePrivateKey(input, 'k', options)).export({ format: 'der', type: 'spki' })).toEqual(expected);
    }
    const refused = (input: string | Uint8Array, options = {}) => {
      try {
        parsePrivateKey(input, 'my.key', options);
      } catch (e) {
        expectNoSecrets((e as Error).message);
        return e;
      }
      throw new Error('accepted');
    };
    expect(refused(readFileSync(alice.certPath))).toMatchObject({ code: 'ERR_KEY_INVALID', message: 'my.key is not a private key: it holds a certificate (give it as the certificate: --cert, certificateFile)' });
    expect(refused(readFileSync(opensshEncrypted))).toMatchObject({ code: 'ERR_KEY_INVALID', message: 'my.key is an encrypted OpenSSH private key and no passphrase was given' });
    expect(refused(readFileSync(opensshEncrypted), { passphrase: 'wrong' })).toMatchObject({ code: 'ERR_KEY_INVALID', message: 'cannot decrypt the OpenSSH private key my.key: wrong passphrase' });
  });
});
