/**
 * `ssh-x509 sftp -b`: a batch that uploads and downloads a tree of random
 * files of several sizes (one over 50 MB) through a jump host (OpenSSH sshd,
 * plain key), checked byte for byte, against AsyncSSH's SFTP server (X.509
 * login) and OpenSSH's (raw key); and its exit statuses.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { startOpenSshServer, type OpenSshServer } from './helpers/openssh.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';
import { runCommand } from './helpers/ssh2-run.js';

let dir: string;
let alice: IssuedCert;
let asyncssh: AsyncSshServer;
let bastion: OpenSshServer;
let openssh: OpenSshServer;
let idFile: string;
let knownHosts: string;
let tree: string;
let config: string;

const SIZES = { 'empty.bin': 0, 'one.bin': 1, 'small.bin': 1000, 'sub/medium.bin': 300_000, 'sub/deeper/odd.bin': 65_537, 'big.bin': 51 * 1024 * 1024 };

function digests(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(root, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-sftp-cli-'));
  const pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  const plain = execSync(`openssl x509 -in '${alice.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
  asyncssh = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'asyncssh'), authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=alice'] });
  bastion = await startOpenSshServer({ dir: join(dir, 'bastion'), authorizedKeys: [plain] });
  openssh = await startOpenSshServer({ dir: join(dir, 'openssh'), authorizedKeys: [plain] });
  idFile = join(dir, 'id');
  copyFileSync(alice.keyPath, idFile);
  copyFileSync(alice.chainPath, `${idFile}-cert.pem`);
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, [asyncssh, bastion, openssh].map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
  tree = join(dir, 'tree');
  for (const [name, size] of Object.entries(SIZES)) {
    mkdirSync(join(tree, name, '..'), { recursive: true });
    writeFileSync(join(tree, name), randomBytes(size));
  }
  config = join(dir, 'config');
  writeFileSync(
    config,
    [
      'Host bastion',
      '  HostName 127.0.0.1',
      `  Port ${bastion.port}`,
      '  User root',
      '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256',
      'Host x509-target',
      '  HostName 127.0.0.1',
      `  Port ${asyncssh.port}`,
      '  User alice',
      '  ProxyJump bastion',
      'Host plain-target',
      '  HostName 127.0.0.1',
      `  Port ${openssh.port}`,
      '  User root',
      '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256',
      '  ProxyJump bastion',
      'Host *',
      `  IdentityFile ${idFile}`,
      `  UserKnownHostsFile ${knownHosts}`,
      '',
    ].join('\n'),
  );
}, 180_000);

afterAll(async () => {
  await asyncssh?.stop();
  await bastion?.stop();
  await openssh?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['AsyncSSH (X.509 login)', 'x509-target'],
  ['OpenSSH (plain key)', 'plain-target'],
])('sftp -b through a jump host to %s', (_name, host) => {
  it('uploads and downloads the tree byte for byte, and runs ls, cd, lcd, mkdir, rename, rm', async () => {
    const remote = join(dir, `remote-${host}`);
    const back = join(dir, `back-${host}`);
    const batch = join(dir, `batch-${host}`);
    writeFileSync(
      batch,
      [
        `mkdir ${remote}`,
        `cd ${remote}`,
        `put -r ${tree} up`,
        'ls up',
        `lcd ${dir}`,
        `get -r up back-${host}`,
        'rename up/one.bin up/renamed.bin',
        'rm up/renamed.bin',
        '-rm up/does-not-exist',
        'pwd',
        '',
      ].join('\n'),
    );
    const r = await runCommand(['sftp', '-F', config, '-b', batch, host], { timeoutMs: 300_000 });
    expect(r.stderr).toMatch(/^(ssh-x509 sftp: rm: .*\n)?$/);
    expect(r.code).toBe(0);
    expect(digests(back)).toEqual(digests(tree));
    expect(statSync(join(back, 'big.bin')).size).toBe(SIZES['big.bin']);
    expect(r.stdout).toContain(`sftp> put -r ${tree} up`);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['big.bin', 'empty.bin', 'one.bin', 'small.bin', 'sub']));
    expect(r.stdout).toContain(`Remote working directory: ${remote}`);
    expect(existsSync(join(remote, 'up', 'one.bin'))).toBe(false);
    expect(existsSync(join(remote, 'up', 'renamed.bin'))).toBe(false);
    // Not a terminal: no progress bar.
    expect(r.stdout).not.toMatch(/\d+%/);
  }, 300_000);
});

describe('sftp exit status', () => {
  it('a failed command in batch mode stops the batch and exits 1; a usage error exits 2; a failed login 255', async () => {
    const batch = join(dir, 'failing');
    writeFileSync(batch, [`get ${join(dir, 'no-such-file')} ${join(dir, 'x')}`, `mkdir ${join(dir, 'never-made')}`, ''].join('\n'));
    const r = await runCommand(['sftp', '-F', config, '-b', batch, 'x509-target']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ssh-x509 sftp: get: /);
    expect(existsSync(join(dir, 'never-made'))).toBe(false);
    const usage = await runCommand(['sftp', '--bogus', 'x509-target']);
    expect(usage.code).toBe(2);
    const login = await runCommand(['sftp', '-F', 'none', '-P', String(openssh.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-b', batch, 'root@127.0.0.1']);
    expect(login.code).toBe(255);
    expect(login.stderr).toContain('Permission denied (publickey)');
  });
});

describe('sftp [user@]host:path [local path], as OpenSSH sftp', () => {
  it('host:file downloads the file into the current directory, or to the local path given, and ends; host:dir starts there', async () => {
    const work = join(dir, 'fetch');
    const here = join(work, 'here');
    mkdirSync(here, { recursive: true });
    const remoteFile = join(work, 'remote.bin');
    writeFileSync(remoteFile, randomBytes(70_000));
    const base = ['sftp', '-F', 'none', '-P', String(asyncssh.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`];

    const r = await runCommand([...base, `alice@127.0.0.1:${remoteFile}`], { cwd: here });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Fetching ${remoteFile} to remote.bin\n`);
    expect(readFileSync(join(here, 'remote.bin'))).toEqual(readFileSync(remoteFile));

    // A local path: a file name (relative to the current directory), or a directory to put it in.
    const named = await runCommand([...base, `alice@127.0.0.1:${remoteFile}`, 'copy.bin'], { cwd: here });
    expect(named.code).toBe(0);
    expect(readFileSync(join(here, 'copy.bin'))).toEqual(readFileSync(remoteFile));
    mkdirSync(join(work, 'into'));
    const into = await runCommand([...base, '-q', `alice@127.0.0.1:${remoteFile}`, join(work, 'into')]);
    expect(into.code).toBe(0);
    expect(into.stdout).toBe('');
    expect(readFileSync(join(work, 'into', 'remote.bin'))).toEqual(readFileSync(remoteFile));

    // host:dir starts in that directory (commands from standard input).
    const inDir = await runCommand([...base, `alice@127.0.0.1:${work}`], { stdin: 'pwd\n' });
    expect(inDir.code).toBe(0);
    expect(inDir.stdout).toContain(`Remote working directory: ${work}`);

    // A file that is not there: exit 1, naming it; a local path without a remote one: a usage error.
    const missing = await runCommand([...base, `alice@127.0.0.1:${join(work, 'nope.bin')}`], { cwd: here });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^ssh-x509 sftp: cannot download ${join(work, 'nope.bin')} to ${join(here, 'nope.bin')}: `));
    expect(existsSync(join(here, 'nope.bin'))).toBe(false);
    const usage = await runCommand([...base, 'alice@127.0.0.1', 'local.bin']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('a local path ("local.bin") needs a remote one to download');
  });
});

describe('sftp -p (OpenSSH sftp: preserve times and modes; the port is -P)', () => {
  it('-p keeps the modification time and mode on put and get; get -p and put -p per command; without it neither is kept', async () => {
    const work = join(dir, 'preserve');
    mkdirSync(join(work, 'remote'), { recursive: true });
    const src = join(work, 'src.bin');
    writeFileSync(src, randomBytes(4096));
    chmodSync(src, 0o640);
    const then = new Date('2001-02-03T04:05:06Z');
    utimesSync(src, then, then);
    const batch = join(work, 'batch');
    const up = join(work, 'remote', 'up.bin');
    const down = join(work, 'down.bin');
    const modeAndTime = (p: string) => ({ mode: statSync(p).mode & 0o7777, mtime: Math.floor(statSync(p).mtimeMs / 1000) });
    const want = { mode: 0o640, mtime: Math.floor(then.getTime() / 1000) };
    const sftp = (...flags: string[]) => runCommand(['sftp', '-F', 'none', ...flags, '-P', String(openssh.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-b', batch, 'root@127.0.0.1']);

    writeFileSync(batch, [`put ${src} ${up}`, `get ${up} ${down}`, ''].join('\n'));
    const plain = await sftp();
    expect(plain.code).toBe(0);
    expect(modeAndTime(up).mtime).not.toBe(want.mtime);
    expect(modeAndTime(down).mtime).not.toBe(want.mtime);

    const all = await sftp('-p');
    expect(all.code).toBe(0);
    expect(modeAndTime(up)).toEqual(want);
    expect(modeAndTime(down)).toEqual(want);

    rmSync(up);
    rmSync(down);
    writeFileSync(batch, [`put -p ${src} ${up}`, `get -p ${up} ${down}`, ''].join('\n'));
    const per = await sftp();
    expect(per.code).toBe(0);
    expect(modeAndTime(up)).toEqual(want);
    expect(modeAndTime(down)).toEqual(want);
    const help = await runCommand(['sftp', '--help']);
    expect(help.stdout).toMatch(/^ {2}-P <port> +server port$/m);
    expect(help.stdout).toMatch(/^ {2}-p +preserve modification and access times and modes/m);
    expect(help.stdout).toMatch(/^Not supported \(OpenSSH sftp's\): /m);
  });
});
