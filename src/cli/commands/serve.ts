/**
 * `ssh-x509 serve`: an SSH server (ssh2) that authenticates users with the
 * RFC 6187 verifier and answers an exec request with one line saying who
 * logged in and how. A test and demonstration server, not a shell.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createPublicKey, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import { x509Authentication, type Ssh2AuthContext } from '../../adapters/ssh2/server.js';
import { parseMaxStartups, type ServerLimits } from '../../adapters/ssh2/bridge/limits.js';
import { plainHostKey, x509Server, type Ssh2HostKeyEntry, type X509HostKey } from '../../adapters/ssh2/host-keys.js';
import { certificatePublicKey } from '../../certs/key.js';
import { readCertificateFile, readInputFile } from '../../certs/load.js';
import { HOST_ROLES } from '../../keys/content.js';
import { readPrivateKey } from '../../keys/private-key.js';
import { SoftwareSigner } from '../../signers/software.js';
import type { Signer } from '../../signers/signer.js';
import { formatTrace } from '../../adapters/trace.js';
import { USERNAME_RULES, type UsernameRule } from '../../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { parseAuthorizedSubjectsFile } from '../../verify/binding.js';
import type { RevocationMode } from '../../verify/revocation/checker.js';
import { X509Verifier, type VerifyResult } from '../../verify/verifier.js';
import { OcspStapler, type StapledResponses } from '../../verify/revocation/stapler.js';
import type { CliIo } from '../io.js';
import { defineCommand, EXIT_FAILURE, exitStatusHelp, usageError } from '../command.js';

const USAGE = `usage: ssh-x509 serve --listen <addr:port> --host-key <file> [--host-key ...] --trust <pem> [--trust ...]
       [--host-cert <chain.pem> [--host-ocsp <der>] [--host-ocsp-fetch]] [--passphrase-env <VAR>]
       [--pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--host-intermediates <pem>]]
       [--intermediates <pem>] [--map upn|upn-local|cn|email] [--authorized-subjects <file>]
       [--revocation off|prefer|require] [--crl <file>] [--eku-compat] [--allow-sha1]
       [--login-grace-time <s>] [--max-auth-tries <n>] [--max-startups <start:rate:full>]
       [--per-source-max-startups <n|none>] [--max-sessions <n>] [--shutdown-grace <s>]

An SSH server (ssh2) that verifies X.509 logins (RFC 6187) and answers an exec request
with one line saying who logged in and how: a test and demonstration server, not a shell.
Runs until SIGTERM or SIGINT; then it stops accepting, closes unauthenticated
connections at once, lets authenticated ones finish their sessions for up to
--shutdown-grace seconds, and exits 0 (a second signal stops at once).

Limits, as OpenSSH's sshd and with its defaults; each refusal is logged with the
client's address: a connection not authenticated within --login-grace-time is
closed; one that fails --max-auth-tries authentications is disconnected ("Too many
authentication failures"); from <start> unauthenticated connections on, a new one
is dropped with probability <rate>% rising to 100% at <full> (--max-startups);
--per-source-max-startups caps the unauthenticated connections of one address;
--max-sessions caps the open sessions of one connection.

Revocation: with --revocation prefer (the default), a login whose certificate no
source answers for (no stapled OCSP response, OCSP responder down or unreachable,
no CRL) is let in unchecked: while a responder is down, a revoked certificate can
log in. Each such login is logged as a warning with the certificate's subject and
serial number. Use --revocation require to refuse those logins instead.

Host keys: each --host-key (PKCS#8, PKCS#1, SEC1 or OpenSSH format) is a plain
host key, unless a --host-cert chain's leaf certifies it: then it is an X.509
host key (x509v3-* host key algorithms, RFC 6187), offered first. With
--pkcs11-module the X.509 host key is on a token (certificate from the token,
intermediates from --host-intermediates). Each --host-ocsp (a DER OCSP
response) is stapled into the host key blob of the certificate it answers
for. With --host-ocsp-fetch, the host certificates without such a file get
their response from the OCSP responder their authorityInfoAccess names,
fetched at start and refreshed in the background before its nextUpdate, so
that clients without network access can check revocation. --allow-sha1 also
offers x509v3-ssh-rsa.

  --listen <addr:port>         address and port to listen on ([::1]:2222; port 0 picks a free one,
                               printed as "listening on <addr>:<port>")
  --host-key <file>            a private host key (repeatable)
  --host-cert <chain.pem>      a host certificate chain whose leaf certifies one --host-key (repeatable)
  --host-ocsp <der>            a DER OCSP response stapled for the host certificate it answers for (repeatable)
  --host-ocsp-fetch            staple the host certificates' OCSP responses fetched from their AIA responders
  --passphrase-env <VAR>       the passphrase of the host keys, from this environment variable
  -I, --pkcs11-module <path>   an X.509 host key on a PKCS#11 token
  --pkcs11-uri <uri>           RFC 7512 URI choosing the token's host key and certificate
  --pin-env <VAR>              the token's PIN, from this environment variable
  --host-intermediates <pem>   intermediate certificates for the token's host certificate
  --trust <pem>                trust anchor (root CA) certificates for user logins, PEM (repeatable; at least one)
  --intermediates <pem>        intermediate CA certificates that clients may leave out (repeatable)
  --map <rule>                 upn | upn-local | cn | email: the account must equal this field
                               of the certificate (repeatable: any rule may match)
  --authorized-subjects <file> "<account> <PKIX-SSH entry>" per line
                               ("alice x509v3-sign-rsa Subject: O=Org,CN=alice", as export-pub --format dn
                               prints the entry): the subjects or certificates each account admits
  --revocation <mode>          off | prefer (use what answers, accept when nothing does: a revoked
                               certificate logs in while its responder is down) |
                               require (refuse when nothing answers); default prefer
  --crl <file>                 a CRL, PEM or DER (repeatable)
  --eku-compat                 also accept leaves whose extendedKeyUsage has only clientAuth or
                               Microsoft smartcardLogon (RFC 6187 asks for secureShellClient)
  --allow-sha1                 also accept the SHA-1 algorithms (x509v3-ssh-rsa, x509v3-ssh-dss, and
                               PKIX-SSH's x509v3-sign-rsa, whose blob is the leaf alone: give
                               --intermediates) and SHA-1 signatures on certificates, OCSP answers and CRLs
  --login-grace-time <s>       seconds to authenticate, from connect (LoginGraceTime); 0: no limit;
                               default 120
  --max-auth-tries <n>         failed authentications before disconnecting (MaxAuthTries); default 6
  --max-startups <s:r:f>       unauthenticated connections: random early drop from <s> at <r>%,
                               all refused at <f> (MaxStartups); one number N is N:100:N;
                               default 10:30:100
  --per-source-max-startups <n|none>
                               unauthenticated connections per source address
                               (PerSourceMaxStartups); default none
  --max-sessions <n>           open sessions per connection (MaxSessions); default 10
  --shutdown-grace <s>         seconds authenticated connections get to finish at SIGTERM/SIGINT;
                               default 10
  -h, --help                   this help

${exitStatusHelp(EXIT_FAILURE, 'stopped by SIGTERM or SIGINT')}`;

/** A whole number of at least `min` for `flag`, or a usage error saying what was given. */
function wholeNumber(flag: string, text: string, min: number): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min) usage(`${flag} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Seconds (a number, 0 or more, decimals allowed) for `flag`, or a usage error. */
function secondsOption(flag: string, text: string): number {
  if (!/^\d{1,9}(\.\d+)?$/.test(text)) usage(`${flag} must be a number of seconds (0 or more), got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The limits options of serve, checked; a usage error names the flag and what is wrong. */
function limitsOptions(v: Partial<Record<'login-grace-time' | 'max-auth-tries' | 'max-startups' | 'per-source-max-startups' | 'max-sessions' | 'shutdown-grace', string>>): ServerLimits {
  const out: { -readonly [K in keyof ServerLimits]: ServerLimits[K] } = {};
  if (v['login-grace-time'] !== undefined) out.loginGraceTime = secondsOption('--login-grace-time', v['login-grace-time']);
  if (v['max-auth-tries'] !== undefined) out.maxAuthTries = wholeNumber('--max-auth-tries', v['max-auth-tries'], 1);
  if (v['max-sessions'] !== undefined) out.maxSessions = wholeNumber('--max-sessions', v['max-sessions'], 0);
  if (v['shutdown-grace'] !== undefined) out.shutdownGrace = secondsOption('--shutdown-grace', v['shutdown-grace']);
  const per = v['per-source-max-startups'];
  if (per !== undefined) out.perSourceMaxStartups = per === 'none' ? 'none' : wholeNumber('--per-source-max-startups', per, 1);
  if (v['max-startups'] !== undefined) {
    try {
      out.maxStartups = parseMaxStartups(v['max-startups'], '--max-startups');
    } catch (e) {
      usage((e as Error).message);
    }
  }
  return out;
}

function usage(msg: string): never {
  throw usageError(msg);
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  if (!m) usage(`--listen must be <addr:port>, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) usage(`port ${port} out of range`);
  return { host: m[1] ?? m[2]!, port };
}

/** The exec answer line of `serve`. */
export function authenticatedLine(r: VerifyResult): string {
  return `authenticated ${r.account ?? r.username} via ${r.algorithm} subject=${r.subject ?? ''} sha256=${r.fingerprint ?? ''} revocation=${r.revocationSource}\n`;
}

type ServeValues = {
  'host-key'?: string[];
  'host-cert'?: string[];
  'host-ocsp'?: string[];
  'passphrase-env'?: string;
  'pkcs11-module'?: string;
  'pkcs11-uri'?: string;
  'pin-env'?: string;
  'host-intermediates'?: string;
};

/**
 * The host keys the options name: each --host-key that a --host-cert's leaf
 * certifies becomes an X.509 host key, the others stay plain; a token host
 * key comes from --pkcs11-module. Every error names the file.
 */
async function loadHostKeys(v: ServeValues, io: CliIo, allowSha1: boolean): Promise<{ plain: Ssh2HostKeyEntry[]; x509: X509HostKey[] }> {
  const passphrase = v['passphrase-env'] !== undefined ? io.env[v['passphrase-env']] : undefined;
  if (v['passphrase-env'] !== undefined && passphrase === undefined) usage(`--passphrase-env names ${v['passphrase-env']}, which is not set`);
  const files = v['host-key'] ?? [];
  const keys = await Promise.all(files.map(async (f) => ({ file: f, key: readPrivateKey(await readInputFile(f, 'host key file'), `host key file ${f}`, passphrase !== undefined ? { passphrase } : {}, HOST_ROLES) })));
  const ocspFiles = v['host-ocsp'] ?? [];
  const ocsp = await Promise.all(ocspFiles.map(async (f) => readOcspResponse(await readInputFile(f, 'OCSP response file'), f)));
  const stapled = new Set<number>();
  /** The --host-ocsp responses that answer for this leaf (matched by serial number). */
  const ocspFor = (signer: Signer) => {
    const serial = signer.chain.leaf.serialNumber.toLowerCase().replace(/^(00)+/, '');
    const i = ocsp.findIndex((o) => o.serials.includes(serial));
    if (i < 0) return {};
    stapled.add(i);
    return { ocspResponses: [ocsp[i]!.der] };
  };
  const used = new Set<number>();
  const x509: X509HostKey[] = [];
  const algorithms = (signer: Signer) => signer.chain.algorithms({ allowSha1 }).map((a) => a.name);
  for (const certFile of v['host-cert'] ?? []) {
    const certificates = await readCertificateFile(certFile);
    const at = keys.findIndex(({ key }) => certificates.some((c) => samePublicKey(certificatePublicKey(c), key)));
    if (at < 0) throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, `--host-cert ${certFile}: no --host-key holds the private key of ${certificates.length > 1 ? 'any of its certificates' : 'its certificate'}`);
    used.add(at);
    const signer = SoftwareSigner.create({ certificates, privateKey: keys[at]!.key, label: `host key ${keys[at]!.file}` });
    x509.push({ signer, algorithms: algorithms(signer), ...ocspFor(signer) });
  }
  if (v['pkcs11-module']) {
    const { openPkcs11Signer, envPin } = await import('../../pkcs11.js');
    if (!v['pin-env']) usage('a host key on a token needs --pin-env (serve asks no PIN on a terminal)');
    const signer = await openPkcs11Signer({
      module: v['pkcs11-module'],
      ...(v['pkcs11-uri'] ? { uri: v['pkcs11-uri'] } : {}),
      ...(v['host-intermediates'] ? { intermediates: v['host-intermediates'] } : {}),
      pin: envPin(v['pin-env'], io.env),
    });
    x509.push({ signer, algorithms: algorithms(signer), ...ocspFor(signer) });
  }
  const unused = ocspFiles.filter((_, i) => !stapled.has(i));
  if (unused.length) usage(`--host-ocsp ${unused.join(', ')}: answers for no host certificate's leaf`);
  const plain = keys.filter((_, i) => !used.has(i)).map(({ file, key }) => plainHostKey(key, file));
  return { plain, x509 };
}

/** A --host-ocsp file: its bytes, once they parse as a DER OCSPResponse (RFC 6960 section 4.2.1), and the serial numbers it answers for. */
function readOcspResponse(der: Buffer, file: string): { der: Buffer; serials: string[] } {
  try {
    const response = pkijs.OCSPResponse.fromBER(der);
    const bytes = response.responseBytes?.response.valueBlock.valueHexView;
    if (!bytes) throw new Error('no response bytes (not a successful response)');
    const basic = pkijs.BasicOCSPResponse.fromBER(bytes);
    const serials = basic.tbsResponseData.responses.map((r) => Buffer.from(r.certID.serialNumber.valueBlock.valueHexView).toString('hex').replace(/^(00)+/, ''));
    return { der, serials };
  } catch (e) {
    throw new SshX509Error(ErrorCodes.BLOB_INVALID, `--host-ocsp ${file} is not a successful DER OCSP response (as \`openssl ocsp -respout\` writes one)`, { cause: e });
  }
}

/**
 * --host-ocsp-fetch: each X.509 host key without a --host-ocsp file staples
 * the response its responder gives, kept fresh in the background (the
 * library's OcspStapler, the same code a client uses for its own stapling).
 */
async function fetchHostOcsp(keys: X509HostKey[], io: CliIo, allowSha1: boolean): Promise<StapledResponses[]> {
  const write = (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => io.stderr.write(formatTrace({ level, message, fields }) + '\n');
  const stapler = new OcspStapler({
    allowSha1,
    onFetched: (subject, answer, url) => write('info', 'fetched OCSP response for a host certificate', { subject, status: answer.status, url }),
    onError: (subject, e) => write('warn', `OCSP fetch for a host certificate failed: ${e.message}`, { subject }),
  });
  const out: StapledResponses[] = [];
  for (const [i, k] of keys.entries()) {
    if (k.ocspResponses !== undefined) continue;
    const fresh = await stapler.keepFresh(k.signer.chain.der);
    out.push(fresh);
    keys[i] = { ...k, ocspResponses: () => fresh.current() };
  }
  return out;
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  const spki = (k: KeyObject) => (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' });
  return spki(a).equals(spki(b));
}

/** `ssh-x509 serve ...`: runs until SIGTERM or SIGINT, then returns 0; 2 on a usage error, 1 on any other error. */
export const runServe = defineCommand({ name: 'serve', failureStatus: EXIT_FAILURE, run: async (argv, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        'host-key': { type: 'string', multiple: true },
        'host-cert': { type: 'string', multiple: true },
        'host-ocsp': { type: 'string', multiple: true },
        'host-ocsp-fetch': { type: 'boolean' },
        'passphrase-env': { type: 'string' },
        'pkcs11-module': { type: 'string', short: 'I' },
        'pkcs11-uri': { type: 'string' },
        'pin-env': { type: 'string' },
        'host-intermediates': { type: 'string' },
        trust: { type: 'string', multiple: true },
        intermediates: { type: 'string', multiple: true },
        map: { type: 'string', multiple: true },
        'authorized-subjects': { type: 'string' },
        revocation: { type: 'string' },
        crl: { type: 'string', multiple: true },
        'eku-compat': { type: 'boolean' },
        'allow-sha1': { type: 'boolean' },
        'login-grace-time': { type: 'string' },
        'max-auth-tries': { type: 'string' },
        'max-startups': { type: 'string' },
        'per-source-max-startups': { type: 'string' },
        'max-sessions': { type: 'string' },
        'shutdown-grace': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (!values.listen) usage('--listen is required');
  if (!values['host-key']?.length && !values['pkcs11-module']) usage('--host-key is required (or a host key on a token with --pkcs11-module)');
  if (!values.trust?.length) usage('at least one --trust is required');
  const { host, port } = parseListen(values.listen);
  const maps = (values.map ?? []).map((m) => {
    if (!(USERNAME_RULES as readonly string[]).includes(m)) usage(`--map must be one of ${USERNAME_RULES.join(', ')}`);
    return m as UsernameRule;
  });
  const mode = (values.revocation ?? 'prefer') as RevocationMode;
  if (!['off', 'prefer', 'require'].includes(mode)) usage('--revocation must be off, prefer or require');
  const authorizedPath = values['authorized-subjects'];
  const authorized = authorizedPath ? parseAuthorizedSubjectsFile(await readFile(authorizedPath, 'utf8'), authorizedPath) : undefined;
  if (maps.length === 0 && !authorized) usage('give --map and/or --authorized-subjects: without a binding nobody can log in');
  const limits = limitsOptions(values);

  const verifier = await X509Verifier.create({
    trustAnchors: values.trust,
    intermediates: values.intermediates ?? [],
    account: { ...(maps.length ? { map: maps } : {}), ...(authorized ? { authorized } : {}) },
    revocation: { mode, crls: values.crl ?? [] },
    ...(values['eku-compat'] ? { ekuCompat: ['clientAuth', 'smartcardLogon'] as const } : {}),
    allowSha1Algorithms: values['allow-sha1'] ?? false,
  });
  const hostKeys = await loadHostKeys(values, io, values['allow-sha1'] ?? false);
  const stapling = values['host-ocsp-fetch'] ? await fetchHostOcsp(hostKeys.x509, io, values['allow-sha1'] ?? false) : [];

  // ssh2 is a peer dependency, loaded only by the command that needs it.
  const require = createRequire(import.meta.url);
  const ssh2 = require('ssh2') as typeof import('ssh2');
  const logger = { format: 'text' as const, write: (line: string) => io.stderr.write(line + '\n') };

  const server = new ssh2.Server({ hostKeys: hostKeys.plain }, (client) => {
    let accepted: VerifyResult | undefined;
    client.on('authentication', x509Authentication(verifier, { logger, onAccept: (r: VerifyResult, _ctx: Ssh2AuthContext) => (accepted = r) }));
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.write(accepted ? authenticatedLine(accepted) : 'not authenticated\n');
          stream.exit(accepted ? 0 : 1);
          stream.end();
        });
        session.on('pty', (_a, reject) => reject?.());
        session.on('shell', (_a, reject) => reject());
      });
    });
    client.on('error', (e) => logger.write(formatTrace({ level: 'warn', message: `client error: ${e.message}`, fields: {} })));
  });

  // Our server: X.509 host keys, server-sig-algs naming what the verifier accepts, sshd's limits, a graceful close().
  const limited = x509Server(server, { hostKeys: hostKeys.x509, verifier, logger, ...limits });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  io.stdout.write(`listening on ${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}\n`);
  for (const k of hostKeys.x509) {
    io.stderr.write(formatTrace({ level: 'info', message: 'X.509 host key', fields: { subject: k.signer.chain.leaf.subject, algorithms: k.algorithms?.join(',') ?? '', ocsp: typeof k.ocspResponses === 'function' ? 'fetched' : k.ocspResponses?.length ? 'stapled' : 'none' } }) + '\n');
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      // A second signal: no more grace (close() again ends every connection at once).
      io.stderr.write(formatTrace({ level: 'info', message: stopping ? `${signal} again: closing every connection now` : `${signal}: shutting down`, fields: {} }) + '\n');
      if (stopping) return void limited.close();
      stopping = true;
      for (const s of stapling) s.stop();
      void limited.close().then(async () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        await Promise.all(hostKeys.x509.map((k) => k.signer.close?.()));
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}});
