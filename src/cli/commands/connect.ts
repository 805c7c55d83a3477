/**
 * `ssh-x509 connect [options] destination [options] [--] [command...]`: log
 * in with an X.509 certificate (from files or a PKCS#11 token) and run a
 * command, as OpenSSH's `ssh` does: its flags with their meanings, its
 * `ssh_config`, its exit status (the remote one, 255 on failure).
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SessionSettings } from '../../adapters/ssh2/session.js';
import { emitTrace, formatTrace, type TraceEvent, type TraceLogger } from '../../adapters/trace.js';
import { ALGORITHMS, getAlgorithm, RAW_SIGNATURE_ALGORITHMS } from '../../algorithms.js';
import type { UsernameRule } from '../../certs/identity.js';
import { chainWarnings } from '../../certs/validity.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { ttyPassphrase } from '../../signers/pkcs11/pin.js';
import type { Signer } from '../../signers/signer.js';
import type { PassphraseRequest } from '../../signers/software.js';
import type { StrictHostKeyChecking } from '../../verify/known-hosts.js';
import { isTerminal, type CliIo } from '../io.js';
import type { PinSource, Pkcs11CertificateInfo } from '../../pkcs11.js';
import { assembleAlgorithms } from '../algorithm-list.js';
import { splitSshArgv } from '../args.js';
import { defineCommand, EXIT_CONNECT_FAILURE, EXIT_USAGE, packageVersion, parseOptions, usageError } from '../command.js';
import { ALL_CONNECT_OPTIONS, CONNECT_OPTIONS, type ConnectOptionValues } from '../connect-options.js';
import { configFiles, expandPath, formatResolvedConfig, KEYWORD_NAMES, parseOptionArgument, resolveConfig, setFirst, SUPPORTED_KEYWORDS, type ResolvedConfig } from '../ssh-config.js';
import { parseForward } from '../forward.js';
import type { Hop, SessionPlan } from '../session.js';

export const CONNECT_USAGE = `usage: ssh-x509 connect [options] destination [options] [--] [command...]
       destination: [user@]host[:port is not taken; use -p] | ssh://[user@]host[:port]

Options may stand before and right after the destination, as with OpenSSH's ssh;
the first word after them starts the remote command; -- ends the options.

OpenSSH's flags (same meanings as in ssh(1)):
  -p <port>                            server port (default 22)
  -l <user>                            user name on the server (default: the local user, $USER, as ssh;
                                       with --username-from-cert: from the certificate)
                                       (-p, -l, -o Port/User and the destination's user and port: the first
                                       obtained in command-line order wins, as ssh -G shows: -l a b@h is a)
  -i <file>                            private key (repeatable); its certificate chain is read from the same
                                       file when it holds one (PKIX-SSH's key + chain file), else from
                                       CertificateFile / --cert, else from <file>-cert.pem beside it
  -F <file>                            ssh_config file instead of ~/.ssh/config and /etc/ssh/ssh_config
                                       (-F none: read none)
  -o <Keyword=value>                   an ssh_config keyword (repeatable; see the keywords below)
  -v, -vv, -vvv                        trace: what is tried, with fingerprints, and the server's answers;
                                       -vv adds debug events, -vvv ssh2's own protocol log
  -q                                   quiet: no warnings
  -t                                   a pseudo-terminal with the local window size, following resizes
                                       (-tt: even without a local terminal); escapes at a line start: ~. disconnect,
                                       ~? help, ~# open connections, ~C command line (-L/-R/-D, -KL/-KR/-KD),
                                       ~^Z suspend, ~~ a ~ (~& is not available)
  -T                                   no pseudo-terminal
  -N                                   no remote command (for forwarding) = SessionType none
  -s                                   the command names a subsystem (connect -s host sftp) = SessionType subsystem
  -n                                   standard input from /dev/null
  -J <[user@]host[:port],...>          jump hosts, each a login of its own, through forwarded channels, with
                                       the hop's own IdentityFile/CertificateFile/PKCS11Provider from its Host
                                       section (a CertificateFile alone with the command's key), else the
                                       command's identities; the PIN asked once per token
  -L <[bind:]port:host:hostport>       local forward (loopback unless a bind address or GatewayPorts yes)
  -R <[bind:]port:host:hostport>       remote forward
  -D <[bind:]port>                     dynamic forward: a SOCKS5 proxy on the local port
  -g                                   local forwards listen on every address = GatewayPorts yes
  -A                                   agent forwarding: the remote host may sign with your key (ssh-add -L lists
                                       it; ssh from there logs in with it); the key and PIN stay here
  -C                                   compression (zlib)
  -E <file>                            append the trace to this file instead of standard error
  -e <char>                            the escape character instead of ~ (none: no escape) = EscapeChar
  -I <module>                          PKCS#11 module of the smartcard = PKCS11Provider, --pkcs11-module
  -V                                   print the version and exit
  -G                                   print the resolved configuration (keyword value lines) and exit

certificate and key (files):
  --cert <file>                        certificate chain, PEM or DER (repeatable) = CertificateFile
  --key <file>                         private key (PEM PKCS#8, PKCS#1, SEC1, OpenSSH; encrypted or not) = -i
  --passphrase-env <VAR>               read the key's passphrase from this variable (default: ask on the terminal)
certificate and key (smartcard / HSM):
  --pkcs11-module <path>               PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so = PKCS11Provider
  --pkcs11-uri <uri>                   RFC 7512 pkcs11: URI choosing the token and/or certificate
  --cert-fingerprint <fp>              the exact certificate (SHA256:..., SHA-256 hex or SHA-1 thumbprint)
  --pin-env <VAR>                      read the PIN from this variable (default: ask on the terminal, once)
  --intermediates <file>               intermediate certificates not on the token
  --disconnect-on-card-removal         end the connection when the card is pulled
identity and algorithms:
  --username-from-cert <rule>          upn | upn-local | cn | email: the user name from the certificate
                                       when no user@, -l or User gives one
  --algorithm <name>                   x509v3 algorithm to offer (repeatable; default: the best for the key;
                                       SHA-1 x509v3-ssh-rsa and legacy x509v3-sign-rsa only when named)
                                       = PubkeyAcceptedAlgorithms (+list, -list, ^list, patterns)
  --raw-key                            use the certificate's key as a plain SSH key (servers without RFC 6187);
                                       --algorithm then names plain ones (rsa-sha2-512, ssh-rsa, ...)
  --max-attempts <n>                   offer at most n certificates (servers disconnect after a few failures)
connection:
  --port <n>                           = -p
  --known-hosts <file>                 OpenSSH known_hosts file (default ~/.ssh/known_hosts) = UserKnownHostsFile
  --strict-host-key-checking <mode>    yes | ask | accept-new | no (default: ask on a terminal, else yes) = StrictHostKeyChecking
  --host-trust <pem|dir>               trust X.509 host certificates chaining to these CAs (repeatable);
                                       offers the x509v3 host key algorithms first
                                       = CACertificateFile (file) / CACertificatePath (directory, <hash>.0 too)
  --host-key-algorithms <list>         host key algorithms to offer (+list, -list, ^list, * and ? patterns, as
                                       OpenSSH) = HostKeyAlgorithms
  --staple-ocsp                        fetch the certificate's OCSP response (AIA) and staple it into the blob
  --connect-timeout <seconds>          give up connecting after this long (default 20) = ConnectTimeout
  --config <file>                      JSON defaults and per-host settings with these long options' names
                                       (the library's SessionDefaults); the command line wins over it, it
                                       wins over ssh_config
  --trace                              = -vv
  -h, --help                           this help

ssh_config keywords read (-o, -F, ~/.ssh/config, /etc/ssh/ssh_config; Host and Match host sections):
${Object.entries(SUPPORTED_KEYWORDS)
  .map(([k, what]) => `  ${(KEYWORD_NAMES[k] ?? k).padEnd(25)} ${what}`)
  .join('\n')}
Other OpenSSH and PKIX-SSH keywords are accepted and ignored (named once under -v); an unknown keyword
is an error naming the file and line, unless IgnoreUnknown lists it.
Not supported (OpenSSH's): -4 -6 -a -B -b -c -f -K -k -M -m -O -Q -S -W -w -X -x -Y -y (address family,
ControlMaster, X11, tunnels, GSSAPI, ciphers and MACs, -W stdio forwarding).

exit status: the remote command's own status; ${EXIT_USAGE} usage error (unknown option, missing or bad value, bad
config keyword); ${EXIT_CONNECT_FAILURE} any other failure (connection, host key, authentication), as ssh does
`;

/** A destination as OpenSSH takes it: `[user@]host`, `[user@][v6]`, or `ssh://[user@]host[:port]`. */
export function parseDestination(dest: string): { username?: string; host: string; port?: number } {
  if (/^ssh:\/\//i.test(dest)) {
    const m = /^ssh:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/@]+)(?::(\d+))?\/?$/i.exec(dest);
    if (!m) throw usageError(`bad ssh:// destination ${JSON.stringify(dest)}: expected ssh://[user@]host[:port]`);
    const host = m[2]!.replace(/^\[|\]$/g, '');
    return { ...(m[1] ? { username: decodeURIComponent(m[1]) } : {}), host, ...(m[3] ? { port: portNumber(m[3], 'port in the destination') } : {}) };
  }
  const at = dest.lastIndexOf('@');
  if (at === 0 || at === dest.length - 1) throw usageError(`destination must be [<user>@]<host>, got ${JSON.stringify(dest)}`);
  let host = at < 0 ? dest : dest.slice(at + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return at < 0 ? { host } : { username: dest.slice(0, at), host };
}

/** One `-J` / ProxyJump hop: `[user@]host[:port]` or `ssh://...`. */
function parseJumpHop(spec: string): { username?: string; host: string; port?: number } {
  if (/^ssh:\/\//i.test(spec)) return parseDestination(spec);
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw usageError(`bad jump host ${JSON.stringify(spec)}: expected [user@]host[:port]`);
  return { ...(m[1] ? { username: m[1] } : {}), host: m[2]!.replace(/^\[|\]$/g, ''), ...(m[3] ? { port: portNumber(m[3], 'jump host port') } : {}) };
}

function portNumber(v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw usageError(`invalid ${what} ${JSON.stringify(v)}`);
  return n;
}

function positiveInt(v: string | undefined, what: string, max = Number.MAX_SAFE_INTEGER, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n < min || n > max) throw usageError(`invalid ${what} ${JSON.stringify(v)}`);
  return n;
}

function yesNo(config: ResolvedConfig, keyword: string, allowed: readonly string[] = ['yes', 'no']): string | undefined {
  const v = config.get(keyword)?.[0]?.toLowerCase();
  if (v !== undefined && !allowed.includes(v)) throw usageError(`${keyword} must be ${allowed.join(' or ')}, got ${JSON.stringify(v)}`);
  return v;
}

function envValue(io: CliIo, option: string, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const v = io.env[name];
  if (v === undefined) throw usageError(`--${option} ${name}: the variable is not set`);
  return v;
}

/** Signers for one identity set: a token, or key files with their chains. */
async function buildSigners(
  o: { module?: string; keys: string[]; certs: string[]; v: ConnectOptionValues; batch: boolean; sessionStarted?: () => boolean },
  io: CliIo,
  logger: TraceLogger | undefined,
  maxAttempts: number | undefined,
): Promise<Signer[]> {
  const { v } = o;
  if (o.module) {
    if (o.keys.length) throw usageError('give either a key (-i, --key, IdentityFile) or a token (--pkcs11-module, PKCS11Provider), not both');
    const { openPkcs11Candidates, envPin, ttyPin } = await import('../../pkcs11.js');
    if (!v['pin-env'] && o.batch) {
      // BatchMode: nothing is asked; the PIN must come from --pin-env.
      throw new SshX509Error(ErrorCodes.PIN_REQUIRED, 'BatchMode is on and no --pin-env is given: the PIN cannot be asked');
    }
    envValue(io, 'pin-env', v['pin-env']); // an unset variable is a bad value (exit 2), as for --passphrase-env
    const tty = ttyPin(io.stdin, io.stderr, { otherwise: 'give it with --pin-env VAR' });
    // Once the session runs, what is typed goes to the remote side: a PIN a forwarded agent's request asks for
    // (a per-signature PIN, say) would go there too. So the terminal is asked only while logging in.
    const pin: PinSource = v['pin-env']
      ? envPin(v['pin-env'], io.env)
      : (req, context) => {
          if (o.sessionStarted?.()) {
            const what = context?.kind === 'per-signature' ? `the per-signature PIN for key "${context.key.label || context.key.id}"` : 'the user PIN';
            throw new SshX509Error(
              ErrorCodes.PIN_REQUIRED,
              `token "${req.tokenLabel}" (reader "${req.reader}") needs ${what} for the forwarded agent, and the terminal belongs to the session: give it with --pin-env VAR, or use a key that needs no PIN per signature (a PIV card's 9A)`,
            );
          }
          return tty(req, context);
        };
    return openPkcs11Candidates({
      module: o.module,
      uri: v['pkcs11-uri'],
      fingerprint: v['cert-fingerprint'],
      intermediates: v.intermediates,
      pin,
      maxCandidates: maxAttempts,
      // The PIN is asked only once the server has accepted a certificate (PK_OK), and once for every hop.
      loginOnFirstSign: true,
      onCandidate: (c: Pkcs11CertificateInfo) => emitTrace(logger, 'info', 'token certificate candidate', { token: c.tokenLabel, id: c.id, label: c.label, subject: c.subject, sha256: c.sha256, sha1: c.sha1 }),
    });
  }
  if (!o.keys.length) throw usageError('give the private key with -i (its certificate beside it) or --cert and --key, or a token with --pkcs11-module');
  // Without --passphrase-env, an encrypted key's passphrase is asked on the terminal (no echo), as the PIN is; never in BatchMode.
  // (The terminal streams are taken only when an encrypted key asks: making them costs a connect's start some milliseconds.)
  const passphrase = envValue(io, 'passphrase-env', v['passphrase-env']) ?? (o.batch ? undefined : (req: PassphraseRequest) => ttyPassphrase(io.stdin, io.stderr, { otherwise: 'give it with --passphrase-env VAR' })(req));
  const { SoftwareSigner } = await import('../../signers/software.js');
  const signers: Signer[] = [];
  for (const key of o.keys) {
    const certs = o.certs.length ? o.certs : existsSync(`${key}-cert.pem`) ? [`${key}-cert.pem`] : [key];
    const signer = await SoftwareSigner.fromFiles({ certificateFile: certs, keyFile: key, passphrase }).catch((e: unknown) => {
      // Only when the chain was looked for in the key file itself: a --cert given is named by the library's own message.
      if (!o.certs.length && certs[0] === key && (e as { code?: string }).code === ErrorCodes.CERT_INVALID) {
        throw new SshX509Error(ErrorCodes.CERT_INVALID, `no certificate for the key ${key}: give CertificateFile / --cert, put the chain in ${key}-cert.pem, or in the key file itself`, { cause: e });
      }
      throw e;
    });
    if (v['cert-fingerprint']) {
      const { matchesFingerprint } = await import('../../certs/fingerprint.js');
      if (!matchesFingerprint(signer.chain.leaf, v['cert-fingerprint'])) {
        throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, `the certificate ${signer.chain.leaf.subject} (${signer.chain.fingerprints.sha256}) does not have fingerprint ${v['cert-fingerprint']}`);
      }
    }
    signers.push(signer);
  }
  return signers;
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

/** Every x509v3 algorithm name, and those offered by default (no SHA-1, no legacy name), in preference order. */
const X509_NAMES = ALGORITHMS.map((a) => a.name);
const X509_DEFAULTS = ALGORITHMS.filter((a) => !a.sha1 && !a.legacy).map((a) => a.name);
const RAW_NAMES = RAW_SIGNATURE_ALGORITHMS.map((r) => r.name);
const RAW_DEFAULTS = RAW_SIGNATURE_ALGORITHMS.filter((r) => !r.sha1).map((r) => r.name);

/**
 * PubkeyAcceptedAlgorithms (and --algorithm) as written: a plain list, or
 * OpenSSH's `+list`, `-list`, `^list` and `*` / `?` patterns, resolved
 * against the default (the x509v3 algorithms without SHA-1; with --raw-key
 * the plain ones without SHA-1). Undefined when none is given.
 */
export function pubkeyAlgorithmList(spec: string | undefined, rawKeyFlag: boolean | undefined): string[] | undefined {
  if (spec === undefined) return undefined;
  if (!/^[+\-^]/.test(spec) && !/[*?]/.test(spec)) return spec.split(',').map((a) => a.trim()).filter(Boolean);
  return assembleAlgorithms(spec, rawKeyFlag ? RAW_DEFAULTS : X509_DEFAULTS, rawKeyFlag ? RAW_NAMES : [...X509_NAMES, ...RAW_NAMES], 'PubkeyAcceptedAlgorithms');
}

/** The algorithms to offer and whether the key goes as a plain key, from PubkeyAcceptedAlgorithms / X509KeyAlgorithm / --raw-key. */
function algorithmChoice(config: ResolvedConfig, rawKeyFlag: boolean | undefined): { algorithms?: string[]; rawKey: boolean } {
  const listed = [...(pubkeyAlgorithmList(config.get('pubkeyacceptedalgorithms')?.[0], rawKeyFlag) ?? []), ...(config.get('x509keyalgorithm') ?? []).map((v) => v.split(',')[0]!.trim())].filter(Boolean);
  // An unknown name is a usage error before anything else: a misspelt x509v3 name is not a plain one.
  const unknown = listed.find((a) => !X509_NAMES.includes(a) && !RAW_NAMES.includes(a));
  if (unknown !== undefined) {
    throw usageError(`unknown algorithm ${JSON.stringify(unknown)} (--algorithm, PubkeyAcceptedAlgorithms); x509v3 ones: ${X509_NAMES.join(', ')}; plain ones (the key without its certificate, --raw-key): ${RAW_NAMES.join(', ')}`);
  }
  const plain = listed.filter((a) => !a.startsWith('x509v3-'));
  const rawKey = rawKeyFlag === true || (listed.length > 0 && plain.length === listed.length);
  if (!listed.length) return { rawKey };
  if (rawKey) {
    const bad = listed.find((a) => !RAW_NAMES.includes(a));
    if (bad !== undefined) {
      throw usageError(`with --raw-key, --algorithm takes a plain SSH algorithm (${RAW_NAMES.join(', ')}), got ${JSON.stringify(bad)}`);
    }
    return { algorithms: listed, rawKey };
  }
  if (plain.length) throw usageError(`PubkeyAcceptedAlgorithms mixes x509v3 and plain names (${plain.join(', ')}); a plain list means the key is used as a plain key`);
  return { algorithms: listed.map((a) => getAlgorithm(a).name), rawKey };
}

/** PKIX-SSH's X.509 store keywords that name host trust anchors (--host-trust sets the first two). */
const HOST_TRUST_KEYWORDS = ['cacertificatefile', 'cacertificatepath', 'usercacertificatefile', 'usercacertificatepath'];
const KEYWORD_SPELLING: Readonly<Record<string, string>> = {
  cacertificatefile: 'CACertificateFile',
  cacertificatepath: 'CACertificatePath',
  usercacertificatefile: 'UserCACertificateFile',
  usercacertificatepath: 'UserCACertificatePath',
};

/** The host trust anchors a config names, each with what named it (for errors). */
function hostTrustSources(c: ResolvedConfig, fromFlag: readonly string[]): { path: string; what: string }[] {
  return HOST_TRUST_KEYWORDS.flatMap((k) =>
    (c.get(k) ?? []).map((p) => ({ path: expandPath(p, process.cwd()), what: fromFlag.includes(p) ? '--host-trust' : KEYWORD_SPELLING[k]! })),
  );
}

/** The identities a config names: a token, or key files and certificate files. */
interface Identity {
  readonly module: string | undefined;
  readonly keys: readonly string[];
  readonly certs: readonly string[];
}

/**
 * A jump hop's identity: its own when its section names one (IdentityFile or
 * PKCS11Provider, with its CertificateFile if any); a CertificateFile alone
 * pairs with the command's key, as OpenSSH pairs a certificate with the
 * identities' keys; nothing of its own: the command's.
 */
function hopIdentity(own: Identity, command: Identity): Identity {
  if (own.module !== undefined || own.keys.length) return own;
  if (own.certs.length) return { module: command.module, keys: command.keys, certs: own.certs };
  return command;
}

/** Maps the long options and OpenSSH flags onto ssh_config keywords, first-obtained-wins as in OpenSSH. */
function commandLineConfig(v: ConnectOptionValues, flags: FlagValues, dest: { username?: string; port?: number }, ordered: OrderedArgs, note: (k: string, where: string) => void): ResolvedConfig {
  const c: ResolvedConfig = new Map();
  const set = (k: string, value: string | readonly string[] | undefined) => {
    if (value !== undefined && value.length !== 0) setFirst(c, k, value);
  };
  const setOption = (o: string) => {
    const [k, value] = parseOptionArgument(o, note);
    // Forwards given with -o are written as OpenSSH does: one value per -o.
    set(k, k === 'localforward' || k === 'remoteforward' ? value.replace(/\s+/, ':') : value);
  };
  // As ssh(1) does: -p, -l, -o and the destination's user and port in command-line order, the first obtained wins
  // (ssh -l a b@h logs in as a, ssh b@h -l a as b; ssh -p 1 ssh://h:2 goes to port 1).
  const fromDestination = () => {
    set('user', dest.username);
    if (dest.port !== undefined) set('port', String(dest.port));
  };
  let destinationDone = false;
  for (const t of ordered.tokens) {
    if (!destinationDone && t.index >= ordered.destinationAt) {
      fromDestination();
      destinationDone = true;
    }
    if (t.name === 'port' || t.name === 'login') set(t.name === 'port' ? 'port' : 'user', t.value);
    else if (t.name === 'option' && t.value !== undefined) setOption(t.value);
  }
  if (!destinationDone) fromDestination();
  // From the JSON --config, after the command line.
  set('port', v.port);
  set('identityfile', [...(flags.identity ?? []), ...(v.key ? [v.key] : [])]);
  set('certificatefile', v.cert);
  set('pkcs11provider', flags.pkcs11 ?? v['pkcs11-module']);
  set('userknownhostsfile', v['known-hosts']);
  set('stricthostkeychecking', v['strict-host-key-checking']);
  set('connecttimeout', v['connect-timeout']);
  set('hostkeyalgorithms', v['host-key-algorithms']);
  const trust = v['host-trust'] ?? [];
  set('cacertificatefile', trust.filter((t) => !isDirectory(t)));
  set('cacertificatepath', trust.filter((t) => isDirectory(t)));
  if (flags.subsystem) set('sessiontype', 'subsystem');
  if (v.algorithm?.length) set('pubkeyacceptedalgorithms', v.algorithm.join(','));
  set('proxyjump', flags.jump);
  set('localforward', flags['local-forward']);
  set('remoteforward', flags['remote-forward']);
  set('dynamicforward', flags['dynamic-forward']);
  if (flags['forward-agent']) set('forwardagent', 'yes');
  if (flags['gateway-ports']) set('gatewayports', 'yes');
  if (flags.compression) set('compression', 'yes');
  set('escapechar', flags['escape-char']);
  if (flags['no-command']) set('sessiontype', 'none');
  if (flags['stdin-null']) set('stdinnull', 'yes');
  if (flags['no-tty']) set('requesttty', 'no');
  else if (flags.tty?.length) set('requesttty', flags.tty.length > 1 ? 'force' : 'yes');
  return c;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The -p, -l and -o options in command-line order, and where the destination stood among them. */
interface OrderedArgs {
  readonly tokens: readonly { readonly name: string; readonly value?: string; readonly index: number }[];
  readonly destinationAt: number;
}

type FlagValues = {
  login?: string;
  identity?: string[];
  'ssh-config'?: string;
  option?: string[];
  verbose?: boolean[];
  quiet?: boolean;
  tty?: boolean[];
  'no-tty'?: boolean;
  'no-command'?: boolean;
  subsystem?: boolean;
  'stdin-null'?: boolean;
  jump?: string;
  'local-forward'?: string[];
  'remote-forward'?: string[];
  'dynamic-forward'?: string[];
  'forward-agent'?: boolean;
  'gateway-ports'?: boolean;
  pkcs11?: string;
  compression?: boolean;
  'log-file'?: string;
  'escape-char'?: string;
  version?: boolean;
  'print-config'?: boolean;
};

/** The local user name, the remote one when none is given (as ssh): $USER, $LOGNAME, else the account's. */
export function localUser(env: NodeJS.ProcessEnv): string {
  const named = env.USER || env.LOGNAME;
  if (named) return named;
  try {
    return userInfo().username;
  } catch {
    throw usageError('no user: write <user>@<host> or -l <user> (the local user name is not known here: no $USER, no account name)');
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Reads the command line and the configuration into a checked session plan,
 * opening the signers (added to `signers`, for the caller to close). Resolves
 * to an exit status instead when there is nothing to connect (--help, -V, -G).
 */
export async function connectPlan(argv: string[], io: CliIo, signers: Signer[], usage = CONNECT_USAGE): Promise<SessionPlan | number> {
  const split = splitSshArgv(argv, ALL_CONNECT_OPTIONS);
  const { values } = parseOptions(split.options, ALL_CONNECT_OPTIONS);
  const { tokens } = parseArgs({ args: split.options, options: ALL_CONNECT_OPTIONS, strict: true, tokens: true });
  const ordered: OrderedArgs = {
    tokens: tokens.flatMap((t) => (t.kind === 'option' && ['port', 'login', 'option'].includes(t.name) ? [{ name: t.name, value: t.value, index: t.index }] : [])),
    destinationAt: split.destinationAt ?? split.options.length,
  };
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (values.version) {
    io.stdout.write(`ssh-x509 ${packageVersion()}\n`);
    return 0;
  }
  if (split.destination === undefined) throw usageError('missing destination [<user>@]<host>');
  const dest = parseDestination(split.destination);
  const flags = values as FlagValues;
  const given = Object.fromEntries(Object.entries(values).filter(([k]) => k in CONNECT_OPTIONS)) as ConnectOptionValues;

  const noted = new Set<string>();
  const notes: string[] = [];
  const note = (keyword: string, where: string) => {
    if (noted.has(keyword)) return;
    noted.add(keyword);
    notes.push(`${where}: ${keyword} is not supported by ssh-x509; ignored`);
  };

  // The library is loaded only now: --help and option errors need none of it.
  const { loadConfig } = await import('../config.js');
  const { USERNAME_RULES } = await import('../../certs/identity.js');
  // JSON --config (SessionDefaults), then the command line on top.
  const v: ConnectOptionValues = given.config ? { ...(await loadConfig(given.config, dest.host)), ...definedOnly(given) } : given;

  // ssh_config: command line first, then -F or the user's and the system's files (first obtained wins).
  const config = commandLineConfig(v, flags, dest, ordered, note);
  const files = configFiles(flags['ssh-config']);
  await resolveConfig(config, files, dest.host, note);
  if (values['print-config']) {
    const shown = new Map(config);
    shown.set('host', [dest.host]);
    // The defaults of the keywords connect acts on, as ssh -G prints OpenSSH 9's (connect's own where they differ:
    // ConnectTimeout 20, StrictHostKeyChecking yes without a terminal to ask on).
    const defaults: Record<string, string> = {
      hostname: dest.host,
      port: '22',
      stricthostkeychecking: isTerminal(io, 'stdin') && isTerminal(io, 'stderr') ? 'ask' : 'yes',
      userknownhostsfile: join(homedir(), '.ssh', 'known_hosts'),
      globalknownhostsfile: '/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2',
      connecttimeout: '20',
      batchmode: 'no',
      compression: 'no',
      escapechar: '~',
      forwardagent: 'no',
      gatewayports: 'no',
      identitiesonly: 'no',
      loglevel: 'INFO',
      requesttty: 'auto',
      serveralivecountmax: '3',
      serveraliveinterval: '0',
      sessiontype: 'default',
      stdinnull: 'no',
      ...(v['username-from-cert'] ? {} : { user: localUser(io.env) }),
    };
    for (const [k, value] of Object.entries(defaults)) if (!shown.has(k)) shown.set(k, [value]);
    // The algorithm lists resolved (+, -, ^ and patterns applied), as ssh -G prints them.
    const { hostKeyAlgorithmsFor } = await import('../host-check.js');
    shown.set('hostkeyalgorithms', [hostKeyAlgorithmsFor(config.get('hostkeyalgorithms')?.[0], hostTrustSources(config, []).length > 0).join(',')]);
    const pubkey = pubkeyAlgorithmList(config.get('pubkeyacceptedalgorithms')?.[0], v['raw-key']) ?? (v['raw-key'] ? RAW_DEFAULTS : X509_DEFAULTS);
    shown.set('pubkeyacceptedalgorithms', [pubkey.join(',')]);
    io.stdout.write(formatResolvedConfig(shown));
    return 0;
  }

  // -v / --trace, else LogLevel as OpenSSH maps it: DEBUG and DEBUG1 are -v, DEBUG2 -vv, DEBUG3 -vvv; QUIET, FATAL and ERROR are -q.
  const logLevel = config.get('loglevel')?.[0]?.toUpperCase();
  const levels: Record<string, number> = { QUIET: 0, FATAL: 0, ERROR: 0, INFO: 0, VERBOSE: 0, DEBUG: 1, DEBUG1: 1, DEBUG2: 2, DEBUG3: 3 };
  if (logLevel !== undefined && !(logLevel in levels)) throw usageError(`LogLevel must be one of ${Object.keys(levels).join(', ')}, got ${JSON.stringify(logLevel)}`);
  const verbosity = values.trace ? 2 : flags.verbose?.length || levels[logLevel ?? 'INFO']!;
  const quiet = flags.quiet === true || logLevel === 'QUIET' || logLevel === 'FATAL' || logLevel === 'ERROR';
  const logFile = flags['log-file'];
  const writeLog = logFile
    ? await (async () => {
        const { appendFileSync } = await import('node:fs');
        const { fileErrorReason } = await import('../../certs/load.js');
        // Opened once now, so that an unwritable -E file is one line before connecting, not a raw error at the first trace.
        try {
          appendFileSync(logFile, '');
        } catch (e) {
          throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot write the log file ${logFile} (-E): ${fileErrorReason(e)}`, { cause: e });
        }
        return (line: string) => appendFileSync(logFile, line);
      })()
    : (line: string) => void io.stderr.write(line);
  const logger: TraceLogger | undefined =
    verbosity > 0 ? (e: TraceEvent) => (verbosity >= 2 || e.level !== 'debug' ? writeLog(`trace: ${formatTrace(e)}\n`) : undefined) : undefined;
  for (const n of notes) if (verbosity > 0) writeLog(`trace: ${n}\n`);

  return planSession({ v, config, dest, io, logger, verbosity, quiet, command: split.command, USERNAME_RULES, signers, files, note });
}

/** Runs `connect`; resolves to the exit status (the remote one; 2 on a usage error, 255 on any other error). */
export const runConnect = defineCommand({
  name: 'connect',
  prefix: 'ssh-x509: ',
  failureStatus: EXIT_CONNECT_FAILURE,
  run: async (argv, io) => {
    const signers: Signer[] = [];
    try {
      const plan = await connectPlan(argv, io, signers);
      if (typeof plan === 'number') return plan;
      const { runSession } = await import('../session.js');
      return await runSession(plan);
    } finally {
      await Promise.all(signers.map((s) => s.close?.().catch(() => undefined)));
    }
  },
});

interface PlanInput {
  v: ConnectOptionValues;
  config: ResolvedConfig;
  dest: { username?: string; host: string };
  io: CliIo;
  logger: TraceLogger | undefined;
  verbosity: number;
  quiet: boolean;
  command: string[];
  USERNAME_RULES: readonly string[];
  /** Filled with every signer opened, for closing. */
  signers: Signer[];
  files: string[];
  note: (keyword: string, where: string) => void;
}

/** Everything the session needs, checked: a usage error is thrown before anything connects. */
async function planSession(p: PlanInput): Promise<SessionPlan> {
  const { v, config, io, logger } = p;
  const rule = v['username-from-cert'] as UsernameRule | undefined;
  if (rule !== undefined && !p.USERNAME_RULES.includes(rule as string)) {
    throw usageError(`--username-from-cert must be one of ${p.USERNAME_RULES.join(', ')}, got ${JSON.stringify(rule)}`);
  }
  const hop = (c: ResolvedConfig, host: string): Omit<Hop, 'settings'> => {
    // OpenSSH's default: ask when a terminal is attached, yes otherwise.
    const mode = (c.get('stricthostkeychecking')?.[0]?.toLowerCase() ?? (isTerminal(io, 'stdin') && isTerminal(io, 'stderr') ? 'ask' : 'yes')) as string;
    const strict = ({ yes: 'yes', ask: 'ask', 'accept-new': 'accept-new', no: 'no', off: 'no' } as Record<string, StrictHostKeyChecking>)[mode];
    if (!strict) throw usageError(`--strict-host-key-checking must be yes, ask, accept-new or no, got ${JSON.stringify(mode)}`);
    const port = positiveInt(c.get('port')?.[0], 'port', 65535) ?? 22;
    const hostKeyAlgorithms = c.get('hostkeyalgorithms')?.[0];
    const trust = hostTrustOf(c);
    return {
      alias: host,
      host: c.get('hostname')?.[0]?.replace(/%h/g, host) ?? host,
      port,
      knownHosts: expandPath(c.get('userknownhostsfile')?.[0] ?? join(homedir(), '.ssh', 'known_hosts'), process.cwd()),
      globalKnownHosts: (c.get('globalknownhostsfile') ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).map((f) => expandPath(f, process.cwd())),
      strict,
      ...(hostKeyAlgorithms ? { hostKeyAlgorithms } : {}),
      ...(trust.length ? { hostTrust: trust } : {}),
    };
  };
  // Host trust anchors (--host-trust, CACertificateFile, CACertificatePath), read once before connecting.
  const trustRead = new Map<string, string[]>();
  const fromFlag = v['host-trust'] ?? [];
  const hostTrustOf = (c: ResolvedConfig): string[] => trustRead.get(JSON.stringify(hostTrustSources(c, fromFlag))) ?? [];
  const readTrust = async (c: ResolvedConfig) => {
    const sources = hostTrustSources(c, fromFlag);
    const key = JSON.stringify(sources);
    if (sources.length && !trustRead.has(key)) trustRead.set(key, await (await import('../host-check.js')).resolveHostTrust(sources));
  };
  await readTrust(config);
  const target = hop(config, p.dest.host);
  // As ssh: without user@host, -l or User, the local user (unless --username-from-cert takes it from the certificate).
  const user = config.get('user')?.[0] ?? (rule ? undefined : localUser(io.env));
  const maxAttempts = positiveInt(v['max-attempts'] === undefined ? undefined : String(v['max-attempts']), 'max-attempts');
  const timeout = config.get('connecttimeout')?.[0] === undefined ? 20 : Number(config.get('connecttimeout')![0]);
  if (!(timeout > 0)) throw usageError('--connect-timeout must be a positive number of seconds');
  const aliveInterval = positiveInt(config.get('serveraliveinterval')?.[0], 'ServerAliveInterval', Number.MAX_SAFE_INTEGER, 0) ?? 0;
  const aliveCount = positiveInt(config.get('serveralivecountmax')?.[0], 'ServerAliveCountMax', Number.MAX_SAFE_INTEGER, 0) ?? 3;
  const batch = yesNo(config, 'batchmode') === 'yes';
  const choice = algorithmChoice(config, v['raw-key']);
  const requestTty = yesNo(config, 'requesttty', ['no', 'yes', 'force', 'auto']) ?? 'auto';
  const sessionType = (config.get('sessiontype')?.[0]?.toLowerCase() ?? 'default') as string;
  if (!['none', 'default', 'subsystem'].includes(sessionType)) throw usageError(`SessionType must be none, subsystem or default, got ${JSON.stringify(sessionType)}`);
  // -s / SessionType subsystem: the remote command names the subsystem (ssh -s host sftp).
  if (sessionType === 'subsystem' && p.command.length === 0) throw usageError('You must specify a subsystem to invoke (-s / SessionType subsystem: ssh-x509 connect -s host sftp)');
  const gatewayPorts = yesNo(config, 'gatewayports') === 'yes';
  const forwards = [
    ...(config.get('localforward') ?? []).map((f) => parseForward('local', f.replace(/\s+/, ':'))),
    ...(config.get('remoteforward') ?? []).map((f) => parseForward('remote', f.replace(/\s+/, ':'))),
    ...(config.get('dynamicforward') ?? []).map((f) => parseForward('dynamic', f)),
  ];
  const sendEnv = (config.get('sendenv') ?? []).flatMap((x) => x.split(/\s+/)).filter(Boolean);
  const env: Record<string, string> = {};
  for (const pattern of sendEnv) {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    for (const [k, val] of Object.entries(io.env)) if (val !== undefined && re.test(k)) env[k] = val;
  }
  // EscapeChar / -e: one character, ^X for a control character, or none (as ssh(1)).
  const escapeSpec = config.get('escapechar')?.[0];
  let escape: string | undefined = '~';
  if (escapeSpec !== undefined) {
    if (escapeSpec.toLowerCase() === 'none') escape = undefined;
    else if (escapeSpec.length === 1) escape = escapeSpec;
    else if (/^\^[@-_a-z?]$/i.test(escapeSpec)) escape = String.fromCharCode(escapeSpec[1] === '?' ? 0x7f : escapeSpec.toUpperCase().charCodeAt(1) & 0x1f);
    else throw usageError(`bad escape character ${JSON.stringify(escapeSpec)}: give one character, ^X, or none`);
  }

  // The identities of a config (IdentityFile, CertificateFile, PKCS11Provider), opened once for the whole chain:
  // a hop naming the same files or the same token shares the signers, and so the PIN is asked once per token.
  const openedBy = new Map<string, Signer[]>();
  let sessionStarted = false;
  const identities = (c: ResolvedConfig): Identity => ({
    module: c.get('pkcs11provider')?.[0],
    keys: (c.get('identityfile') ?? []).map((f) => expandPath(f, process.cwd())),
    certs: (c.get('certificatefile') ?? []).map((f) => expandPath(f, process.cwd())),
  });
  const openFor = async (id: Identity): Promise<Signer[]> => {
    const key = id.module !== undefined ? `pkcs11 ${id.module}` : JSON.stringify([id.keys, id.certs]);
    const known = openedBy.get(key);
    if (known) return known;
    const s = await buildSigners({ module: id.module, keys: [...id.keys], certs: [...id.certs], v, batch, sessionStarted: () => sessionStarted }, io, logger, maxAttempts);
    p.signers.push(...s);
    openedBy.set(key, s);
    return s;
  };
  const commandIdentity = identities(config);
  const opened = await openFor(commandIdentity);
  const stapler = v['staple-ocsp'] ? (await import('../stapling.js')).commandStapler(logger) : undefined;
  // Before connecting: what the server would refuse without saying why. (A raw key shows no certificate.)
  if (!p.quiet && !choice.rawKey) for (const w of opened.flatMap((s) => chainWarnings(s.chain))) io.stderr.write(`ssh-x509: warning: ${w}\n`);
  const settingsFor = (c: { algorithms?: string[]; rawKey: boolean }, username: string | undefined, signers = opened): SessionSettings => ({
    signer: signers,
    algorithms: c.algorithms ?? (c.rawKey ? undefined : defaultAlgorithms(signers)),
    rawKey: c.rawKey,
    maxAttempts,
    logger,
    username,
    usernameFromCertificate: rule,
    disconnectOnCardRemoval: v['disconnect-on-card-removal'],
    ...(stapler ? { ocspStapler: stapler } : {}),
  });

  // Jump hosts: each resolved from the config files under its own name. A hop whose section names its own
  // IdentityFile / CertificateFile / PKCS11Provider logs in with those (a CertificateFile alone pairs with the
  // command's key, as OpenSSH pairs a certificate with the identity's key); any other uses the command's signers.
  const jumps: Hop[] = [];
  const jumpSpec = config.get('proxyjump')?.[0];
  if (jumpSpec && jumpSpec.toLowerCase() !== 'none') {
    for (const spec of jumpSpec.split(',')) {
      const j = parseJumpHop(spec.trim());
      const c: ResolvedConfig = new Map();
      if (j.port !== undefined) c.set('port', [String(j.port)]);
      if (j.username !== undefined) c.set('user', [j.username]);
      await resolveConfig(c, p.files, j.host, p.note);
      for (const k of ['stricthostkeychecking', 'userknownhostsfile', ...HOST_TRUST_KEYWORDS]) if (!c.has(k) && config.has(k)) c.set(k, config.get(k)!);
      await readTrust(c);
      const h = hop(c, j.host);
      const signers = await openFor(hopIdentity(identities(c), commandIdentity));
      jumps.push({ ...h, settings: settingsFor(algorithmChoice(c, undefined), c.get('user')?.[0] ?? user, signers) });
    }
  }

  return {
    io,
    logger,
    verbosity: p.verbosity,
    quiet: p.quiet,
    jumps,
    target: { ...target, settings: settingsFor(choice, user) },
    command: p.command,
    noCommand: sessionType === 'none',
    subsystem: sessionType === 'subsystem',
    stdinNull: yesNo(config, 'stdinnull') === 'yes',
    requestTty: requestTty as SessionPlan['requestTty'],
    forwards,
    gatewayPorts,
    forwardAgent: yesNo(config, 'forwardagent') === 'yes',
    env,
    compression: yesNo(config, 'compression') === 'yes',
    escapeChar: escape,
    timeoutMs: timeout * 1000,
    keepaliveIntervalMs: aliveInterval * 1000,
    keepaliveCountMax: aliveCount,
    onSessionStart: () => {
      sessionStarted = true;
    },
  };
}
