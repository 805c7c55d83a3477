import type { KeyObject } from 'node:crypto';
import { AuthorityKeyIdentifierExtension, SubjectKeyIdentifierExtension, type X509Certificate } from '@peculiar/x509';
import { algorithmsForKey, type AlgorithmInfo, type KeyFacts } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { fingerprints, type Fingerprints } from './fingerprint.js';
import { certificatePublicKey, keyFacts } from './key.js';
import { parseCertificates, readCertificateFile, type CertificateInput } from './load.js';

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

function isSelfIssued(c: X509Certificate): boolean {
  return c.subject === c.issuer;
}

function keyIdHex(ext: { keyId?: string } | null | undefined): string | undefined {
  return ext?.keyId ? ext.keyId.toLowerCase() : undefined;
}

/** True when `issuer` plausibly issued `cert`: names match, and key identifiers when both have them. */
function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  if (issuer === cert || cert.issuer !== issuer.subject) return false;
  const aki = keyIdHex(cert.getExtension(AuthorityKeyIdentifierExtension));
  const ski = keyIdHex(issuer.getExtension(SubjectKeyIdentifierExtension));
  return aki === undefined || ski === undefined || aki === ski;
}

/**
 * Orders certificates as RFC 6187 section 2.1 requires: the leaf first, each
 * next one certifying the one before. The self-signed root is left out
 * unless {@link ChainOptions.includeRoot} is set. Duplicates are dropped.
 * Throws `ERR_CHAIN_INVALID` when the set has no single leaf.
 */
export function orderChain(input: readonly X509Certificate[], options: ChainOptions = {}): X509Certificate[] {
  const seen = new Set<string>();
  const certs = input.filter((c) => {
    const fp = fingerprints(c).sha256Hex;
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
  if (certs.length === 0) throw new SshX509Error(ErrorCodes.CHAIN_INVALID, 'no certificates given');

  let leaf: X509Certificate | undefined;
  const pick = options.leaf;
  if (pick) {
    leaf = certs.find((c) => (typeof pick === 'function' ? pick(c) : c === pick || c.equal(pick)));
    if (!leaf) throw new SshX509Error(ErrorCodes.CHAIN_INVALID, 'the leaf certificate is not among the certificates given');
  } else {
    const candidates = certs.filter((c) => !certs.some((o) => o !== c && !isSelfIssued(o) && issued(c, o)) && (!isSelfIssued(c) || certs.length === 1));
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
  while (!isSelfIssued(cur)) {
    const next = certs.find((c) => !chain.includes(c) && issued(c, cur));
    if (!next) break;
    chain.push(next);
    cur = next;
  }
  if (!pick && chain.length !== certs.length) {
    const extra = certs.filter((c) => !chain.includes(c)).map((c) => c.subject);
    throw new SshX509Error(ErrorCodes.CHAIN_INVALID, `certificates not in the leaf's chain: ${extra.join('; ')}`);
  }
  if (!options.includeRoot && chain.length > 1 && isSelfIssued(chain[chain.length - 1]!)) chain.pop();
  return chain;
}

/**
 * A leaf certificate and its issuers, ordered for the RFC 6187 public key
 * blob, with the facts every layer above needs.
 */
export class CertificateChain {
  /** The certificates, leaf first. */
  readonly certificates: readonly X509Certificate[];
  /** The DER encoding of each certificate, in the same order. */
  readonly der: readonly Uint8Array[];
  /** The leaf's public key. */
  readonly publicKey: KeyObject;
  /** Key type, curve and size of the leaf's key. */
  readonly keyFacts: KeyFacts;

  private fps?: Fingerprints;

  /** Takes certificates already in order (leaf first); see {@link CertificateChain.from} to order them. */
  constructor(ordered: readonly X509Certificate[]) {
    if (ordered.length === 0) throw new SshX509Error(ErrorCodes.CHAIN_INVALID, 'a chain needs at least the leaf');
    this.certificates = Object.freeze([...ordered]);
    this.der = Object.freeze(ordered.map((c) => new Uint8Array(c.rawData)));
    this.publicKey = certificatePublicKey(ordered[0]!);
    this.keyFacts = keyFacts(this.publicKey);
  }

  /** Parses and orders certificates (PEM, DER, or parsed), leaf first. */
  static from(input: CertificateInput, options?: ChainOptions): CertificateChain {
    return new CertificateChain(orderChain(parseCertificates(input), options));
  }

  /** Reads, parses and orders certificates from one or more PEM or DER files. */
  static async fromFiles(paths: string | readonly string[], options?: ChainOptions): Promise<CertificateChain> {
    const list = typeof paths === 'string' ? [paths] : paths;
    const certs = (await Promise.all(list.map((p) => readCertificateFile(p)))).flat();
    return new CertificateChain(orderChain(certs, options));
  }

  /** The leaf certificate. */
  get leaf(): X509Certificate {
    return this.certificates[0]!;
  }

  /** Fingerprints of the leaf. */
  get fingerprints(): Fingerprints {
    return (this.fps ??= fingerprints(this.leaf));
  }

  /** The X.509v3 algorithms the leaf's key can serve, best first. */
  algorithms(options: { allowSha1?: boolean } = {}): AlgorithmInfo[] {
    return algorithmsForKey(this.keyFacts, options);
  }
}
