/**
 * Start/stop the AsyncSSH test peer (test/peers/asyncssh_server.py) and run
 * the AsyncSSH X.509 client (test/peers/asyncssh_client.py), both with
 * Debian's /usr/bin/python3 and python3-asyncssh. Loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopper } from './process.js';

export const PYTHON = '/usr/bin/python3';
const SERVER_SCRIPT = fileURLToPath(new URL('../peers/asyncssh_server.py', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('../peers/asyncssh_client.py', import.meta.url));
const PY_ENV = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONWARNINGS: 'ignore' };

/** Accepts any certificate whose subject starts with O=ssh-x509 Test (the test PKI's leaves). */
export const DEFAULT_AUTHORIZED_KEYS = ['x509v3-sign-rsa subject=O=ssh-x509 Test,*'];

let pythonChecked = false;
function requireAsyncSsh(): void {
  if (pythonChecked) return;
  const r = spawnSync(PYTHON, ['-c', 'import asyncssh'], { env: PY_ENV, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim().split('\n').pop();
    throw new Error(
      `${PYTHON} cannot import asyncssh (${why}); run \`apt-get install python3-asyncssh\` (the CI script installs it)`,
    );
  }
  pythonChecked = true;
}

// Kill any peer still running when the test process exits.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export interface AsyncSshServer {
  port: number;
  host: '127.0.0.1';
  hostKeyPath: string;
  /** OpenSSH public key line of the ssh-ed25519 host key, for known_hosts. */
  hostPublicKeyLine: string;
  /** Server stderr so far (AUTH/CHAIN-INVALID/EXEC lines). */
  log(): string;
  /** The server process's id (the bench reads its memory). */
  pid: number;
  stop(): Promise<void>;
}

export interface AsyncSshServerOptions {
  /** Trusted root CA PEM paths. */
  trust: string[];
  /** authorized_client_keys lines; default {@link DEFAULT_AUTHORIZED_KEYS}. */
  authorizedKeysLines?: string[];
  /** Publickey algorithms accepted; default: all x509v3-* plus plain keys. */
  algorithms?: string[];
  /** Working directory (authorized_keys, host key). */
  dir: string;
  /** Also offer X.509 host keys (PEM key + chain; one per key type). */
  hostX509?: { keyPath: string; chainPath: string } | Array<{ keyPath: string; chainPath: string }>;
  /** A DER OCSP response file to staple (for the leaf) into the X.509 host keys' K_S. */
  hostOcspPath?: string;
  /** Test only: the server signs something other than the exchange hash. */
  badHostSignature?: boolean;
  /** Test only: the exchange-hash signature carries the x509v3 name inside (as an unpatched ssh2 server writes it). */
  x509NameInHostSignature?: boolean;
  /** Accept direct-tcpip channels, to be a jump host (each logged as `FORWARD to <host> port <n>`). */
  allowTcpForwarding?: boolean;
  startTimeoutMs?: number;
  /**
   * Outlive this process (the demo's lab): the server runs in its own process group with its working
   * directory in `dir`, its output in `dir/server.log` and its pid in `dir/server.pid`; `stop()` still stops it.
   */
  detached?: boolean;
}

export async function startAsyncSshServer(opts: AsyncSshServerOptions): Promise<AsyncSshServer> {
  requireAsyncSsh();
  mkdirSync(opts.dir, { recursive: true });
  const authorizedKeysPath = join(opts.dir, 'authorized_keys');
  writeFileSync(authorizedKeysPath, (opts.authorizedKeysLines ?? DEFAULT_AUTHORIZED_KEYS).join('\n') + '\n');
  const hostKeyPath = join(opts.dir, 'host_ed25519');

  const args = [SERVER_SCRIPT, '--port', '0', '--host-key', hostKeyPath, '--authorized-keys', authorizedKeysPath];
  for (const t of opts.trust) args.push('--trust', t);
  if (opts.algorithms) args.push('--algorithms', opts.algorithms.join(','));
  for (const h of [opts.hostX509 ?? []].flat()) args.push('--host-x509', h.keyPath, h.chainPath);
  if (opts.badHostSignature) args.push('--bad-host-signature');
  if (opts.hostOcspPath) args.push('--host-ocsp', opts.hostOcspPath);
  if (opts.x509NameInHostSignature) args.push('--x509-name-in-host-signature');
  if (opts.allowTcpForwarding) args.push('--allow-tcp-forwarding');

  if (opts.detached) return startDetached(opts, args, hostKeyPath);
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env: PY_ENV });
  track(child);
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stop = stopper(child);

  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      void stop();
      reject(new Error(`AsyncSSH server ${why}; stderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`did not report LISTENING within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (e) => fail(`failed to start: ${e.message}`));
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void =>
      fail(`exited before listening (code ${code}, signal ${sig})`);
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /^LISTENING (\d+)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.removeListener('exit', onExit);
        resolve(Number(m[1]));
      }
    });
  });

  return {
    port,
    host: '127.0.0.1',
    hostKeyPath,
    hostPublicKeyLine: readFileSync(hostKeyPath + '.pub', 'utf8').trim(),
    log: () => stderr,
    pid: child.pid!,
    stop,
  };
}

/** The server in a process of its own that outlives this one (see {@link AsyncSshServerOptions.detached}). */
async function startDetached(opts: AsyncSshServerOptions, args: string[], hostKeyPath: string): Promise<AsyncSshServer> {
  const logPath = join(opts.dir, 'server.log');
  const out = openSync(logPath, 'w');
  const child = spawn(PYTHON, args, { cwd: opts.dir, detached: true, stdio: ['ignore', out, out], env: PY_ENV });
  closeSync(out);
  child.unref();
  const pid = child.pid!;
  writeFileSync(join(opts.dir, 'server.pid'), `${pid}\n`);
  const log = () => readFileSync(logPath, 'utf8');
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const stop = async () => {
    if (alive()) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  let m: RegExpExecArray | null;
  while (!(m = /^LISTENING (\d+)$/m.exec(log()))) {
    if (!alive() || Date.now() > deadline) {
      await stop();
      throw new Error(`AsyncSSH server did not report LISTENING; its output:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port: Number(m[1]), host: '127.0.0.1', hostKeyPath, hostPublicKeyLine: readFileSync(hostKeyPath + '.pub', 'utf8').trim(), log, pid, stop };
}

export interface AsyncSshClientOptions {
  port: number;
  username: string;
  keyPath: string;
  /** PEM chain, leaf first. */
  chainPath: string;
  /** e.g. 'x509v3-ecdsa-sha2-nistp256'. */
  algorithm: string;
  command: string;
  /** If given, the server's host key must equal this OpenSSH public key line. */
  knownHostKeyLine?: string;
  /**
   * Verify the server's X.509 host certificate: it must chain to this trust
   * anchor (PEM) with purpose secureShellServer, under `hostKeyAlgorithm`.
   */
  hostTrust?: string;
  /** The one host key algorithm accepted with `hostTrust`, e.g. 'x509v3-ecdsa-sha2-nistp256'. */
  hostKeyAlgorithm?: string;
  timeoutMs?: number;
}

/**
 * Log in with AsyncSSH using an X.509 chain and run one command. Resolves
 * with the command's exit status and output; exit code 255 with
 * `ERROR <type>: <message>` on stderr means connection/auth failure.
 */
export async function runAsyncSshClient(
  opts: AsyncSshClientOptions,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  requireAsyncSsh();
  const args = [
    CLIENT_SCRIPT, '--port', String(opts.port), '--username', opts.username, '--key', opts.keyPath,
    '--chain', opts.chainPath, '--algorithm', opts.algorithm, '--command', opts.command,
  ];
  if (opts.knownHostKeyLine) args.push('--known-host', opts.knownHostKeyLine);
  if (opts.hostTrust) args.push('--host-trust', opts.hostTrust, '--host-key-alg', opts.hostKeyAlgorithm ?? '');

  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env: PY_ENV });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`AsyncSSH client timed out after ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`AsyncSSH client failed to start: ${e.message}`));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? 128 + (sig ? osConstants.signals[sig] : 0), stdout, stderr });
    });
  });
}
