/**
 * known_hosts in the library: OpenSSH's behaviours (hashed entries,
 * `[host]:port`, patterns, `@revoked`, StrictHostKeyChecking), PKIX-SSH's
 * X.509 entries (`Subject:` and pinned certificates), OpenSSH's messages
 * (fingerprint, file:line, `ssh-keygen -R`), and `ask` on a real terminal
 * (a pty) with `ssh-x509 connect`.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshWriter, checkHostKey, encodePublicKeyBlob, hostKeyFingerprint, x509HostVerifier } from '../src/index.js';
import { PYTHON, startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { cliArgs } from './helpers/cli-bin.js';
import { OID_SECURE_SHELL_SERVER, createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';

let dir: string;
let pki: TestPki;
let host: IssuedCert;
const ed = (fill: number) => new SshWriter().string('ssh-ed25519').string(Buffer.alloc(32, fill)).toBuffer();
const KEY = ed(7);
const OTHER = ed(9);
const line = (name: string, blob: Buffer) => `${name} ssh-ed25519 ${blob.toString('base64')}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-kh-'));
  pki = await createTestPki(join(dir, 'pki'));
  host = await pki.issue('host-kh', 'p256', { dns: ['other.example'], eku: [OID_SECURE_SHELL_SERVER], email: null, upn: [] });
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function file(...lines: string[]): string {
  const f = join(dir, `kh-${n++}`);
  writeFileSync(f, lines.map((l) => l + '\n').join(''));
  return f;
}

describe('known_hosts: OpenSSH behaviours and messages', () => {
  it('finds a key by plain, [host]:port, pattern and hashed entries, and names the line', async () => {
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.1]:2222').digest('base64')}`;
    const f = file('# comment', line('other,!10.0.0.1', OTHER), line('[10.0.0.1]:2222', OTHER), line(hashed, KEY));
    const d = await checkHostKey(f, '10.0.0.1', 2222, KEY, 'yes');
    expect(d).toMatchObject({ accepted: true, status: 'known', line: 4, fingerprint: hostKeyFingerprint(KEY) });
    expect(d.message).toContain(`${f}:4`);
    expect(await checkHostKey(file(line('*.example.com,!bad.example.com', KEY)), 'www.example.com', 22, KEY, 'yes')).toMatchObject({ status: 'known' });
    expect(await checkHostKey(file(line('*.example.com,!bad.example.com', KEY)), 'bad.example.com', 22, KEY, 'yes')).toMatchObject({ status: 'unknown' });
  });

  it('a changed key: refused under yes, ask and accept-new with the fingerprint, file:line and the ssh-keygen -R command; accepted under no', async () => {
    const f = file('# first', line('[127.0.0.1]:2200', OTHER));
    for (const mode of ['yes', 'ask', 'accept-new'] as const) {
      const d = await checkHostKey(f, '127.0.0.1', 2200, KEY, mode, { ask: async () => 'yes' });
      expect(d).toMatchObject({ accepted: false, status: 'changed', line: 2 });
      expect(d.message).toBe(
        `REMOTE HOST IDENTIFICATION HAS CHANGED! The fingerprint for the ED25519 key sent by the remote host is ${hostKeyFingerprint(KEY)}; ` +
          `offending ED25519 key in ${f}:2; remove with: ssh-keygen -f '${f}' -R '[127.0.0.1]:2200'`,
      );
    }
    // Fingerprints only: never the keys themselves.
    const d = await checkHostKey(f, '127.0.0.1', 2200, KEY, 'yes');
    expect(d.message).not.toContain(KEY.toString('base64'));
    expect(d.message).not.toContain(OTHER.toString('base64'));
    expect(await checkHostKey(f, '127.0.0.1', 2200, KEY, 'no')).toMatchObject({ accepted: true, status: 'changed' });
    expect(readFileSync(f, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('@revoked refuses in every mode, naming the line', async () => {
    const f = file(line('host1', KEY), `@revoked ${line('*', KEY)}`);
    for (const mode of ['yes', 'ask', 'accept-new', 'no'] as const) {
      const d = await checkHostKey(f, 'host1', 22, KEY, mode);
      expect(d).toMatchObject({ accepted: false, status: 'revoked', line: 2 });
      expect(d.message).toBe(`Host key ED25519 ${hostKeyFingerprint(KEY)} of host1 is revoked by file ${f}:2`);
    }
  });

  it('an unknown key: yes refuses with the fingerprint; accept-new and no add it, as OpenSSH says', async () => {
    const f = join(dir, 'new', 'known_hosts');
    const refused = await checkHostKey(f, 'h', 2201, KEY, 'yes');
    expect(refused.message).toBe(
      `No ED25519 host key is known for [h]:2201 and you have requested strict checking (ED25519 key fingerprint is ${hostKeyFingerprint(KEY)}); add it to ${f}, or use --strict-host-key-checking accept-new`,
    );
    const added = await checkHostKey(f, 'h', 2201, KEY, 'accept-new');
    expect(added).toMatchObject({ accepted: true, status: 'added', line: 1 });
    expect(added.message).toBe(`Warning: Permanently added '[h]:2201' (ED25519) to the list of known hosts (${f}).`);
    expect(readFileSync(f, 'utf8')).toBe(`${line('[h]:2201', KEY)}\n`);
    expect(await checkHostKey(f, 'h', 2201, KEY, 'yes')).toMatchObject({ status: 'known', line: 1 });
  });

  it('ask: yes or the fingerprint adds the key, no declines, and the question shows the fingerprint', async () => {
    const questions: string[] = [];
    const ask = (answer: string) => async (q: string) => (questions.push(q), answer);
    const f = file();
    expect(await checkHostKey(f, 'h2', 22, KEY, 'ask', { ask: ask('no') })).toMatchObject({ accepted: false, status: 'declined' });
    expect(questions[0]).toBe(
      `The authenticity of host 'h2 (h2)' can't be established.\nED25519 key fingerprint is ${hostKeyFingerprint(KEY)}.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? `,
    );
    expect(await checkHostKey(f, 'h2', 22, KEY, 'ask', { ask: ask(hostKeyFingerprint(KEY)) })).toMatchObject({ accepted: true, status: 'added' });
    expect(await checkHostKey(f, 'h3', 22, KEY, 'ask', { ask: ask('yes') })).toMatchObject({ accepted: true, status: 'added', line: 2 });
    // No way to ask: as yes.
    expect(await checkHostKey(f, 'h4', 22, KEY, 'ask')).toMatchObject({ accepted: false, status: 'unknown' });
  });
});

describe('known_hosts: X.509 entries as PKIX-SSH writes them', () => {
  const ks = () => encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [host.certDer, pki.intermediate.certDer], ocspResponses: [] });

  it('a Subject: entry (any keyword case, any RDN order) binds the host only when the certificate is trusted', async () => {
    const f = file('[127.0.0.1]:2300 x509v3-ecdsa-sha2-nistp256 distinguished name: CN=host-kh, O=ssh-x509 Test');
    expect(await checkHostKey(f, '127.0.0.1', 2300, ks(), 'yes', { certificateTrusted: true })).toMatchObject({ accepted: true, status: 'known', line: 1 });
    expect(await checkHostKey(f, '127.0.0.1', 2300, ks(), 'yes')).toMatchObject({ accepted: false, status: 'unknown' });
    const other = file('[127.0.0.1]:2300 x509v3-ecdsa-sha2-nistp256 Subject: CN=someone-else,O=ssh-x509 Test');
    expect(await checkHostKey(other, '127.0.0.1', 2300, ks(), 'yes', { certificateTrusted: true })).toMatchObject({ accepted: false, status: 'changed' });
  });

  it('accept-new pins the certificate (without stapled responses), and the pin is then known without trust anchors', async () => {
    const f = file();
    expect(await checkHostKey(f, 'x', 22, ks(), 'accept-new')).toMatchObject({ status: 'added' });
    expect(readFileSync(f, 'utf8')).toBe(`x x509v3-ecdsa-sha2-nistp256 ${ks().toString('base64')}\n`);
    // The same certificate with an OCSP response stapled is the same pin.
    const stapled = encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [host.certDer, pki.intermediate.certDer], ocspResponses: [Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06])] });
    expect(await checkHostKey(f, 'x', 22, stapled, 'yes')).toMatchObject({ accepted: true, status: 'known', fingerprint: hostKeyFingerprint(ks()) });
  });

  it('x509HostVerifier: a known_hosts Subject: entry binds a trusted certificate whose subjectAltName does not name the host; @revoked refuses it', async () => {
    const check = async (knownHosts: string[]) => {
      const v = x509HostVerifier({ host: '127.0.0.1', port: 2400, hostTrustAnchors: [pki.root.certPath], knownHosts, revocation: { mode: 'off' } });
      const accepted = await new Promise<boolean>((resolve) => v(ks(), resolve));
      return { accepted, reason: v.refusal?.reason };
    };
    expect(await check([])).toEqual({ accepted: false, reason: 'hostNameMismatch' });
    expect(await check([file('[127.0.0.1]:2400 x509v3-ecdsa-sha2-nistp256 Subject: O=ssh-x509 Test,CN=host-kh')])).toEqual({ accepted: true, reason: undefined });
    expect(await check([file('@revoked * x509v3-ecdsa-sha2-nistp256 Subject: O=ssh-x509 Test,CN=host-kh')])).toEqual({ accepted: false, reason: 'revokedHostKey' });
  });
});

describe('ssh-x509 connect: ask on a terminal (the default there)', () => {
  let server: AsyncSshServer;
  let user: IssuedCert;
  beforeAll(async () => {
    user = await pki.issue('kh-user', 'p256');
    server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  /** Runs the command on a pty (Python's pty module), typing `answer` after the question. */
  function onTerminal(args: string[], answer: string): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(PYTHON, ['-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', process.execPath, ...cliArgs(), ...args], {
        cwd: new URL('..', import.meta.url).pathname,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let output = '';
      let answered = false;
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        if (!answered && output.includes('(yes/no/[fingerprint])? ')) {
          answered = true;
          child.stdin.write(`${answer}\n`);
        }
      });
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`timed out; output: ${output}`));
      }, 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  const args = (kh: string) => ['connect', '-p', String(server.port), '--cert', user.chainPath, '--key', user.keyPath, '--known-hosts', kh, 'kh-user@127.0.0.1', 'echo', 'tty-ok'];

  it('asks with the fingerprint; yes adds the key and logs in, no refuses with exit 255', async () => {
    const fp = hostKeyFingerprint(Buffer.from(server.hostPublicKeyLine.split(' ')[1]!, 'base64'));
    const declined = join(dir, 'kh-tty-no');
    const no = await onTerminal(args(declined), 'no');
    expect(no.output).toContain(`ED25519 key fingerprint is ${fp}.`);
    expect(no.output).toMatch(/host key verification failed \(declinedHostKey\)/);
    expect(no.code).toBe(255);

    const accepted = join(dir, 'kh-tty-yes');
    const yes = await onTerminal(args(accepted), 'yes');
    expect(yes.output).toContain(`Warning: Permanently added '[127.0.0.1]:${server.port}' (ED25519) to the list of known hosts`);
    expect(yes.output).toContain('tty-ok');
    expect(yes.code).toBe(0);
    expect(readFileSync(accepted, 'utf8')).toContain(`[127.0.0.1]:${server.port} ssh-ed25519 `);
  }, 120_000);
});
