/**
 * A PIV smartcard (virtual, behind the real pcscd + vpcd + OpenSC) in the
 * sessions that sign more than once: agent forwarding, a jump host that
 * needs the card too, `serve` with its host key on the card's 9E slot, the
 * raw key against OpenSSH, and the card pulled mid-session and put back.
 * Only the 9A and 9E keys sign here (9C signs once per PIN: its tests
 * belong with the signer's context login).
 */
import { execSync, spawn } from 'node:child_process';
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner, x509AuthHandler, x509HostKeyAlgorithms, x509HostVerifier } from '../src/index.js';
import { Pkcs11Signer } from '../src/pkcs11.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { cliArgs } from './helpers/cli-bin.js';
import { startOpenSshServer, type OpenSshServer } from './helpers/openssh.js';
import { setupPiv, type PivEnv } from './helpers/piv.js';
import { HOST_CERT, OID_SECURE_SHELL_CLIENT } from './helpers/pki.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

let piv: PivEnv;
let first: OpenSshServer;
let second: OpenSshServer;
let target: AsyncSshServer;
let serve: ServeProcess;
let knownHosts: string;
let plainKey: string;

const carol = () => piv.cards[0]!;
const dan = () => piv.cards[1]!;

beforeAll(async () => {
  piv = await setupPiv([
    {
      pin: '135790',
      slots: {
        '9A': { kind: 'p256', name: 'carol', cert: { upn: 'carol@EXAMPLE.COM' } },
        '9C': { kind: 'rsa2048', name: 'carol-sig', cert: { cn: 'carol signature' } },
        '9E': { kind: 'p256', name: 'carol-host', cert: { ...HOST_CERT, cn: 'piv-host' } },
      },
    },
    { pin: '864200', slots: { '9A': { kind: 'p256', name: 'dan', cert: { eku: [OID_SECURE_SHELL_CLIENT] } } } },
  ]);
  plainKey = execSync(`openssl x509 -in '${carol().certs['9A']!.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
  [first, second, target, serve] = await Promise.all([
    startOpenSshServer({ dir: join(piv.dir, 'first'), authorizedKeys: [plainKey] }),
    startOpenSshServer({ dir: join(piv.dir, 'second'), authorizedKeys: [plainKey] }),
    startAsyncSshServer({ trust: [piv.pki.root.certPath], dir: join(piv.dir, 'target') }),
    startServe(
      ['--pkcs11-module', piv.module, '--pkcs11-uri', `pkcs11:serial=${carol().serial};id=%04`, '--pin-env', 'HOST_PIN', '--host-intermediates', piv.pki.intermediate.certPath, '--trust', piv.pki.root.certPath, '--map', 'upn-local', '--revocation', 'off',
        // 20 clients at once: above sshd's (and serve's) default MaxStartups 10:30:100, which drops some at random.
        '--max-startups', '40'],
      // serve wants --pin-env for any token key, even 9E's, which needs no PIN on the card.
      { env: { ...piv.env, HOST_PIN: '135790' } },
    ),
  ]);
  knownHosts = join(piv.dir, 'known_hosts');
  writeFileSync(knownHosts, [first, target].map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
}, 120_000);

afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop(), target?.stop(), serve?.stop()]);
  await piv?.stop();
});

const card = (serial: string) => ['--pkcs11-module', piv.module, '--pkcs11-uri', `pkcs11:serial=${serial};id=%01`, '--intermediates', piv.pki.intermediate.certPath];
const withPin = (pin: string) => ({ env: { ...piv.env, PIN: pin } });

describe('the 9A key as a plain key against OpenSSH', () => {
  it('connect --raw-key logs in to sshd with the key on the card', async () => {
    const since = first.log().length;
    const r = await runCommand(['connect', '-p', String(first.port), '--known-hosts', knownHosts, '--raw-key', ...card(carol().serial), '--pin-env', 'PIN', 'root@127.0.0.1', 'echo', 'raw-ok'], withPin(carol().pin));
    expect(r.stderr).not.toMatch(/ssh-x509|PIN/);
    expect(r.stdout).toBe('raw-ok\n');
    expect(r.code).toBe(0);
    expect(await waitForLog(() => first.log().slice(since), /Accepted publickey for root/)).toMatch(/Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA/);
  });

  it('agent forwarding (-A): the remote side signs with the card three times, one PIN', async () => {
    const before = (await carol().card.stats()).signatures;
    const since = second.log().length;
    const hop = `ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -p ${second.port} root@127.0.0.1`;
    const remote = `ssh-add -L; for i in 1 2 3; do ${hop} echo remote-$i; done`;
    const r = await runCommand(
      ['connect', '-A', '-F', 'none', '-p', String(first.port), ...card(carol().serial), '--pin-env', 'PIN', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', 'root@127.0.0.1', remote],
      withPin(carol().pin),
    );
    expect(r.stdout).toContain(plainKey.split(' ').slice(0, 2).join(' '));
    expect(r.stdout).toMatch(/remote-1\r?\nremote-2\r?\nremote-3/);
    expect(r.code).toBe(0);
    const log = await waitForLog(() => second.log().slice(since), (l) => (l.match(/Accepted publickey for root/g) ?? []).length >= 3);
    expect(log.match(/Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA/g)).toHaveLength(3);
    // The login to the first host, then one per remote login (OpenSSH may ask the agent more than once per login).
    expect((await carol().card.stats()).signatures - before).toBeGreaterThanOrEqual(4);
  });

  it('-J: an OpenSSH bastion that takes the card key, then the AsyncSSH X.509 target with the same card', async () => {
    const cfg = join(piv.dir, 'jump-config');
    writeFileSync(cfg, ['Host bastion', '  HostName 127.0.0.1', `  Port ${first.port}`, '  User root', '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256', ''].join('\n'));
    const before = (await carol().card.stats()).signatures;
    const since = target.log().length;
    const r = await runCommand(
      ['connect', '-F', cfg, '-J', 'bastion', ...card(carol().serial), '--pin-env', 'PIN', '-o', `UserKnownHostsFile=${knownHosts}`, '-p', String(target.port), 'carol@127.0.0.1', 'echo', 'behind-the-bastion'],
      withPin(carol().pin),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('behind-the-bastion\n');
    expect(r.code).toBe(0);
    expect(await waitForLog(() => target.log().slice(since), 'phase=sign')).toMatch(/user=carol alg=x509v3-ecdsa-sha2-nistp256 phase=sign.*result=ok/);
    expect((await carol().card.stats()).signatures - before).toBe(2);
  });
});

describe('ssh-x509 serve with its host key on the card (9E, no PIN)', () => {
  it('serves 20 connections, each host signature made by the card and verified by the client', async () => {
    const erin = await piv.pki.issue('erin', 'p256');
    const signer = await SoftwareSigner.fromFiles({ certificateFile: erin.chainPath, keyFile: erin.keyPath });
    const before = (await carol().card.stats()).signatures;
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const accepted: string[] = [];
        const r = await ssh2Exec(
          {
            host: '127.0.0.1',
            port: serve.port,
            username: 'erin',
            authHandler: x509AuthHandler('erin', { signer }),
            hostVerifier: x509HostVerifier({ host: '127.0.0.1', port: serve.port, hostTrustAnchors: [piv.pki.root.certPath], revocation: { mode: 'off' }, onDecision: (d) => accepted.push(`${d.accepted}:${d.certificate?.subject}`) }),
            algorithms: { serverHostKey: x509HostKeyAlgorithms({ algorithms: ['x509v3-ecdsa-sha2-nistp256'], x509Only: true }) },
          },
          `echo conn-${i}`,
          60_000,
        );
        return { r, accepted };
      }),
    );
    results.forEach(({ r, accepted }) => {
      expect(accepted).toEqual(['true:O=ssh-x509 Test, CN=piv-host']);
      expect(r.stdout).toMatch(/^authenticated erin via x509v3-ecdsa-sha2-nistp256 /);
      expect(r.code).toBe(0);
    });
    expect((await carol().card.stats()).signatures - before).toBeGreaterThanOrEqual(20);
  });

  it('connect with the 9A key of the same card logs in to it (two processes share the card)', async () => {
    const r = await runCommand(
      ['connect', '-p', String(serve.port), '--host-trust', piv.pki.root.certPath, '--known-hosts', join(piv.dir, 'kh-serve'), ...card(carol().serial), '--pin-env', 'PIN', 'carol@127.0.0.1', 'whoami'],
      withPin(carol().pin),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/carol/);
  });
});

describe('the card pulled and put back', () => {
  const data = Buffer.from('signed before and after');

  it('Pkcs11Signer: onRemoved within 3 s, a later sign() rejects with a typed error, the re-inserted card opens again', async () => {
    const open = () => Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${dan().serial};id=%01`, pin: async () => dan().pin });
    const pub = new X509Certificate(dan().certs['9A']!.certDer).publicKey;
    const s = await open();
    try {
      expect(cryptoVerify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, await s.sign(data, 'sha256'))).toBe(true);
      const removed = new Promise<number>((resolve) => s.onRemoved(() => resolve(Date.now())));
      const pulledAt = Date.now();
      await dan().card.remove();
      const at = await Promise.race([removed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
      expect(at).not.toBe(-1);
      expect(at - pulledAt).toBeLessThan(3_000);
      await expect(s.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_TOKEN_REMOVED' });
    } finally {
      await s.close();
    }
    await dan().card.insert();
    const again = await open();
    try {
      expect(cryptoVerify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, await again.sign(data, 'sha256'))).toBe(true);
    } finally {
      await again.close();
    }
  });

  /** Starts `ssh-x509 connect` running a long remote command; resolves `started` once it printed "started". */
  function longConnect(args: string[]) {
    const child = spawn(process.execPath, [...cliArgs(), ...args], { env: { ...piv.env, PIN: dan().pin }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; stdout: string; stderr: string; at: number }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, at: Date.now() })));
    const started = waitForLog(() => stdout, 'started', 30_000);
    return { child, exited, started };
  }
  const danArgs = (...rest: string[]) => ['connect', '-p', String(target.port), '--known-hosts', knownHosts, ...card(dan().serial), '--pin-env', 'PIN', ...rest];

  it('--disconnect-on-card-removal ends the session when the card is pulled; after re-insertion connect works again', async () => {
    const run = longConnect(danArgs('--disconnect-on-card-removal', 'dan@127.0.0.1', 'echo started; sleep 30; echo finished'));
    try {
      expect(await run.started).toContain('started');
      const pulledAt = Date.now();
      await dan().card.remove();
      const r = await run.exited;
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('started\n');
      expect(r.stderr).toContain('the smartcard was removed (--disconnect-on-card-removal)');
      expect(r.at - pulledAt).toBeLessThan(10_000);
    } finally {
      run.child.kill('SIGKILL');
      await dan().card.insert();
    }
    const again = await runCommand(danArgs('dan@127.0.0.1', 'echo', 'back'), withPin(dan().pin));
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe('back\n');
  });

  it('without the option the session outlives the pulled card', async () => {
    const run = longConnect(danArgs('dan@127.0.0.1', 'echo started; sleep 2; echo finished'));
    try {
      await run.started;
      await dan().card.remove();
      const r = await run.exited;
      expect(r.stdout).toBe('started\nfinished\n');
      expect(r.code).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
      await dan().card.insert();
    }
  });
});
