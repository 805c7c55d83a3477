/**
 * `ssh-x509 connect` as OpenSSH's ssh: its flags, `ssh://` destinations,
 * options after the destination, `-i` with the certificate beside the key,
 * ssh_config (Host, Match host, unknown keywords, IgnoreUnknown, -G), jump
 * hosts through an OpenSSH bastion, and -L / -R / -D forwarding. Real peers
 * on loopback: AsyncSSH as the X.509 target, OpenSSH sshd as bastion and
 * raw-key target.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { execSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { startOpenSshServer, type OpenSshServer } from './helpers/openssh.js';
import { createTestPki, HOST_CERT, OID_SECURE_SHELL_CLIENT, type IssuedCert, type TestPki } from './helpers/pki.js';
import { runCommand } from './helpers/ssh2-run.js';
import { freePort } from './helpers/net.js';
import { waitForLog } from './helpers/wait.js';
import { cliArgs } from './helpers/cli-bin.js';

let dir: string;
let alice: IssuedCert;
let bob: IssuedCert;
let target: AsyncSshServer;
let sshd: OpenSshServer;
let knownHosts: string;
let idFile: string;
let combined: string;
let echo: Server;
let echoPort: number;
let pki: TestPki;

const keyLine = (line: string) => line.split(' ').slice(0, 2).join(' ');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-openssh-cli-'));
  pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  bob = await pki.issue('bob', 'p256');
  // The target also offers an X.509 host key, for CACertificateFile / CACertificatePath.
  const hostCert = await pki.issue('target-host', 'p256', HOST_CERT);
  target = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'target'), authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=alice'], hostX509: { keyPath: hostCert.keyPath, chainPath: hostCert.chainPath } });
  const plain = execSync(`openssl x509 -in '${alice.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
  sshd = await startOpenSshServer({ dir: join(dir, 'sshd'), authorizedKeys: [plain], extraConfig: ['AcceptEnv SSHX509_TEST_*'] });
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, [`[127.0.0.1]:${target.port} ${keyLine(target.hostPublicKeyLine)}`, `[127.0.0.1]:${sshd.port} ${keyLine(sshd.hostPublicKeyLine)}`, ''].join('\n'));
  // OpenSSH's pairing: the key, and its certificate chain beside it as <key>-cert.pem.
  idFile = join(dir, 'id_alice');
  copyFileSync(alice.keyPath, idFile);
  copyFileSync(alice.chainPath, `${idFile}-cert.pem`);
  // PKIX-SSH's IdentityFile: key and chain in one file.
  combined = join(dir, 'alice-combined.pem');
  writeFileSync(combined, readFileSync(alice.keyPath, 'utf8') + readFileSync(alice.chainPath, 'utf8'));
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  await target?.stop();
  await sshd?.stop();
  echo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const kh = () => ['-o', `UserKnownHostsFile=${knownHosts}`, '-F', 'none'];

describe.concurrent('flags and destinations', () => {
  it('takes options after the destination, as OpenSSH does, and -i with <key>-cert.pem beside it', async () => {
    const r = await runCommand(['connect', 'alice@127.0.0.1', '-p', String(target.port), '-i', idFile, ...kh(), 'echo', 'after', '-p']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('after -p\n');
    expect(r.code).toBe(0);
  });

  it('takes a key file holding key and chain together (PKIX-SSH IdentityFile)', async () => {
    const r = await runCommand(['connect', '-i', combined, '-p', String(target.port), ...kh(), 'alice@127.0.0.1', 'echo', 'combined']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('combined\n');
  });

  it('without a certificate for -i says where it looked', async () => {
    const r = await runCommand(['connect', '-i', alice.keyPath, '-p', String(target.port), ...kh(), 'alice@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain(`no certificate for the key ${alice.keyPath}`);
  });

  it('understands ssh://user@host:port and -l', async () => {
    const r = await runCommand(['connect', '-i', idFile, ...kh(), `ssh://alice@127.0.0.1:${target.port}`, 'echo', 'uri']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('uri\n');
    const l = await runCommand(['connect', '-l', 'alice', '-i', idFile, ...kh(), `ssh://127.0.0.1:${target.port}`, 'echo', '$USER']);
    expect(l.stdout).toBe('alice\n');
  });

  it('without a user logs in as the local user ($USER, else the account\'s name), as ssh does', async () => {
    const r = await runCommand(['connect', '-p', String(target.port), '-i', idFile, ...kh(), '127.0.0.1', 'echo', '$USER'], { env: { USER: 'alice' } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alice\n');
    expect(r.code).toBe(0);
    const userLine = (out: string) => out.split('\n').find((l) => l.startsWith('user '));
    expect(userLine((await runCommand(['connect', '-F', 'none', '-G', 'host'], { env: { USER: 'carol' } })).stdout)).toBe('user carol');
    // Without $USER and $LOGNAME: the account's name, the user ssh -G shows (ssh reads only the account).
    const ssh = userLine(execSync('ssh -G -F none host 2>/dev/null', { encoding: 'utf8' }));
    expect(ssh).toMatch(/^user \S+$/);
    expect(userLine((await runCommand(['connect', '-F', 'none', '-G', 'host'], { env: { USER: '', LOGNAME: '' } })).stdout)).toBe(ssh);
  });

  it('-- ends the options: what follows the destination is the command', async () => {
    const r = await runCommand(['connect', '-p', String(target.port), '-i', idFile, ...kh(), 'alice@127.0.0.1', '--', 'echo', '-p', '1']);
    expect(r.stdout).toBe('-p 1\n');
  });

  it('-n reads standard input from /dev/null', async () => {
    const base = ['connect', '-p', String(target.port), '-i', idFile, ...kh(), 'alice@127.0.0.1'];
    expect((await runCommand([...base, 'cat'], { stdin: 'piped\n' })).stdout).toBe('piped\n');
    expect((await runCommand(['connect', '-n', ...base.slice(1), 'cat'], { stdin: 'piped\n' })).stdout).toBe('');
  });

  it('-v traces, -E sends the trace to a file, -q silences the warnings, -V prints the version', async () => {
    const base = ['-p', String(target.port), '-i', idFile, '-F', 'none', 'alice@127.0.0.1', 'true'];
    const v = await runCommand(['connect', '-v', '-o', `UserKnownHostsFile=${knownHosts}`, ...base]);
    expect(v.stderr).toMatch(/^trace: offering certificate algorithm=x509v3-ecdsa-sha2-nistp256/m);
    expect(v.stderr).not.toMatch(/trace: ssh2: /);
    const vv = await runCommand(['connect', '-vv', '-o', `UserKnownHostsFile=${knownHosts}`, ...base]);
    expect(vv.stderr).toMatch(/trace: ssh2: /);
    expect(vv.stderr).not.toMatch(/trace: ssh2: Handshake: /);
    // -vvv adds ssh2's own protocol log.
    const vvv = await runCommand(['connect', '-vvv', '-o', `UserKnownHostsFile=${knownHosts}`, ...base]);
    expect(vvv.stderr).toMatch(/trace: ssh2: Handshake: /);
    const log = join(dir, 'trace.log');
    const e = await runCommand(['connect', '-v', '-E', log, '-o', `UserKnownHostsFile=${knownHosts}`, ...base]);
    expect(e.stderr).toBe('');
    expect(readFileSync(log, 'utf8')).toMatch(/^trace: authenticated/m);
    const fresh = join(dir, 'fresh-kh');
    const loud = await runCommand(['connect', '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${fresh}`, ...base]);
    expect(loud.stderr).toMatch(/Warning: Permanently added/);
    rmSync(fresh);
    const quiet = await runCommand(['connect', '-q', '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${fresh}`, ...base]);
    expect(quiet.stderr).toBe('');
    expect(quiet.code).toBe(0);
    const V = await runCommand(['connect', '-V']);
    expect(V.stdout).toMatch(/^ssh-x509 \d+\.\d+\.\d+/);
  });

  it('refuses a bad -o keyword and a bad forward as usage errors', async () => {
    const o = await runCommand(['connect', '-F', 'none', '-o', 'Frobnicate=yes', 'a@127.0.0.1']);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain('Bad configuration option: Frobnicate');
    const L = await runCommand(['connect', '-F', 'none', '-L', 'nonsense', 'a@127.0.0.1']);
    expect(L.code).toBe(2);
    expect(L.stderr).toContain('bad local forward "nonsense"');
  });
});

describe.concurrent('ssh_config', () => {
  it('Host sections with HostName, Port, User, IdentityFile, UserKnownHostsFile; Match host; the command line wins', async () => {
    const cfg = join(dir, 'config');
    writeFileSync(
      cfg,
      [
        '# comment',
        'Host target-alias',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        `  IdentityFile ${idFile}`,
        `  UserKnownHostsFile ${knownHosts}`,
        '  SendEnv LANG',
        '  HashKnownHosts yes',
        'Match host 127.0.0.1',
        '  User alice',
        'Host *',
        '  User nobody',
        '  Port 1',
        '',
      ].join('\n'),
    );
    const r = await runCommand(['connect', '-F', cfg, 'target-alias', 'echo', '$USER']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alice\n');
    // -o User= comes first, so it wins over the file.
    const G = await runCommand(['connect', '-F', cfg, '-G', '-o', 'User=bob', 'target-alias']);
    expect(G.code).toBe(0);
    const lines = G.stdout.split('\n');
    expect(lines).toEqual(expect.arrayContaining(['hostname 127.0.0.1', `port ${target.port}`, 'user bob', `identityfile ${idFile}`, `userknownhostsfile ${knownHosts}`, 'sendenv LANG', 'host target-alias']));
    // HashKnownHosts is an OpenSSH keyword ssh-x509 ignores: named once under -v.
    const v = await runCommand(['connect', '-F', cfg, '-v', 'target-alias', 'true']);
    expect(v.stderr.match(/hashknownhosts is not supported by ssh-x509; ignored/g)).toHaveLength(1);
    expect(v.stderr).toContain(`${cfg} line 8: hashknownhosts`);
  });

  it('an unknown keyword is an error naming the file and line, unless IgnoreUnknown lists it', async () => {
    const cfg = join(dir, 'bad-config');
    writeFileSync(cfg, ['Host *', '  User alice', '  FrobnicateLevel 3', ''].join('\n'));
    const r = await runCommand(['connect', '-F', cfg, '127.0.0.1', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${cfg} line 3: Bad configuration option: FrobnicateLevel`);
    writeFileSync(cfg, ['IgnoreUnknown Frobnicate*', 'Host *', '  User alice', `  Port ${target.port}`, `  IdentityFile ${idFile}`, `  UserKnownHostsFile ${knownHosts}`, '  FrobnicateLevel 3', ''].join('\n'));
    const ok = await runCommand(['connect', '-F', cfg, '127.0.0.1', 'echo', 'ignored']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('ignored\n');
  });

  it('Include reads more files in place', async () => {
    const inc = join(dir, 'included.conf');
    writeFileSync(inc, `Host inc-alias\n  HostName 127.0.0.1\n  Port ${target.port}\n  User alice\n`);
    const cfg = join(dir, 'with-include');
    writeFileSync(cfg, `Include ${join(dir, 'incl*.conf')}\n`);
    const G = await runCommand(['connect', '-F', cfg, '-G', 'inc-alias']);
    expect(G.stdout.split('\n')).toEqual(expect.arrayContaining(['hostname 127.0.0.1', `port ${target.port}`, 'user alice']));
  });

  it('PubkeyAcceptedAlgorithms with plain names uses the key as a plain key (OpenSSH sshd)', async () => {
    const r = await runCommand(['connect', '-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', 'root@127.0.0.1', 'echo', 'plain']);
    // (sshd at LogLevel DEBUG3 sends its debug lines to the client's stderr.)
    expect(r.stderr).not.toContain('ssh-x509:');
    expect(r.stdout).toBe('plain\n');
    // Without it, the x509v3 algorithm is offered, which OpenSSH does not know.
    const x = await runCommand(['connect', '-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, 'root@127.0.0.1', 'true']);
    expect(x.code).toBe(255);
    // OpenSSH refuses every x509v3 algorithm: the line says to try --raw-key, which then logs in.
    expect(x.stderr).toMatch(/^ssh-x509: Permission denied \(publickey\): root@127\.0\.0\.1 refused every certificate offered: O=ssh-x509 Test, CN=alice \[SHA256:\S+\]\. The server must trust "O=ssh-x509 Test, CN=ssh-x509 Test Root CA" and admit the certificate for root; a server without X\.509 support \(RFC 6187; OpenSSH has none\) refuses every x509v3 algorithm: log in there with --raw-key /m);
    const raw = await runCommand(['connect', '-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '--raw-key', 'root@127.0.0.1', 'echo', 'raw']);
    expect(raw.stdout).toBe('raw\n');
    expect(raw.code).toBe(0);
    // With --raw-key already, a refusal has nothing to add about certificates.
    const rawRefused = await runCommand(['connect', '-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '--raw-key', 'nobody@127.0.0.1', 'true']);
    expect(rawRefused.code).toBe(255);
    expect(rawRefused.stderr).toMatch(/^ssh-x509: Permission denied \(publickey\): nobody@127\.0\.0\.1 refused every key offered: /m);
    expect(rawRefused.stderr).not.toContain('--raw-key');
  });
});

describe('jump hosts', () => {
  it("a hop's own IdentityFile from its Host section: an OpenSSH bastion that takes only its own key, then the X.509 target", async () => {
    const bobPlain = execSync(`openssl x509 -in '${bob.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
    const bastion = await startOpenSshServer({ dir: join(dir, 'bastion-own'), authorizedKeys: [bobPlain] });
    try {
      const bobId = join(dir, 'id_bob');
      copyFileSync(bob.keyPath, bobId);
      copyFileSync(bob.chainPath, `${bobId}-cert.pem`);
      const kh2 = join(dir, 'kh-bastion-own');
      writeFileSync(kh2, readFileSync(knownHosts, 'utf8') + `[127.0.0.1]:${bastion.port} ${keyLine(bastion.hostPublicKeyLine)}\n`);
      const section = ['Host own-bastion', '  HostName 127.0.0.1', `  Port ${bastion.port}`, '  User root', '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256'];
      const cfg = join(dir, 'own-identity-config');
      writeFileSync(cfg, [...section, `  IdentityFile ${bobId}`, ''].join('\n'));
      const args = ['connect', '-F', cfg, '-J', 'own-bastion', '-i', idFile, '-o', `UserKnownHostsFile=${kh2}`, '-p', String(target.port), 'alice@127.0.0.1', 'echo', 'own'];
      const since = bastion.log().length;
      const r = await runCommand(args);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('own\n');
      expect(await waitForLog(() => bastion.log().slice(since), /Accepted publickey for root/)).toMatch(/Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA/);
      // Without the hop's IdentityFile the command's certificate key goes to the bastion, which refuses it.
      writeFileSync(cfg, [...section, ''].join('\n'));
      const without = await runCommand(args);
      expect(without.code).toBe(255);
      expect(without.stderr).toMatch(/Permission denied \(publickey\): root@own-bastion/);
    } finally {
      await bastion.stop();
    }
  });

  it('-J through an OpenSSH bastion (plain key from its config) to the AsyncSSH X.509 target', async () => {
    const cfg = join(dir, 'jump-config');
    writeFileSync(cfg, ['Host bastion', '  HostName 127.0.0.1', `  Port ${sshd.port}`, '  User root', '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256', ''].join('\n'));
    const since = sshd.log().length;
    const r = await runCommand(['connect', '-F', cfg, '-J', 'bastion', '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-p', String(target.port), 'alice@127.0.0.1', 'echo', 'through']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('through\n');
    const forwarded = new RegExp(`server_request_direct_tcpip: originator \\S+ port \\d+, target 127\\.0\\.0\\.1 port ${target.port}`);
    const log = await waitForLog(() => sshd.log().slice(since), forwarded);
    expect(log).toMatch(/Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA/);
    expect(log).toMatch(forwarded);
    // ProxyJump from the config does the same; a bastion that refuses ends with its own message.
    writeFileSync(cfg, readFileSync(cfg, 'utf8') + `Host target\n  HostName 127.0.0.1\n  Port ${target.port}\n  User alice\n  ProxyJump bastion\n`);
    const pj = await runCommand(['connect', '-F', cfg, '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, 'target', 'echo', 'pj']);
    expect(pj.stdout).toBe('pj\n');
    const refused = await runCommand(['connect', '-F', 'none', '-J', `nobody@127.0.0.1:${sshd.port}`, '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-p', String(target.port), 'alice@127.0.0.1', 'true']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Permission denied \(publickey\): nobody@127\.0\.0\.1/);
  });
});

/** Runs `connect -N` with forwards until `ready` matches its stderr or a delay passes; returns a stopper. */
function forwarding(args: string[]) {
  const child = spawn(process.execPath, [...cliArgs(), 'connect', '-N', '-v', ...args], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return {
    log: () => err,
    stop: () =>
      new Promise<number | null>((resolve) => {
        child.once('exit', (c) => resolve(c));
        child.kill('SIGTERM');
      }),
  };
}

function roundTrip(port: number, data: Buffer, viaSocks?: { host: string; port: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let stage = viaSocks ? 0 : 2;
    s.on('connect', () => {
      if (viaSocks) s.write(Buffer.from([5, 1, 0]));
      else s.write(data);
    });
    s.on('data', (d: Buffer) => {
      if (stage === 0) {
        expect([...d.subarray(0, 2)]).toEqual([5, 0]);
        const host = Buffer.from(viaSocks!.host);
        const req = Buffer.concat([Buffer.from([5, 1, 0, 3, host.length]), host, Buffer.from([viaSocks!.port >> 8, viaSocks!.port & 0xff])]);
        stage = 1;
        return void s.write(req);
      }
      if (stage === 1) {
        expect(d[1]).toBe(0);
        stage = 2;
        const rest = d.subarray(10);
        if (rest.length) chunks.push(rest);
        return void s.write(data);
      }
      chunks.push(d);
      if (Buffer.concat(chunks).length >= data.length) {
        s.end();
        resolve(Buffer.concat(chunks));
      }
    });
    s.on('error', reject);
  });
}


describe('forwarding through OpenSSH sshd', () => {
  const base = () => ['-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256'];
  const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));

  it('-L forwards a local loopback port to host:port on the far side', async () => {
    const port = await freePort();
    const f = forwarding([...base(), '-L', `${port}:127.0.0.1:${echoPort}`, 'root@127.0.0.1']);
    try {
      await waitForLog(f.log, /local forward listen=127\.0\.0\.1:\d+/, 15_000);
      expect(f.log()).toContain(`listen=127.0.0.1:${port}`);
      expect((await roundTrip(port, data)).equals(data)).toBe(true);
    } finally {
      expect(await f.stop()).toBe(0);
    }
  });

  it('-R forwards a port on the server back to a local host:port', async () => {
    const port = await freePort();
    const f = forwarding([...base(), '-R', `${port}:127.0.0.1:${echoPort}`, 'root@127.0.0.1']);
    try {
      await waitForLog(f.log, /remote forward listen=\d+/, 15_000);
      expect((await roundTrip(port, data)).equals(data)).toBe(true);
    } finally {
      await f.stop();
    }
  });

  it('-D is a SOCKS5 proxy whose connections leave from the server', async () => {
    const port = await freePort();
    const f = forwarding([...base(), '-D', String(port), 'root@127.0.0.1']);
    try {
      await waitForLog(f.log, /dynamic forward listen=127\.0\.0\.1:\d+/, 15_000);
      const since = sshd.log().length;
      expect((await roundTrip(port, data, { host: '127.0.0.1', port: echoPort })).equals(data)).toBe(true);
      expect(await waitForLog(() => sshd.log().slice(since), new RegExp(`port ${echoPort}`))).toMatch(new RegExp(`port ${echoPort}`));
    } finally {
      await f.stop();
    }
  });
});

describe.concurrent('more keywords and flags', () => {
  it('ConnectTimeout gives up on a server that never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const r = await runCommand(['connect', '-F', 'none', '-o', 'ConnectTimeout=1', '-p', String((silent.address() as { port: number }).port), '-i', idFile, ...kh(), 'alice@127.0.0.1', 'true']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/timed out/i);
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      silent.close();
    }
  });

  it('GlobalKnownHostsFile is read (not written) for host keys', async () => {
    const global = join(dir, 'global_known_hosts');
    writeFileSync(global, `[127.0.0.1]:${target.port} ${keyLine(target.hostPublicKeyLine)}\n`);
    const empty = join(dir, 'empty_known_hosts');
    const r = await runCommand(['connect', '-F', 'none', '-o', `GlobalKnownHostsFile=${global}`, '-o', `UserKnownHostsFile=${empty}`, '-p', String(target.port), '-i', idFile, 'alice@127.0.0.1', 'echo', 'global']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('global\n');
    expect(readFileSync(global, 'utf8')).toBe(`[127.0.0.1]:${target.port} ${keyLine(target.hostPublicKeyLine)}\n`);
    const without = await runCommand(['connect', '-F', 'none', '-o', `UserKnownHostsFile=${empty}`, '-p', String(target.port), '-i', idFile, 'alice@127.0.0.1', 'true']);
    expect(without.code).toBe(255);
    expect(without.stderr).toContain('host key verification failed');
  });

  it('BatchMode yes never asks for a PIN', async () => {
    const r = await runCommand(['connect', '-F', 'none', '-o', 'BatchMode=yes', '--pkcs11-module', '/usr/lib/softhsm/libsofthsm2.so', '-p', '1', 'alice@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('BatchMode is on and no --pin-env is given');
  });

  it('-C negotiates zlib compression (OpenSSH sshd), HostKeyAlgorithms limits the host key algorithms', async () => {
    const since = sshd.log().length;
    const args = ['-F', 'none', '-p', String(sshd.port), '-i', idFile, ...kh().slice(0, 2), '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', 'root@127.0.0.1'];
    const r = await runCommand(['connect', '-C', ...args, 'echo', 'zipped']);
    expect(r.stdout).toBe('zipped\n');
    expect(await waitForLog(() => sshd.log().slice(since), /compression: zlib@openssh\.com/)).toMatch(/compression: zlib@openssh\.com/);
    // The Compression keyword does what -C does.
    const since2 = sshd.log().length;
    expect((await runCommand(['connect', '-o', 'Compression=yes', ...args, 'echo', 'zipped'])).stdout).toBe('zipped\n');
    expect(await waitForLog(() => sshd.log().slice(since2), /compression: zlib@openssh\.com/)).toMatch(/compression: zlib@openssh\.com/);
    const hk = await runCommand(['connect', '-o', 'HostKeyAlgorithms=rsa-sha2-512', ...args, 'true']);
    expect(hk.code).toBe(255);
    expect(hk.stderr).toMatch(/host key|handshake failed|no matching/i);
  });

  it('SendEnv sends the matching variables (OpenSSH sshd with AcceptEnv)', async () => {
    const args = ['-F', 'none', '-p', String(sshd.port), '-i', idFile, ...kh().slice(0, 2), '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256'];
    const env = { SSHX509_TEST_A: 'sent-a', SSHX509_TEST_B: 'sent-b' };
    const r = await runCommand(['connect', ...args, '-o', 'SendEnv=SSHX509_TEST_*', 'root@127.0.0.1', 'echo "[$SSHX509_TEST_A][$SSHX509_TEST_B]"'], { env });
    expect(r.stdout).toBe('[sent-a][sent-b]\n');
    const not = await runCommand(['connect', ...args, 'root@127.0.0.1', 'echo "[$SSHX509_TEST_A]"'], { env });
    expect(not.stdout).toBe('[]\n');
  });

  it('X509KeyAlgorithm (PKIX-SSH) names the x509v3 algorithm to offer', async () => {
    const ok = await runCommand(['connect', '-F', 'none', '-o', 'X509KeyAlgorithm=x509v3-ecdsa-sha2-nistp256', '-p', String(target.port), '-i', idFile, ...kh(), 'alice@127.0.0.1', 'echo', 'x509ka']);
    expect(ok.stdout).toBe('x509ka\n');
    const wrong = await runCommand(['connect', '-F', 'none', '-o', 'X509KeyAlgorithm=x509v3-ssh-rsa', '-p', String(target.port), '-i', idFile, ...kh(), 'alice@127.0.0.1', 'true']);
    expect(wrong.code).toBe(255);
  });

  it('GatewayPorts yes makes -L listen on every address, loopback otherwise', async () => {
    const port = await freePort();
    const f = forwarding(['-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-o', 'GatewayPorts=yes', '-L', `${port}:127.0.0.1:${echoPort}`, 'root@127.0.0.1']);
    try {
      // Every address: 0.0.0.0, or :: where the machine has IPv6.
      expect(await waitForLog(f.log, /local forward listen=/, 15_000)).toMatch(new RegExp(`listen=(0\\.0\\.0\\.0|::):${port}\\b`));
    } finally {
      await f.stop();
    }
  });

  it('-G prints the defaults as OpenSSH 9\'s ssh -G: no ssh-rsa among the host key algorithms; the same values for the keywords both read', async () => {
    const value = (out: string, k: string) => out.split('\n').find((l) => l.startsWith(`${k} `))?.slice(k.length + 1);
    const ssh = execSync('ssh -G -F none alice@host 2>/dev/null', { encoding: 'utf8' });
    const ours = await runCommand(['connect', '-F', 'none', '-G', 'alice@host']);
    expect(ours.code).toBe(0);
    // OpenSSH's list without its own certificate and security-key types (ssh-x509 has neither).
    const plain = value(ssh, 'hostkeyalgorithms')!.split(',').filter((a) => !a.includes('-cert-v01@') && !a.startsWith('sk-'));
    expect(value(ours.stdout, 'hostkeyalgorithms')!.split(',')).toEqual(plain);
    expect(plain).not.toContain('ssh-rsa');
    const keywords = ['user', 'hostname', 'port', 'batchmode', 'compression', 'escapechar', 'forwardagent', 'gatewayports', 'identitiesonly', 'loglevel', 'requesttty', 'serveralivecountmax', 'serveraliveinterval', 'sessiontype', 'stdinnull', 'globalknownhostsfile'];
    expect(keywords.map((k) => [k, value(ours.stdout, k)])).toEqual(keywords.map((k) => [k, value(ssh, k)]));
  });

  it('offers OpenSSH 9\'s default host key algorithms (no ssh-rsa), as sshd sees in the KEXINIT', async () => {
    const since = sshd.log().length;
    const r = await runCommand(['connect', '-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '--raw-key', 'root@127.0.0.1', 'true']);
    expect(r.code).toBe(0);
    const log = await waitForLog(() => sshd.log().slice(since), /peer client KEXINIT proposal[\s\S]*?host key algorithms: \S+/);
    const offered = /peer client KEXINIT proposal[\s\S]*?host key algorithms: (\S+)/.exec(log)![1]!.split(',');
    expect(offered).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256']);
  });

  it('-G shows what each flag sets', async () => {
    const G = await runCommand(['connect', '-F', 'none', '-G', '-C', '-A', '-N', '-tt', '-J', 'jump@bastion:2200', '-L', '8080:web:80', '-R', '9090:localhost:22', '-D', '1080', '-o', 'ServerAliveInterval=15', 'alice@host']);
    const lines = G.stdout.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining(['compression yes', 'forwardagent yes', 'sessiontype none', 'requesttty force', 'proxyjump jump@bastion:2200', 'localforward 8080:web:80', 'remoteforward 9090:localhost:22', 'dynamicforward 1080', 'serveraliveinterval 15', 'user alice', 'hostname host']),
    );
    const T = await runCommand(['connect', '-F', 'none', '-G', '-T', '-n', '-e', '%', '-s', '-g', '-I', '/usr/lib/softhsm/libsofthsm2.so', 'host', 'sftp']);
    expect(T.stdout.split('\n')).toEqual(expect.arrayContaining(['requesttty no', 'stdinnull yes', 'escapechar %', 'sessiontype subsystem', 'gatewayports yes', 'pkcs11provider /usr/lib/softhsm/libsofthsm2.so']));
    const badEscape = await runCommand(['connect', '-F', 'none', '-e', 'ab', '-i', idFile, '-p', '1', 'alice@127.0.0.1', 'true']);
    expect(badEscape.code).toBe(2);
    expect(badEscape.stderr).toContain('bad escape character "ab"');
  });
});

describe.concurrent('config keywords that have flags too', () => {
  it('LocalForward, RemoteForward and DynamicForward from the config file', async () => {
    const [lp, rp, dp] = [await freePort(), await freePort(), await freePort()];
    const cfg = join(dir, 'forward-config');
    writeFileSync(
      cfg,
      ['Host fwd', '  HostName 127.0.0.1', `  Port ${sshd.port}`, '  User root', `  IdentityFile ${idFile}`, `  UserKnownHostsFile ${knownHosts}`, '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256', `  LocalForward ${lp} 127.0.0.1:${echoPort}`, `  RemoteForward ${rp} 127.0.0.1:${echoPort}`, `  DynamicForward ${dp}`, ''].join('\n'),
    );
    const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) % 256));
    const f = forwarding(['-F', cfg, 'fwd']);
    try {
      await waitForLog(f.log, new RegExp(`local forward listen=127\\.0\\.0\\.1:${lp}`), 15_000);
      await waitForLog(f.log, new RegExp(`remote forward listen=${rp}`), 15_000);
      await waitForLog(f.log, new RegExp(`dynamic forward listen=127\\.0\\.0\\.1:${dp}`), 15_000);
      expect((await roundTrip(lp, data)).equals(data)).toBe(true);
      expect((await roundTrip(rp, data)).equals(data)).toBe(true);
      expect((await roundTrip(dp, data, { host: '127.0.0.1', port: echoPort })).equals(data)).toBe(true);
    } finally {
      expect(await f.stop()).toBe(0);
    }
  });

  it('LogLevel maps to the trace levels as -v, -vv and -q do; a bad level is a usage error', async () => {
    const base = ['-p', String(target.port), '-i', idFile, ...kh(), 'alice@127.0.0.1', 'true'];
    const debug = await runCommand(['connect', '-o', 'LogLevel=DEBUG', ...base]);
    expect(debug.stderr).toMatch(/^trace: offering certificate algorithm=x509v3-ecdsa-sha2-nistp256/m);
    expect(debug.stderr).not.toMatch(/trace: ssh2: /);
    const debug2 = await runCommand(['connect', '-o', 'LogLevel=DEBUG2', ...base]);
    expect(debug2.stderr).toMatch(/^trace: ssh2: /m);
    const info = await runCommand(['connect', '-o', 'LogLevel=INFO', ...base]);
    expect(info.stderr).toBe('');
    const fresh = join(dir, 'loglevel-kh');
    const quiet = await runCommand(['connect', '-o', 'LogLevel=QUIET', '-o', 'StrictHostKeyChecking=accept-new', '-F', 'none', '-o', `UserKnownHostsFile=${fresh}`, '-p', String(target.port), '-i', idFile, 'alice@127.0.0.1', 'true']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const bad = await runCommand(['connect', '-o', 'LogLevel=LOUD', ...base]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('LogLevel must be one of');
  });

  it('StdinNull yes and SessionType none from the config file, as -n and -N', async () => {
    const cfg = join(dir, 'session-config');
    writeFileSync(cfg, ['Host nullin', '  StdinNull yes', 'Host nocommand', '  SessionType none', 'Host *', '  HostName 127.0.0.1', `  Port ${target.port}`, '  User alice', `  IdentityFile ${idFile}`, `  UserKnownHostsFile ${knownHosts}`, ''].join('\n'));
    expect((await runCommand(['connect', '-F', cfg, 'nullin', 'cat'], { stdin: 'piped\n' })).stdout).toBe('');
    // SessionType none runs no command: the connection stays up (as -N) until it is stopped.
    const child = spawn(process.execPath, [...cliArgs(), 'connect', '-v', '-F', cfg, 'nocommand', 'echo', 'ran'], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    let exited = false;
    child.once('exit', () => (exited = true));
    try {
      await waitForLog(() => err, /trace: authenticated/, 20_000);
      await new Promise((r) => setTimeout(r, 1500));
      expect(exited).toBe(false);
      expect(out).toBe('');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('IdentitiesOnly is read and shown by -G (ssh-x509 has no agent to take more identities from)', async () => {
    const G = await runCommand(['connect', '-F', 'none', '-G', '-o', 'IdentitiesOnly=yes', 'alice@host']);
    expect(G.stdout.split('\n')).toContain('identitiesonly yes');
    const help = await runCommand(['connect', '--help']);
    expect(help.stdout).toMatch(/IdentitiesOnly\s+.*never uses an agent/);
  });
});

describe.concurrent('user and port from -l, -p, -o and the destination, as ssh -G resolves them', () => {
  const cases = [
    ['-l', 'a', 'b@host'],
    ['b@host', '-l', 'a'],
    ['-l', 'a', 'ssh://b@host'],
    ['-p', '1', 'ssh://u@host:2'],
    ['ssh://u@host:2', '-p', '1'],
    ['-o', 'User=c', '-l', 'a', 'b@host'],
    ['-l', 'a', '-o', 'User=c', 'host'],
    ['-o', 'Port=5', '-p', '1', 'u@host'],
    ['-p', '1', '-o', 'Port=5', 'u@host'],
    ['-o', 'Port=5', 'ssh://u@host:2'],
    ['-p', '1', 'u@host', '-p', '3'],
  ];
  const userPort = (out: string) => out.split('\n').filter((l) => /^(user|port) /.test(l)).sort();
  it.each(cases)('%s %s %s ...', async (...args: string[]) => {
    const ssh = execSync(`ssh -G -F none ${args.map((a) => `'${a}'`).join(' ')} 2>/dev/null`, { encoding: 'utf8' });
    const ours = await runCommand(['connect', '-F', 'none', '-G', ...args]);
    expect(ours.code).toBe(0);
    expect(userPort(ours.stdout)).toEqual(userPort(ssh));
    expect(userPort(ssh)).toHaveLength(2);
  });
});

describe('keepalive', () => {
  it('ServerAliveInterval / ServerAliveCountMax end a connection whose peer stops answering', async () => {
    // A TCP relay to sshd that can be frozen: bytes stop flowing both ways, as on a dead link.
    let frozen = false;
    const relay = createServer((inbound) => {
      const out = netConnect(sshd.port, '127.0.0.1');
      inbound.on('data', (d) => frozen || out.write(d));
      out.on('data', (d) => frozen || inbound.write(d));
      inbound.on('error', () => out.destroy());
      out.on('error', () => inbound.destroy());
      inbound.on('close', () => out.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as { port: number }).port;
    const kh2 = join(dir, 'kh-relay');
    writeFileSync(kh2, `[127.0.0.1]:${port} ${keyLine(sshd.hostPublicKeyLine)}\n`);
    const child = spawn(
      process.execPath,
      [...cliArgs(), 'connect', '-F', 'none', '-p', String(port), '-i', idFile, '-o', `UserKnownHostsFile=${kh2}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2', 'root@127.0.0.1', 'echo started; sleep 60'],
      { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    try {
      await waitForLog(() => out, 'started', 20_000);
      expect(out).toContain('started');
      frozen = true;
      const frozenAt = Date.now();
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code).toBe(255);
      expect(Date.now() - frozenAt).toBeLessThan(10_000);
      expect(err).toMatch(/keepalive/i);
    } finally {
      child.kill('SIGKILL');
      relay.close();
    }
  });
});

describe('PKIX-SSH host trust keywords', () => {
  const x509Host = (extra: string[], kh = join(dir, 'no-known-hosts')) =>
    runCommand(['connect', '-F', 'none', '-o', `UserKnownHostsFile=${kh}`, '-o', 'HostKeyAlgorithms=x509v3-ecdsa-sha2-nistp256', '-p', String(target.port), '-i', idFile, ...extra, 'alice@127.0.0.1', 'echo', 'ca-ok']);

  it('CACertificateFile, CACertificatePath (a hash directory) and UserCACertificateFile trust the X.509 host key, as --host-trust; -G shows them', async () => {
    const file = await x509Host(['-o', `CACertificateFile=${pki.root.certPath}`]);
    expect(file.stderr).toBe('');
    expect(file.stdout).toBe('ca-ok\n');
    // PKIX-SSH's CACertificatePath: an OpenSSL hash directory, <subject hash>.0.
    const hashDir = join(dir, 'ca-hash-dir');
    mkdirSync(hashDir, { recursive: true });
    const hash = execSync(`openssl x509 -hash -noout -in '${pki.root.certPath}'`, { encoding: 'utf8' }).trim();
    copyFileSync(pki.root.certPath, join(hashDir, `${hash}.0`));
    const path = await x509Host(['-o', `CACertificatePath=${hashDir}`]);
    expect(path.stderr).toBe('');
    expect(path.stdout).toBe('ca-ok\n');
    const cfg = join(dir, 'ca-config');
    writeFileSync(cfg, ['Host *', `  UserCACertificateFile ${pki.root.certPath}`, ''].join('\n'));
    const user = await runCommand(['connect', '-F', cfg, '-o', `UserKnownHostsFile=${join(dir, 'no-known-hosts')}`, '-o', 'HostKeyAlgorithms=x509v3-ecdsa-sha2-nistp256', '-p', String(target.port), '-i', idFile, 'alice@127.0.0.1', 'echo', 'ca-ok']);
    expect(user.stdout).toBe('ca-ok\n');
    // Without an anchor the X.509 host key is refused.
    const none = await x509Host([]);
    expect(none.code).toBe(255);
    expect(none.stderr).toContain('host key verification failed');
    const G = await runCommand(['connect', '-F', 'none', '-G', '-o', `CACertificateFile=${pki.root.certPath}`, '-o', `CACertificatePath=${hashDir}`, '-o', `UserCACertificatePath=${hashDir}`, '-o', 'X509KeyAlgorithm=x509v3-ecdsa-sha2-nistp256,ssh-sha256,ecdsa-sha2-nistp256', 'alice@host']);
    const lines = G.stdout.split('\n');
    expect(lines).toEqual(expect.arrayContaining([`cacertificatefile ${pki.root.certPath}`, `cacertificatepath ${hashDir}`, `usercacertificatepath ${hashDir}`, 'x509keyalgorithm x509v3-ecdsa-sha2-nistp256,ssh-sha256,ecdsa-sha2-nistp256']));
    // --host-trust is the same keywords: a file is CACertificateFile, a directory CACertificatePath.
    const flag = await runCommand(['connect', '-F', 'none', '-G', '--host-trust', pki.root.certPath, '--host-trust', hashDir, 'alice@host']);
    expect(flag.stdout.split('\n')).toEqual(expect.arrayContaining([`cacertificatefile ${pki.root.certPath}`, `cacertificatepath ${hashDir}`]));
    // With host trust, the x509v3 host key algorithms come first.
    expect(lines.find((l) => l.startsWith('hostkeyalgorithms '))).toMatch(/^hostkeyalgorithms x509v3-ecdsa-sha2-nistp256,/);
  });

  it('a CACertificatePath without a certificate is one clear line before connecting', async () => {
    const empty = join(dir, 'ca-empty-dir');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'README'), 'not a certificate\n');
    const r = await x509Host(['-o', `CACertificatePath=${empty}`]);
    expect(r.code).toBe(255);
    expect(r.stderr.trim()).toBe(`ssh-x509: CACertificatePath ${empty}: no certificate found there`);
  });
});

describe('jump hop identities', () => {
  it("a hop's CertificateFile alone pairs with the command's key: an AsyncSSH X.509 bastion that takes only that certificate", async () => {
    // A second certificate for alice's key, CN=alice-bastion: the only one the bastion authorizes.
    const d = join(dir, 'hop-cert');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'ext'), ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${OID_SECURE_SHELL_CLIENT}`, ''].join('\n'));
    execSync(`openssl req -new -key '${alice.keyPath}' -subj '/O=ssh-x509 Test/CN=alice-bastion' -out '${d}/csr'`);
    execSync(`openssl x509 -req -in '${d}/csr' -CA '${pki.intermediate.certPath}' -CAkey '${pki.intermediate.keyPath}' -days 2 -set_serial 0x4242 -extfile '${d}/ext' -out '${d}/cert.pem' 2>/dev/null`);
    const hopChain = join(d, 'chain.pem');
    writeFileSync(hopChain, readFileSync(join(d, 'cert.pem'), 'utf8') + pki.intermediate.certPem);
    const bastion = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'x509-bastion'), authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=alice-bastion'], allowTcpForwarding: true });
    try {
      const kh2 = join(dir, 'kh-x509-bastion');
      writeFileSync(kh2, readFileSync(knownHosts, 'utf8') + `[127.0.0.1]:${bastion.port} ${keyLine(bastion.hostPublicKeyLine)}\n`);
      const section = ['Host x509-bastion', '  HostName 127.0.0.1', `  Port ${bastion.port}`, '  User alice-bastion'];
      const cfg = join(dir, 'hop-cert-config');
      writeFileSync(cfg, [...section, `  CertificateFile ${hopChain}`, ''].join('\n'));
      const args = ['connect', '-F', cfg, '-J', 'x509-bastion', '-i', idFile, '-o', `UserKnownHostsFile=${kh2}`, '-p', String(target.port), 'alice@127.0.0.1', 'echo', 'hop-cert'];
      const r = await runCommand(args);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hop-cert\n');
      expect(bastion.log()).toMatch(/AUTH user=alice-bastion alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=\S+ result=ok/);
      expect(bastion.log()).toContain(`FORWARD to 127.0.0.1 port ${target.port}`);
      // Without the hop's CertificateFile, the command's certificate (CN=alice) goes to the bastion, which refuses it.
      writeFileSync(cfg, [...section, ''].join('\n'));
      const without = await runCommand(args);
      expect(without.code).toBe(255);
      expect(without.stderr).toMatch(/Permission denied \(publickey\): alice-bastion@x509-bastion/);
    } finally {
      await bastion.stop();
    }
  });
});

/** Runs the command from source with binary standard input; resolves with its exit status and binary standard output. */
function runBinary(args: string[], stdin: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cliArgs(), ...args], { cwd: new URL('..', import.meta.url).pathname, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    // Standard input ends once the server has answered, as a real client's would: OpenSSH's sftp-server exits at
    // end of input without writing a reply it still holds, so an INIT followed at once by EOF can go unanswered.
    child.stdin!.on('error', () => undefined);
    child.stdin!.write(stdin);
    child.stdout!.once('data', () => child.stdin!.end());
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

describe('subsystems', () => {
  // SSH_FXP_INIT, version 3: OpenSSH's sftp subsystem answers with SSH_FXP_VERSION.
  const init = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]);
  const base = () => ['-F', 'none', '-p', String(sshd.port), '-i', idFile, ...kh().slice(0, 2), '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', 'root@127.0.0.1'];

  it('-s and SessionType subsystem start the named subsystem (OpenSSH sshd sftp) instead of a command', async () => {
    for (const how of [['-s'], ['-o', 'SessionType=subsystem']]) {
      const r = await runBinary(['connect', ...how, ...base(), 'sftp'], init);
      expect(r.code).toBe(0);
      expect(r.stdout[4]).toBe(2); // SSH_FXP_VERSION
      expect(r.stdout.readUInt32BE(5)).toBe(3);
    }
    // Without -s, "sftp" is a command: the shell has no sftp command to run.
    const cmd = await runBinary(['connect', ...base(), 'sftp'], init);
    expect(cmd.stdout[4]).not.toBe(2);
    expect(cmd.code).not.toBe(0);
    const none = await runCommand(['connect', '-s', ...base()]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('You must specify a subsystem to invoke');
  });
});

describe('Include', () => {
  it('reads ~ and relative paths from ~/.ssh (also for -F), patterns in any path segment, and an included Host ends with its file', async () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
    mkdirSync(join(home, 'multi', 'one'), { recursive: true });
    mkdirSync(join(home, 'multi', 'two'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'conf.d', 'a.conf'), 'Host inc-host\n  HostName from-conf-d\n');
    writeFileSync(join(home, 'multi', 'one', 'host.conf'), 'Host inc-host\n  Port 2201\n');
    writeFileSync(join(home, 'multi', 'two', 'host.conf'), 'Host inc-host\n  Port 2202\n  User from-multi-two\n');
    writeFileSync(join(home, '.ssh', 'x1.conf'), 'Host other\n  User not-this-one\n');
    writeFileSync(
      join(home, '.ssh', 'config'),
      ['Host inc-host', '  Include conf.d/*.conf', '  Include ~/multi/*/host.conf', 'Host inc-host', '  Include ~/.ssh/x?.conf', '  ConnectTimeout 7', ''].join('\n'),
    );
    const env = { HOME: home };
    const G = await runCommand(['connect', '-G', 'inc-host'], { env });
    expect(G.stderr).toBe('');
    const lines = G.stdout.split('\n');
    // conf.d/a.conf relative to ~/.ssh; multi/one before multi/two (sorted); ConnectTimeout after an Include whose
    // file ends in another Host section still belongs to inc-host.
    expect(lines).toEqual(expect.arrayContaining(['hostname from-conf-d', 'port 2201', 'user from-multi-two', 'connecttimeout 7']));
    expect(lines).not.toContain('user not-this-one');
    // -F is a user configuration too: its relative Include is read from ~/.ssh, not from beside the file.
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, 'rel.conf'), 'Host *\n  User beside-the-file\n');
    writeFileSync(join(home, '.ssh', 'rel.conf'), 'Host *\n  User from-dot-ssh\n');
    writeFileSync(join(elsewhere, 'config'), 'Include rel.conf\n');
    const F = await runCommand(['connect', '-F', join(elsewhere, 'config'), '-G', 'h'], { env });
    expect(F.stdout.split('\n')).toContain('user from-dot-ssh');
  });
});

describe.concurrent('algorithm lists as OpenSSH reads them', () => {
  const list = (out: string, keyword: string) => out.split('\n').find((l) => l.startsWith(`${keyword} `))?.slice(keyword.length + 1).split(',') ?? [];
  // The host key algorithms both OpenSSH and ssh2 offer by default.
  const common = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256']);
  it.each([['ssh-ed25519,rsa-sha2-256'], ['^rsa-sha2-256'], ['^ecdsa-sha2-nistp521,ssh-ed25519'], ['-ecdsa*'], ['+ssh-rsa'], ['-ssh-ed25519,rsa-sha2-512']])(
    'HostKeyAlgorithms %s: the same list as ssh -G, on the algorithms both know',
    async (spec) => {
      const ssh = execSync(`ssh -G -F none -o 'HostKeyAlgorithms=${spec}' host 2>/dev/null`, { encoding: 'utf8' });
      const ours = await runCommand(['connect', '-F', 'none', '-G', '-o', `HostKeyAlgorithms=${spec}`, 'host']);
      expect(ours.code).toBe(0);
      const theirs = list(ssh, 'hostkeyalgorithms').filter((a) => common.has(a));
      expect(theirs.length).toBeGreaterThan(0);
      expect(list(ours.stdout, 'hostkeyalgorithms').filter((a) => common.has(a))).toEqual(theirs);
    },
  );

  it('HostKeyAlgorithms -list and patterns decide the host key negotiated with OpenSSH sshd (ed25519 host key only)', async () => {
    const args = ['-F', 'none', '-p', String(sshd.port), '-i', idFile, ...kh().slice(0, 2), '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', 'root@127.0.0.1', 'echo', 'hk'];
    const kept = await runCommand(['connect', '-o', 'HostKeyAlgorithms=-ecdsa*,rsa*', ...args]);
    expect(kept.stdout).toBe('hk\n');
    const removed = await runCommand(['connect', '-o', 'HostKeyAlgorithms=-ssh-ed25519', ...args]);
    expect(removed.code).toBe(255);
    const pattern = await runCommand(['connect', '-o', 'HostKeyAlgorithms=ssh-ed*', ...args]);
    expect(pattern.stdout).toBe('hk\n');
    // The first obtained wins: -o before the long option.
    const G = await runCommand(['connect', '-F', 'none', '-G', '-o', 'HostKeyAlgorithms=ssh-ed25519', '--host-key-algorithms', 'rsa-sha2-512', 'host']);
    expect(list(G.stdout, 'hostkeyalgorithms')).toEqual(['ssh-ed25519']);
    const bad = await runCommand(['connect', '-F', 'none', '-G', '-o', 'HostKeyAlgorithms=-*', 'host']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('leaves no algorithm');
  });

  it('PubkeyAcceptedAlgorithms +, -, ^ and patterns against the x509v3 default (AsyncSSH X.509 target)', async () => {
    const G = await runCommand(['connect', '-F', 'none', '-G', '-o', 'PubkeyAcceptedAlgorithms=+x509v3-ssh-rsa', 'host']);
    expect(list(G.stdout, 'pubkeyacceptedalgorithms')).toEqual(['x509v3-ecdsa-sha2-nistp256', 'x509v3-ecdsa-sha2-nistp384', 'x509v3-ecdsa-sha2-nistp521', 'x509v3-ssh-ed25519', 'x509v3-rsa2048-sha256', 'x509v3-ssh-rsa']);
    const caret = await runCommand(['connect', '-F', 'none', '-G', '-o', 'PubkeyAcceptedAlgorithms=^x509v3-rsa*', 'host']);
    expect(list(caret.stdout, 'pubkeyacceptedalgorithms').slice(0, 2)).toEqual(['x509v3-rsa2048-sha256', 'x509v3-ecdsa-sha2-nistp256']);
    const base = ['-F', 'none', '-p', String(target.port), '-i', idFile, ...kh().slice(0, 2), '-v', 'alice@127.0.0.1', 'echo', 'pk'];
    const minusOther = await runCommand(['connect', '-o', 'PubkeyAcceptedAlgorithms=-x509v3-rsa*,x509v3-ssh-ed25519', ...base]);
    expect(minusOther.stdout).toBe('pk\n');
    expect(minusOther.stderr).toMatch(/offering certificate algorithm=x509v3-ecdsa-sha2-nistp256/);
    const pattern = await runCommand(['connect', '-o', 'PubkeyAcceptedAlgorithms=x509v3-ecdsa*', ...base]);
    expect(pattern.stdout).toBe('pk\n');
    // Removing the one algorithm that fits the P-256 key leaves nothing to offer.
    const minus = await runCommand(['connect', '-o', 'PubkeyAcceptedAlgorithms=-x509v3-ecdsa-sha2-nistp256', ...base]);
    expect(minus.code).toBe(255);
    expect(minus.stderr).toContain('no requested algorithm fits the certificate');
  });
});
