/**
 * Public key export (`exportPublicKey`, `ssh-x509 export-pub`), checked by
 * the programs that read the output: OpenSSH's ssh-keygen for the .pub and
 * RFC 4716 forms, AsyncSSH's authorized_keys for the distinguished-name
 * lines, and the RFC 6187 decoder for the x509v3 blob line.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateChain, decodePublicKeyBlob, SoftwareSigner, x509AuthHandler } from '../src/index.js';
import type { CliIo } from '../src/cli/io.js';
import { runExportPub } from '../src/cli/commands/export-pub.js';
import { exportPublicKey, rfc4716PublicKey } from '../src/certs/export.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { waitForLog } from './helpers/wait.js';
import { createTestPki, type IssuedCert, type KeyKind, type TestPki } from './helpers/pki.js';
import { ssh2Exec } from './helpers/ssh2-run.js';

const KINDS: KeyKind[] = ['rsa2048', 'p256', 'p384', 'p521', 'ed25519'];

let dir: string;
let pki: TestPki;
const leaves = new Map<KeyKind, IssuedCert>();
const servers: AsyncSshServer[] = [];

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The OpenSSH line of a certificate's key made without this library: openssl + ssh-keygen (Ed25519: from the SPKI, which ssh-keygen 9.2 cannot import). */
function referenceLine(leaf: IssuedCert): string {
  if (leaf.kind === 'ed25519') {
    const der = execSync(`openssl x509 -in '${leaf.certPath}' -pubkey -noout | openssl pkey -pubin -outform DER`);
    const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    return `ssh-ed25519 ${Buffer.concat([u32(11), Buffer.from('ssh-ed25519'), u32(32), der.subarray(der.length - 32)]).toString('base64')}`;
  }
  return execSync(`openssl x509 -in '${leaf.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
}

/** `ssh-keygen -l -f <file>`: [bits, fingerprint, comment..., (TYPE)]. */
function keygenList(path: string): string[] {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path], { encoding: 'utf8' }).trim().split(' ');
}

async function chainOf(kind: KeyKind): Promise<CertificateChain> {
  return CertificateChain.fromFiles(leaves.get(kind)!.chainPath);
}

/** Runs `ssh-x509 export-pub` in-process with captured output. */
async function exportPub(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io: CliIo = { stdin: new PassThrough(), stdout, stderr, env: {} };
  const code = await runExportPub(args, io);
  return { code, stdout: out, stderr: err };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-export-'));
  pki = await createTestPki(join(dir, 'pki'));
  for (const kind of KINDS) leaves.set(kind, await pki.issue(`exp-${kind}`, kind));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('openssh format', () => {
  it.each(KINDS)('%s: ssh-keygen reads the line and finds the same key as openssl + ssh-keygen', async (kind) => {
    const leaf = leaves.get(kind)!;
    const r = await exportPub(['--cert', leaf.chainPath, '--comment', `exported ${kind}`]);
    expect(r.code).toBe(0);
    const ref = referenceLine(leaf);
    expect(r.stdout).toBe(`${ref.split(' ').slice(0, 2).join(' ')} exported ${kind}\n`);
    const ours = keygenList(file(`${kind}.pub`, r.stdout));
    const theirs = keygenList(file(`${kind}-ref.pub`, ref + '\n'));
    expect(ours[1]).toMatch(/^SHA256:/);
    expect(ours[1]).toBe(theirs[1]);
    expect(ours.slice(2, -1).join(' ')).toBe(`exported ${kind}`);
  });

  it('takes the leaf of a full chain given in any order, and the subject as the default comment', async () => {
    const leaf = leaves.get('p256')!;
    const shuffled = file('shuffled.pem', pki.root.certPem + pki.intermediate.certPem + leaf.certPem);
    const r = await exportPub(['--cert', shuffled]);
    expect(r.code).toBe(0);
    const chain = await chainOf('p256');
    expect(r.stdout).toBe(`${referenceLine(leaf)} ${chain.leaf.subject}\n`);
  });
});

describe('rfc4716 format', () => {
  it.each(KINDS)('%s: ssh-keygen -i reads it back as the same key', async (kind) => {
    const r = await exportPub(['--cert', leaves.get(kind)!.certPath, '--format', 'rfc4716']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('---- BEGIN SSH2 PUBLIC KEY ----');
    expect(lines.at(-1)).toBe('---- END SSH2 PUBLIC KEY ----');
    expect(lines[1]).toMatch(/^Comment: "O=ssh-x509 Test, CN=exp-/);
    for (const l of lines.slice(2, -1)) expect(l.length).toBeLessThanOrEqual(70);
    const converted = execFileSync('ssh-keygen', ['-i', '-f', file(`${kind}.rfc4716`, r.stdout)], { encoding: 'utf8' }).trim();
    expect(converted).toBe(referenceLine(leaves.get(kind)!));
  });

  it('wraps a long comment header with backslash continuations (RFC 4716 section 3.3) that ssh-keygen accepts', async () => {
    const chain = await chainOf('rsa2048');
    const comment = 'a comment long enough to need more than one header line in an RFC 4716 file, ünïcödé included';
    const text = exportPublicKey(chain, { format: 'rfc4716', comment });
    const headers = text.split('\n').slice(1, 3);
    expect(headers[0]!.endsWith('\\')).toBe(true);
    for (const h of text.split('\n')) expect(Buffer.byteLength(h)).toBeLessThanOrEqual(72);
    expect(text.split('\n').slice(1, 3).map((h) => h.replace(/\\$/, '')).join('')).toBe(`Comment: "${comment}"`);
    const converted = execFileSync('ssh-keygen', ['-i', '-f', file('long.rfc4716', text)], { encoding: 'utf8' }).trim();
    expect(converted).toBe(referenceLine(leaves.get('rsa2048')!));
    expect(rfc4716PublicKey(Buffer.from('x'))).toBe('---- BEGIN SSH2 PUBLIC KEY ----\neA==\n---- END SSH2 PUBLIC KEY ----\n');
  });
});

describe('x509v3 format', () => {
  it.each([
    ['rsa2048', 'x509v3-rsa2048-sha256'],
    ['p256', 'x509v3-ecdsa-sha2-nistp256'],
    ['p384', 'x509v3-ecdsa-sha2-nistp384'],
    ['p521', 'x509v3-ecdsa-sha2-nistp521'],
    ['ed25519', 'x509v3-ssh-ed25519'],
  ] as const)('%s: the line decodes as an RFC 6187 blob of %s holding the chain without the root', async (kind, algorithm) => {
    const leaf = leaves.get(kind)!;
    const r = await exportPub(['--cert', leaf.fullChainPath, '--format', 'x509v3', '--comment', 'alice laptop']);
    expect(r.code).toBe(0);
    const [name, b64, ...comment] = r.stdout.trimEnd().split(' ');
    expect(name).toBe(algorithm);
    expect(comment.join(' ')).toBe('alice laptop');
    const blob = decodePublicKeyBlob(Buffer.from(b64!, 'base64'));
    expect(blob.algorithm).toBe(algorithm);
    expect(blob.certificates.map((c) => Buffer.from(c).toString('base64'))).toEqual([leaf.certDer.toString('base64'), Buffer.from(pki.intermediate.certDer).toString('base64')]);
    expect(blob.ocspResponses).toEqual([]);
  });

  it('uses the algorithm asked for, and refuses one that does not fit the key', async () => {
    const chain = await chainOf('rsa2048');
    const line = exportPublicKey(chain, { format: 'x509v3', algorithm: 'x509v3-ssh-rsa', comment: '' });
    expect(line).toMatch(/^x509v3-ssh-rsa [A-Za-z0-9+/=]+\n$/);
    expect(decodePublicKeyBlob(Buffer.from(line.split(' ')[1]!.trim(), 'base64')).algorithm).toBe('x509v3-ssh-rsa');
    // PKIX-SSH's legacy blob line: the leaf's DER alone.
    const legacy = exportPublicKey(chain, { format: 'x509v3', algorithm: 'x509v3-sign-rsa', comment: '' });
    expect(legacy).toBe(`x509v3-sign-rsa ${leaves.get('rsa2048')!.certDer.toString('base64')}\n`);
    expect(() => exportPublicKey(chain, { format: 'x509v3', algorithm: 'x509v3-ecdsa-sha2-nistp256' })).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_ALGORITHM_MISMATCH' }),
    );
    const r = await exportPub(['--cert', leaves.get('rsa2048')!.certPath, '--format', 'x509v3', '--algorithm', 'x509v3-nope']);
    // A misspelt name is a bad value: exit 2, as the help promises, with the known names.
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown algorithm "x509v3-nope" (--algorithm); x509v3 ones: x509v3-ecdsa-sha2-nistp256,');
  });

  it('refuses to pick a default for an RSA key under 2048 bits, naming the way out', async () => {
    const small = await pki.issue('exp-small', 'rsa1024');
    const chain = await CertificateChain.fromFiles(small.chainPath);
    expect(() => exportPublicKey(chain, { format: 'x509v3' })).toThrow(/x509v3-ssh-rsa/);
    expect(exportPublicKey(chain, { format: 'x509v3', algorithm: 'x509v3-ssh-rsa' })).toMatch(/^x509v3-ssh-rsa /);
  });
});

describe('distinguished-name lines', () => {
  it('writes the PKIX-SSH and AsyncSSH forms, in certificate RDN order, with x509v3-sign-rsa for RSA', async () => {
    expect(exportPublicKey(await chainOf('rsa2048'), { format: 'dn' })).toBe('x509v3-sign-rsa Subject: O=ssh-x509 Test,CN=exp-rsa2048\n');
    expect(exportPublicKey(await chainOf('rsa2048'), { format: 'asyncssh-dn' })).toBe('x509v3-sign-rsa subject=O=ssh-x509 Test,CN=exp-rsa2048\n');
    expect(exportPublicKey(await chainOf('p384'), { format: 'dn' })).toBe('x509v3-ecdsa-sha2-nistp384 Subject: O=ssh-x509 Test,CN=exp-p384\n');
    expect(exportPublicKey(await chainOf('ed25519'), { format: 'asyncssh-dn' })).toBe('x509v3-ssh-ed25519 subject=O=ssh-x509 Test,CN=exp-ed25519\n');
    expect(exportPublicKey(await chainOf('rsa2048'), { format: 'dn', algorithm: 'x509v3-rsa2048-sha256' })).toBe('x509v3-rsa2048-sha256 Subject: O=ssh-x509 Test,CN=exp-rsa2048\n');
  });

  it('escapes special characters the way each server unescapes them', async () => {
    const odd = await pki.issue('odd', 'p256', { cn: 'Doe\\, Jane/ops\\+x' });
    const chain = await CertificateChain.fromFiles(odd.chainPath);
    expect(chain.leaf.subjectName.getField('CN')).toEqual(['Doe, Jane/ops+x']);
    expect(exportPublicKey(chain, { format: 'dn' })).toBe('x509v3-ecdsa-sha2-nistp256 Subject: O=ssh-x509 Test,CN=Doe\\2C Jane\\2Fops\\2Bx\n');
    expect(exportPublicKey(chain, { format: 'asyncssh-dn' })).toBe('x509v3-ecdsa-sha2-nistp256 subject=O=ssh-x509 Test,CN=Doe\\, Jane/ops\\+x\n');
  });

  it('has no comment: the CLI refuses --comment for DN formats', async () => {
    const r = await exportPub(['--cert', leaves.get('p256')!.certPath, '--format', 'dn', '--comment', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no comment/);
  });

  /** Starts AsyncSSH with `line` as its only authorized_keys entry. */
  async function serverWith(name: string, line: string): Promise<AsyncSshServer> {
    const s = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, name), authorizedKeysLines: [line] });
    servers.push(s);
    return s;
  }

  async function login(s: AsyncSshServer, leaf: IssuedCert, user: string): Promise<string> {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const r = await ssh2Exec({ host: '127.0.0.1', port: s.port, username: user, authHandler: x509AuthHandler(user, { signer }) }, 'echo "dn-$USER"');
    return r.stdout.trim();
  }

  it.each([
    ['dn', 'rsa2048'],
    ['asyncssh-dn', 'rsa2048'],
    ['dn', 'p256'],
    ['asyncssh-dn', 'ed25519'],
  ] as const)('AsyncSSH admits the %s line of a %s certificate, and refuses another subject', async (format, kind) => {
    const r = await exportPub(['--cert', leaves.get(kind)!.chainPath, '--format', format]);
    expect(r.code).toBe(0);
    const s = await serverWith(`dn-${format}-${kind}`, r.stdout.trim());
    expect(await login(s, leaves.get(kind)!, `exp-${kind}`)).toBe(`dn-exp-${kind}`);
    const other = kind === 'p256' ? 'p384' : 'p256';
    await expect(login(s, leaves.get(other)!, `exp-${other}`)).rejects.toThrow(/authentication methods failed/);
    const refused = new RegExp(`AUTH user=exp-${other} .*result=fail reason=key-not-authorized`);
    expect(await waitForLog(s.log, refused)).toMatch(refused);
  });

  it('AsyncSSH admits the asyncssh-dn line of a subject with escaped characters and a multi-valued RDN', async () => {
    // CN shorter than OU, so the SET OF is in DER order (AsyncSSH's cryptography refuses a mis-sorted one).
    const odd = await pki.issue('odd2', 'p256', { cn: 'R\\,+OU=operations team\\+1' });
    const line = exportPublicKey(await CertificateChain.fromFiles(odd.chainPath), { format: 'asyncssh-dn' }).trim();
    expect(line).toBe('x509v3-ecdsa-sha2-nistp256 subject=O=ssh-x509 Test,CN=R\\,+OU=operations team\\+1');
    const s = await serverWith('dn-odd', line);
    expect(await login(s, odd, 'odd2')).toBe('dn-odd2');
  });
});

describe('export-pub usage errors', () => {
  it.each([
    [[], /--cert/],
    [['--cert', 'x.pem', '--format', 'putty'], /--format must be one of openssh, rfc4716, x509v3, dn, asyncssh-dn/],
    [['--cert', 'x.pem', '--bogus'], /Unknown option '--bogus'/],
    [['x.pem'], /unexpected argument "x.pem"/],
  ])('%j exits 2', async (args, message) => {
    const r = await exportPub(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('refuses --algorithm for the openssh format', async () => {
    const r = await exportPub(['--cert', leaves.get('p256')!.certPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the openssh format writes the key's own type (ecdsa-sha2-nistp256)");
  });

  it('names an unreadable certificate file and exits 1', async () => {
    const r = await exportPub(['--cert', join(dir, 'missing.pem')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot read certificate file ${join(dir, 'missing.pem')}: no such file (ENOENT)`);
  });

  it('prints its usage with --help', async () => {
    const r = await exportPub(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: ssh-x509 export-pub \(--cert <file> \| --pkcs11-module <path>/);
  });
});
