/**
 * `ssh-x509 connect` with keys on a SoftHSM token, against AsyncSSH: every
 * key type, certificate selection on a card with five certificates (attempt
 * cap, PIN asked only after PK_OK), and "disconnect when the smartcard is
 * removed", on and off.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionDefaults } from '../src/index.js';
import { openPkcs11Candidates } from '../src/pkcs11.js';
import { runOnTerminal } from './helpers/cli-io.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';
import { cliArgs } from './helpers/cli-bin.js';

let hsm: SoftHsm;
let server: AsyncSshServer;
let cardServer: AsyncSshServer;
let knownHosts: string;

const KEYS: Array<[name: string, kind: 'rsa2048' | 'p256' | 'p384' | 'p521' | 'ed25519', id: string, algorithm: string]> = [
  ['tok-rsa', 'rsa2048', '01', 'x509v3-rsa2048-sha256'],
  ['tok-p256', 'p256', '02', 'x509v3-ecdsa-sha2-nistp256'],
  ['tok-p384', 'p384', '03', 'x509v3-ecdsa-sha2-nistp384'],
  ['tok-p521', 'p521', '04', 'x509v3-ecdsa-sha2-nistp521'],
  ['tok-ed25519', 'ed25519', '05', 'x509v3-ssh-ed25519'],
];

beforeAll(async () => {
  hsm = await createSoftHsm([
    { label: 'keys', pin: '1357', keys: KEYS.map(([name, kind, id]) => ({ name, kind, id, source: 'generate' as const })) },
    {
      label: 'carol-card',
      pin: '2468',
      keys: [1, 2, 3, 4, 5].map((i) => ({
        name: `carol${i}`,
        kind: 'p256' as const,
        id: `1${i}`,
        source: 'import' as const,
        cert: { cn: `carol-${i}`, email: 'carol@example.com', upn: 'carol@EXAMPLE.COM' },
      })),
    },
    { label: 'pull-me', pin: '1111', keys: [{ name: 'dave', kind: 'p256', id: '21', source: 'import' }] },
    { label: 'keep-me', pin: '2222', keys: [{ name: 'erin', kind: 'p256', id: '22', source: 'import' }] },
    // A PIV 9C-like key: every signature needs its own login (SoftHSM enforces CKA_ALWAYS_AUTHENTICATE).
    { label: 'sig-card', pin: '3690', keys: [{ name: 'frank', kind: 'rsa2048', id: '02', label: 'SIGN key', source: 'generate', alwaysAuthenticate: true }] },
  ]);
  server = await startAsyncSshServer({ trust: [hsm.pki.root.certPath], dir: join(hsm.dir, 'server') });
  cardServer = await startAsyncSshServer({
    trust: [hsm.pki.root.certPath],
    dir: join(hsm.dir, 'card-server'),
    authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,CN=carol-5'],
  });
  knownHosts = join(hsm.dir, 'known_hosts');
  writeFileSync(
    knownHosts,
    [server, cardServer].map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`).join(''),
  );
});

afterAll(async () => {
  await server?.stop();
  await cardServer?.stop();
  hsm?.cleanup();
});

const connectArgs = (port: number, ...rest: string[]) => ['connect', '-p', String(port), '--known-hosts', knownHosts, '--pkcs11-module', hsm.module, '--intermediates', hsm.pki.intermediate.certPath, ...rest];

describe('ssh-x509 connect with a key on the token', () => {
  it.each(KEYS)('logs in with %s (%s, id %s) using %s', async (name, _kind, id, algorithm) => {
    const r = await runCommand(connectArgs(server.port, '--pkcs11-uri', `pkcs11:token=keys;id=%${id}`, '--pin-env', 'TOKEN_PIN', `${name}@127.0.0.1`, 'echo', '$USER'), {
      env: { ...hsm.env, TOKEN_PIN: '1357' },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${name}\n`);
    expect(r.code).toBe(0);
    await waitForLog(server.log, `user=${name} alg=${algorithm} phase=sign`);
    const line = server
      .log()
      .split('\n')
      .filter((l) => l.includes(`user=${name} `) && l.includes('phase=sign'))
      .at(-1);
    expect(line).toContain(`alg=${algorithm} phase=sign`);
    expect(line).toContain('result=ok');
  });

  it('without --pin-env and without a terminal: says to give the PIN with --pin-env (the command\'s terms, no "PIN callback")', async () => {
    const r = await runCommand(connectArgs(server.port, '--pkcs11-uri', 'pkcs11:token=keys;id=%02', 'tok-p256@127.0.0.1', 'true'), { env: hsm.env });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/token "keys" \(reader "SoftHSM slot ID 0x[0-9a-f]+"\) needs the user PIN and there is no terminal to ask it on: give it with --pin-env VAR/);
    expect(r.stderr).not.toMatch(/callback/i);
  });

  it('picks the exact certificate by fingerprint', async () => {
    const k = hsm.keys['tok-p384']!;
    const r = await runCommand(connectArgs(server.port, '--cert-fingerprint', k.sha256, '--pin-env', 'TOKEN_PIN', 'tok-p384@127.0.0.1', 'echo', 'fp-ok'), {
      env: { ...hsm.env, TOKEN_PIN: '1357' },
    });
    expect(r.stdout).toBe('fp-ok\n');
  });
});

describe('PINs at the command line', () => {
  it('logs in with a CKA_ALWAYS_AUTHENTICATE key: the user login and the per-signature login both from --pin-env', async () => {
    const r = await runCommand(connectArgs(server.port, '--pkcs11-uri', 'pkcs11:token=sig-card;id=%02', '--pin-env', 'TOKEN_PIN', 'frank@127.0.0.1', 'echo', 'signed-ok'), {
      env: { ...hsm.env, TOKEN_PIN: '3690' },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('signed-ok\n');
    expect(r.code).toBe(0);
  });

  it('on a terminal, a CKA_ALWAYS_AUTHENTICATE key asks twice: the user PIN, then the per-signature PIN naming the key', async () => {
    const r = await runOnTerminal(connectArgs(server.port, '--pkcs11-uri', 'pkcs11:token=sig-card', 'frank@127.0.0.1', 'echo', 'asked-twice'), '3690', { ...hsm.env });
    expect(r.stderr).toMatch(/^PIN for token "sig-card" \(reader "(SoftHSM slot ID 0x[0-9a-f]+)"\): \nPIN for key "SIGN key" on token "sig-card" \(reader "\1"\), per-signature: \n$/);
    expect(r.stdout).toBe('asked-twice\n');
    expect(r.code).toBe(0);
  });

  it('a wrong PIN: tried once, exit 255, said without host and port, naming token and reader', async () => {
    const r = await runCommand(connectArgs(server.port, '--pkcs11-uri', 'pkcs11:token=keys;id=%02', '--pin-env', 'TOKEN_PIN', 'tok-p256@127.0.0.1', 'true'), {
      env: { ...hsm.env, TOKEN_PIN: 'wrong-pin' },
    });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/^ssh-x509: token "keys" \(serial \S+\) in reader "SoftHSM slot ID [^"]+" refused the PIN \(CKR_PIN_INCORRECT\); [^\n]*tried once and not retried\.\n$/);
    expect(r.stderr).not.toMatch(/\bport\b|127\.0\.0\.1|callback|wrong-pin/);
  });
});

describe('a card with five certificates, the server accepting only the fifth', () => {
  it('with --max-attempts 2 stops after two offers, never asks the PIN, and says so', async () => {
    const since = cardServer.log().length;
    // No --pin-env and no terminal: asking the PIN would fail with ERR_PIN_REQUIRED.
    const r = await runCommand(connectArgs(cardServer.port, '--pkcs11-uri', 'pkcs11:token=carol-card', '--max-attempts', '2', 'carol@127.0.0.1', 'true'), { env: hsm.env });
    expect(r.stderr).toMatch(/^ssh-x509: Permission denied \(publickey\): carol@127\.0\.0\.1 refused every certificate offered \(at most 2 attempts, --max-attempts\)/);
    expect(r.code).toBe(255);
    expect(r.stderr).not.toContain('PIN');
    await waitForLog(() => cardServer.log().slice(since), (l) => l.split('\n').filter((x) => x.startsWith('AUTH user=carol ')).length >= 3, 1_000);
    const attempts = cardServer.log().slice(since).split('\n').filter((l) => l.startsWith('AUTH user=carol '));
    expect(attempts).toHaveLength(2);
    expect(attempts.every((l) => l.includes('phase=query') && l.includes('result=fail'))).toBe(true);
  });

  it('finds the accepted certificate by asking first, and asks the PIN once, only for it', async () => {
    const since = cardServer.log().length;
    const asked: string[] = [];
    const signers = await openPkcs11Candidates({
      module: hsm.module,
      uri: 'pkcs11:token=carol-card',
      intermediates: hsm.pki.intermediate.certPath,
      loginOnFirstSign: true,
      pin: (req) => {
        asked.push(req.tokenLabel);
        return '2468';
      },
    });
    try {
      expect(signers.map((s) => s.chain.leaf.subject.replace(/^.*CN=/, ''))).toEqual(['carol-1', 'carol-2', 'carol-3', 'carol-4', 'carol-5']);
      expect(asked).toEqual([]);
      const r = await ssh2Exec({ host: '127.0.0.1', port: cardServer.port, ...new SessionDefaults({ signer: signers, username: 'carol' }).connectConfig() }, 'echo in');
      expect(r.stdout).toBe('in\n');
      expect(asked).toEqual(['carol-card']);
      expect(signers.map((s) => s.isLoggedIn)).toEqual([false, false, false, false, true]);
      await waitForLog(() => cardServer.log().slice(since), 'phase=sign');
      const attempts = cardServer.log().slice(since).split('\n').filter((l) => l.startsWith('AUTH user=carol '));
      expect(attempts.filter((l) => l.includes('phase=query') && l.includes('result=fail'))).toHaveLength(4);
      expect(attempts.filter((l) => l.includes('phase=sign'))).toEqual([expect.stringContaining('result=ok')]);
    } finally {
      await Promise.all(signers.map((s) => s.close()));
    }
  });
});

/** Starts `ssh-x509 connect` running a long remote command; resolves when it exits. */
function startLongConnect(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [...cliArgs(), ...args], {
    cwd: new URL('..', import.meta.url).pathname,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string; at: number }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, at: Date.now() })),
  );
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the remote command did not start; stderr: ${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      if (stdout.includes('started')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, exited, started };
}

describe('disconnect when the smartcard is removed', () => {
  it('ends the connection when the card is pulled and the option is on', async () => {
    const run = startLongConnect(
      connectArgs(server.port, '--pkcs11-uri', 'pkcs11:token=pull-me', '--pin-env', 'TOKEN_PIN', '--disconnect-on-card-removal', 'dave@127.0.0.1', 'echo started; sleep 30; echo finished'),
      { ...hsm.env, TOKEN_PIN: '1111' },
    );
    try {
      await run.started;
      const pulledAt = Date.now();
      hsm.removeToken('pull-me');
      const r = await run.exited;
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('started\n');
      expect(r.stderr).toMatch(/connection closed: the smartcard was removed \(--disconnect-on-card-removal\): token "pull-me" \(serial \S+\) in reader "SoftHSM slot ID 0x[0-9a-f]+"\n/);
      expect(r.at - pulledAt).toBeLessThan(10_000);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('keeps the connection when the option is off', async () => {
    const run = startLongConnect(
      connectArgs(server.port, '--pkcs11-uri', 'pkcs11:token=keep-me', '--pin-env', 'TOKEN_PIN', 'erin@127.0.0.1', 'echo started; sleep 4; echo finished'),
      { ...hsm.env, TOKEN_PIN: '2222' },
    );
    try {
      await run.started;
      hsm.removeToken('keep-me');
      const r = await run.exited;
      expect(r.stdout).toBe('started\nfinished\n');
      expect(r.code).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});
