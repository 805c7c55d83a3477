/**
 * Raw SSH2 key mode ("use certificate as raw SSH2 key"): the certificate's
 * key logs in to a server without RFC 6187 (OpenSSH 9.2) as a plain
 * rsa-sha2-256/512, ssh-rsa, ecdsa-sha2-* or ssh-ed25519 key. The
 * authorized_keys lines come from openssl + ssh-keygen, not from this library.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner, x509AuthHandler, type TraceEvent } from '../src/index.js';
import { startAsyncSshServer } from './helpers/asyncssh.js';
import { startOpenSshServer, waitForLog, type OpenSshServer } from './helpers/openssh.js';
import { createTestPki, type IssuedCert, type KeyKind } from './helpers/pki.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';

let dir: string;
const leaves = new Map<KeyKind, IssuedCert>();
/** The OpenSSH line of each leaf's key, made by openssl + ssh-keygen. */
const pubLines = new Map<KeyKind, string>();
const servers: Array<{ stop(): Promise<void> }> = [];
let rootCaPath: string;
/** One server with the EC and Ed25519 keys and OpenSSH's default algorithms, shared by those cases. */
let allKeys: Promise<OpenSshServer> | undefined;

/** `openssl x509 -pubkey | ssh-keygen -i -m PKCS8`; ssh-keygen 9.2 cannot import Ed25519 SPKI, so that one is built from the SPKI's last 32 bytes. */
function openSshLineOf(leaf: IssuedCert): string {
  if (leaf.kind === 'ed25519') {
    const der = execSync(`openssl x509 -in '${leaf.certPath}' -pubkey -noout | openssl pkey -pubin -outform DER`);
    const raw = der.subarray(der.length - 32);
    const type = Buffer.from('ssh-ed25519');
    const len = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    return `ssh-ed25519 ${Buffer.concat([len(type.length), type, len(32), raw]).toString('base64')}`;
  }
  return execSync(`openssl x509 -in '${leaf.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
}

/** `ssh-keygen -l` fingerprint (`SHA256:...`) of an OpenSSH public key line. */
function sshKeygenFingerprint(line: string): string {
  const file = join(dir, `fp-${Math.random().toString(36).slice(2)}.pub`);
  writeFileSync(file, line + '\n');
  const out = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' });
  return out.split(' ')[1]!;
}

async function server(name: string, kinds: KeyKind[], algorithms?: string[]): Promise<OpenSshServer> {
  const s = await startOpenSshServer({ dir: join(dir, name), authorizedKeys: kinds.map((k) => pubLines.get(k)!), pubkeyAcceptedAlgorithms: algorithms });
  servers.push(s);
  return s;
}

async function signerFor(kind: KeyKind): Promise<SoftwareSigner> {
  const leaf = leaves.get(kind)!;
  return SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
}

/** Logs in as root with the raw key and returns the remote output and the new part of sshd's log. */
async function rawLogin(s: OpenSshServer, kind: KeyKind, events: TraceEvent[] = []): Promise<{ stdout: string; code: number | null; log: string }> {
  const before = s.log().length;
  const signer = await signerFor(kind);
  const r = await ssh2Exec(
    { host: '127.0.0.1', port: s.port, username: 'root', authHandler: x509AuthHandler('root', { signer, rawKey: true, logger: (e: TraceEvent) => events.push(e) }) },
    `echo raw-$(id -un)-${kind}`,
  );
  const log = await waitForLog(() => s.log().slice(before), 'Accepted publickey');
  return { stdout: r.stdout.trim(), code: r.code, log };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-rawkey-'));
  const pki = await createTestPki(join(dir, 'pki'));
  rootCaPath = pki.root.certPath;
  for (const kind of ['rsa2048', 'p256', 'p384', 'p521', 'ed25519'] as const) {
    const leaf = await pki.issue(`raw-${kind}`, kind);
    leaves.set(kind, leaf);
    pubLines.set(kind, openSshLineOf(leaf));
  }
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('raw SSH2 key mode against OpenSSH 9.2', () => {
  it('logs in with the RSA certificate key as rsa-sha2-256 (the only RSA algorithm the server accepts)', async () => {
    const s = await server('rsa-sha2-256', ['rsa2048'], ['rsa-sha2-256']);
    const events: TraceEvent[] = [];
    const r = await rawLogin(s, 'rsa2048', events);
    expect(r.stdout).toBe('raw-root-rsa2048');
    // The trace names what ssh2 put on the wire, not the certificate's x509v3-rsa2048-sha256.
    expect(events.find((e) => e.message.includes('signing'))?.fields).toMatchObject({ algorithm: 'rsa-sha2-256', key: 'raw' });
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/userauth_pubkey: .*pkalg rsa-sha2-256 /);
    const accepted = r.log.split('\n').find((l) => l.includes('Accepted publickey'));
    expect(accepted).toContain(`Accepted publickey for root from 127.0.0.1 port`);
    expect(accepted).toContain(`ssh2: RSA ${sshKeygenFingerprint(pubLines.get('rsa2048')!)}`);
  });

  it('picks rsa-sha2-256 for RSA when the server accepts every RSA algorithm (OpenSSH advertises them all in server-sig-algs)', async () => {
    const s = await server('rsa-default', ['rsa2048']);
    const r = await rawLogin(s, 'rsa2048');
    expect(r.stdout).toBe('raw-root-rsa2048');
    expect(r.log).toMatch(/userauth_pubkey: .*pkalg rsa-sha2-256 /);
    expect(r.log).toContain('Accepted publickey for root');
  });

  it.each([
    ['p256', 'ecdsa-sha2-nistp256', 'ECDSA'],
    ['p384', 'ecdsa-sha2-nistp384', 'ECDSA'],
    ['p521', 'ecdsa-sha2-nistp521', 'ECDSA'],
    ['ed25519', 'ssh-ed25519', 'ED25519'],
  ] as const)('logs in with the %s certificate key as %s', async (kind, algorithm, logType) => {
    allKeys ??= server('all', ['p256', 'p384', 'p521', 'ed25519']);
    const s = await allKeys;
    const events: TraceEvent[] = [];
    const r = await rawLogin(s, kind, events);
    expect(r.stdout).toBe(`raw-root-${kind}`);
    expect(r.code).toBe(0);
    expect(r.log).toMatch(new RegExp(`userauth_pubkey: .*pkalg ${algorithm} `));
    const fp = sshKeygenFingerprint(pubLines.get(kind)!);
    expect(r.log).toContain(`Accepted publickey for root from 127.0.0.1 port`);
    expect(r.log.split('\n').find((l) => l.includes('Accepted publickey'))).toContain(`ssh2: ${logType} ${fp}`);
    expect(events.find((e) => e.message.includes('signing'))?.fields).toMatchObject({ algorithm, key: 'raw' });
  });

  it('is refused by OpenSSH in RFC 6187 mode: it does not know x509v3-* algorithms', async () => {
    const s = await server('x509v3', ['p256']);
    const before = s.log().length;
    const signer = await signerFor('p256');
    await expect(
      ssh2Exec({ host: '127.0.0.1', port: s.port, username: 'root', authHandler: x509AuthHandler('root', { signer }) }, 'echo should-not-run'),
    ).rejects.toThrow(/authentication methods failed/);
    const log = await waitForLog(() => s.log().slice(before), 'unsupported public key algorithm');
    expect(log).toMatch(/unsupported public key algorithm: x509v3-ecdsa-sha2-nistp256/);
    expect(log).not.toContain('Accepted publickey');
  });

  it('is refused when the key is not in authorized_keys', async () => {
    const s = await server('other-key', ['p384']);
    const before = s.log().length;
    const signer = await signerFor('p256');
    await expect(
      ssh2Exec({ host: '127.0.0.1', port: s.port, username: 'root', authHandler: x509AuthHandler('root', { signer, rawKey: true }) }, 'echo should-not-run'),
    ).rejects.toThrow(/authentication methods failed/);
    const log = await waitForLog(() => s.log().slice(before), /authenticated 0 pkalg ecdsa-sha2-nistp256/);
    expect(log).toMatch(/authenticated 0 pkalg ecdsa-sha2-nistp256/);
    expect(log).not.toContain('Accepted publickey');
  });
});

describe('raw RSA key with a named signature algorithm (OpenSSH)', () => {
  it.each(['rsa-sha2-512', 'ssh-rsa'])('logs in as %s when named, on a server that accepts only it', async (algorithm) => {
    const s = await server(`named-${algorithm}`, ['rsa2048'], [algorithm]);
    const before = s.log().length;
    const signer = await signerFor('rsa2048');
    const events: TraceEvent[] = [];
    const r = await ssh2Exec(
      { host: '127.0.0.1', port: s.port, username: 'root', authHandler: x509AuthHandler('root', { signer, rawKey: true, algorithms: [algorithm], logger: (e: TraceEvent) => events.push(e) }) },
      'echo named-$(id -un)',
    );
    expect(r.stdout.trim()).toBe('named-root');
    expect(events.find((e) => e.message.includes('signing'))?.fields).toMatchObject({ algorithm, key: 'raw' });
    const log = await waitForLog(() => s.log().slice(before), 'Accepted publickey');
    expect(log).toMatch(new RegExp(`userauth_pubkey: .*pkalg ${algorithm} `));
  });

  it('the command takes --raw-key --algorithm rsa-sha2-512, and refuses an x509v3 name there', async () => {
    const s = await server('named-cli', ['rsa2048'], ['rsa-sha2-512']);
    const leaf = leaves.get('rsa2048')!;
    const args = ['connect', '-p', String(s.port), '--strict-host-key-checking', 'no', '--known-hosts', join(dir, 'kh-cli'), '--cert', leaf.chainPath, '--key', leaf.keyPath, '--raw-key'];
    const ok = await runCommand([...args, '--trace', '--algorithm', 'rsa-sha2-512', 'root@127.0.0.1', 'echo', 'cli-raw']);
    expect(ok.stdout).toBe('cli-raw\n');
    expect(ok.code).toBe(0);
    // --trace names the algorithm on the wire, not the certificate's x509v3 one.
    expect(ok.stderr).toMatch(/trace: offering key algorithm=rsa-sha2-512 .*key=raw/);
    expect(ok.stderr).toMatch(/trace: signing at once, without a publickey query \(the key is at hand\) algorithm=rsa-sha2-512 /);
    expect(ok.stderr).not.toContain('x509v3-');
    const bad = await runCommand([...args, '--algorithm', 'x509v3-rsa2048-sha256', 'root@127.0.0.1', 'true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('with --raw-key, --algorithm takes a plain SSH algorithm');
  });
});

describe('ssh-x509 connect like ssh, against OpenSSH', () => {
  it('with no remote command runs a shell reading standard input, and returns its exit status', async () => {
    const s = await server('shell', ['p256']);
    const leaf = leaves.get('p256')!;
    const r = await runCommand(
      ['connect', '-p', String(s.port), '--strict-host-key-checking', 'no', '--known-hosts', join(dir, 'kh-shell'), '--cert', leaf.chainPath, '--key', leaf.keyPath, '--raw-key', 'root@127.0.0.1'],
      { stdin: 'echo "shell for $(id -un)"\necho oops >&2\nexit 5\n' },
    );
    expect(r.stdout).toBe('shell for root\n');
    expect(r.stderr).toContain('oops\n');
    expect(r.code).toBe(5);
  });

  it('passes standard input to the remote command', async () => {
    const s = await server('stdin', ['p256']);
    const leaf = leaves.get('p256')!;
    const r = await runCommand(
      ['connect', '-p', String(s.port), '--strict-host-key-checking', 'no', '--known-hosts', join(dir, 'kh-stdin'), '--cert', leaf.chainPath, '--key', leaf.keyPath, '--raw-key', 'root@127.0.0.1', 'tr', 'a-z', 'A-Z'],
      { stdin: 'piped through\n' },
    );
    expect(r.stdout).toBe('PIPED THROUGH\n');
    expect(r.code).toBe(0);
  });
});

/**
 * ssh2 takes rsa-sha2-256 whenever the server's server-sig-algs lists it,
 * and OpenSSH 9.2 lists every algorithm it implements whatever
 * PubkeyAcceptedAlgorithms says. So rsa-sha2-512 and ssh-rsa are shown
 * against AsyncSSH, whose server-sig-algs follows its configuration.
 */
describe('raw RSA key with the other RSA signature algorithms (AsyncSSH)', () => {
  it.each(['rsa-sha2-512', 'ssh-rsa'])('logs in with the RSA certificate key as %s', async (algorithm) => {
    const s = await startAsyncSshServer({
      trust: [rootCaPath],
      dir: join(dir, `asyncssh-${algorithm}`),
      authorizedKeysLines: [pubLines.get('rsa2048')!],
      algorithms: ['ssh-rsa', algorithm],
    });
    servers.push(s);
    const signer = await signerFor('rsa2048');
    const events: TraceEvent[] = [];
    const r = await ssh2Exec(
      { host: '127.0.0.1', port: s.port, username: 'raw', authHandler: x509AuthHandler('raw', { signer, rawKey: true, logger: (e: TraceEvent) => events.push(e) }) },
      'echo "raw-$USER"',
    );
    expect(r.stdout.trim()).toBe('raw-raw');
    const signed = `AUTH user=raw alg=ssh-rsa phase=sign sig=${algorithm} result=ok`;
    expect(await waitForLog(s.log, signed)).toContain(signed);
    // The trace names the algorithm on the wire (what ssh2 negotiated), never the x509v3 one.
    expect(events.find((e) => e.message.includes('signing'))?.fields).toMatchObject({ algorithm, key: 'raw' });
  });
});
