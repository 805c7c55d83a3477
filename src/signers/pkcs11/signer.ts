/**
 * A {@link Signer} whose private key stays on a PKCS#11 token (smartcard,
 * HSM, SoftHSM).
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Session, SessionObject } from 'graphene-pk11';
import { findCurve, HASHES, type HashName } from '../../algorithms.js';
import type { CertificateChain } from '../../certs/chain.js';
import type { CertificateInput } from '../../certs/load.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import type { Signer } from '../signer.js';
import { CKF_TOKEN, CKM_NAMES, CKR_GONE, CKR, CKU_CONTEXT_SPECIFIC, ckrName, ckrOf } from './constants.js';
import { closeQuietly, describeCert, loginTarget, parseSelection, readExtraCertificates, selectCertificate, tokenChain, withDiscovery, type Discovery, type FoundCertificate } from './discover.js';
import { candidateMechanisms, mechanismNames, parseMechanismNames, planSignature, slotSignMechanisms } from './mechanisms.js';
import { acquireModule, type ModuleRef } from './module.js';
import { askPin, assertNotLocked, describeToken, loginError, loginSession, safeFlags, type LoginTarget, type PinContext, type PinSource } from './pin.js';
import { attr, ckkFor, findPrivateKey, openSession, type CertObject, type TokenEntry } from './tokens.js';
import type { Pkcs11Uri } from './uri.js';
import { DEFAULT_POLL_INTERVAL_MS } from './watch.js';

/** Options for {@link Pkcs11Signer.open}. */
export interface Pkcs11SignerOptions {
  /** Path of the PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so` (or give `module-path` in the URI). */
  module?: string;
  /** An RFC 7512 `pkcs11:` URI selecting the token and/or the certificate. */
  uri?: string | Pkcs11Uri;
  /** The certificate's CKA_LABEL. */
  label?: string;
  /** The certificate's CKA_ID: hex (`01`, `4a:6b`) or bytes. */
  id?: string | Uint8Array;
  /** A fingerprint of the certificate: `SHA256:<base64>`, SHA-256 hex, or a SHA-1 thumbprint. */
  fingerprint?: string;
  /**
   * Asked once for the user PIN when the token needs a login and has no
   * PIN pad, and again before every signature when the key is marked
   * CKA_ALWAYS_AUTHENTICATE (a PIV card's 9C key; the second argument says
   * `'per-signature'`). Without it such a token fails at once with
   * `ERR_PIN_REQUIRED`.
   */
  pin?: PinSource;
  /**
   * Intermediate certificates beyond those on the token: PEM/DER contents or
   * parsed certificates. The chain is ordered from the leaf whatever the order.
   */
  intermediates?: CertificateInput;
  /** Files (PEM or DER) holding intermediate certificates. */
  intermediatesFile?: string | readonly string[];
  /** Keep a self-signed root at the end of the chain (off by default; see ChainOptions). */
  includeRoot?: boolean;
  /**
   * Restricts the mechanisms the signer may use to these (`CKM_RSA_PKCS`,
   * `CKM_SHA256_RSA_PKCS`, ...), on top of what the token reports. For
   * testing the fallbacks, and for tokens that report a mechanism they
   * implement badly. Not needed otherwise.
   */
  allowMechanisms?: readonly (string | number)[];
  /**
   * How often to check that the token is still in its slot, in ms (default
   * 1000; 0 = no polling: only right before a signature, where the module
   * looks at its readers at most every 250 ms, and when a signature fails).
   */
  pollIntervalMs?: number;
  /**
   * Defer the login (and the PIN prompt) and the private-key lookup to the
   * first signature. The chain is read at open, without a PIN (certificates
   * are public), so a client can offer the certificate and sign, and ask for
   * the PIN, only after the server answered PK_OK. A failed login is reported
   * by that signature and by every later one, never retried.
   */
  loginOnFirstSign?: boolean;
}

/** A signer on a token; also an EventEmitter emitting `'removed'` (with an `ERR_TOKEN_REMOVED` error) once when the token leaves. */
export interface Pkcs11Signer {
  on(event: 'removed', listener: (error: SshX509Error) => void): this;
  once(event: 'removed', listener: (error: SshX509Error) => void): this;
  off(event: 'removed', listener: (error: SshX509Error) => void): this;
  emit(event: 'removed', error: SshX509Error): boolean;
}

/** Where the signer's key is: for messages, listings and traces. */
export interface Pkcs11KeyLocation {
  readonly slotId: string;
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  /** The slot description: for a smartcard, the reader's name. */
  readonly reader: string;
  /** CKA_ID as hex. */
  readonly id: string;
  /** CKA_LABEL of the certificate. */
  readonly label: string;
}

/**
 * A {@link Signer} over a private key on a PKCS#11 token. Open it with
 * {@link Pkcs11Signer.open}: it holds one session and one login for its
 * lifetime, signs on the token with the mechanisms the token reports,
 * serialises concurrent signatures, and emits `'removed'` when the token
 * leaves its slot. Close it with {@link Pkcs11Signer.close}; the module is
 * finalized when its last signer closes.
 *
 * @example
 * ```ts
 * const signer = await Pkcs11Signer.open({
 *   module: '/usr/lib/softhsm/libsofthsm2.so',
 *   uri: 'pkcs11:token=alice;object=ssh',
 *   pin: async () => process.env.PIN!,
 * });
 * signer.onRemoved(() => console.log('card removed'));
 * const sig = await signer.sign(data, 'sha256');
 * await signer.close();
 * ```
 */
export class Pkcs11Signer extends EventEmitter implements Signer {
  /** The chain, leaf first: the leaf from the token, intermediates from the token and/or the files given. */
  readonly chain: CertificateChain;
  /** `pkcs11:<token>/<label>` for traces. */
  readonly label: string;
  /** Where the key is. */
  readonly location: Pkcs11KeyLocation;
  /**
   * The CKM_* names the signer may use, as the token reports them (after
   * `allowMechanisms`). Empty until the login when `loginOnFirstSign` is set.
   */
  get mechanisms(): readonly string[] {
    return [...(this.#ready?.available ?? [])].map((m) => CKM_NAMES.get(m) ?? `0x${m.toString(16)}`);
  }

  /** True once the signer has logged in and found its private key. */
  get isLoggedIn(): boolean {
    return this.#ready !== undefined;
  }

  /** True when the key is marked CKA_ALWAYS_AUTHENTICATE: every signature asks for the PIN (known after the login). */
  get perSignaturePin(): boolean {
    return this.#ready?.alwaysAuth ?? false;
  }

  readonly #mod: ModuleRef;
  readonly #token: TokenEntry;
  #session: Session;
  #ready: Prepared | undefined;
  readonly #prepare: (session: Session) => Promise<Prepared>;
  readonly #pin: PinSource | undefined;
  /** A refused PIN is remembered and reported again, never retried: retry loops lock cards. */
  #prepareFailed: unknown;
  /**
   * Set when the token dropped the login (a failed per-signature login, or
   * CKR_USER_NOT_LOGGED_IN): the next signature opens a new session and logs
   * in again. (OpenSC then refuses any per-signature login until a new user
   * login; SoftHSM keeps the signing operation active.)
   */
  #loginLost = false;
  #queue: Promise<unknown> = Promise.resolve();
  /** C_Sign's output buffer, reused: signatures are serialised, and each result is copied out. */
  readonly #out = Buffer.alloc(1024);
  #unwatch: () => void;
  #removed: SshX509Error | undefined;
  #closing: Promise<void> | undefined;

  private constructor(init: {
    mod: ModuleRef;
    token: TokenEntry;
    session: Session;
    cert: CertObject;
    chain: CertificateChain;
    ready: Prepared | undefined;
    prepare: (session: Session) => Promise<Prepared>;
    pin: PinSource | undefined;
    pollIntervalMs: number;
  }) {
    super();
    this.#mod = init.mod;
    this.#token = init.token;
    this.#session = init.session;
    this.#ready = init.ready;
    this.#prepare = init.prepare;
    this.#pin = init.pin;
    this.chain = init.chain;
    this.label = `pkcs11:${init.token.label}/${init.cert.label || init.cert.id.toString('hex')}`;
    this.location = Object.freeze({
      slotId: init.token.slotId,
      tokenLabel: init.token.label,
      tokenSerial: init.token.serial,
      reader: init.token.slotDescription,
      id: init.cert.id.toString('hex'),
      label: init.cert.label,
    });
    this.#unwatch = init.mod.watcher.watch(init.token.slot.handle, init.token.label, init.token.serial, init.pollIntervalMs, (reason) => this.#markRemoved(reason));
  }

  /**
   * Opens the module, finds the one certificate the selection names (URI,
   * label, id, fingerprint: all given criteria must match; with none, the
   * only end-entity certificate on the tokens), logs in, and finds its
   * private key (same CKA_ID).
   *
   * Throws: `ERR_PKCS11_MODULE_MISSING` / `_INVALID`, `ERR_PKCS11_UNAVAILABLE`,
   * `ERR_URI_INVALID`, `ERR_TOKEN_NOT_FOUND`, `ERR_OBJECT_NOT_FOUND` (no such
   * certificate, or no private key for it), `ERR_OBJECT_AMBIGUOUS`,
   * `ERR_PIN_REQUIRED`, `ERR_PIN_INCORRECT`, `ERR_PIN_LOCKED`,
   * `ERR_PIN_EXPIRED`, `ERR_CHAIN_INVALID`, `ERR_PKCS11_MECHANISM_UNSUPPORTED`.
   */
  static async open(options: Pkcs11SignerOptions): Promise<Pkcs11Signer> {
    const selection = parseSelection(options);
    const { uri } = selection;
    if (!(options.module ?? uri?.modulePath)) throw new SshX509Error(ErrorCodes.PKCS11_MODULE_MISSING, 'no PKCS#11 module given (option module, or module-path in the URI)');
    const allowed = options.allowMechanisms ? parseMechanismNames(options.allowMechanisms) : undefined;
    const extra = await readExtraCertificates(options);
    return withDiscovery({ module: options.module, uri }, (d) => {
      const found = selectCertificate(d, selection);
      return Pkcs11Signer.fromDiscovery(d, found, tokenChain(found, extra, options.includeRoot), { ...options, allowed });
    });
  }

  /**
   * @internal A signer over a certificate a discovery pass found: its own
   * module reference and session, so that it outlives the pass.
   */
  static async fromDiscovery(
    d: Discovery,
    f: FoundCertificate,
    chain: CertificateChain,
    options: Pick<Pkcs11SignerOptions, 'pin' | 'loginOnFirstSign' | 'pollIntervalMs'> & { allowed?: ReadonlySet<number> | undefined },
  ): Promise<Pkcs11Signer> {
    const { token } = f.found;
    const mod = acquireModule(d.mod.path);
    let session: Session | undefined;
    try {
      session = openSession(token);
      const prepare = (s: Session, knownFlags?: number) => prepareKey(token, s, f.cert, chain, options.pin, options.allowed, knownFlags);
      // The discovery read the token's flags a moment ago: the login at open uses them.
      const ready = options.loginOnFirstSign ? undefined : await prepare(session, token.flags);
      return new Pkcs11Signer({ mod, token, session, cert: f.cert, chain, ready, prepare, pin: options.pin, pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS });
    } catch (e) {
      if (session) closeQuietly(session);
      mod.release();
      throw e;
    }
  }

  /**
   * Signs on the token (see {@link Signer.sign} for the output format).
   * Concurrent calls are queued and run one after the other on the signer's
   * one session. With a key marked CKA_ALWAYS_AUTHENTICATE, each signature
   * first asks the PIN source (context `'per-signature'`) and logs in for
   * that signature alone (C_Login CKU_CONTEXT_SPECIFIC after C_SignInit).
   *
   * Rejects with `ERR_TOKEN_REMOVED` at once once the token has left (right
   * before a signature the module looks at its readers when it has not for
   * 250 ms, so that no C_Sign goes to a card whose removal is known; a removal
   * noticed since then fails the signature itself at once, reported alike); `ERR_PIN_INCORRECT` /
   * `ERR_PIN_LOCKED` when the token refused a per-signature PIN (once: every
   * later signature rejects alike, without asking; open a new signer to try
   * again); `ERR_PIN_REQUIRED` when no PIN was given; `ERR_SIGN_FAILED`
   * after {@link Pkcs11Signer.close} or when the token fails (when it lost
   * the login, the next signature logs in again); and
   * `ERR_PKCS11_MECHANISM_UNSUPPORTED` when the token offers no mechanism
   * for this hash.
   */
  sign(data: Uint8Array, hash: HashName | null): Promise<Uint8Array> {
    if (this.#removed) return Promise.reject(this.#removed);
    if (this.#closing) {
      return Promise.reject(new SshX509Error(ErrorCodes.SIGN_FAILED, `${this.label}: the signer is closed`));
    }
    const run = this.#queue.then(() => this.#signNow(data, hash));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** What PIN messages and the per-signature login need about the token, on the current session. */
  #target(): LoginTarget {
    return loginTarget(this.#token, this.#session);
  }

  /**
   * Throws `ERR_TOKEN_REMOVED` when the token is known to have left its
   * slot (see SlotWatcher.goneNow: no PKCS#11 call when the module looked
   * at its readers within 250 ms). OpenSC 0.23 can hang for ever in a C_Sign
   * sent to a card just pulled, so none is sent once the removal is known
   * (the PC/SC daemon notices within about half a second; nothing earlier
   * can; after that the card answers C_Sign with CKR_DEVICE_REMOVED at once).
   */
  #assertPresent(): void {
    if (this.#removed) throw this.#removed;
    const reason = this.#mod.watcher.goneNow(this.#token.slot.handle, this.#token.label, this.#token.serial);
    if (reason !== undefined) {
      this.#markRemoved(reason);
      throw this.#removed!;
    }
  }

  /**
   * Turns a failure into `ERR_TOKEN_REMOVED` when the token has left (per
   * the error or a check of the slot). An invalid key handle on a token
   * still present means the login was lost (SoftHSM hides private objects
   * after a logout): the next signature logs in again.
   */
  #removedBy(e: unknown, what: string): SshX509Error | undefined {
    const rv = ckrOf(e);
    if (rv === CKR.KEY_HANDLE_INVALID || rv === CKR.OBJECT_HANDLE_INVALID) {
    const reason = this.#mod.watcher.goneNow(this.#token.slot.handle, this.#token.label, this.#token.serial);
      if (reason === undefined) this.#loginLost = true;
      else this.#markRemoved(reason);
    } else if (rv !== undefined && CKR_GONE.has(rv)) this.#markRemoved(`${what} failed with ${ckrName(e)}`);
    else this.#mod.watcher.checkSlot(this.#token.slot.handle);
    return this.#removed;
  }

  /** A new session for a new login, after the token dropped the old one. */
  #reopen(): void {
    closeQuietly(this.#session);
    this.#ready = undefined;
    this.#loginLost = false;
    try {
      this.#session = openSession(this.#token);
    } catch (e) {
      throw this.#removedBy((e as { cause?: unknown }).cause ?? e, 'C_OpenSession') ?? e;
    }
  }

  async #signNow(data: Uint8Array, hash: HashName | null): Promise<Uint8Array> {
    if (this.#removed) throw this.#removed;
    if (this.#prepareFailed) throw this.#prepareFailed;
    if (this.#loginLost) this.#reopen();
    if (!this.#ready) {
      this.#assertPresent();
      try {
        this.#ready = await this.#prepare(this.#session);
      } catch (e) {
        throw this.#removedBy((e as { cause?: unknown }).cause ?? e, 'the login') ?? (this.#prepareFailed = e);
      }
    }
    const { key, available, alwaysAuth } = this.#ready;
    const { keyType, nodeCurve } = this.chain.keyFacts;
    const plan = planSignature(keyType, hash, data, available);
    const lib = this.#session.lib;
    const handle = this.#session.handle;
    const context: PinContext = { kind: 'per-signature', key: { label: this.location.label, id: this.location.id } };
    // The per-signature PIN is asked before C_SignInit: a prompt may take long, and no operation is left open meanwhile.
    let contextPin: string | undefined;
    let padLogin = false;
    if (alwaysAuth) {
      const target = this.#target();
      let flags: number;
      try {
        flags = target.tokenFlags();
      } catch (e) {
        throw this.#removedBy(e, 'C_GetTokenInfo') ?? new SshX509Error(ErrorCodes.PKCS11_FAILED, `C_GetTokenInfo on ${describeToken(target)} failed: ${ckrName(e)}`, { cause: e });
      }
      assertNotLocked(target, flags);
      padLogin = (flags & CKF_TOKEN.PROTECTED_AUTHENTICATION_PATH) !== 0;
      if (!padLogin) contextPin = await askPin(target, this.#pin, flags, context);
    }
    let sig: Buffer;
    try {
      this.#assertPresent();
      // graphene's Session/Key handles, driven through its pkcs11js instance: C_SignInit, then
      // C_Sign on the libuv thread pool so that a slow card never blocks the event loop.
      lib.C_SignInit(handle, { mechanism: plan.mechanism }, key.handle);
      if (alwaysAuth) {
        try {
          if (padLogin) lib.C_Login(handle, CKU_CONTEXT_SPECIFIC);
          else lib.C_Login(handle, CKU_CONTEXT_SPECIFIC, contextPin);
        } catch (e) {
          // Tried once, never again: the next signature starts over on a new session with a new user login.
          this.#loginLost = true;
          const removed = this.#removedBy(e, 'the per-signature login');
          if (removed) throw removed;
          const err = loginError(e, this.#target(), safeFlags(this.#target()), context);
          if (err.code === ErrorCodes.PIN_INCORRECT || err.code === ErrorCodes.PIN_LOCKED || err.code === ErrorCodes.PIN_EXPIRED) this.#prepareFailed = err;
          throw err;
        } finally {
          contextPin = undefined;
        }
      }
      sig = await new Promise<Buffer>((resolve, reject) => lib.C_Sign(handle, plan.input, this.#out, (err, out) => (err ? reject(err) : resolve(out))));
    } catch (e) {
      if (e instanceof SshX509Error) throw e;
      const removed = this.#removedBy(e, 'signing');
      if (removed) throw removed;
      const rv = ckrOf(e);
      if (rv === CKR.USER_NOT_LOGGED_IN || rv === CKR.OPERATION_ACTIVE || rv === CKR.OPERATION_NOT_INITIALIZED) this.#loginLost = true;
      const lost = this.#loginLost;
      throw new SshX509Error(
        ErrorCodes.SIGN_FAILED,
        `${this.label} on ${describeToken(this.#target())}: C_Sign (${mechanismNames([plan.mechanism])}) failed: ${ckrName(e)}${lost ? ' (the token dropped the login; the next signature logs in again)' : ''}`,
        { cause: e },
      );
    }
    if (keyType === 'ec') {
      const width = Math.ceil((findCurve(nodeCurve)?.curveBits ?? 0) / 8);
      if (width && sig.length !== 2 * width) {
        throw new SshX509Error(ErrorCodes.SIGN_FAILED, `${this.label}: the token returned a ${sig.length}-byte ECDSA signature, expected r||s of ${2 * width} bytes`);
      }
    }
    return new Uint8Array(sig);
  }

  /**
   * Subscribes to the token leaving its slot; the listener is called once
   * (at once, asynchronously, when the token has already left). Returns the
   * unsubscribe function.
   */
  onRemoved(listener: () => void): () => void {
    if (this.#removed) {
      const removed = this.#removed;
      let active = true;
      queueMicrotask(() => {
        if (active) (listener as (e: SshX509Error) => void)(removed);
      });
      return () => {
        active = false;
      };
    }
    this.once('removed', listener);
    return () => {
      this.off('removed', listener);
    };
  }

  /** True once the token has left its slot. */
  get removed(): boolean {
    return this.#removed !== undefined;
  }

  #markRemoved(reason: string): void {
    if (this.#removed) return;
    this.#removed = new SshX509Error(
      ErrorCodes.TOKEN_REMOVED,
      `${describeToken(this.#target())} was removed (${reason}): key "${this.location.label || this.location.id}" cannot sign any more; insert the card and open the signer again`,
    );
    this.#unwatch();
    this.emit('removed', this.#removed);
    void this.close();
  }

  /**
   * Waits for queued signatures, closes the session (which logs out when it
   * is the token's last) and releases the module (finalized when this was
   * its last user). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#queue.then(() => {
      this.#unwatch();
      closeQuietly(this.#session);
      this.#mod.release();
    });
    return this.#closing;
  }
}

/** The private key, found after the login, and what signing with it needs. */
interface Prepared {
  key: SessionObject;
  available: ReadonlySet<number>;
  /** CKA_ALWAYS_AUTHENTICATE: every signature needs its own login. */
  alwaysAuth: boolean;
}

/** Logs in (asking the PIN when the token needs it), finds the private key of `cert`, checks it, and picks the usable mechanisms. */
async function prepareKey(
  token: TokenEntry,
  session: Session,
  cert: CertObject,
  chain: CertificateChain,
  pin: PinSource | undefined,
  allowed: ReadonlySet<number> | undefined,
  knownFlags?: number,
): Promise<Prepared> {
  await loginSession(loginTarget(token, session, knownFlags), pin);

  const key = findPrivateKey(session, cert);
  if (!key) {
    throw new SshX509Error(ErrorCodes.OBJECT_NOT_FOUND, `${describeCert(token, cert)} has no private key on the token (looked for a private key object with the same CKA_ID)`);
  }
  const keyType = chain.keyFacts.keyType;
  const ckk = attr<number>(key, 'keyType');
  if (ckk !== undefined && ckk !== ckkFor(keyType)) {
    throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, `the private key with the CKA_ID of ${describeCert(token, cert)} is not a ${keyType} key (CKK 0x${ckk.toString(16)})`);
  }
  const modulus = keyType === 'rsa' ? attr<Buffer>(key, 'modulus') : undefined;
  if (modulus && modulus.length > 0) {
    const n = Buffer.from(chain.publicKey.export({ format: 'jwk' }).n!, 'base64url');
    if (!stripZeros(modulus).equals(stripZeros(n))) {
      throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, `the private key with the CKA_ID of ${describeCert(token, cert)} has another RSA modulus than the certificate`);
    }
  }

  let available: Set<number>;
  try {
    available = slotSignMechanisms(token.slot);
  } catch (e) {
    throw new SshX509Error(ErrorCodes.PKCS11_FAILED, `C_GetMechanismList on token "${token.label}" failed: ${ckrName(e)}`, { cause: e });
  }
  if (allowed) available = new Set([...available].filter((m) => allowed.has(m)));
  const usable = new Set([null, ...HASHES].flatMap((h) => candidateMechanisms(keyType, h)));
  available = new Set([...available].filter((m) => usable.has(m)));
  if (available.size === 0) {
    throw new SshX509Error(
      ErrorCodes.PKCS11_MECHANISM_UNSUPPORTED,
      `token "${token.label}" offers none of the mechanisms a ${keyType} key needs (${mechanismNames(usable)})${allowed ? ' among those allowed by allowMechanisms' : ''}`,
    );
  }
  return { key, available, alwaysAuth: attr<boolean>(key, 'alwaysAuth') === true };
}

function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}
