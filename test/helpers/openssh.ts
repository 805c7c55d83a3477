/**
 * Start/stop a throwaway OpenSSH server (Debian openssh-server's
 * /usr/sbin/sshd) as the peer for raw SSH2 key mode: OpenSSH has no RFC
 * 6187, so it is the server "without X.509" that the certificate's key must
 * log in to as a plain key. Loopback only; runs as root (sshd needs it for
 * privilege separation), logs in as `root` (the one account surely present).
 *
 * The log is sshd's stderr at LogLevel DEBUG3 (`-e`), which names each
 * algorithm tried (`userauth_pubkey: ... pkalg rsa-sha2-512`) and the key
 * accepted (`Accepted publickey for root from 127.0.0.1 port N ssh2: RSA SHA256:...`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { stopper } from './process.js';

export const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

export interface OpenSshServerOptions {
  /** Working directory (config, host key, authorized_keys, pid file). */
  dir: string;
  /** authorized_keys lines (OpenSSH format: `<type> <base64> [comment]`). */
  authorizedKeys: string[];
  /**
   * `PubkeyAcceptedAlgorithms`; default: OpenSSH's own default list plus
   * `ssh-rsa` (SHA-1), which OpenSSH 9.2 leaves out, so that tests can show it.
   */
  pubkeyAcceptedAlgorithms?: string[];
  /** More sshd_config lines (e.g. `AcceptEnv LC_*`). */
  extraConfig?: string[];
  startTimeoutMs?: number;
}

export interface OpenSshServer {
  port: number;
  host: '127.0.0.1';
  /** OpenSSH public key line of the ssh-ed25519 host key. */
  hostPublicKeyLine: string;
  /** sshd's stderr so far (DEBUG3). */
  log(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts sshd on a free loopback port and resolves once it accepts connections. */
export async function startOpenSshServer(opts: OpenSshServerOptions): Promise<OpenSshServer> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} not found: the raw-key tests need OpenSSH's server; run \`apt-get install openssh-server\``);
  }
  if (process.getuid?.() !== 0) throw new Error(`${SSHD} must run as root for these tests (privilege separation); run the tests as root`);
  mkdirSync(opts.dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory

  const hostKeyPath = join(opts.dir, 'ssh_host_ed25519_key');
  if (!existsSync(hostKeyPath)) {
    const r = spawnSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'ssh-x509 test sshd', '-f', hostKeyPath], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen could not make a host key: ${r.error?.message ?? r.stderr}`);
  }
  const authorizedKeysPath = join(opts.dir, 'authorized_keys');
  writeFileSync(authorizedKeysPath, opts.authorizedKeys.join('\n') + '\n', { mode: 0o600 });
  const port = await freePort();
  const algorithms = opts.pubkeyAcceptedAlgorithms ?? [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  const configPath = join(opts.dir, 'sshd_config');
  writeFileSync(
    configPath,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(opts.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeysPath}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `PubkeyAcceptedAlgorithms ${algorithms.join(',')}`,
      'MaxAuthTries 10',
      'LogLevel DEBUG3',
      'Subsystem sftp internal-sftp',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  // Check the config first: sshd -t prints the offending line, which -D -e would bury.
  const check = spawnSync(SSHD, ['-t', '-f', configPath], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`sshd rejected its test config ${configPath}: ${check.stderr.trim()}`);

  const child = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stop = stopper(child);

  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited before listening (code ${child.exitCode}, signal ${child.signalCode}); stderr:\n${stderr}`);
    }
    if (stderr.includes(`Server listening on 127.0.0.1 port ${port}`) && (await canConnect(port))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not listen on 127.0.0.1:${port} in time; stderr:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    port,
    host: '127.0.0.1',
    hostPublicKeyLine: readFileSync(hostKeyPath + '.pub', 'utf8').trim(),
    log: () => stderr,
    stop,
  };
}

export { waitForLog } from './wait.js';
