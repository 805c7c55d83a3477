import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { algorithmsForKey, type AlgorithmInfo, type KeyFacts } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { fingerprints, type Fingerprints } from './fingerprint.js';
import { keyFacts } from './key.js';
import { parseCertificateModels, parseCertificates, readCertificateModels, x509Of, type CertificateInput } from './load.js';
import { parsedCertificate, type ParsedCertificate } from './model.js';

/** Options for ordering a set of certificates into a chain. */
export interface ChainOptions {
  /**
   * Keep the self-signed root at the end of the chain. Off by default: RFC
   * 6187 lets the sender leave it out, and Cisco IOS rejects a chain that has it.
   */
  includeRoot?: boolean;
  /**
   * The leaf, when known (for example the certificate matching a private
   * key). Without it the leaf is the one certificate that issued none of the
   * others; other certificates outside its chain are then an error.
   */
  leaf?: X509Certificate | ((cert: X509Certificate) => boolean);
}

/** {@link ChainOptions} on the library's certificate model. */
export interface ModelChainOptions {
  includeRoot?: boolean;
  leaf?: (cert: ParsedCertificate) => boolean;
}

/** True when `issuer` plausibly issued `cert`: names match, and key identifiers when both have them (OpenSSL's check). */
function issued(issuer: ParsedCertificate, cert: ParsedCertificate): boolean {
  return issuer !== cert && cert.issuedBy(issuer);
}

/**
 * {@link orderChain} on the library's certificate model: leaf first, each
 * next one certifying the one before; duplicates dropped.
 */
export function orderCertificates(input: readonly ParsedCertificate[], options: ModelChainOptions = {}): ParsedCertificate[] {
  const seen = new Set<string>();
  const certs = input.filter((c) => {
    if (seen.has(c.id)) return false;
    seen.add(c.id);
    return true;
  });
  if (certs.length === 0) throw new SshX509Error(ErrorCodes.CHAIN_INVALID, 'no certificates given');

  let leaf: ParsedCertificate | undefined;
  const pick = options.leaf;
  if (pick) {
    leaf = certs.find(pick);
    if (!leaf) throw new SshX509Error(ErrorCodes.CHAIN_INVALID, 'the leaf certificate is not among the certificates given');
  } else {
    const candidates = certs.filter((c) => !certs.some((o) => o !== c && !o.nativeSelfIssued && issued(c, o)) && (!c.nativeSelfIssued || certs.length === 1));
    if (candidates.length !== 1) {
      throw new SshX509Error(
        ErrorCodes.CHAIN_INVALID,
        candidates.length === 0
          ? 'cannot find the leaf: every certificate issued another one'
          : `cannot tell the leaf among ${candidates.length} certificates (${candidates.map((c) => c.subject).join('; ')}); give the leaf explicitly`,
      );
    }
    leaf = candidates[0]!;
  }

  const chain = [leaf];
  let cur = leaf;
  while (!cur.nativeSelfIssued) {
    const next = certs.find((c) => !chain.includes(c) && issued(c, cur));
    if (!next) break;
    chain.push(next);
    cur = next;
  }
  if (!pick && chain.length !== certs.length) {
    const extra = certs.filter((c) => !chain.includes(c)).map((c) => c.subject);
    throw new SshX509Error(ErrorCodes.CHAIN_INVALID, `certificates not in the leaf's chain: ${extra.join('; ')}`);
  }
  if (!options.includeRoot && chain.length > 1 && chain[chain.length - 1]!.nativeSelfIssued) omittedRoots.set(chain, chain.pop()!);
  return chain;
}

/**
 * The self-signed root that ordering left out (RFC 6187 lets the sender omit
 * it), by the ordered list and then by the chain made of it: so that a
 * warning about a chain knows the root was given, only not sent.
 */
const omittedRoots = new WeakMap<object, ParsedCertificate>();

/** The self-signed root given with the chain's certificates and left out of the chain, if any. */
export function omittedRoot(chain: CertificateChain): ParsedCertificate | undefined {
  return omittedRoots.get(chain);
}

/**
 * Orders certificates as RFC 6187 section 2.1 requires: the leaf first, each
 * next one certifying the one before. The self-signed root is left out
 * unless {@link ChainOptions.includeRoot} is set. Duplicates are dropped.
 * Throws `ERR_CHAIN_INVALID` when the set has no single leaf.
 */
export function orderChain(input: readonly X509Certificate[], options: ChainOptions = {}): X509Certificate[] {
  // Each model maps back to the object given (the first one, for duplicates).
  const given = new Map<ParsedCertificate, X509Certificate>();
  const models = input.map((c) => {
    const m = parsedCertificate(new Uint8Array(c.rawData), c);
    if (!given.has(m)) given.set(m, c);
    return m;
  });
  const pick = options.leaf;
  const leaf = pick === undefined ? undefined : (m: ParsedCertificate) => (typeof pick === 'function' ? pick(given.get(m)!) : given.get(m) === pick || given.get(m)!.equal(pick));
  const ordered = orderCertificates(models, { includeRoot: options.includeRoot, ...(leaf ? { leaf } : {}) });
  const out = ordered.map((m) => given.get(m)!);
  const root = omittedRoots.get(ordered);
  if (root) omittedRoots.set(out, root);
  return out;
}

/** Hands models to the constructor without a public parameter for them. */
let handoff: readonly ParsedCertificate[] | undefined;

/** A {@link CertificateChain} of certificates already in the library's model, in order (leaf first). */
export function chainOf(ordered: readonly ParsedCertificate[]): CertificateChain {
  handoff = ordered;
  try {
    const chain = new CertificateChain([]);
    const root = omittedRoots.get(ordered);
    if (root) omittedRoots.set(chain, root);
    return chain;
  } finally {
    handoff = undefined;
  }
}

/** The certificates of a chain in the library's model, leaf first. */
export function chainCertificates(chain: CertificateChain): readonly ParsedCertificate[] {
  return models.get(chain)!;
}

const models = new WeakMap<CertificateChain, readonly ParsedCertificate[]>();

/**
 * A leaf certificate and its issuers, ordered for the RFC 6187 public key
 * blob, with the facts every layer above needs.
 */
export class CertificateChain {
  /** The DER encoding of each certificate, in the same order. */
  readonly der: readonly Uint8Array[];
  /** The leaf's public key. */
  readonly publicKey: KeyObject;
  /** Key type, curve and size of the leaf's key. */
  readonly keyFacts: KeyFacts;

  private fps?: Fingerprints;
  private views?: readonly X509Certificate[];

  /** Takes certificates already in order (leaf first); see {@link CertificateChain.from} to order them. */
  constructor(ordered: readonly X509Certificate[]) {
    const list = handoff ?? ordered.map((c) => parsedCertificate(new Uint8Array(c.rawData), c));
    if (!handoff) this.views = Object.freeze([...ordered]);
    const root = handoff ? undefined : omittedRoots.get(ordered);
    if (root) omittedRoots.set(this, root);
    if (list.length === 0) throw new SshX509Error(ErrorCodes.CHAIN_INVALID, 'a chain needs at least the leaf');
    models.set(this, Object.freeze([...list]));
    this.der = Object.freeze(list.map((c) => c.der));
    const leaf = list[0]!;
    try {
      this.publicKey = leaf.publicKey;
    } catch (e) {
      throw new SshX509Error(ErrorCodes.CERT_INVALID, `unsupported public key in certificate ${leaf.subject}`, { cause: e });
    }
    this.keyFacts = keyFacts(this.publicKey);
  }

  /** Parses and orders certificates (PEM, DER, or parsed), leaf first. */
  static from(input: CertificateInput, options?: ChainOptions): CertificateChain {
    const items: readonly unknown[] = Array.isArray(input) ? input : [input];
    if (options?.leaf || !items.every((i) => typeof i === 'string' || i instanceof Uint8Array)) {
      return new CertificateChain(orderChain(parseCertificates(input), options));
    }
    return chainOf(orderCertificates(parseCertificateModels(input), { includeRoot: options?.includeRoot }));
  }

  /** Reads, parses and orders certificates from one or more PEM or DER files. */
  static async fromFiles(paths: string | readonly string[], options?: ChainOptions): Promise<CertificateChain> {
    const list = typeof paths === 'string' ? [paths] : paths;
    const certs = (await Promise.all(list.map((p) => readCertificateModels(p)))).flat();
    if (options?.leaf) return new CertificateChain(orderChain(certs.map((c) => x509Of(c)), options));
    return chainOf(orderCertificates(certs, { includeRoot: options?.includeRoot }));
  }

  /** The certificates, leaf first. */
  get certificates(): readonly X509Certificate[] {
    return (this.views ??= Object.freeze(chainCertificates(this).map((c) => x509Of(c))));
  }

  /** The leaf certificate. */
  get leaf(): X509Certificate {
    return this.certificates[0]!;
  }

  /** The leaf's subject DN (`O=Org, CN=alice`). */
  get subject(): string {
    return chainCertificates(this)[0]!.subject;
  }

  /** Fingerprints of the leaf. */
  get fingerprints(): Fingerprints {
    return (this.fps ??= fingerprints(this.der[0]!));
  }

  /** The X.509v3 algorithms the leaf's key can serve, best first. */
  algorithms(options: { allowSha1?: boolean } = {}): AlgorithmInfo[] {
    return algorithmsForKey(this.keyFacts, options);
  }
}
