/**
 * The smartcard forwarded as an agent (-A), and jump hosts with a token:
 * the PIN is asked once, locally. SoftHSM token, OpenSSH sshd as the remote
 * host and as a further server, AsyncSSH as an X.509 target behind an
 * OpenSSH bastion.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOnTerminal } from './helpers/cli-io.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { startOpenSshServer, type OpenSshServer } from './helpers/openssh.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { waitForLog } from './helpers/wait.js';

const PIN = '4321';
let dir: string;
let hsm: SoftHsm;
let first: OpenSshServer;
let second: OpenSshServer;
let sigFirst: OpenSshServer;
let target: AsyncSshServer;
let knownHosts: string;
let plainKey: string;
let sigKey: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-agent-'));
  hsm = await createSoftHsm([
    { label: 'agent-card', pin: PIN, keys: [{ name: 'carl', kind: 'p256', id: '31', source: 'generate' }] },
    // A PIV 9C-like key: a PIN for every signature (SoftHSM enforces CKA_ALWAYS_AUTHENTICATE).
    { label: 'sig-card', pin: PIN, keys: [{ name: 'sigrid', kind: 'p256', id: '02', label: 'SIGN key', source: 'generate', alwaysAuthenticate: true }] },
  ]);
  process.env.SOFTHSM2_CONF = hsm.conf;
  const plain = (name: string) => execSync(`openssl x509 -in '${hsm.keys[name]!.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
  plainKey = plain('carl');
  sigKey = plain('sigrid');
  first = await startOpenSshServer({ dir: join(dir, 'first'), authorizedKeys: [plainKey] });
  sigFirst = await startOpenSshServer({ dir: join(dir, 'sig-first'), authorizedKeys: [sigKey] });
  second = await startOpenSshServer({ dir: join(dir, 'second'), authorizedKeys: [plainKey, sigKey] });
  target = await startAsyncSshServer({ trust: [hsm.pki.root.certPath], dir: join(dir, 'target'), authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=carl', 'x509v3-sign-rsa subject=O=ssh-x509 Test,CN=dave'] });
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, [first, target, sigFirst].map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
}, 120_000);

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  await sigFirst?.stop();
  await target?.stop();
  hsm?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `ssh-x509 <args>` in this process with a terminal-like stdin that types the PIN when asked. */
const withPinPrompt = (args: string[]) => runOnTerminal(args, PIN, { ...process.env });

const token = () => ['--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:token=agent-card', '--intermediates', hsm.pki.intermediate.certPath];

describe('agent forwarding with the smartcard (-A)', () => {
  it('ssh-add -L on the remote host lists the token key (ssh-add -D is refused), and OpenSSH ssh there logs in to a second server with it; the PIN is asked once, locally', async () => {
    const remote = `ssh-add -D 2>/dev/null; echo remove-status=$?; ssh-add -L; ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -p ${second.port} root@127.0.0.1 echo second-hop-ok`;
    const since = second.log().length;
    const r = await withPinPrompt(['connect', '-A', '-F', 'none', '-p', String(first.port), ...token(), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-v', 'root@127.0.0.1', remote]);
    expect(r.stdout).toContain(plainKey.split(' ').slice(0, 2).join(' '));
    expect(r.stdout).toContain('second-hop-ok');
    // Anything but list and sign is refused: the key is still there after ssh-add -D.
    expect(r.stdout).toMatch(/^remove-status=1\r?$/m);
    expect(r.code).toBe(0);
    expect(r.prompts).toHaveLength(1);
    expect(r.stderr).not.toContain(PIN);
    // The trace shows each remote signing request.
    expect(r.stderr).toMatch(/trace: agent: signing request from the remote side/);
    expect(await waitForLog(() => second.log().slice(since), /Accepted publickey for root/)).toMatch(/Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA/);
  });

  it('ForwardAgent yes in the config file does what -A does', async () => {
    const cfg = join(dir, 'agent-config');
    writeFileSync(cfg, ['Host agent-host', '  HostName 127.0.0.1', `  Port ${first.port}`, '  User root', '  ForwardAgent yes', '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256', `  UserKnownHostsFile ${knownHosts}`, ''].join('\n'));
    const r = await withPinPrompt(['connect', '-F', cfg, ...token(), 'agent-host', 'ssh-add -L; echo status=$?']);
    expect(r.stdout).toContain(plainKey.split(' ').slice(0, 2).join(' '));
    expect(r.stdout).toMatch(/status=0/);
    expect(r.prompts).toHaveLength(1);
  });

  it('a key with a PIN per signature: the remote side\'s signing request is refused, never asked on the terminal the session owns', async () => {
    const remote = `ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -p ${second.port} root@127.0.0.1 echo second-hop-ok; echo ssh-status=$?`;
    const args = ['connect', '-A', '-F', 'none', '-p', String(sigFirst.port), '--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:token=sig-card', '--intermediates', hsm.pki.intermediate.certPath];
    const r = await withPinPrompt([...args, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-v', 'root@127.0.0.1', remote]);
    // The login to the first host: the user PIN, then the per-signature PIN. Nothing asked once the session runs.
    expect(r.prompts).toEqual([expect.stringMatching(/^PIN for token "sig-card"/), expect.stringMatching(/^PIN for key "SIGN key" on token "sig-card" .*per-signature/)]);
    expect(r.stdout).not.toContain('second-hop-ok');
    expect(r.stdout).toMatch(/ssh-status=255/);
    expect(r.stderr).toMatch(/agent: signing failed: token "sig-card" \(reader "[^"]+"\) needs the per-signature PIN for key "SIGN key" for the forwarded agent, and the terminal belongs to the session: give it with --pin-env VAR/);
    expect(r.code).toBe(0);
  });

  it('without -A the remote host has no agent', async () => {
    const r = await withPinPrompt(['connect', '-F', 'none', '-p', String(first.port), ...token(), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', 'root@127.0.0.1', 'ssh-add -L; echo status=$?']);
    expect(r.stdout).toMatch(/status=2/);
    expect(r.stdout).not.toContain(plainKey.split(' ')[1]!);
  });
});

describe('jump hosts with a token', () => {
  it('-J: an OpenSSH bastion (plain key) then the AsyncSSH X.509 target, one PIN prompt for the whole chain', async () => {
    const cfg = join(dir, 'jump-config');
    writeFileSync(cfg, ['Host bastion', '  HostName 127.0.0.1', `  Port ${first.port}`, '  User root', '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256', ''].join('\n'));
    const r = await withPinPrompt(['connect', '-F', cfg, '-J', 'bastion', ...token(), '-o', `UserKnownHostsFile=${knownHosts}`, '-p', String(target.port), 'carl@127.0.0.1', 'echo', 'behind-the-bastion']);
    expect(r.stderr).toMatch(/^PIN for token "agent-card" \(reader "SoftHSM slot ID 0x[0-9a-f]+"\): \n$/);
    expect(r.stdout).toBe('behind-the-bastion\n');
    expect(r.code).toBe(0);
    expect(r.prompts).toHaveLength(1);
  });

  it("a bastion's own PKCS11Provider from its Host section: the token for the bastion, the command's key file for the target, one PIN prompt", async () => {
    const dave = await hsm.pki.issue('dave', 'p256');
    const cfg = join(dir, 'jump-token-config');
    const section = ['Host token-bastion', '  HostName 127.0.0.1', `  Port ${first.port}`, '  User root', '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256'];
    writeFileSync(cfg, [...section, `  PKCS11Provider ${hsm.module}`, ''].join('\n'));
    const args = ['connect', '-F', cfg, '-J', 'token-bastion', '--cert', dave.chainPath, '--key', dave.keyPath, '-o', `UserKnownHostsFile=${knownHosts}`, '-p', String(target.port), 'dave@127.0.0.1', 'echo', 'token-for-the-bastion'];
    const since = first.log().length;
    const r = await withPinPrompt(args);
    expect(r.stderr).toMatch(/^PIN for token "agent-card" \(reader "SoftHSM slot ID 0x[0-9a-f]+"\): \n$/);
    expect(r.stdout).toBe('token-for-the-bastion\n');
    expect(r.prompts).toHaveLength(1);
    expect(await waitForLog(() => first.log().slice(since), /Accepted publickey for root/)).toMatch(/Accepted publickey for root from 127\.0\.0\.1 port \d+ ssh2: ECDSA/);
    // The same token named for the bastion and for the target (the command's): one session, one PIN prompt.
    const both = await withPinPrompt(['connect', '-F', cfg, '-J', 'token-bastion', '--pkcs11-module', hsm.module, '--intermediates', hsm.pki.intermediate.certPath, '-o', `UserKnownHostsFile=${knownHosts}`, '-p', String(target.port), 'carl@127.0.0.1', 'echo', 'one-token']);
    expect(both.stdout).toBe('one-token\n');
    expect(both.prompts).toHaveLength(1);
    // Without it, dave's key goes to the bastion, which knows only the token's key.
    writeFileSync(cfg, [...section, ''].join('\n'));
    const without = await withPinPrompt(args);
    expect(without.code).toBe(255);
    expect(without.prompts).toHaveLength(0);
    expect(without.stderr).toMatch(/Permission denied \(publickey\): root@token-bastion/);
  });
});
