/**
 * The ssh2 client adapter: RFC 6187 user authentication for an ssh2
 * `Client`, with asynchronous signing (smartcards) through an in-process
 * agent. Knows only the {@link Signer} interface.
 *
 * @module
 */
import { findAlgorithm, getAlgorithm, keyMismatch, RAW_SIGNATURE_ALGORITHMS, rawSignatureAlgorithm, type AlgorithmInfo, type HashName } from '../../algorithms.js';
import { openSshPublicKeyLine, sshPublicKeyBlob } from '../../keys/ssh-public-key.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { encodePublicKeyBlob } from '../../rfc6187/publickey-blob.js';
import { ecdsaRawToDer, primitiveToSsh } from '../../rfc6187/signature.js';
import type { Signer } from '../../signers/signer.js';
import type { OcspStapler } from '../../verify/revocation/stapler.js';
import type { X509KeyInfo } from './bridge/client-auth.js';
import { installSsh2Compat } from './compat.js';
import { emitTrace, describeIdentity, type TraceLogger } from '../trace.js';
import type { AnyAuthMethod, AuthenticationType, BaseAgent, NextAuthHandler } from 'ssh2';

/** Options for {@link createX509Agent} and {@link x509AuthMethod}. */
export interface X509ClientOptions {
  /** One signer, or several tried in order (several certificates on one card). */
  signer: Signer | readonly Signer[];
  /**
   * Algorithms to offer, in order of preference. Default: every algorithm
   * the leaf key can serve, best first, without the SHA-1 ones
   * (`x509v3-ssh-rsa`, `x509v3-ssh-dss`), which are sent only when listed here.
   */
  algorithms?: readonly string[];
  /** DER OCSP responses to staple in the blob; the i-th answers for the i-th certificate. */
  ocspResponses?: readonly Uint8Array[];
  /**
   * Staple each certificate's current OCSP response, fetched from its AIA
   * responder by this {@link OcspStapler} (cached until shortly before
   * nextUpdate) when the connection authenticates; replaces `ocspResponses`.
   * A responder that does not answer leaves the blob without a response.
   */
  ocspStapler?: Pick<OcspStapler, 'responses'>;
  /**
   * The most publickey attempts (signer x algorithm pairs offered) to make.
   * Servers commonly disconnect after 3 to 6 failures. Default: no cap.
   */
  maxAttempts?: number;
  /** Receives what is tried and why it failed; never a PIN, a key or a signature. */
  logger?: TraceLogger;
  /**
   * Use the certificate's key as a plain SSH key (`rsa-sha2-256`/`-512`,
   * `ssh-rsa`, `ecdsa-sha2-*`, `ssh-ed25519`) for servers without RFC 6187,
   * as SecureCRT's "Use certificate as raw SSH2 key". Without `algorithms`
   * ssh2 negotiates the RSA hash from the server's `server-sig-algs`; with
   * `algorithms` naming plain ones (`rsa-sha2-512`, `ssh-rsa`, ...) exactly
   * those are offered. `ocspResponses` does not apply.
   */
  rawKey?: boolean;
  /**
   * Ask the server whether it accepts each certificate before signing (the
   * publickey query, answered by PK_OK) even for signers that sign
   * unattended ({@link Signer.signsUnattended}, such as
   * {@link SoftwareSigner}), which otherwise send the signed request at
   * once, one round trip fewer. Signers that may ask for a PIN always ask
   * the server first. Default: `false`.
   */
  askFirst?: boolean;
}

/** One identity offered to the server: a signer with one algorithm. */
interface Identity {
  readonly signer: Signer;
  /** The x509v3 row, or for raw keys the row whose plain key type this is (for signature conversions). */
  readonly algorithm: AlgorithmInfo;
  /** Raw key that ssh2 itself signs for (ssh2 picks the RSA hash): ECDSA goes back as DER. */
  readonly ssh2Native: boolean;
  /** The hash, when this library picks it (x509v3, or a raw algorithm named in `algorithms`). */
  readonly hash?: HashName | null;
  /** The algorithm name on the wire, when this library picks it (x509v3, or a raw algorithm named in `algorithms`). */
  readonly wireName?: string;
  readonly key: object;
}

function asList<T>(v: T | readonly T[]): readonly T[] {
  return Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

/**
 * The algorithms to offer for `signer`: the requested ones its key can serve,
 * in the requested order, or by default the non-SHA-1 ones it can serve.
 * Throws `ERR_ALGORITHM_UNSUPPORTED` for an unknown requested name and
 * `ERR_KEY_ALGORITHM_MISMATCH` when none of the requested ones fits the key.
 */
export function algorithmsFor(signer: Signer, requested?: readonly string[]): AlgorithmInfo[] {
  if (!requested || requested.length === 0) {
    const all = signer.chain.algorithms();
    if (all.length === 0) {
      throw new SshX509Error(
        ErrorCodes.KEY_ALGORITHM_MISMATCH,
        `no algorithm without SHA-1 fits the certificate ${signer.chain.leaf.subject} (${signer.chain.keyFacts.keyType}${signer.chain.keyFacts.bits ? ` ${signer.chain.keyFacts.bits}` : ''}); request x509v3-ssh-rsa explicitly if the server needs it`,
      );
    }
    return all;
  }
  const wanted = requested.map((n) => getAlgorithm(n));
  const usable = wanted.filter((a) => keyMismatch(a, signer.chain.keyFacts) === undefined);
  if (usable.length === 0) {
    const why = wanted.map((a) => keyMismatch(a, signer.chain.keyFacts)).join('; ');
    throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, `no requested algorithm fits the certificate ${signer.chain.leaf.subject}: ${why}`);
  }
  return usable;
}

/** The hash for a raw-key signature: ssh2's choice for RSA (rsa-sha2-256/512, ssh-rsa), the curve's for ECDSA. */
function rawHash(algorithm: AlgorithmInfo, requested: unknown): HashName | null {
  if (algorithm.keyType === 'rsa') return requested === 'sha256' || requested === 'sha512' || requested === 'sha1' ? requested : 'sha1';
  return algorithm.hash;
}

/**
 * Creates an in-process ssh2 agent (a `BaseAgent`) whose identities are the
 * signers' certificate chains, one per algorithm, and whose signing calls
 * {@link Signer.sign} asynchronously. Installs the ssh2 compatibility fix
 * ({@link installSsh2Compat}) so that the signature carries the RFC 6187
 * format name.
 *
 * For a signer that may ask for a PIN (a smartcard), ssh2 asks the server
 * about each identity first (the publickey query, no signature) and signs
 * only after the server answers PK_OK, so the PIN is asked only for a
 * certificate the server would accept. A signer that signs unattended
 * ({@link Signer.signsUnattended}: a key file) sends the signed request at
 * once, as OpenSSH does for a private key file it has read, unless
 * {@link X509ClientOptions.askFirst}.
 *
 * Use it as `{ type: 'agent', username, agent }` in an `authHandler`, or as
 * the `agent` option of `Client.connect()`.
 */
export function createX509Agent(options: X509ClientOptions): BaseAgent {
  const compat = installSsh2Compat();
  const signers = asList(options.signer);
  if (signers.length === 0) throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'no signer given');
  const log = options.logger;
  const identities: Identity[] = [];
  // What the server answered, inferred from what ssh2 sends next: a new offer after an
  // unsigned one means no PK_OK; after a signed one, the signature was refused.
  // The identity's trace fields are made only when there is a logger (the subject DN costs @peculiar/x509's load).
  let current: { fields: () => Record<string, string>; signed: boolean; atOnce: boolean } | undefined;
  const refused = (why: string) => {
    if (!current) return;
    const what = current.atOnce ? 'server refused the key or its signature' : current.signed ? 'server refused the signature' : 'server refused the key (no PK_OK)';
    if (log) emitTrace(log, 'warn', what, { ...current.fields(), ...(why ? { detail: why } : {}) });
    current = undefined;
  };
  const sent = (describe: () => Record<string, string>) => {
    let memo: Record<string, string> | undefined;
    const fields = () => (memo ??= describe());
    return (signed: boolean) => {
      if (!signed || current?.fields !== fields) {
        // A new attempt: the previous one was refused. Signed without a query first, it is offered signed.
        refused('');
        current = { fields, signed, atOnce: signed };
        if (log) emitTrace(log, 'info', fields().key === 'raw' ? 'offering key' : 'offering certificate', { ...fields(), signed });
      } else {
        current = { fields, signed: true, atOnce: false };
        if (log) emitTrace(log, 'debug', 'sending signed request', { ...fields(), signed });
      }
    };
  };
  /**
   * Signs for one identity and gives ssh2 the signature as it expects it:
   * `sshHash` is ssh2's choice of RSA hash for a raw key it signs for.
   */
  const signFor = (ident: Identity, data: Buffer, sshHash: unknown, when: 'after PK_OK' | 'at once', done: (err: Error | null, sig?: Buffer) => void): void => {
    const hash = ident.ssh2Native ? rawHash(ident.algorithm, sshHash) : (ident.hash ?? null);
    // The name on the wire: for a raw RSA key ssh2 picks the hash, so rsa-sha2-256/512 or ssh-rsa, never the x509v3 row's.
    const wire = ident.wireName ?? (ident.algorithm.keyType === 'rsa' ? RAW_SIGNATURE_ALGORITHMS.find((r) => r.keyType === 'rsa' && r.hash === hash)?.name : undefined) ?? ident.algorithm.plainKeyType;
    if (log) {
      const message = when === 'at once' ? 'signing at once, without a publickey query (the key is at hand)' : 'server accepted the key (PK_OK); signing';
      emitTrace(log, when === 'at once' ? 'debug' : 'info', message, { ...describeIdentity(ident.signer.chain, wire), ...(ident.wireName === ident.algorithm.name ? {} : { key: 'raw' }) });
    }
    ident.signer.sign(data, hash).then(
      (primitive) => {
        try {
          // Raw ECDSA goes back to ssh2 as DER, which ssh2 converts to SSH form itself.
          const out = ident.ssh2Native && ident.algorithm.keyType === 'ec' ? ecdsaRawToDer(primitive, ident.algorithm) : primitiveToSsh(primitive, ident.algorithm);
          done(null, Buffer.from(out));
        } catch (e) {
          done(e as Error);
        }
      },
      (e: unknown) => {
        emitTrace(log, 'error', `signing failed: ${(e as Error).message}`, { code: (e as SshX509Error).code });
        done(e instanceof Error ? e : new SshX509Error(ErrorCodes.SIGN_FAILED, String(e)));
      },
    );
  };
  /**
   * An identity whose key this library makes (x509v3, or a named raw
   * algorithm). For a signer that signs unattended (unless `askFirst`) the
   * key gets `signAtOnce`, which answers ssh2's query with the signed
   * request; a failed signature sends the query after all, and ssh2's own
   * PK_OK path then reports it as it reports any agent's failure. `info` is
   * added to, not copied (its `publicKeyBlob` may be a getter).
   */
  const madeKeyIdentity = (base: Omit<Identity, 'key'>, info: X509KeyInfo, comment: () => string): Identity => {
    const ident: Omit<Identity, 'key'> & { key?: object } = { ...base };
    if (base.signer.signsUnattended === true && !options.askFirst) {
      const signAtOnce: X509KeyInfo['signAtOnce'] = (data, done) => signFor(ident as Identity, data, undefined, 'at once', (err, sig) => done(err ? undefined : sig));
      Object.assign(info, { signAtOnce });
    }
    ident.key = compat.makeKey(info, comment);
    return ident as Identity;
  };
  const staple: Array<{ signer: Signer; set: (responses: readonly Uint8Array[]) => void }> = [];
  for (const signer of signers) {
    if (options.rawKey) {
      const row = signer.chain.algorithms({ allowSha1: true })[0];
      if (!row) throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, `the key of ${signer.chain.leaf.subject} has no plain SSH key type`);
      if (!options.algorithms?.length) {
        // ssh2 signs as for any plain key and negotiates the RSA hash from server-sig-algs. The key's comment (the
        // label: by default the leaf's subject, which loads the X.509 library) is read only if ssh2 lists the key
        // (a forwarded agent), as the comment of the same line would read.
        const key = compat.parsePublicKey(openSshPublicKeyLine(signer.chain.publicKey));
        let comment: string | undefined;
        Object.defineProperty(key, 'comment', {
          get: () => (comment ??= (compat.parsePublicKey(openSshPublicKeyLine(signer.chain.publicKey, signer.label)) as { comment: string }).comment),
          enumerable: true,
          configurable: true,
        });
        identities.push({ signer, algorithm: row, ssh2Native: true, key });
        continue;
      }
      // Named raw algorithms (rsa-sha2-512, ssh-rsa, ...): sent as named, whatever the server advertises.
      const publicKeyBlob = sshPublicKeyBlob(signer.chain.publicKey);
      for (const name of options.algorithms) {
        const raw = rawSignatureAlgorithm(name, signer.chain.keyFacts);
        identities.push(
          madeKeyIdentity(
            { signer, algorithm: row, ssh2Native: false, hash: raw.hash, wireName: raw.name },
            { algorithm: name, publicKeyBlob, signatureFormat: name, onSend: sent(() => ({ ...describeIdentity(signer.chain, name), key: 'raw' })) },
            () => `${signer.label} (${name})`,
          ),
        );
      }
      continue;
    }
    for (const algorithm of algorithmsFor(signer, options.algorithms)) {
      const blob = (ocspResponses: readonly Uint8Array[]) => encodePublicKeyBlob({ algorithm: algorithm.name, certificates: signer.chain.der, ocspResponses });
      let publicKeyBlob = blob(options.ocspResponses ?? []);
      if (options.ocspStapler) staple.push({ signer, set: (responses) => (publicKeyBlob = blob(responses)) });
      identities.push(
        madeKeyIdentity(
          { signer, algorithm, ssh2Native: false, hash: algorithm.hash, wireName: algorithm.name },
          {
            algorithm: algorithm.name,
            // Read when the key is offered: after getIdentities() has stapled the current responses.
            get publicKeyBlob() {
              return publicKeyBlob;
            },
            signatureFormat: algorithm.signatureFormat,
            onSend: sent(() => describeIdentity(signer.chain, algorithm.name)),
          },
          () => `${signer.label} (${algorithm.name})`,
        ),
      );
    }
  }
  const cap = options.maxAttempts;
  if (cap !== undefined && (!Number.isInteger(cap) || cap < 1)) throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `maxAttempts must be a positive integer, got ${cap}`);
  const offered = cap === undefined ? identities : identities.slice(0, cap);
  if (cap !== undefined && identities.length > cap) {
    emitTrace(log, 'warn', `attempt cap ${cap} leaves ${identities.length - cap} of ${identities.length} identities untried`, { maxAttempts: cap });
  }

  const Base = compat.BaseAgent as new () => {
    getIdentities(cb: (err: Error | null, keys?: object[]) => void): void;
    sign(pubKey: object, data: Buffer, options: unknown, cb?: (err: Error | null, sig?: Buffer) => void): void;
  };
  class X509Agent extends Base {
    /**
     * Told by {@link x509AuthHandler} that the server refused the whole
     * method (every identity offered): traces the last refusal with the
     * methods the server still allows.
     */
    authenticationFailed(methodsLeft: readonly string[] | null): void {
      refused(methodsLeft ? `server allows: ${methodsLeft.join(',') || '(none)'}` : '');
    }

    override getIdentities(cb: (err: Error | null, keys?: object[]) => void): void {
      const stapler = options.ocspStapler;
      if (!stapler || staple.length === 0) return cb(null, offered.map((i) => i.key));
      void Promise.all(
        staple.map(async ({ signer, set }) => {
          try {
            const responses = await stapler.responses(signer.chain.der);
            set(responses);
            emitTrace(log, responses.length ? 'info' : 'warn', responses.length ? 'stapling OCSP response' : 'no OCSP response to staple', describeIdentity(signer.chain, ''));
          } catch (e) {
            emitTrace(log, 'warn', `no OCSP response to staple: ${(e as Error).message}`, describeIdentity(signer.chain, ''));
          }
        }),
      ).then(() => cb(null, offered.map((i) => i.key)));
    }

    override sign(pubKey: object, data: Buffer, opts: unknown, cb?: (err: Error | null, sig?: Buffer) => void): void {
      const done = typeof opts === 'function' ? (opts as typeof cb)! : cb!;
      const ident = offered.find((i) => i.key === pubKey);
      if (!ident) {
        done(new SshX509Error(ErrorCodes.SIGN_FAILED, 'the agent was asked to sign with a key it does not hold'));
        return;
      }
      signFor(ident, data, (opts as { hash?: unknown } | undefined)?.hash, 'after PK_OK', done);
    }
  }
  // ssh2's BaseAgent at run time (compat.BaseAgent), typed as @types/ssh2 declares it.
  return new X509Agent() as unknown as BaseAgent;
}

/** An ssh2 `authHandler` entry (ssh2's `AgentAuthMethod` with the agent of {@link createX509Agent}). */
export interface AgentAuthMethod {
  type: 'agent';
  username: string;
  agent: BaseAgent;
}

/**
 * The `authHandler` entry that authenticates `username` with the signers'
 * certificates: `{ type: 'agent', username, agent }`.
 */
export function x509AuthMethod(username: string, options: X509ClientOptions): AgentAuthMethod {
  return { type: 'agent', username, agent: createX509Agent(options) };
}

/**
 * The function form of ssh2's `authHandler`, assignable to `ConnectConfig['authHandler']`
 * (`AuthHandlerMiddleware` of @types/ssh2) without a cast. It returns the
 * next method to try, or `false` when there is none (ssh2 takes a returned
 * value as it takes one passed to `next`). `methodsLeft` and
 * `partialSuccess` are `null` on the first call.
 */
export type AuthHandlerFunction = (
  methodsLeft: AuthenticationType[] | null,
  partialSuccess: boolean | null,
  next: NextAuthHandler,
) => AnyAuthMethod | AuthenticationType | false;

/**
 * An ssh2 `authHandler` that tries the X.509 certificates first and then,
 * optionally, the methods in `then`. It also tells the agent when the server
 * has refused the certificates, so that the trace says why the last one
 * failed and which methods the server still allows.
 *
 * @example
 * ```ts
 * const signer = await SoftwareSigner.fromFiles({ certificateFile: 'chain.pem', keyFile: 'key.pem' });
 * new Client().connect({ host, username: 'alice', hostVerifier, authHandler: x509AuthHandler('alice', { signer }) });
 * ```
 */
export function x509AuthHandler(username: string, options: X509ClientOptions, then: ReadonlyArray<AnyAuthMethod | AuthenticationType> = []): AuthHandlerFunction {
  const first = x509AuthMethod(username, options);
  const methods: ReadonlyArray<AnyAuthMethod | AuthenticationType> = [first, ...then];
  let next = 0;
  return (methodsLeft) => {
    if (next === 1) (first.agent as unknown as { authenticationFailed(m: readonly string[] | null): void }).authenticationFailed(methodsLeft);
    return next < methods.length ? methods[next++]! : false;
  };
}
