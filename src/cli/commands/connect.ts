/**
 * `ssh-x509 connect [options] [<user>@]<host> [--] [command...]`: log in with
 * an X.509 certificate (from files or a PKCS#11 token) and run a command,
 * behaving like `ssh` where the two overlap (exit status, stdout/stderr
 * pass-through, 255 on failure).
 *
 * @module
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { SessionSettings } from '../../adapters/ssh2/session.js';
import { emitTrace, formatTrace, type TraceEvent, type TraceLogger } from '../../adapters/trace.js';
import { getAlgorithm, RAW_SIGNATURE_ALGORITHMS } from '../../algorithms.js';
import type { UsernameRule } from '../../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import type { Signer } from '../../signers/signer.js';
import { checkHostKey, type StrictHostKeyChecking } from '../known-hosts.js';
import type { CliIo } from '../io.js';
import type { Pkcs11CertificateInfo } from '../../pkcs11.js';
import { splitAtDestination } from '../args.js';
import { defineCommand, EXIT_CONNECT_FAILURE, EXIT_USAGE, parseOptions, usageError } from '../command.js';
import { CONNECT_OPTIONS, type ConnectOptionValues } from '../connect-options.js';

export const CONNECT_USAGE = `usage: ssh-x509 connect [options] [<user>@]<host> [--] [command...]

certificate and key (files):
  --cert <file>                        certificate chain, PEM or DER (repeatable)
  --key <file>                         private key (PEM PKCS#8, PKCS#1, SEC1, encrypted PKCS#8)
  --passphrase-env <VAR>               read the key's passphrase from this environment variable
certificate and key (smartcard / HSM):
  --pkcs11-module <path>               PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so
  --pkcs11-uri <uri>                   RFC 7512 pkcs11: URI choosing the token and/or certificate
  --cert-fingerprint <fp>              the exact certificate (SHA256:..., SHA-256 hex or SHA-1 thumbprint)
  --pin-env <VAR>                      read the PIN from this variable (default: ask on the terminal)
  --intermediates <file>               intermediate certificates not on the token
  --disconnect-on-card-removal         end the connection when the card is pulled
identity and algorithms:
  --username-from-cert <rule>          upn | upn-local | cn | email; then <user>@ may be omitted
  --algorithm <name>                   x509v3 algorithm to offer (repeatable; default: the best for the key;
                                       SHA-1 x509v3-ssh-rsa and legacy x509v3-sign-rsa only when named)
  --raw-key                            use the certificate's key as a plain SSH key (servers without RFC 6187);
                                       --algorithm then names plain ones (rsa-sha2-512, ssh-rsa, ...)
  --max-attempts <n>                   offer at most n certificates (servers disconnect after a few failures)
connection:
  -p, --port <n>                       server port (default 22)
  --known-hosts <file>                 OpenSSH known_hosts file (default ~/.ssh/known_hosts)
  --strict-host-key-checking <mode>    yes | accept-new | no (default yes)
  --connect-timeout <seconds>          give up connecting after this long (default 20)
  --config <file>                      defaults and per-host settings (JSON); options given here win
  --trace                              print what is tried, with fingerprints, and the server's answers
  -h, --help                           this help

exit status: the remote command's own status; ${EXIT_USAGE} usage error (unknown option, missing or bad value);
${EXIT_CONNECT_FAILURE} any other failure (connection, host key, authentication), as ssh does
`;

/** The parsed destination `[user@]host`. */
function parseDestination(dest: string): { username?: string; host: string } {
  const at = dest.lastIndexOf('@');
  if (at === 0 || at === dest.length - 1) throw usageError(`destination must be [<user>@]<host>, got ${JSON.stringify(dest)}`);
  let host = at < 0 ? dest : dest.slice(at + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return at < 0 ? { host } : { username: dest.slice(0, at), host };
}

function positiveInt(v: string | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n < 1 || n > max) throw usageError(`invalid ${what} ${JSON.stringify(v)}`);
  return n;
}

function envValue(io: CliIo, option: string, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const v = io.env[name];
  if (v === undefined) throw usageError(`--${option} ${name}: the variable is not set`);
  return v;
}

/** The signers the options name: one from files, or one or more from a token. */
async function buildSigners(v: ConnectOptionValues, io: CliIo, logger: TraceLogger | undefined, maxAttempts: number | undefined): Promise<Signer[]> {
  if (v['pkcs11-module']) {
    if (v.cert?.length || v.key) throw usageError('give either --cert/--key or --pkcs11-module, not both');
    const { openPkcs11Candidates, envPin, ttyPin } = await import('../../pkcs11.js');
    const pin = v['pin-env'] ? envPin(v['pin-env'], io.env) : ttyPin(io.stdin as never, io.stderr);
    return openPkcs11Candidates({
      module: v['pkcs11-module'],
      uri: v['pkcs11-uri'],
      fingerprint: v['cert-fingerprint'],
      intermediates: v.intermediates,
      pin,
      maxCandidates: maxAttempts,
      // The PIN is asked only once the server has accepted a certificate (PK_OK).
      loginOnFirstSign: true,
      onCandidate: (c: Pkcs11CertificateInfo) => emitTrace(logger, 'info', 'token certificate candidate', { token: c.tokenLabel, id: c.id, label: c.label, subject: c.subject, sha256: c.sha256, sha1: c.sha1 }),
    });
  }
  if (!v.cert?.length || !v.key) throw usageError('give the certificate chain with --cert and the private key with --key, or a token with --pkcs11-module');
  const passphrase = envValue(io, 'passphrase-env', v['passphrase-env']);
  const { SoftwareSigner } = await import('../../signers/software.js');
  const signer = await SoftwareSigner.fromFiles({ certificateFile: v.cert, keyFile: v.key, passphrase });
  if (v['cert-fingerprint']) {
    const { matchesFingerprint } = await import('../../certs/fingerprint.js');
    if (!matchesFingerprint(signer.chain.leaf, v['cert-fingerprint'])) {
      throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, `the certificate ${signer.chain.leaf.subject} (${signer.chain.fingerprints.sha256}) does not have fingerprint ${v['cert-fingerprint']}`);
    }
  }
  return [signer];
}

/** Runs `connect`; resolves to the exit status (the remote one; 2 on a usage error, 255 on any other error). */
export const runConnect = defineCommand({ name: 'connect', prefix: 'ssh-x509: ', failureStatus: EXIT_CONNECT_FAILURE, run: async (argv, io) => {
  let signers: Signer[] = [];
  try {
    const [opts, rest] = splitAtDestination(argv, CONNECT_OPTIONS);
    const { values: given } = parseOptions(opts, CONNECT_OPTIONS);
    if (given.help) {
      io.stdout.write(CONNECT_USAGE);
      return 0;
    }
    if (rest.length === 0) throw usageError('missing destination [<user>@]<host>');
    const dest = parseDestination(rest[0]!);
    const command = rest.slice(1);
    if (command[0] === '--') command.shift();

    // Defaults from the config file (its "default" section, then the host's), command options on top.
    // The library is loaded only now: --help and option errors need none of it.
    const { loadConfig } = await import('../config.js');
    const { USERNAME_RULES } = await import('../../certs/identity.js');
    const v: ConnectOptionValues = given.config ? { ...(await loadConfig(given.config, dest.host)), ...definedOnly(given) } : (given as ConnectOptionValues);

    const port = positiveInt(v.port === undefined ? undefined : String(v.port), 'port', 65535) ?? 22;
    const mode = (v['strict-host-key-checking'] ?? 'yes') as StrictHostKeyChecking;
    if (!['yes', 'accept-new', 'no'].includes(mode)) throw usageError(`--strict-host-key-checking must be yes, accept-new or no, got ${JSON.stringify(mode)}`);
    const rule = v['username-from-cert'] as UsernameRule | undefined;
    if (rule !== undefined && !(USERNAME_RULES as readonly string[]).includes(rule as string)) {
      throw usageError(`--username-from-cert must be one of ${USERNAME_RULES.join(', ')}, got ${JSON.stringify(rule)}`);
    }
    if (!dest.username && !rule) throw usageError('no user: write <user>@<host>, or take it from the certificate with --username-from-cert');
    // x509v3 names, or with --raw-key the plain ones (rsa-sha2-512, ssh-rsa, ecdsa-sha2-nistp256, ...).
    const algorithms = v.algorithm?.map((a) => {
      if (!v['raw-key']) return getAlgorithm(a).name;
      if (!RAW_SIGNATURE_ALGORITHMS.some((r) => r.name === a)) {
        throw usageError(`with --raw-key, --algorithm takes a plain SSH algorithm (${RAW_SIGNATURE_ALGORITHMS.map((r) => r.name).join(', ')}), got ${JSON.stringify(a)}`);
      }
      return a;
    });
    const maxAttempts = positiveInt(v['max-attempts'] === undefined ? undefined : String(v['max-attempts']), 'max-attempts');
    const timeout = v['connect-timeout'] === undefined ? 20 : Number(v['connect-timeout']);
    if (!(timeout > 0)) throw usageError('--connect-timeout must be a positive number of seconds');
    const logger: TraceLogger | undefined = v.trace ? (e: TraceEvent) => void io.stderr.write(`trace: ${formatTrace(e)}\n`) : undefined;

    signers = await buildSigners(v, io, logger, maxAttempts);
    const chosen = algorithms ?? (v['raw-key'] ? undefined : defaultAlgorithms(signers));
    const settings: SessionSettings = {
      signer: signers,
      algorithms: chosen,
      rawKey: v['raw-key'],
      maxAttempts,
      logger,
      username: dest.username,
      usernameFromCertificate: rule,
      disconnectOnCardRemoval: v['disconnect-on-card-removal'],
    };
    const knownHosts = v['known-hosts'] ?? join(homedir(), '.ssh', 'known_hosts');
    return await session({ io, host: dest.host, port, command, settings, knownHosts, mode, timeoutMs: timeout * 1000 });
  } finally {
    await Promise.all(signers.map((s) => s.close?.().catch(() => undefined)));
  }
}});

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The best algorithm for each signer's key: ECDSA by curve, x509v3-rsa2048-sha256 for RSA >= 2048, Ed25519. */
function defaultAlgorithms(signers: readonly Signer[]): string[] {
  const names = new Set<string>();
  for (const s of signers) {
    const best = s.chain.algorithms()[0];
    if (!best) {
      throw new SshX509Error(
        ErrorCodes.KEY_ALGORITHM_MISMATCH,
        `no default algorithm fits the key of ${s.chain.leaf.subject}; choose one with --algorithm (x509v3-ssh-rsa for RSA below 2048 bits)`,
      );
    }
    names.add(best.name);
  }
  return [...names];
}

interface SessionOptions {
  io: CliIo;
  host: string;
  port: number;
  command: string[];
  settings: SessionSettings;
  knownHosts: string;
  mode: StrictHostKeyChecking;
  timeoutMs: number;
}

async function session(o: SessionOptions): Promise<number> {
  const { Client } = await import('ssh2');
  const { applyCardRemovalPolicy, resolveUsername, x509ConnectConfig } = await import('../../adapters/ssh2/session.js');
  const client = new Client();
  const { settings } = o;
  const logger = settings.logger;
  const username = resolveUsername(settings);
  const auth = x509ConnectConfig({ ...settings, username });
  const signers = settings.signer as Signer[];
  let hostProblem: string | undefined;
  let authenticated = false;
  let cardRemoved = false;
  client.on('card-removed' as never, () => (cardRemoved = true));
  applyCardRemovalPolicy(client, settings);

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
      emitTrace(logger, 'info', 'authenticated', { user: username, host: o.host, port: o.port });
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
        const offered = signers.map((s) => `${s.chain.leaf.subject} [${s.chain.fingerprints.sha256}]`).join('; ');
        const capped = settings.maxAttempts !== undefined ? ` (at most ${settings.maxAttempts} attempt${settings.maxAttempts === 1 ? '' : 's'}, --max-attempts)` : '';
        return finish(255, `Permission denied (publickey): ${username}@${o.host} refused every certificate offered${capped}: ${offered}`);
      }
      finish(255, `${o.host} port ${o.port}: ${err.message}`);
    });
    client.on('close', () => {
      if (cardRemoved) return finish(255, 'connection closed: the smartcard was removed (--disconnect-on-card-removal)');
      finish(255, authenticated ? undefined : `connection to ${o.host} port ${o.port} closed`);
    });

    client.connect({
      host: o.host,
      port: o.port,
      readyTimeout: o.timeoutMs,
      ...auth,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        checkHostKey(o.knownHosts, o.host, o.port, key, o.mode).then(
          (d) => {
            emitTrace(logger, d.accepted ? 'info' : 'error', d.message, { knownHosts: o.knownHosts });
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
      debug: logger
        ? (msg: string) => {
            if (/USERAUTH_(FAILURE|SUCCESS|PK_OK)|Agent: |auth failed/.test(msg)) emitTrace(logger, 'debug', `ssh2: ${msg}`);
          }
        : undefined,
    } as import('ssh2').ConnectConfig);
  });
}
