/**
 * Host key checking for an ssh2 `Client`: X.509 host certificates against
 * host trust anchors (RFC 6187 server authentication), and OpenSSH
 * known_hosts files, as one ssh2 `hostVerifier`.
 *
 * @module
 */
import type { HostVerifier, ServerHostKeyAlgorithm } from 'ssh2';
import { ALGORITHMS } from '../../algorithms.js';
import type { HostCertificateOptions, HostCertificateResult, HostCertificateVerifier } from '../../verify/host.js';
import { HostKeyRefusedError } from '../../verify/reasons.js';
import { checkHostKey, type HostKeyDecision, type StrictHostKeyChecking } from '../../verify/known-hosts.js';
import { allowedAlgorithms } from '../../verify/policy.js';
import { SshReader } from '../../wire/reader.js';
import { defaultServerHostKeyAlgorithms, installSsh2HostKeyCompat, setHostKeySignaturePolicy } from './bridge/client-host-keys.js';

/** Options of {@link x509HostVerifier}. */
export interface X509HostVerifierOptions extends Omit<HostCertificateOptions, 'hostTrustAnchors'> {
  /** The host name or IP address connected to: matched against the host certificate's subjectAltName, and the known_hosts name. */
  host: string;
  /** The port (default 22): known_hosts writes `[host]:port` for any other. */
  port?: number;
  /** Host trust anchors (PEM/DER files, directories, PEM text, DER bytes, certificates): X.509 host keys chaining to one are accepted. */
  hostTrustAnchors?: HostCertificateOptions['hostTrustAnchors'];
  /** OpenSSH known_hosts files, checked in order (the first one is written to by `accept-new` and `no`). */
  knownHosts?: readonly string[];
  /** OpenSSH's StrictHostKeyChecking for known_hosts (default `yes`; `ask` needs {@link X509HostVerifierOptions.ask}). */
  strictHostKeyChecking?: StrictHostKeyChecking;
  /** For `ask`: shows the question (fingerprint and all) on the terminal and resolves with the answer line. */
  ask?: (question: string) => Promise<string>;
  /**
   * Lax: also accept an exchange-hash signature whose inner name is the
   * x509v3 name (what an unpatched ssh2 server sends) instead of RFC 6187's
   * signature format name.
   */
  laxAcceptX509SignatureName?: boolean;
  /** Told about every decision (for traces and warnings). */
  onDecision?: (d: HostKeyCheck) => void;
}

/** One decision of the host verifier. */
export interface HostKeyCheck {
  readonly accepted: boolean;
  /** The host key algorithm name of K_S. */
  readonly keyType: string;
  /** How it was decided. */
  readonly via: 'certificate' | 'known-hosts' | 'none';
  /** The certificate check, for X.509 host keys checked against trust anchors. */
  readonly certificate?: HostCertificateResult;
  /** The known_hosts check, when one was made. */
  readonly knownHosts?: HostKeyDecision;
  /** The refusal, with its reason code. */
  readonly refusal?: HostKeyRefusedError;
  /** One line, as OpenSSH would print it. */
  readonly message: string;
}

/** An ssh2 `hostVerifier` that also remembers its last decision. */
export type X509HostVerifier = HostVerifier & {
  /** The last decision, once one was made. */
  readonly last?: HostKeyCheck;
  /** The refusal of the last host key, including a bad exchange-hash signature seen after the certificate check. */
  readonly refusal?: HostKeyRefusedError;
};

function keyTypeOf(blob: Buffer): string {
  try {
    return new SshReader(blob).readUtf8('host key type');
  } catch {
    return 'unknown';
  }
}

/**
 * Returns an ssh2 `hostVerifier`: an X.509 host key (`x509v3-*`) is
 * accepted when its certificate chain verifies to one of
 * `hostTrustAnchors` for `host` (path, purpose, name, key, revocation; the
 * exchange-hash signature is checked in the key exchange); any other host
 * key, or an X.509 one without anchors, goes to the known_hosts files with
 * OpenSSH's StrictHostKeyChecking meanings. With neither, every host key is
 * refused. Each refusal carries a reason code ({@link HostKeyRefusedError}).
 *
 * Pass {@link x509HostKeyAlgorithms} as `algorithms.serverHostKey`, so that
 * ssh2 offers the x509v3 host key algorithms.
 */
export function x509HostVerifier(options: X509HostVerifierOptions): X509HostVerifier {
  installSsh2HostKeyCompat();
  const port = options.port ?? 22;
  const mode = options.strictHostKeyChecking ?? 'yes';
  let certVerifier: Promise<HostCertificateVerifier> | undefined;
  const state: { last?: HostKeyCheck; refusal?: HostKeyRefusedError } = {};

  const decide = async (key: Buffer): Promise<HostKeyCheck> => {
    const keyType = keyTypeOf(key);
    const x509 = ALGORITHMS.some((a) => a.name === keyType);
    if (x509 && options.hostTrustAnchors?.length) {
      // known_hosts still speaks: @revoked refuses, and a Subject: entry of this host binds the leaf (PKIX-SSH).
      let bound: HostKeyDecision | undefined;
      for (const file of options.knownHosts ?? []) {
        const d = await checkHostKey(file, options.host, port, key, 'yes', { certificateTrusted: true });
        if (d.status === 'revoked') {
          const refusal = new HostKeyRefusedError('revokedHostKey', d.message);
          return { accepted: false, keyType, via: 'known-hosts', knownHosts: d, refusal, message: refusal.message };
        }
        if (d.status === 'known') bound ??= d;
      }
      // The verifier (pkijs) is loaded only when an X.509 host key is met.
      certVerifier ??= import('../../verify/host.js').then((m) => m.HostCertificateVerifier.create({ ...options, hostTrustAnchors: options.hostTrustAnchors! }));
      const r = await (await certVerifier).verify(options.host, key, { hostNameBound: bound !== undefined });
      if (r.ok) return { accepted: true, keyType, via: 'certificate', certificate: r, ...(bound ? { knownHosts: bound } : {}), message: r.message };
      // A certificate that fails is refused: known_hosts cannot override the anchors' answer.
      const refusal = new HostKeyRefusedError(r.reason ?? 'internalError', `${options.host}: ${r.message}`);
      return { accepted: false, keyType, via: 'certificate', certificate: r, refusal, message: refusal.message };
    }
    for (const [i, file] of (options.knownHosts ?? []).entries()) {
      const last = i === (options.knownHosts?.length ?? 0) - 1;
      // Only the last file may add the key; earlier ones are looked up with `yes`.
      const d = await checkHostKey(file, options.host, port, key, last ? mode : 'yes', options.ask ? { ask: options.ask } : {});
      if (d.status === 'unknown' && !last) continue;
      if (d.accepted) return { accepted: true, keyType, via: 'known-hosts', knownHosts: d, message: d.message };
      const reason = d.status === 'revoked' ? 'revokedHostKey' : d.status === 'changed' ? 'changedHostKey' : d.status === 'declined' ? 'declinedHostKey' : 'unknownHost';
      const refusal = new HostKeyRefusedError(reason, d.message);
      return { accepted: false, keyType, via: 'known-hosts', knownHosts: d, refusal, message: refusal.message };
    }
    const why = x509 ? `no host trust anchor is configured for the ${keyType} host key of ${options.host}` : `no known_hosts file and no host trust anchor to check the ${keyType} host key of ${options.host}`;
    const refusal = new HostKeyRefusedError('unknownHost', why);
    return { accepted: false, keyType, via: 'none', refusal, message: refusal.message };
  };

  const verifier = (key: Buffer, verify: (valid: boolean) => void): void => {
    state.refusal = undefined;
    if (!Buffer.isBuffer(key)) {
      // ssh2 passes a hex digest instead when `hostHash` is set: nothing can be checked from that.
      const refusal = new HostKeyRefusedError('internalError', `${options.host}: x509HostVerifier needs the host key itself; do not set ssh2's hostHash option`);
      state.last = { accepted: false, keyType: 'unknown', via: 'none', refusal, message: refusal.message };
      state.refusal = refusal;
      options.onDecision?.(state.last);
      verify(false);
      return;
    }
    setHostKeySignaturePolicy(key, {
      acceptX509FormatName: options.laxAcceptX509SignatureName ?? false,
      onRefused: (message) => {
        state.refusal = new HostKeyRefusedError('badSignature', `${options.host}: ${message}`);
      },
    });
    decide(key).then(
      (d) => {
        state.last = d;
        if (d.refusal) state.refusal = d.refusal;
        options.onDecision?.(d);
        verify(d.accepted);
      },
      (e: unknown) => {
        const refusal = new HostKeyRefusedError('internalError', `${options.host}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        state.last = { accepted: false, keyType: keyTypeOf(key), via: 'none', refusal, message: refusal.message };
        state.refusal = refusal;
        options.onDecision?.(state.last);
        verify(false);
      },
    );
  };
  return Object.defineProperties(verifier, {
    last: { get: () => state.last, enumerable: true },
    refusal: { get: () => state.refusal, enumerable: true },
  }) as X509HostVerifier;
}

/** Options of {@link x509HostKeyAlgorithms}. */
export interface X509HostKeyAlgorithmsOptions {
  /** The x509v3 names to offer, in order (default: every non-SHA-1 one). */
  algorithms?: readonly string[];
  /** Also offer `x509v3-ssh-rsa` (SHA-1). Off by default. */
  allowSha1Algorithms?: boolean;
  /** Offer only x509v3 host keys, not ssh2's plain ones after them. */
  x509Only?: boolean;
}

/**
 * The list for ssh2's `algorithms.serverHostKey`: the x509v3 host key
 * algorithms first, then (unless `x509Only`) ssh2's own defaults. Typed as
 * ssh2's `ServerHostKeyAlgorithm[]` so that it goes into a `ConnectConfig`
 * as it is: ssh2 accepts the x509v3 names once this has installed the
 * compatibility module (it does so itself).
 */
export function x509HostKeyAlgorithms(options: X509HostKeyAlgorithmsOptions = {}): ServerHostKeyAlgorithm[] {
  installSsh2HostKeyCompat();
  const allowed = [...allowedAlgorithms({ algorithms: options.algorithms, allowSha1Algorithms: options.allowSha1Algorithms })].filter((a) => !a.legacy);
  const order = options.algorithms ?? allowed.map((a) => a.name);
  const names = order.filter((n) => allowed.some((a) => a.name === n));
  return (options.x509Only ? names : [...names, ...defaultServerHostKeyAlgorithms()]) as ServerHostKeyAlgorithm[];
}
