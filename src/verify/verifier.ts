/**
 * The server-side verifier of RFC 6187 user authentication, free of any SSH
 * framework: given the algorithm name, the public key blob, the signed data
 * and the signature (or no signature: the query form), it decides, and
 * explains the decision.
 *
 * @module
 */
import type { X509Certificate } from '@peculiar/x509';
import { findAlgorithm, keyMismatch, type AlgorithmInfo } from '../algorithms.js';
import { chainOf, type CertificateChain } from '../certs/chain.js';
import type { ParsedCertificate } from '../certs/model.js';
import { keyFacts } from '../certs/key.js';
import { ErrorCodes, SshX509Error, isSshX509Error } from '../errors.js';
import { decodeLegacyCertificateBlob, decodePublicKeyBlob, type BlobLimits } from '../rfc6187/publickey-blob.js';
import { loadCertificateSources, type CertificateSource } from './anchors.js';
import { bindAccount, bindingFacts, type AccountBindingOptions, type AccountBindingResult, type BindingFacts } from './binding.js';
import { LruCache } from './cache.js';
import { CertificateStore, IssuanceChecker, sha256Hex, type VerifierCertificate } from './certificates.js';
import { checkBlobCertificates, checkKeySize, pkixRefusalReason, validatePath, withDecodableExtensions } from './path.js';
import { allowedAlgorithms, checkLeafPurpose, type AlgorithmPolicy, type LeafPolicy } from './policy.js';
import { Refusal, VerificationRefusedError, refuse, type RefusalReason } from './reasons.js';
import { RevocationChecker, type RevocationOptions, type RevocationOutcome, type RevocationSource } from './revocation/checker.js';
import { checkUserSignature, userSignatureKey, verifyUserSignature, type UserSignatureKey } from './signature.js';

/** Options of {@link X509Verifier}. */
export interface X509VerifierOptions extends AlgorithmPolicy, LeafPolicy {
  /** Trust anchors: PEM/DER files, directories, PEM text, DER bytes, or parsed certificates. At least one. */
  trustAnchors: readonly CertificateSource[];
  /** A pool of intermediates the server knows, beside those the client sends. */
  intermediates?: readonly CertificateSource[];
  /** How certificates are bound to accounts (fail closed: required). */
  account: AccountBindingOptions;
  /** Revocation policy; default mode `prefer`. */
  revocation?: RevocationOptions;
  /**
   * Accept only the RFC 6187 signature format name. By default the x509v3
   * name itself is also accepted as the format name (what an unpatched ssh2
   * client sends); no other name ever is.
   */
  strictSignatureFormat?: boolean;
  /** Accept SHA-1 signatures on certificates, OCSP responses and CRLs (default: only with {@link AlgorithmPolicy.allowSha1Algorithms}). */
  allowSha1CertificateSignatures?: boolean;
  /** Largest RSA modulus accepted in any certificate of the path, bits (default 8192). */
  maxRsaModulusBits?: number;
  /**
   * Accept the blob's certificates in any order. RFC 6187 section 2.1 wants
   * each to certify the one before it, and by default another order is
   * refused (`chainOrder`); duplicates and unrelated certificates are
   * refused either way.
   */
  laxChainOrder?: boolean;
  /**
   * Skip the CA issuance rules: by default a certificate of the path with a
   * serial number that is 0, negative or over 20 octets, missing or critical
   * key identifiers, a v1 CA, a weak key (RSA under 2048 bits, DSA, a curve
   * other than the NIST ones of 256, 384, 521 bits) or explicit curve parameters, or extensions of
   * the wrong criticality is refused, each with its own reason.
   */
  laxIssuanceRules?: boolean;
  /** Skip the trust anchors' own constraints (validity, critical extensions, name constraints, pathLenConstraint), enforced by default. */
  ignoreTrustAnchorConstraints?: boolean;
  /** Limits on the blob (counts and sizes). */
  limits?: BlobLimits;
  /** The clock (default `() => new Date()`): validity, OCSP and CRL times are checked against it. */
  now?: () => Date;
  /**
   * The cache of validated chains, keyed by the blob's SHA-256: a chain seen
   * before skips parsing, path validation and revocation until the earliest
   * of its certificates' notAfter, its revocation answers' nextUpdate, and
   * `maxAgeMs`. `false` turns it off.
   */
  cache?: false | { maxEntries?: number; maxAgeMs?: number };
}

/** One publickey authentication request, as on the wire (RFC 4252 section 7). */
export interface VerifyRequest {
  /** The user name of the request: the account asked for. */
  readonly username: string;
  /** The public key algorithm name of the request. */
  readonly algorithm: string;
  /** The public key blob (RFC 6187 section 2.1). */
  readonly publicKey: Uint8Array;
  /** Exactly the data that was signed (session id + request fields). Required with `signature`. */
  readonly signedData?: Uint8Array;
  /** The signature blob (`string format, string sig`); absent for the query form. */
  readonly signature?: Uint8Array;
}

/** A decision, with what it rests on. */
export interface VerifyResult {
  /** True when accepted (for a query: when a signature would be accepted, so PK_OK may be sent). */
  readonly ok: boolean;
  /** True for the query form (no signature). */
  readonly query: boolean;
  /** The account asked for. */
  readonly username: string;
  /** The account bound, when accepted. */
  readonly account?: string;
  /** How the account was bound (`map:upn`, `authorized:subject`, ...). */
  readonly binding?: string;
  /** The algorithm name of the request. */
  readonly algorithm: string;
  /** The certificates as sent (leaf first), once parsed. */
  readonly chain?: CertificateChain;
  /** The validated path, leaf first, trust anchor last. */
  readonly path?: readonly X509Certificate[];
  /** Leaf subject DN, once parsed. */
  readonly subject?: string;
  /** Leaf SHA-256 fingerprint (`SHA256:...`), once parsed. */
  readonly fingerprint?: string;
  /** Where the revocation answer for the leaf came from. */
  readonly revocationSource: RevocationSource;
  /** The revocation outcome in detail, when checked. */
  readonly revocation?: RevocationOutcome;
  /** Why it was refused. */
  readonly reason?: RefusalReason;
  /** A sentence saying what was decided and why. Never contains keys or signatures. */
  readonly message: string;
  /** True when the chain decision came from the cache of validated chains. */
  readonly cached: boolean;
}

interface ValidatedChain {
  readonly algorithm: AlgorithmInfo;
  readonly sent: readonly VerifierCertificate[];
  readonly path: readonly VerifierCertificate[];
  readonly parsed: ParsedFacts;
  readonly revocation: RevocationOutcome;
  readonly facts: BindingFacts;
  /** max notBefore of the path and the revocation answers' start ({@link RevocationOutcome.validFrom}): the cached decision holds only after it. */
  readonly validFrom: number;
  /** The `chain` and `path` getters of its results ({@link lazyParts}). */
  readonly parts: LazyParts;
  /** The message of its last acceptance, and what it was made of (the same login again says the same). */
  lastMessage?: { readonly query: boolean; readonly account: string; readonly via: string; readonly text: string };
  /** The leaf's key prepared for its logins' signatures. */
  readonly userKey: UserSignatureKey;
}

/**
 * What a result says about the certificates sent. The subject and
 * fingerprint come from the verifier's own parse; the {@link CertificateChain}
 * and the @peculiar/x509 path are made only when a caller reads them.
 */
class ParsedFacts {
  readonly subject: string;
  readonly fingerprint: string;
  private chainMemo?: CertificateChain;

  constructor(readonly sent: readonly ParsedCertificate[]) {
    const leaf = sent[0]!;
    this.subject = leaf.subject;
    this.fingerprint = `SHA256:${Buffer.from(leaf.id, 'hex').toString('base64').replace(/=+$/, '')}`;
  }

  get chain(): CertificateChain {
    return (this.chainMemo ??= chainOf(this.sent));
  }
}

/** The descriptors of a result's `chain` and `path`, and the constructor of the results they go on (see {@link lazyParts}). */
interface LazyParts {
  readonly chain: PropertyDescriptor;
  readonly path: PropertyDescriptor;
  readonly Accepted: AcceptedResult;
}

/** An accepted result's data properties after `ok`, in the order of {@link VerifyResult} (`chain` and `path` come after them). */
type AcceptedFields = [
  query: boolean,
  username: string,
  account: string,
  binding: string,
  algorithm: string,
  subject: string,
  fingerprint: string,
  revocationSource: RevocationSource,
  revocation: RevocationOutcome,
  message: string,
  cached: boolean,
];

/** Makes an accepted result from its {@link AcceptedFields}. */
type AcceptedResult = new (...fields: AcceptedFields) => VerifyResult;

/**
 * A constructor of one chain's accepted results: plain objects (their
 * prototype is `Object.prototype`, their constructor `Object`, their own
 * properties those an object literal would have), but with a hidden class
 * of the chain's own. V8 turns an object into a slow dictionary when it is
 * given a getter other than the one an earlier object of the same hidden
 * class was given at that point: with one object literal for every chain,
 * the results of every chain but the first were dictionaries, and adding
 * their getters cost three times as much.
 */
function acceptedResultConstructor(): AcceptedResult {
  const Accepted: (this: Record<string, unknown>, ...fields: AcceptedFields) => void = function (query, username, account, binding, algorithm, subject, fingerprint, revocationSource, revocation, message, cached) {
    this.ok = true;
    this.query = query;
    this.username = username;
    this.account = account;
    this.binding = binding;
    this.algorithm = algorithm;
    this.subject = subject;
    this.fingerprint = fingerprint;
    this.revocationSource = revocationSource;
    this.revocation = revocation;
    this.message = message;
    this.cached = cached;
  };
  Accepted.prototype = Object.prototype;
  return Accepted as unknown as AcceptedResult;
}

/** Adds the `chain` and `path` getters to a result, last (two `defineProperty` calls cost about half one `defineProperties`). */
function withParts<T extends object>(r: T, parts: LazyParts): T {
  Object.defineProperty(r, 'chain', parts.chain);
  return Object.defineProperty(r, 'path', parts.path);
}

/**
 * The `chain` and `path` getters of the results of one validated chain, as
 * {@link withLazyParts} makes them (own, enumerable, evaluated on first
 * read, each result with its own `path` array), and the constructor of
 * those results ({@link acceptedResultConstructor}), made once per chain:
 * defining fresh ones per result costs more than a warm login's own work.
 */
function lazyParts(parsed: ParsedFacts, path: readonly VerifierCertificate[]): LazyParts {
  const paths = new WeakMap<object, X509Certificate[]>();
  return {
    Accepted: acceptedResultConstructor(),
    chain: { enumerable: true, configurable: true, get: () => parsed.chain },
    path: {
      enumerable: true,
      configurable: true,
      get(this: unknown): X509Certificate[] {
        const result = typeof this === 'object' && this !== null ? this : undefined;
        let p = result && paths.get(result);
        if (!p) {
          p = path.map((c) => c.x509);
          if (result) paths.set(result, p);
        }
        return p;
      },
    },
  };
}

/** Adds `chain` and `path` to a result as getters evaluated on first read (they parse with @peculiar/x509). */
function withLazyParts<T extends object>(r: T, parsed: ParsedFacts | undefined, path: readonly VerifierCertificate[] | undefined): T {
  if (parsed) Object.defineProperty(r, 'chain', { enumerable: true, configurable: true, get: () => parsed.chain });
  if (path) {
    let memo: X509Certificate[] | undefined;
    Object.defineProperty(r, 'path', { enumerable: true, configurable: true, get: () => (memo ??= path.map((c) => c.x509)) });
  }
  return r;
}

/** A 32-bit sample of a blob: its length and 64 of its bytes, spread over it (a lookup key only; equality is checked on the bytes). */
function sampleOf(b: Uint8Array): number {
  let h = b.length | 0;
  const step = Math.max(1, Math.floor(b.length / 64));
  for (let i = b.length - 1; i >= 0; i -= step) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h;
}

function sigPolicyOf(options: X509VerifierOptions): { allowSha1: boolean } {
  return { allowSha1: options.allowSha1CertificateSignatures ?? options.allowSha1Algorithms ?? false };
}

/**
 * Verifies RFC 6187 publickey authentication requests. Create with
 * {@link X509Verifier.create} (it reads trust anchors, pools and CRLs).
 */
export class X509Verifier {
  private readonly store = new CertificateStore();
  private readonly issuance: IssuanceChecker;
  private readonly revocation: RevocationChecker;
  private readonly allowed: ReadonlySet<AlgorithmInfo>;
  private readonly cache: LruCache<string, ValidatedChain> | undefined;
  private readonly maxAgeMs: number;
  /** Copies of blobs whose chains were validated lately, and their SHA-256, by {@link sampleOf}: see {@link X509Verifier.blobKey}. */
  private readonly recentBlobs = new Map<number, { blob: Buffer; key: string }>();
  /** The one of {@link recentBlobs} seen last, compared first. */
  private lastBlob: { blob: Buffer; key: string } | undefined;
  private anchors: VerifierCertificate[] = [];
  private pool: VerifierCertificate[] = [];
  /** The clock of {@link X509VerifierOptions.now}, in epoch ms (`Date.now` without one: a cache hit makes no Date). */
  private readonly clock: () => number;

  private constructor(private readonly options: X509VerifierOptions) {
    const sigPolicy = sigPolicyOf(options);
    this.issuance = new IssuanceChecker(sigPolicy);
    this.revocation = new RevocationChecker(options.revocation ?? {}, this.store, this.issuance, sigPolicy);
    this.allowed = allowedAlgorithms(options);
    this.cache = options.cache === false ? undefined : new LruCache(options.cache?.maxEntries ?? 1000);
    this.maxAgeMs = (options.cache !== false && options.cache?.maxAgeMs) || 10 * 60_000;
    const now = options.now;
    this.clock = now ? () => now().getTime() : Date.now;
  }

  /** Reads the trust anchors, the intermediate pool and the CRL files, and returns a ready verifier. */
  static async create(options: X509VerifierOptions): Promise<X509Verifier> {
    const v = new X509Verifier(options);
    const anchors = await loadCertificateSources(options.trustAnchors, 'trust anchor file');
    if (anchors.length === 0) {
      throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, 'no trust anchors configured');
    }
    v.anchors = anchors.map((c) => v.store.fromX509(c));
    v.pool = (await loadCertificateSources(options.intermediates ?? [], 'intermediate certificate file')).map((c) => v.store.fromX509(c));
    await v.revocation.load();
    // The anchors' keys check every path: import them now, at configuration time, not in the first login.
    await Promise.all(v.anchors.map((a) => a.loadPublicKey().catch(() => undefined)));
    return v;
  }

  /** The public key algorithm names this verifier's policy accepts, in the algorithms table's order (for `server-sig-algs`). */
  get acceptedAlgorithms(): readonly string[] {
    return [...this.allowed].map((a) => a.name);
  }

  /** The revocation mode in force. */
  get revocationMode(): string {
    return this.revocation.mode;
  }

  /**
   * Decides one request. Never throws for anything the client sent: a
   * refusal is a result with `ok: false` and a {@link RefusalReason}.
   */
  verify(req: VerifyRequest): Promise<VerifyResult> {
    // An async function, but without one's own promise and frame: a warm login decides synchronously.
    try {
      const r = this.decide(req);
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * {@link X509Verifier.verify}'s decision: made synchronously for a chain
   * found in the cache and an account bound without waiting (a warm login),
   * else a promise of it (the chain validated, or the binding awaited).
   */
  private decide(req: VerifyRequest): VerifyResult | Promise<VerifyResult> {
    const t = this.clock();
    const query = req.signature === undefined;
    let hit: ValidatedChain | undefined;
    let alg: AlgorithmInfo | undefined;
    let key = '';
    try {
      alg = findAlgorithm(req.algorithm);
      if (!alg || !this.allowed.has(alg)) {
        refuse('algorithmNotAllowed', `public key algorithm ${JSON.stringify(req.algorithm)} is ${alg ? 'not allowed by policy' : 'not an X.509v3 algorithm known here'}`);
      }
      if (!query && !req.signedData) refuse('badSignature', 'a signature without the signed data cannot be verified');

      key = this.cache ? this.blobKey(req.publicKey) : '';
      const found = this.cache?.get(key, t);
      if (found && t >= found.validFrom && found.algorithm === alg) {
        hit = found;
        if (!query) checkUserSignature(found.userKey, req.signedData!, req.signature!, this.options.strictSignatureFormat);
        const binding = bindAccount(found.facts, req.username, this.options.account);
        return binding instanceof Promise ? this.acceptWhenBound(req, query, alg, found, binding) : this.accepted(req, query, alg, found, binding, true);
      }
    } catch (e) {
      return this.refused(e, req, query, hit, hit?.parsed, hit !== undefined);
    }
    return this.validateAndAccept(req, query, alg, key, t);
  }

  /** A chain found in the cache, once the binding's promise settles. */
  private async acceptWhenBound(req: VerifyRequest, query: boolean, alg: AlgorithmInfo, entry: ValidatedChain, binding: Promise<AccountBindingResult>): Promise<VerifyResult> {
    try {
      return this.accepted(req, query, alg, entry, await binding, true);
    } catch (e) {
      return this.refused(e, req, query, entry, entry.parsed, true);
    }
  }

  /** A chain not in the cache: validated (and cached), then bound. */
  private async validateAndAccept(req: VerifyRequest, query: boolean, alg: AlgorithmInfo, key: string, t: number): Promise<VerifyResult> {
    let entry: ValidatedChain | undefined;
    let parsed: ParsedFacts | undefined;
    try {
      // The bytes `key` was made from and `validate` decodes now, before anything is awaited: the caller may reuse its buffer meanwhile.
      const blob = this.cache ? Buffer.from(req.publicKey) : undefined;
      const at = new Date(t);
      entry = await this.validate(req, alg, at, (f) => (parsed = f));
      if (this.cache) {
        this.cache.set(key, entry, this.expiry(entry, at));
        this.rememberBlob(blob!, key);
      }
      const binding = bindAccount(entry.facts, req.username, this.options.account);
      return this.accepted(req, query, alg, entry, binding instanceof Promise ? await binding : binding, false);
    } catch (e) {
      return this.refused(e, req, query, entry, parsed, false);
    }
  }

  /** The result of an accepted login (its message made again only when it differs from the chain's last one). */
  private accepted(req: VerifyRequest, query: boolean, alg: AlgorithmInfo, entry: ValidatedChain, bound: AccountBindingResult, cached: boolean): VerifyResult {
    const facts = entry.parsed;
    let said = entry.lastMessage;
    if (said?.query !== query || said.account !== bound.account || said.via !== bound.via) {
      const text = `${query ? 'would accept' : 'accepted'} ${facts.subject} as ${JSON.stringify(bound.account)} via ${alg.name} (${bound.via}, revocation ${entry.revocation.source})`;
      said = entry.lastMessage = { query, account: bound.account, via: bound.via, text };
    }
    const parts = entry.parts;
    return withParts(
      new parts.Accepted(query, req.username, bound.account, bound.via, alg.name, facts.subject, facts.fingerprint, entry.revocation.source, entry.revocation, said.text, cached),
      parts,
    );
  }

  /** The result of a refused login: what was parsed and validated before the refusal, and why. */
  private refused(e: unknown, req: VerifyRequest, query: boolean, entry: ValidatedChain | undefined, p: ParsedFacts | undefined, cached: boolean): VerifyResult {
    const reason: RefusalReason = e instanceof Refusal ? e.reason : (pkixRefusalReason(e) ?? 'internalError');
    const why = e instanceof Error ? e.message : String(e);
    return withLazyParts<VerifyResult>(
      {
        ok: false,
        query,
        username: req.username,
        algorithm: req.algorithm,
        ...(p ? { subject: p.subject, fingerprint: p.fingerprint } : {}),
        ...(entry ? { revocation: entry.revocation } : {}),
        revocationSource: entry?.revocation.source ?? 'none',
        reason,
        message: `refused (${reason}): ${why}`,
        cached,
      },
      p,
      entry?.path,
    );
  }

  /**
   * The blob's SHA-256, the chain cache's key. A blob whose chain was
   * validated lately is found by a sample of its bytes (or, first, as the
   * one found last) and confirmed byte for byte against a copy, so that a
   * warm login does not hash its blob again; any other is hashed.
   */
  private blobKey(blob: Uint8Array): string {
    // The blob of the last login whose chain was found or validated first (the signed request after its query, the same user again).
    const last = this.lastBlob;
    if (last && blob instanceof Uint8Array && last.blob.equals(blob)) return last.key;
    const seen = this.recentBlobs.get(sampleOf(blob));
    if (seen?.blob.equals(blob)) {
      this.lastBlob = seen;
      return seen.key;
    }
    return sha256Hex(blob);
  }

  /** Remembers `blob` (the verifier's own copy) of a chain just validated and cached, as many as the chain cache holds (never a blob that was refused). */
  private rememberBlob(blob: Buffer, key: string): void {
    const max = this.cache?.maxEntries ?? 0;
    if (max === 0) return;
    const fp = sampleOf(blob);
    this.recentBlobs.delete(fp);
    while (this.recentBlobs.size >= max) this.recentBlobs.delete(this.recentBlobs.keys().next().value as number);
    const seen = { blob, key };
    this.recentBlobs.set(fp, seen);
    this.lastBlob = seen;
  }

  /** Like {@link X509Verifier.verify}, but throws a {@link VerificationRefusedError} on refusal. */
  async verifyOrThrow(req: VerifyRequest): Promise<VerifyResult> {
    const r = await this.verify(req);
    if (!r.ok) throw new VerificationRefusedError(r.reason ?? 'internalError', r.message);
    return r;
  }

  private expiry(entry: ValidatedChain, at: Date): number {
    let t = Math.min(at.getTime() + this.maxAgeMs, ...entry.path.map((c) => c.notAfter.getTime()));
    if (entry.revocation.validUntil) t = Math.min(t, entry.revocation.validUntil.getTime());
    // Nothing answered (mode prefer): try the sources again soon.
    if (this.revocation.mode !== 'off' && entry.revocation.source === 'none') t = Math.min(t, at.getTime() + 60_000);
    return t;
  }

  /** What every path validation of this verifier is given besides the certificates and the time. */
  private pathOptions() {
    return {
      allowSha1: sigPolicyOf(this.options).allowSha1,
      issuance: this.issuance,
      ...(this.options.maxRsaModulusBits !== undefined ? { maxRsaModulusBits: this.options.maxRsaModulusBits } : {}),
      ...(this.options.laxChainOrder ? { laxChainOrder: true } : {}),
      ...(this.options.laxIssuanceRules ? { laxIssuanceRules: true } : {}),
      ...(this.options.ignoreTrustAnchorConstraints ? { ignoreTrustAnchorConstraints: true } : {}),
    };
  }

  private async validate(
    req: VerifyRequest,
    alg: AlgorithmInfo,
    at: Date,
    onParsed: (f: ParsedFacts) => void,
  ): Promise<ValidatedChain> {
    let blob;
    try {
      // A legacy name (x509v3-sign-rsa) carries the leaf's bare DER, no name and no intermediates (PKIX-SSH's form).
      blob = alg.legacy ? decodeLegacyCertificateBlob(req.publicKey, alg.name, this.options.limits) : decodePublicKeyBlob(req.publicKey, this.options.limits);
    } catch (e) {
      if (isSshX509Error(e, ErrorCodes.ALGORITHM_UNSUPPORTED)) refuse('algorithmNotAllowed', e.message);
      refuse('malformedBlob', e instanceof Error ? e.message : String(e));
    }
    if (blob.algorithm !== alg.name) {
      refuse('malformedBlob', `the blob names algorithm ${JSON.stringify(blob.algorithm)}, the request ${JSON.stringify(alg.name)}`);
    }
    let sent: ParsedCertificate[];
    try {
      sent = blob.certificates.map((d) => this.store.get(d));
    } catch (e) {
      refuse('malformedBlob', `a certificate in the blob cannot be parsed: ${e instanceof Error ? e.message : String(e)}`);
    }
    checkBlobCertificates(sent, this.options.maxRsaModulusBits);
    const leaf = sent[0]!;
    const parsed = new ParsedFacts(sent);
    onParsed(parsed);
    let leafKey;
    try {
      leafKey = await leaf.loadPublicKey();
    } catch (e) {
      refuse('unsupportedKey', `the leaf's public key cannot be used: ${e instanceof Error ? e.message : String(e)}`);
    }
    checkKeySize(leafKey, this.options.maxRsaModulusBits);
    const mismatch = keyMismatch(alg, keyFacts(leafKey));
    if (mismatch) refuse('keyAlgorithmMismatch', mismatch);
    // The signature first: it is the cheapest check, and a forged request then costs no path building or fetching.
    if (req.signature) verifyUserSignature(alg, leafKey, req.signedData!, req.signature, this.options.strictSignatureFormat);

    // Every request validates its own blob in full: what a path built for another blob proved says nothing about this one's order,
    // duplicates, unrelated or missing certificates (issue 22). The certificate signatures above the leaf are remembered per
    // (certificate, issuer) pair by the IssuanceChecker, a pure function of the two, so a new leaf under a known CA costs no more.
    const path = await validatePath(sent, { ...this.pathOptions(), anchors: this.anchors, pool: this.pool, at });
    withDecodableExtensions(leaf, () => checkLeafPurpose(leaf, this.options));
    const stapled = new Map<string, Uint8Array>();
    blob.ocspResponses.forEach((r, i) => {
      if (r.length > 0) stapled.set(sent[i]!.id, r);
    });
    const revocation = await this.revocation.check(path, stapled, at, this.pool);
    return {
      algorithm: alg,
      sent,
      path,
      parsed,
      revocation,
      facts: bindingFacts(leaf, this.options.account),
      validFrom: Math.max(...path.map((c) => c.notBefore.getTime()), revocation.validFrom?.getTime() ?? Number.NEGATIVE_INFINITY),
      parts: lazyParts(parsed, path),
      lastMessage: undefined,
      userKey: userSignatureKey(alg, leafKey),
    };
  }
}

/** Creates an {@link X509Verifier} (reads trust anchors, pool and CRL files). */
export function createX509Verifier(options: X509VerifierOptions): Promise<X509Verifier> {
  return X509Verifier.create(options);
}
