/**
 * Host key checking for `connect`: the library's {@link x509HostVerifier}
 * (known_hosts, host trust anchors) with the command's trace and warnings,
 * and the host key algorithms to offer.
 *
 * @module
 */
import type { ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { x509HostKeyAlgorithms, x509HostVerifier, type HostKeyCheck, type X509HostVerifier } from '../adapters/ssh2/host-verifier.js';
import { defaultServerHostKeyAlgorithms, supportedServerHostKeyAlgorithms } from '../adapters/ssh2/bridge/client-host-keys.js';
import { emitTrace, type TraceLogger } from '../adapters/trace.js';
import type { StrictHostKeyChecking } from '../verify/known-hosts.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { loadCertificateSources } from '../verify/anchors.js';
import { assembleAlgorithms } from './algorithm-list.js';
import { isTerminal, type CliIo } from './io.js';

/** What `connect` knows about host checking. */
export interface HostCheckOptions {
  host: string;
  port: number;
  knownHosts: string;
  /** Read-only files looked up before `knownHosts` (GlobalKnownHostsFile). */
  globalKnownHosts?: readonly string[];
  mode: StrictHostKeyChecking;
  hostTrust?: readonly string[];
  /** `--host-key-algorithms`: comma-separated names, in order. */
  hostKeyAlgorithms?: string;
  logger?: TraceLogger;
  warn: (line: string) => void;
  /** The terminal, for `ask`. */
  io?: Pick<CliIo, 'stdin' | 'stderr'>;
}

/** A certificate file's name in an OpenSSL hash directory (PKIX-SSH's CACertificatePath): `<hash>.<n>`. */
const HASH_NAME = /^[0-9a-f]{8}\.\d+$/i;

/**
 * The host trust anchors, read before connecting so that a wrong path is one
 * clear line, not a refused host: `--host-trust` files and directories,
 * PKIX-SSH's CACertificateFile (PEM certificates concatenated) and
 * CACertificatePath (a hash directory, `<hash>.0` files; `.pem`/`.crt`
 * files are read too). Resolves to the sources to trust.
 */
export async function resolveHostTrust(paths: readonly { readonly path: string; readonly what: string }[]): Promise<string[]> {
  const { readdir, stat } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const out: string[] = [];
  for (const { path, what } of paths) {
    // A path that cannot be read is reported by the loader, as for any certificate source.
    const isDir = await stat(path).then((st) => st.isDirectory(), () => false);
    const found = isDir ? [path, ...(await readdir(path)).filter((n) => HASH_NAME.test(n)).sort().map((n) => join(path, n))] : [path];
    const usable: string[] = [];
    for (const f of found) {
      const certs = await loadCertificateSources([f], `${what} file`).catch((e: unknown) => {
        if (f !== path && (e as { code?: string }).code === ErrorCodes.CERT_INVALID) return [];
        throw e;
      });
      if (certs.length) usable.push(f);
    }
    if (usable.length === 0) throw new SshX509Error(ErrorCodes.CERT_INVALID, `${what} ${path}: no certificate found there`);
    out.push(...usable);
  }
  return out;
}

/** OpenSSH's default: `ask` when a terminal is attached, `yes` otherwise. */
export function defaultStrictHostKeyChecking(io: Pick<CliIo, 'stdin' | 'stderr' | 'isTerminal'>): StrictHostKeyChecking {
  return isTerminal(io, 'stdin') && isTerminal(io, 'stderr') ? 'ask' : 'yes';
}

/** Asks one question on the terminal (echoed: a yes/no or a fingerprint, nothing secret). */
function terminalQuestion(io: Pick<CliIo, 'stdin' | 'stderr'>): (q: string) => Promise<string> {
  return async (question) => {
    // node:readline is loaded only when a question is asked (most connects ask none).
    const { createInterface } = await import('node:readline');
    return new Promise((resolve) => {
      const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
      io.stderr.write(question);
      rl.once('line', (line) => {
        resolve(line);
        rl.close();
      });
      rl.once('close', () => resolve(''));
    });
  };
}

function trace(logger: TraceLogger | undefined, d: HostKeyCheck, o: HostCheckOptions): void {
  const c = d.certificate;
  const fields: Record<string, unknown> = { host: o.host, keyType: d.keyType, via: d.via };
  if (d.knownHosts) Object.assign(fields, { knownHosts: d.knownHosts.file, ...(d.knownHosts.line ? { line: d.knownHosts.line } : {}), fingerprint: d.knownHosts.fingerprint });
  if (c) Object.assign(fields, { subject: c.subject, issuer: c.issuer, sha256: c.sha256, sha1: c.sha1, anchor: c.anchor, revocation: c.revocationSource });
  if (d.refusal) fields.reason = d.refusal.reason;
  emitTrace(logger, d.accepted ? 'info' : 'error', d.accepted ? `host key accepted: ${d.message}` : `host key refused: ${d.message}`, fields);
}

/**
 * `--host-key-algorithms` / HostKeyAlgorithms as OpenSSH reads it (see
 * {@link assembleAlgorithms}: `list`, `+list`, `-list`, `^list`, patterns).
 * The default is the x509v3 ones then ssh2's with host trust, ssh2's own
 * without.
 */
export function hostKeyAlgorithmList(spec: string, defaults: readonly string[], known: readonly string[]): string[] {
  return assembleAlgorithms(spec, defaults, known, '--host-key-algorithms / HostKeyAlgorithms', 'host key algorithm');
}

/** Left out of the default as OpenSSH 8.8 and later leave them out (SHA-1, DSA); `+ssh-rsa` adds ssh-rsa back. */
const NOT_BY_DEFAULT: ReadonlySet<string> = new Set(['ssh-rsa', 'ssh-dss']);

/** The host key algorithms that `connect` offers: `spec` resolved, or the default (OpenSSH 9's, on what ssh2 supports). */
export function hostKeyAlgorithmsFor(spec: string | undefined, hostTrust: boolean): string[] {
  const defaults: string[] = (hostTrust ? x509HostKeyAlgorithms() : defaultServerHostKeyAlgorithms()).filter((a) => !NOT_BY_DEFAULT.has(a));
  return spec === undefined ? defaults : hostKeyAlgorithmList(spec, defaults, supportedServerHostKeyAlgorithms());
}

/** `hostVerifier` and `algorithms.serverHostKey`: the list given, or the default (what -G shows). */
export function hostCheckConfig(o: HostCheckOptions): { hostVerifier: X509HostVerifier; algorithms: NonNullable<ConnectConfig['algorithms']> } {
  const list = hostKeyAlgorithmsFor(o.hostKeyAlgorithms, (o.hostTrust?.length ?? 0) > 0);
  const hostVerifier = x509HostVerifier({
    host: o.host,
    port: o.port,
    knownHosts: [...(o.globalKnownHosts ?? []), o.knownHosts],
    strictHostKeyChecking: o.mode,
    ...(o.mode === 'ask' && o.io ? { ask: terminalQuestion(o.io) } : {}),
    ...(o.hostTrust?.length ? { hostTrustAnchors: o.hostTrust } : {}),
    // SHA-1 (x509v3-ssh-rsa) only when named, as for user authentication.
    allowSha1Algorithms: list.includes('x509v3-ssh-rsa'),
    onDecision: (d) => {
      trace(o.logger, d, o);
      const status = d.knownHosts?.status;
      if (d.accepted && status === 'added') o.warn(d.message);
      if (d.accepted && status === 'changed') o.warn(`warning: ${d.message}`);
    },
  });
  // ssh2's type names only the algorithms it knows; the x509v3 ones are accepted once the compatibility module is installed.
  return { hostVerifier, algorithms: { serverHostKey: list as ServerHostKeyAlgorithm[] } };
}
