/**
 * `ssh-x509 connect [options] <user>@<host> [--] [command...]`: log in with
 * an X.509 certificate and run a command, behaving like `ssh` where the two
 * overlap (exit status, stdout/stderr pass-through, 255 on failure).
 *
 * @module
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { x509AuthMethod } from '../../adapters/ssh2/client.js';
import { emitTrace, formatTrace, type TraceLogger } from '../../adapters/trace.js';
import { getAlgorithm } from '../../algorithms.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { SoftwareSigner } from '../../signers/software.js';
import type { Signer } from '../../signers/signer.js';
import { checkHostKey, type StrictHostKeyChecking } from '../known-hosts.js';
import type { CliIo, Command } from '../io.js';
import { splitAtDestination, usageError } from '../args.js';

const OPTIONS = {
  port: { type: 'string', short: 'p' },
  cert: { type: 'string', multiple: true },
  key: { type: 'string' },
  'passphrase-env': { type: 'string' },
  algorithm: { type: 'string', multiple: true },
  'known-hosts': { type: 'string' },
  'strict-host-key-checking': { type: 'string' },
  trace: { type: 'boolean' },
  'connect-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONNECT_USAGE = `usage: ssh-x509 connect [options] <user>@<host> [--] [command...]

  -p, --port <n>                       server port (default 22)
  --cert <file>                        certificate chain, PEM or DER (repeatable)
  --key <file>                         private key (PEM PKCS#8, PKCS#1, SEC1, encrypted PKCS#8)
  --passphrase-env <VAR>               read the key's passphrase from this environment variable
  --algorithm <name>                   x509v3 algorithm to offer (repeatable; default: the best for the key)
  --known-hosts <file>                 OpenSSH known_hosts file (default ~/.ssh/known_hosts)
  --strict-host-key-checking <mode>    yes | accept-new | no (default yes)
  --connect-timeout <seconds>          give up connecting after this long (default 20)
  --trace                              print what is tried, with fingerprints, and the server's answers
`;

/** The parsed destination `user@host`. */
function parseDestination(dest: string): { username: string; host: string } {
  const at = dest.lastIndexOf('@');
  if (at <= 0 || at === dest.length - 1) throw usageError(`destination must be <user>@<host>, got ${JSON.stringify(dest)}`);
  let host = dest.slice(at + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { username: dest.slice(0, at), host };
}

function parsePort(v: string | undefined): number {
  if (v === undefined) return 22;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw usageError(`invalid port ${JSON.stringify(v)}`);
  return n;
}

async function buildSigner(values: { cert?: string[]; key?: string; 'passphrase-env'?: string }, io: CliIo): Promise<Signer> {
  if (!values.cert?.length || !values.key) throw usageError('give the certificate chain with --cert and the private key with --key');
  let passphrase: string | undefined;
  const envName = values['passphrase-env'];
  if (envName !== undefined) {
    passphrase = io.env[envName];
    if (passphrase === undefined) throw usageError(`--passphrase-env ${envName}: the variable is not set`);
  }
  return SoftwareSigner.fromFiles({ certificateFile: values.cert, keyFile: values.key, passphrase });
}

/** Runs `connect`; resolves to the exit status (the remote one, or 255). */
export const runConnect: Command = async (argv, io) => {
  const say = (line: string) => io.stderr.write(`ssh-x509: ${line}\n`);
  let signer: Signer | undefined;
  try {
    const [opts, rest] = splitAtDestination(argv, OPTIONS);
    const { values } = parseArgs({ args: opts, options: OPTIONS, allowPositionals: false, strict: true });
    if (values.help) {
      io.stdout.write(CONNECT_USAGE);
      return 0;
    }
    if (rest.length === 0) throw usageError('missing destination <user>@<host>');
    const { username, host } = parseDestination(rest[0]!);
    const command = rest.slice(1);
    if (command[0] === '--') command.shift();
    const port = parsePort(values.port);
    const mode = (values['strict-host-key-checking'] ?? 'yes') as StrictHostKeyChecking;
    if (!['yes', 'accept-new', 'no'].includes(mode)) throw usageError(`--strict-host-key-checking must be yes, accept-new or no, got ${JSON.stringify(mode)}`);
    const algorithms = values.algorithm?.map((a) => getAlgorithm(a).name);
    const timeout = values['connect-timeout'] === undefined ? 20 : Number(values['connect-timeout']);
    if (!(timeout > 0)) throw usageError('--connect-timeout must be a positive number of seconds');
    const logger: TraceLogger | undefined = values.trace ? (e) => io.stderr.write(`trace: ${formatTrace(e)}\n`) : undefined;

    signer = await buildSigner(values, io);
    const chosen = algorithms ?? [signer.chain.algorithms()[0]?.name ?? ''];
    if (!chosen[0]) {
      throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, `no default algorithm fits the key (${signer.chain.leaf.subject}); choose one with --algorithm (e.g. x509v3-ssh-rsa for RSA < 2048 bits)`);
    }
    const knownHosts = values['known-hosts'] ?? join(homedir(), '.ssh', 'known_hosts');
    return await session({ io, host, port, username, command, signer, algorithms: chosen, logger, knownHosts, mode, timeoutMs: timeout * 1000 });
  } catch (e) {
    if (e instanceof SshX509Error) {
      say(e.message);
      return e.code === ErrorCodes.USAGE ? 2 : 255;
    }
    say((e as Error).message ?? String(e));
    return 255;
  } finally {
    await signer?.close?.();
  }
};

interface SessionOptions {
  io: CliIo;
  host: string;
  port: number;
  username: string;
  command: string[];
  signer: Signer;
  algorithms: string[];
  logger?: TraceLogger;
  knownHosts: string;
  mode: StrictHostKeyChecking;
  timeoutMs: number;
}

async function session(o: SessionOptions): Promise<number> {
  const { Client } = await import('ssh2');
  const client = new Client();
  const auth = x509AuthMethod(o.username, { signer: o.signer, algorithms: o.algorithms, logger: o.logger });
  let hostProblem: string | undefined;
  let authenticated = false;

  return new Promise<number>((resolve) => {
    let settled = false;
    const finish = (code: number, line?: string) => {
      if (settled) return;
      settled = true;
      if (line) o.io.stderr.write(`ssh-x509: ${line}\n`);
      client.end();
      resolve(code);
    };

    client.on('ready', () => {
      authenticated = true;
      emitTrace(o.logger, 'info', 'authenticated', { user: o.username, host: o.host, port: o.port });
      const onStream = (err: Error | undefined, stream: import('ssh2').ClientChannel) => {
        if (err) return finish(255, `cannot start the remote ${o.command.length ? 'command' : 'shell'}: ${err.message}`);
        let status = 255;
        stream.on('exit', (code: number | null) => {
          if (typeof code === 'number') status = code;
        });
        stream.on('close', () => finish(status));
        stream.pipe(o.io.stdout, { end: false });
        stream.stderr.pipe(o.io.stderr, { end: false });
        const stdin = o.io.stdin;
        if (o.command.length === 0 && stdin.isTTY && stdin.setRawMode) stdin.setRawMode(true);
        if (!stdin.isTTY || o.command.length === 0) stdin.pipe(stream);
      };
      if (o.command.length) client.exec(o.command.join(' '), onStream);
      else client.shell(o.io.stdin.isTTY ? { term: o.io.env.TERM ?? 'xterm' } : false, onStream);
    });
    client.on('error', (err: Error & { level?: string }) => {
      if (hostProblem) return finish(255, `host key verification failed: ${hostProblem}`);
      if (!authenticated && err.level === 'client-authentication') {
        return finish(255, `Permission denied (publickey): ${o.username}@${o.host} refused every certificate offered (${o.signer.chain.leaf.subject}, ${o.algorithms.join(', ')})`);
      }
      finish(255, `${o.host} port ${o.port}: ${err.message}`);
    });
    client.on('close', () => finish(255, authenticated ? undefined : `connection to ${o.host} port ${o.port} closed`));

    client.connect({
      host: o.host,
      port: o.port,
      username: o.username,
      readyTimeout: o.timeoutMs,
      authHandler: [auth],
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        checkHostKey(o.knownHosts, o.host, o.port, key, o.mode).then(
          (d) => {
            emitTrace(o.logger, d.accepted ? 'info' : 'error', d.message, { knownHosts: o.knownHosts });
            if (!d.accepted) hostProblem = d.message;
            else if (d.status === 'added' || d.status === 'changed') o.io.stderr.write(`ssh-x509: warning: ${d.message}\n`);
            verify(d.accepted);
          },
          (e: Error) => {
            hostProblem = e.message;
            verify(false);
          },
        );
      },
      debug: o.logger
        ? (msg: string) => {
            if (/USERAUTH_(FAILURE|SUCCESS|PK_OK)|Agent: |auth failed/.test(msg)) emitTrace(o.logger, 'debug', `ssh2: ${msg}`);
          }
        : undefined,
    } as import('ssh2').ConnectConfig);
  });
}
