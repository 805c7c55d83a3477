/**
 * The server half of RFC 6187 for an ssh2 `Server`: X.509 host keys
 * (a host certificate chain whose key signs through a {@link Signer}, so
 * that it can stay on a token) offered under the `x509v3-*` host key
 * algorithms, and a `server-sig-algs` (RFC 8308) that names the x509v3
 * algorithms the user-authentication verifier accepts, so that clients
 * which only offer what the server lists (PKIX-SSH, AsyncSSH) offer them.
 *
 * @module
 */
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { RAW_SIGNATURE_ALGORITHMS, type AlgorithmInfo } from '../../algorithms.js';
import { readInputFile } from '../../certs/load.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { HOST_ROLES } from '../../keys/content.js';
import { readPrivateKey } from '../../keys/private-key.js';
import { plainKeyType, sshPublicKeyBlob } from '../../keys/ssh-public-key.js';
import { encodePublicKeyBlob } from '../../rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../../rfc6187/signature.js';
import type { Signer } from '../../signers/signer.js';
import type { X509Verifier } from '../../verify/verifier.js';
import { emitTrace, describeIdentity, type TraceLogger } from '../trace.js';
import { algorithmsFor } from './client.js';
import type { X509HostKeyInfo } from './bridge/server.js';
import { installSsh2Compat } from './compat.js';
import { applyServerLimits, resolveServerLimits, type GracefulClose, type ServerLimits } from './bridge/limits.js';
import type { ParsedKey } from 'ssh2';

/** One X.509 host key of an ssh2 `Server`. */
export interface X509HostKey {
  /** Signs with the host certificate's key: a `SoftwareSigner`, a `Pkcs11Signer`, or any {@link Signer}. */
  signer: Signer;
  /**
   * Host key algorithms to offer for it, in order. Default: every
   * algorithm its key can serve without SHA-1 (`x509v3-ecdsa-sha2-*`,
   * `x509v3-rsa2048-sha256`, `x509v3-ssh-ed25519`); `x509v3-ssh-rsa` only
   * when listed here.
   */
  algorithms?: readonly string[];
  /**
   * DER OCSP responses stapled into K_S (the i-th answers for the i-th
   * certificate of the chain), so that clients without network access can
   * check revocation. A function is asked again at every key exchange, so
   * that a fresher response can be served.
   */
  ocspResponses?: readonly Uint8Array[] | (() => readonly Uint8Array[]);
}

/**
 * Options of {@link x509Server}. The limits ({@link ServerLimits}) are
 * sshd's, on by default with sshd's defaults: LoginGraceTime 120 s,
 * MaxAuthTries 6, MaxStartups 10:30:100, no PerSourceMaxStartups,
 * MaxSessions 10; and 10 s of shutdown grace.
 */
export interface X509ServerOptions extends ServerLimits {
  /** X.509 host keys, offered in this order ahead of the server's plain `hostKeys`. */
  hostKeys?: readonly (Signer | X509HostKey)[];
  /**
   * The verifier of user authentication: the x509v3 algorithms its policy
   * accepts are advertised in `server-sig-algs`, ahead of ssh2's own names.
   */
  verifier?: X509Verifier;
  /** Further names to advertise in `server-sig-algs` after the verifier's (for example when verifying without an {@link X509Verifier}). */
  serverSigAlgs?: readonly string[];
  /** Receives one event per host key signature failure and per refusal of a limit (with the source address); never a key or a signature. */
  logger?: TraceLogger;
}

/** What {@link x509Server} returns: the same server, whose `close()` stops gracefully and returns a promise. */
export type X509ServerOf<T> = Omit<T, 'close'> & GracefulClose;

/** What one offered host key algorithm needs: the compat module's view, and who signs. */
function hostKeyInfo(signer: Signer, algorithm: AlgorithmInfo, ocsp: X509HostKey['ocspResponses'], log: TraceLogger | undefined): X509HostKeyInfo {
  const responses = typeof ocsp === 'function' ? ocsp : () => ocsp ?? [];
  return {
    algorithm: algorithm.name,
    publicKeyBlob: () => encodePublicKeyBlob({ algorithm: algorithm.name, certificates: signer.chain.der, ocspResponses: responses() }),
    signExchangeHash: async (exchangeHash) => {
      try {
        // RFC 6187 section 3: string(signature format name) + string(signature), as for user signatures.
        return encodeSignatureBlob(algorithm, await signer.sign(exchangeHash, algorithm.hash));
      } catch (e) {
        emitTrace(log, 'error', `host key signature failed: ${e instanceof Error ? e.message : String(e)}`, { ...describeIdentity(signer.chain, algorithm.name), code: (e as SshX509Error).code });
        throw e;
      }
    },
  };
}

function isSigner(k: Signer | X509HostKey): k is Signer {
  return typeof (k as Signer).sign === 'function' && 'chain' in k;
}

/**
 * Makes an ssh2 `Server` an RFC 6187 server: its connections offer the
 * given X.509 host keys under the `x509v3-*` host key algorithms (ahead of
 * its plain host keys, which stay as they are), sign the exchange hash
 * through each key's {@link Signer} (asynchronously: a token works) with
 * the RFC 6187 section 3 signature format name, and send a
 * `server-sig-algs` that lists the x509v3 names the verifier accepts ahead
 * of ssh2's own. It puts sshd's limits on the server ({@link ServerLimits}:
 * login grace time, authentication tries, unauthenticated connections in all
 * and per source, sessions per connection) and replaces its `close()` by a
 * graceful one that resolves when every connection is closed
 * ({@link GracefulClose}). Call it once, right after `new Server(...)`;
 * calling it again replaces the options for later connections. A `Server`
 * not given to this function behaves exactly as ssh2 makes it.
 *
 * Throws `ERR_INVALID_ARGUMENT` for a limit out of range,
 * `ERR_KEY_ALGORITHM_MISMATCH` when a requested algorithm does not
 * fit a host key, `ERR_ALGORITHM_UNSUPPORTED` for an unknown name,
 * `ERR_SSH2_UNSUPPORTED` on an ssh2 it does not recognise.
 *
 * @example
 * ```ts
 * const hostSigner = await SoftwareSigner.fromFiles({ certificateFile: 'host-chain.pem', keyFile: 'host-key.pem' });
 * const verifier = await X509Verifier.create({ trustAnchors: ['users-ca.pem'], account: { map: 'upn-local' } });
 * const server = x509Server(new Server({ hostKeys: [] }, (client) => {
 *   client.on('authentication', x509Authentication(verifier));
 * }), { hostKeys: [hostSigner], verifier, loginGraceTime: 30 });
 * server.listen(22);
 * process.once('SIGTERM', () => void server.close());
 * ```
 */
export function x509Server<T extends object>(server: T, options: X509ServerOptions): X509ServerOf<T> {
  resolveServerLimits(options);
  const compat = installSsh2Compat();
  const hostKeys: X509HostKeyInfo[] = [];
  for (const entry of options.hostKeys ?? []) {
    const k: X509HostKey = isSigner(entry) ? { signer: entry } : entry;
    if (!k?.signer || typeof k.signer.sign !== 'function') throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'x509Server: every host key needs a signer');
    for (const algorithm of algorithmsFor(k.signer, k.algorithms)) hostKeys.push(hostKeyInfo(k.signer, algorithm, k.ocspResponses, options.logger));
  }
  const sigAlgs = [...(options.verifier?.acceptedAlgorithms ?? []), ...(options.serverSigAlgs ?? [])];
  compat.attachServer(server, { hostKeys, serverSigAlgs: sigAlgs.filter((n, i) => sigAlgs.indexOf(n) === i) });
  applyServerLimits(server, options, options.logger);
  return server as unknown as X509ServerOf<T>;
}

/** An entry for an ssh2 `Server`'s `hostKeys` (ssh2's `{ key }` form, with a key object ssh2 takes as parsed), typed as @types/ssh2 accepts it. */
export interface Ssh2HostKeyEntry {
  readonly key: ParsedKey;
}

/** Options of {@link readHostKeyFile}. */
export interface HostKeyOptions {
  /** Passphrase of an encrypted key (encrypted PKCS#8, or an encrypted OpenSSH key). */
  passphrase?: string;
}

function hostKeyError(where: string, what: string, cause?: unknown): SshX509Error {
  return new SshX509Error(ErrorCodes.KEY_INVALID, `${where}: ${what}`, cause === undefined ? undefined : { cause });
}

/**
 * Reads a plain SSH host key for an ssh2 `Server`'s `hostKeys`
 * (`new Server({ hostKeys: [await readHostKeyFile('host.pem')] })`); see
 * `parsePrivateKey` for the formats and errors.
 */
export async function readHostKeyFile(path: string, options: HostKeyOptions = {}): Promise<Ssh2HostKeyEntry> {
  return plainHostKey(readPrivateKey(await readInputFile(path, 'host key file'), `host key file ${path}`, options, HOST_ROLES), path);
}

/**
 * A node:crypto private key as a plain SSH host key for an ssh2 `Server`'s
 * `hostKeys` (ssh2 itself reads no PKCS#8). RSA serves `rsa-sha2-512`,
 * `rsa-sha2-256` and `ssh-rsa` as ssh2 negotiates them.
 */
export function plainHostKey(key: KeyObject, where = 'host key'): Ssh2HostKeyEntry {
  if (key.type !== 'private') throw hostKeyError(where, 'holds a public key, not a private key');
  let type: string;
  try {
    type = plainKeyType(key);
  } catch (e) {
    throw hostKeyError(where, `holds a ${key.asymmetricKeyType ?? 'unknown'} key, which cannot be an SSH host key`, e);
  }
  const curveHash = RAW_SIGNATURE_ALGORITHMS.find((r) => r.name === type)?.hash ?? null;
  const ssh2Key = installSsh2Compat().makePlainHostKey({
    type,
    publicKeyBlob: sshPublicKeyBlob(createPublicKey(key)),
    sign: (data, hash) => {
      try {
        // As ssh2's own keys: RSA with ssh2's hash (SHA-1 for ssh-rsa), ECDSA in DER (ssh2 converts it), Ed25519 bare.
        return cryptoSign(key.asymmetricKeyType === 'rsa' ? (hash ?? 'sha1') : curveHash, data, key);
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    },
  });
  // A parsed key as ssh2 makes them (compat derives it from one of ssh2's own).
  return { key: ssh2Key as ParsedKey };
}
