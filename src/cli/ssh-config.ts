/**
 * OpenSSH's client configuration for `connect` (ssh_config(5)): `-F`, or
 * `~/.ssh/config` then `/etc/ssh/ssh_config`, read through the `ssh-config`
 * package (Host patterns, Match). Values are first-obtained-wins as in
 * OpenSSH; command-line options come first.
 *
 * On top of the package: `Include` (expanded in place, with `*` and `?`
 * wildcards in any path segment, `~`, relative paths from ~/.ssh, or /etc/ssh
 * for the system file), every keyword checked against OpenSSH's and PKIX-SSH's lists
 * (an unknown one is an error naming the file and line, unless a preceding
 * `IgnoreUnknown` lists it), and `-G` output.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileErrorReason } from '../certs/load.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { usageError } from './command.js';

/** The keywords that `connect` acts on (lower case), with what each does here. */
export const SUPPORTED_KEYWORDS: Readonly<Record<string, string>> = {
  hostname: 'the real host name to connect to',
  port: 'the port',
  user: 'the user name',
  identityfile: 'the private key; its certificate chain from the same file, CertificateFile, or <file>-cert.pem',
  certificatefile: 'the certificate chain, PEM or DER',
  pkcs11provider: 'the PKCS#11 module of the smartcard or HSM',
  identitiesonly: 'read and shown by -G, no effect: ssh-x509 never uses an agent, so only the identities named are offered',
  userknownhostsfile: 'the known_hosts file that is checked and written',
  globalknownhostsfile: 'a known_hosts file that is only read',
  stricthostkeychecking: 'yes | ask | accept-new | no (default: ask on a terminal, else yes)',
  hostkeyalgorithms: 'the host key algorithms to accept, in order (list, +list, -list, ^list; * and ? patterns)',
  pubkeyacceptedalgorithms: 'the algorithms to offer: x509v3-* names, or plain ones (then the key is used as a plain key); list, +list, -list, ^list, patterns',
  x509keyalgorithm: 'PKIX-SSH: an x509v3-* algorithm to offer (repeatable; the first name of its name,digest,... form)',
  cacertificatefile: 'PKIX-SSH: PEM certificates of CAs trusted for X.509 host keys (= --host-trust file)',
  cacertificatepath: 'PKIX-SSH: a hash directory (<hash>.0 files) of CAs trusted for X.509 host keys (= --host-trust dir)',
  usercacertificatefile: 'PKIX-SSH: as CACertificateFile',
  usercacertificatepath: 'PKIX-SSH: as CACertificatePath',
  proxyjump: 'jump hosts, [user@]host[:port],...',
  forwardagent: 'yes: serve the signer to the remote host as an ssh-agent',
  localforward: '[bind_address:]port host:hostport',
  remoteforward: '[bind_address:]port host:hostport',
  dynamicforward: '[bind_address:]port: a SOCKS5 proxy',
  gatewayports: 'yes: local forwards listen on every address, not only loopback',
  serveraliveinterval: 'seconds between keepalives (0: none)',
  serveralivecountmax: 'keepalives without an answer before giving up',
  connecttimeout: 'seconds to wait for the connection and handshake',
  batchmode: 'yes: never ask anything (no PIN prompt)',
  requesttty: 'no | yes | force | auto',
  sendenv: 'environment variables to send (patterns)',
  sessiontype: 'none (as -N) | subsystem (as -s: the command names the subsystem) | default',
  stdinnull: 'yes (as -n)',
  compression: 'yes (as -C)',
  loglevel: 'QUIET, FATAL, ERROR (as -q), INFO, VERBOSE, DEBUG or DEBUG1 (-v), DEBUG2 (-vv), DEBUG3 (-vvv)',
  escapechar: 'the escape character (default ~; ^X for a control character; none to disable)',
  ignoreunknown: 'keywords whose being unknown is not an error',
  host: 'a section for host patterns',
  match: 'a section for criteria (host, originalhost, user, localuser, all, exec)',
  include: 'more configuration files, read in place',
};

/** How ssh_config(5) spells each keyword read (the help and the README use these). */
export const KEYWORD_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  `HostName Port User IdentityFile CertificateFile PKCS11Provider IdentitiesOnly UserKnownHostsFile GlobalKnownHostsFile
  StrictHostKeyChecking HostKeyAlgorithms PubkeyAcceptedAlgorithms X509KeyAlgorithm CACertificateFile CACertificatePath
  UserCACertificateFile UserCACertificatePath ProxyJump ForwardAgent LocalForward RemoteForward DynamicForward GatewayPorts
  ServerAliveInterval ServerAliveCountMax ConnectTimeout BatchMode RequestTTY SendEnv SessionType StdinNull Compression
  LogLevel EscapeChar IgnoreUnknown Host Match Include`
    .split(/\s+/)
    .map((k) => [k.toLowerCase(), k]),
);

/** OpenSSH (9.x) and PKIX-SSH keywords that ssh-x509 knows and ignores: named once under -v. */
const IGNORED_KEYWORDS = new Set(
  `addkeystoagent addressfamily bindaddress bindinterface canonicaldomains canonicalizefallbacklocal canonicalizehostname
  canonicalizemaxdots canonicalizepermittedcnames casignaturealgorithms checkhostip ciphers clearallforwardings
  connectionattempts controlmaster controlpath controlpersist enableescapecommandline enablesshkeysign exitonforwardfailure
  fingerprinthash forkafterauthentication forwardx11 forwardx11timeout forwardx11trusted gssapiauthentication
  gssapidelegatecredentials hashknownhosts hostbasedacceptedalgorithms hostbasedkeytypes hostbasedauthentication hostkeyalias
  identityagent ipqos kbdinteractiveauthentication kbdinteractivedevices kexalgorithms knownhostscommand localcommand logverbose
  macs nohostauthenticationforlocalhost numberofpasswordprompts passwordauthentication permitlocalcommand permitremoteopen
  preferredauthentications proxycommand proxyusefdpass pubkeyacceptedkeytypes pubkeyauthentication rekeylimit remotecommand
  requiredrsasize revokedhostkeys securitykeyprovider setenv streamlocalbindmask streamlocalbindunlink syslogfacility
  tcpkeepalive tunnel tunneldevice updatehostkeys verifyhostkeydns visualhostkey xauthlocation challengeresponseauthentication
  obscurekeystroketiming usekeychain carevocationfile carevocationpath allowedcertpurpose usercarevocationfile usercarevocationpath
  usercaldapversion usercaldapurl usercastoreuri
  mandatorycrl useocsp vatype vacertificatefile vaocspresponderurl caldapversion caldapurl castoreuri keyallowselfissued`.split(/\s+/),
);

/** Keywords that may be given more than once, every value kept. */
const REPEATABLE = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv', 'x509keyalgorithm']);

/** The resolved configuration: lower-case keyword to its values (one for most keywords). */
export type ResolvedConfig = Map<string, string[]>;

/** Where a config value came from, for -G and errors. */
interface SourceText {
  readonly file: string;
  readonly text: string;
}

/** The files a glob(3)-style pattern names (`*` and `?` in any path segment), sorted; none when nothing matches. */
function wildcardFiles(pattern: string): string[] {
  if (!/[*?]/.test(pattern)) return existsSync(pattern) ? [pattern] : [];
  const parts = pattern.split('/');
  let paths = [parts[0] === '' ? '/' : parts[0]!];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    if (!/[*?]/.test(part)) {
      paths = paths.map((p) => join(p, part)).filter((p) => existsSync(p));
      continue;
    }
    const re = new RegExp(`^${part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    paths = paths.flatMap((dir) => {
      try {
        // As glob(3): a wildcard does not match a leading dot.
        return readdirSync(dir)
          .filter((f) => re.test(f) && !(f.startsWith('.') && !part.startsWith('.')))
          .sort()
          .map((f) => join(dir, f));
      } catch {
        return [];
      }
    });
  }
  return paths;
}

/** `~/` and a relative path (against `base`) made absolute. */
export function expandPath(p: string, base = join(homedir(), '.ssh')): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return isAbsolute(p) ? p : join(base, p);
}

/** The first word of a config line and the rest, or undefined for a blank or comment line. */
function keywordOf(line: string): string | undefined {
  const t = line.trim();
  if (!t || t.startsWith('#')) return undefined;
  return /^([^\s=]+)/.exec(t)![1]!.toLowerCase();
}

/**
 * Reads a config file with its Includes expanded in place, checking every
 * keyword: unknown ones are errors naming the file and line unless a
 * preceding IgnoreUnknown lists them; ignored ones are reported through `note`.
 */
function readChecked(file: string, base: string, note: (keyword: string, where: string) => void, ignoreUnknown: string[], depth = 0): string {
  if (depth > 16) throw usageError(`${file}: Include nested too deeply`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    // Not a usage error: ssh exits 255 on a config file it cannot open (-F /nope).
    throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot read ssh config file ${file}: ${fileErrorReason(e)}`, { cause: e });
  }
  const out: string[] = [];
  let section: string | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    const keyword = keywordOf(line);
    const where = `${file} line ${i + 1}`;
    if (keyword === undefined) return out.push(line);
    const value = line.trim().slice(keyword.length).replace(/^\s*=?\s*/, '');
    if (keyword === 'include') {
      for (const pattern of value.split(/\s+/).filter(Boolean)) {
        for (const f of wildcardFiles(expandPath(pattern, base))) {
          const included = readChecked(f, base, note, ignoreUnknown, depth + 1);
          out.push(included);
          // A Host or Match in the included file ends there, as in OpenSSH: what follows the Include is in this file's section again.
          if (included.split('\n').some((l) => keywordOf(l) === 'host' || keywordOf(l) === 'match')) out.push(section ?? 'Host *');
        }
      }
      return;
    }
    if (keyword === 'host' || keyword === 'match') section = line;
    if (keyword === 'ignoreunknown') ignoreUnknown.push(...value.split(/[\s,]+/).filter(Boolean));
    if (keyword in SUPPORTED_KEYWORDS) return out.push(line);
    if (IGNORED_KEYWORDS.has(keyword)) {
      note(keyword, where);
      return out.push(`# ${line}`);
    }
    if (ignoreUnknown.some((p) => wildcardMatch(p, keyword))) return out.push(`# ${line}`);
    throw usageError(`${where}: Bad configuration option: ${line.trim().split(/[\s=]/)[0]}`);
  });
  return out.join('\n');
}

function wildcardMatch(pattern: string, name: string): boolean {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i').test(name);
}

/** The system-wide config file: its relative Includes are read from /etc/ssh; every other file's (-F too) from ~/.ssh, as OpenSSH does. */
const SYSTEM_CONFIG = '/etc/ssh/ssh_config';

/** The config files to read: `-F file` (`none`: none), else ~/.ssh/config and /etc/ssh/ssh_config where they exist. */
export function configFiles(explicit: string | undefined): string[] {
  if (explicit !== undefined) return explicit === 'none' ? [] : [explicit];
  return [join(homedir(), '.ssh', 'config'), SYSTEM_CONFIG].filter((f) => existsSync(f));
}

/** Parses one `-o` argument (`Keyword=value` or `Keyword value`); an unknown keyword is a usage error. */
export function parseOptionArgument(arg: string, note: (keyword: string, where: string) => void): [string, string] {
  const m = /^\s*([^\s=]+)\s*(?:=|\s)\s*(.*?)\s*$/.exec(arg);
  if (!m || m[2] === '') throw usageError(`-o ${JSON.stringify(arg)}: expected Keyword=value`);
  const keyword = m[1]!.toLowerCase();
  if (keyword === 'host' || keyword === 'match' || keyword === 'include') throw usageError(`-o ${m[1]}: not allowed on the command line`);
  if (IGNORED_KEYWORDS.has(keyword)) note(keyword, 'command line');
  else if (!(keyword in SUPPORTED_KEYWORDS)) throw usageError(`command-line -o ${JSON.stringify(arg)}: Bad configuration option: ${m[1]}`);
  return [keyword, m[2]!];
}

/** Adds `value` for `keyword` unless the keyword already has one (first obtained wins); repeatable keywords collect. */
export function setFirst(config: ResolvedConfig, keyword: string, value: string | readonly string[]): void {
  const values = typeof value === 'string' ? [value] : [...value];
  if (REPEATABLE.has(keyword)) config.set(keyword, [...(config.get(keyword) ?? []), ...values]);
  else if (!config.has(keyword)) config.set(keyword, values);
}

/**
 * Resolves the configuration of `host` (as typed) from `files`, on top of
 * what `config` already holds (the command line). `note` is told of each
 * keyword that ssh-x509 ignores.
 */
export async function resolveConfig(config: ResolvedConfig, files: readonly string[], host: string, note: (keyword: string, where: string) => void): Promise<ResolvedConfig> {
  // Loaded here, so that --help does not load the parser.
  // The named `parse` (SSHConfig.parse), the same in the package's ESM and CommonJS builds (the command's bundle requires the latter).
  const { parse: parseSshConfig } = await import('ssh-config');
  const ignoreUnknown: string[] = [];
  const sources: SourceText[] = files.map((file) => ({ file, text: readChecked(file, file === SYSTEM_CONFIG ? '/etc/ssh' : join(homedir(), '.ssh'), note, ignoreUnknown) }));
  for (const s of sources) {
    const user = config.get('user')?.[0];
    let computed: Record<string, string | string[]>;
    try {
      computed = parseSshConfig(s.text).compute(user === undefined ? { Host: host } : { Host: host, User: user }, { ignoreCase: true });
    } catch (e) {
      throw usageError(`${s.file}: ${(e as Error).message}`);
    }
    for (const [k, v] of Object.entries(computed)) {
      if (k === 'host' || k === 'match' || k === 'ignoreunknown') continue;
      setFirst(config, k, v);
    }
  }
  return config;
}

/** The lines `-G` prints: every keyword read, lower case, as `ssh -G` does. */
export function formatResolvedConfig(config: ResolvedConfig): string {
  const lines: string[] = [];
  for (const [k, values] of [...config.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    for (const v of REPEATABLE.has(k) ? values : [values.join(' ')]) lines.push(`${k} ${v}`);
  }
  return lines.join('\n') + '\n';
}
