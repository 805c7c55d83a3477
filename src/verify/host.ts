/**
 * RFC 6187 server authentication, checked by the client: the host's
 * certificate chain (K_S, the same blob layout as a user's) validated to
 * the host trust anchors, the leaf's purpose (RFC 6187 section 2.2 for
 * servers), the host name or address against its subjectAltName, the key
 * against the algorithm, and revocation (the stapled OCSP responses in K_S
 * first). The exchange-hash signature is checked in the key exchange
 * (`src/adapters/ssh2/bridge/client-host-keys.ts`), with {@link verifyUserSignature}.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ExtendedKeyUsageExtension, KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { findAlgorithm, keyMismatch, type AlgorithmInfo } from '../algorithms.js';
import { keyFacts } from '../certs/key.js';
import { ErrorCodes, SshX509Error, isSshX509Error } from '../errors.js';
import { EKU_OIDS, EXTENSION_OIDS } from '../oids.js';
import { decodePublicKeyBlob } from '../rfc6187/publickey-blob.js';
import { loadCertificateSources, type CertificateSource } from './anchors.js';
import { CertificateStore, IssuanceChecker, type VerifierCertificate } from './certificates.js';
import { dnsNameMatches } from './pkix/peer.js';
import { checkBlobCertificates, checkKeySize, pkixRefusalReason, validatePath, withDecodableExtensions } from './path.js';
import { allowedAlgorithms, type AlgorithmPolicy } from './policy.js';
import { Refusal, refuse, type RefusalReason } from './reasons.js';
import { RevocationChecker, type RevocationOptions, type RevocationSource } from './revocation/checker.js';

export { HostKeyRefusedError, type HostRefusalReason } from './reasons.js';

/** Options of {@link HostCertificateVerifier}. */
export interface HostCertificateOptions extends AlgorithmPolicy {
  /** Host trust anchors: PEM/DER files, directories, PEM text, DER bytes, or parsed certificates. At least one. */
  hostTrustAnchors: readonly CertificateSource[];
  /** Intermediates known here, beside those in K_S. */
  intermediates?: readonly CertificateSource[];
  /** Revocation policy (`off | prefer | require`, default `prefer`); the OCSP responses stapled in K_S are used first. */
  revocation?: RevocationOptions;
  /** Also accept an extendedKeyUsage with only id-kp-serverAuth (TLS server certificates). Off by default. */
  allowServerAuthEku?: boolean;
  /** Also match the host name against the leaf's subject CN when it has no dNSName. Off by default (RFC 6125). */
  allowCommonNameHostMatch?: boolean;
  /** Let a dNSName whose left-most label is exactly `*` match one label of the host name (RFC 6125 section 6.4.3). Off by default: a host certificate names its hosts. */
  allowWildcardHostNames?: boolean;
  /** Skip the CA issuance rules (serial numbers, key identifiers, v1 CAs, weak keys, explicit curves, criticality); enforced by default. */
  laxIssuanceRules?: boolean;
  /** Skip the host trust anchors' own constraints (validity, critical extensions, name constraints, pathLenConstraint); enforced by default. */
  ignoreTrustAnchorConstraints?: boolean;
  /** Accept SHA-1 signatures on certificates, OCSP responses and CRLs (default: only with `allowSha1Algorithms`). */
  allowSha1CertificateSignatures?: boolean;
  /** The clock (default `() => new Date()`). */
  now?: () => Date;
}

/** What {@link HostCertificateVerifier.verify} decided. */
export interface HostCertificateResult {
  readonly ok: boolean;
  /** Why it was refused. */
  readonly reason?: RefusalReason;
  /** The algorithm name in K_S. */
  readonly algorithm: string;
  /** Leaf subject, issuer, and fingerprints, once parsed. */
  readonly subject?: string;
  readonly issuer?: string;
  readonly sha256?: string;
  readonly sha1?: string;
  /** The subject of the trust anchor the chain validated to. */
  readonly anchor?: string;
  /** Where the revocation answer for the leaf came from. */
  readonly revocationSource: RevocationSource;
  /** One sentence: what was decided and why. */
  readonly message: string;
}

/** `SHA256:base64` (OpenSSH's form) of the certificate's DER. */
function fingerprint(hash: 'sha256' | 'sha1', c: VerifierCertificate): string {
  return `${hash.toUpperCase()}:${createHash(hash).update(c.der).digest('base64').replace(/=+$/, '')}`;
}

/** An IP address in a canonical text form (IPv6 lower-case and compressed, as the URL parser writes it). */
function canonicalIp(ip: string): string {
  const v = isIP(ip);
  if (v === 4) return ip;
  if (v === 6) return new URL(`http://[${ip}]/`).hostname.replace(/^\[|\]$/g, '');
  return '';
}

/** Refuses unless `host` is one of the leaf's dNSName (or iPAddress for an address) subjectAltNames (RFC 6125; a wildcard only with `allowWildcard`). */
export function checkHostName(leaf: VerifierCertificate, host: string, allowCommonName = false, allowWildcard = false): void {
  // The same name, whatever its syntax (a host name the user typed), or RFC 6125 matching.
  const dnsMatches = (pattern: string, name: string): boolean =>
    pattern.toLowerCase().replace(/\.$/, '') === name.toLowerCase().replace(/\.$/, '') || dnsNameMatches(pattern, name, allowWildcard);
  const san = leaf.peculiarExtension(EXTENSION_OIDS.subjectAltName, SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare)) {
    const want = canonicalIp(bare);
    const ips = names.filter((n) => n.type === 'ip').map((n) => n.value);
    if (ips.some((ip) => canonicalIp(ip) === want)) return;
    refuse('hostNameMismatch', `the host certificate ${JSON.stringify(leaf.subject)} does not name the address ${bare} (its iPAddress names: ${ips.join(', ') || 'none'})`);
  }
  const dns = names.filter((n) => n.type === 'dns').map((n) => n.value);
  if (dns.some((d) => dnsMatches(d, bare))) return;
  if (allowCommonName && dns.length === 0) {
    const cn = /(?:^|,\s*)CN=([^,]+)/.exec(leaf.subject)?.[1];
    if (cn && dnsMatches(cn, bare)) return;
  }
  refuse('hostNameMismatch', `the host certificate ${JSON.stringify(leaf.subject)} does not name the host ${bare} (its dNSName names: ${dns.join(', ') || 'none'})`);
}

/** RFC 6187 section 2.2 for servers: keyUsage digitalSignature, EKU secureShellServer or anyExtendedKeyUsage when present. */
export function checkHostPurpose(leaf: VerifierCertificate, allowServerAuth = false): void {
  const ku = leaf.peculiarExtension(EXTENSION_OIDS.keyUsage, KeyUsagesExtension);
  if (ku && (ku.usages & KeyUsageFlags.digitalSignature) === 0) {
    refuse('keyUsage', `the host certificate's keyUsage does not assert digitalSignature (RFC 6187 section 2.2)`);
  }
  const eku = leaf.peculiarExtension(EXTENSION_OIDS.extendedKeyUsage, ExtendedKeyUsageExtension);
  if (!eku) return;
  const have = eku.usages.map(String);
  const ok = new Set<string>([EKU_OIDS.secureShellServer, EKU_OIDS.anyExtendedKeyUsage, ...(allowServerAuth ? [EKU_OIDS.serverAuth] : [])]);
  if (!have.some((o) => ok.has(o))) {
    refuse('ekuMismatch', `the host certificate's extendedKeyUsage (${have.join(', ')}) has neither id-kp-secureShellServer nor anyExtendedKeyUsage${allowServerAuth ? ' nor serverAuth' : ''}`);
  }
}

/** Verifies host certificate chains (K_S) for one set of host trust anchors. */
export class HostCertificateVerifier {
  private readonly store = new CertificateStore();
  private readonly issuance: IssuanceChecker;
  private readonly revocation: RevocationChecker;
  private readonly allowed: ReadonlySet<AlgorithmInfo>;
  private anchors: VerifierCertificate[] = [];
  private pool: VerifierCertificate[] = [];

  private constructor(private readonly options: HostCertificateOptions) {
    const sigPolicy = { allowSha1: options.allowSha1CertificateSignatures ?? options.allowSha1Algorithms ?? false };
    this.issuance = new IssuanceChecker(sigPolicy);
    this.revocation = new RevocationChecker(options.revocation ?? {}, this.store, this.issuance, sigPolicy);
    this.allowed = allowedAlgorithms(options);
  }

  /** Reads the anchors, intermediates and CRL files. Throws `ERR_VERIFIER_CONFIG_INVALID` without an anchor. */
  static async create(options: HostCertificateOptions): Promise<HostCertificateVerifier> {
    const v = new HostCertificateVerifier(options);
    const anchors = await loadCertificateSources(options.hostTrustAnchors, 'host trust anchor file');
    if (anchors.length === 0) throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, 'no host trust anchors configured');
    v.anchors = anchors.map((c) => v.store.fromX509(c));
    v.pool = (await loadCertificateSources(options.intermediates ?? [], 'intermediate certificate file')).map((c) => v.store.fromX509(c));
    await v.revocation.load();
    return v;
  }

  /** The x509v3 host key algorithms this verifier accepts, in the table's order. */
  get algorithms(): readonly string[] {
    return [...this.allowed].filter((a) => !a.legacy).map((a) => a.name);
  }

  /**
   * Decides K_S for `host` (a name or an IP address). Never throws for what
   * the server sent. With `hostNameBound` (a known_hosts `Subject:` entry of
   * this host names the leaf, PKIX-SSH's binding) the subjectAltName check
   * is not made; everything else is.
   */
  async verify(host: string, hostKey: Uint8Array, options: { hostNameBound?: boolean } = {}): Promise<HostCertificateResult> {
    const at = (this.options.now ?? (() => new Date()))();
    let algorithm = '?';
    let leaf: VerifierCertificate | undefined;
    let anchor: VerifierCertificate | undefined;
    let revocationSource: RevocationSource = 'none';
    try {
      let blob;
      try {
        blob = decodePublicKeyBlob(hostKey);
      } catch (e) {
        if (isSshX509Error(e, ErrorCodes.ALGORITHM_UNSUPPORTED)) refuse('algorithmNotAllowed', e.message);
        refuse('malformedBlob', e instanceof Error ? e.message : String(e));
      }
      algorithm = blob.algorithm;
      const alg = findAlgorithm(blob.algorithm);
      if (!alg || !this.allowed.has(alg)) refuse('algorithmNotAllowed', `host key algorithm ${blob.algorithm} is not allowed by policy`);
      let sent: VerifierCertificate[];
      try {
        sent = blob.certificates.map((d) => this.store.get(d));
      } catch (e) {
        refuse('malformedBlob', `a certificate in K_S cannot be parsed: ${e instanceof Error ? e.message : String(e)}`);
      }
      checkBlobCertificates(sent);
      leaf = sent[0]!;
      let leafKey;
      try {
        leafKey = await leaf.loadPublicKey();
      } catch (e) {
        refuse('unsupportedKey', `the host certificate's public key cannot be used: ${e instanceof Error ? e.message : String(e)}`);
      }
      checkKeySize(leafKey);
      const mismatch = keyMismatch(alg, keyFacts(leafKey));
      if (mismatch) refuse('keyAlgorithmMismatch', mismatch);
      const path = await validatePath(sent, {
        anchors: this.anchors,
        pool: this.pool,
        at,
        allowSha1: this.options.allowSha1CertificateSignatures ?? this.options.allowSha1Algorithms ?? false,
        issuance: this.issuance,
        ...(this.options.laxIssuanceRules ? { laxIssuanceRules: true } : {}),
        ...(this.options.ignoreTrustAnchorConstraints ? { ignoreTrustAnchorConstraints: true } : {}),
      });
      anchor = path[path.length - 1];
      const hostLeaf = leaf;
      withDecodableExtensions(hostLeaf, () => {
        checkHostPurpose(hostLeaf, this.options.allowServerAuthEku);
        if (!options.hostNameBound) checkHostName(hostLeaf, host, this.options.allowCommonNameHostMatch, this.options.allowWildcardHostNames);
      });
      const stapled = new Map<string, Uint8Array>();
      blob.ocspResponses.forEach((r, i) => {
        if (r.length > 0) stapled.set(sent[i]!.id, r);
      });
      revocationSource = (await this.revocation.check(path, stapled, at, this.pool)).source;
      return {
        ok: true,
        algorithm,
        ...this.facts(leaf, anchor),
        revocationSource,
        message: `host certificate ${JSON.stringify(leaf.subject)} of ${host} verified via ${algorithm} to ${JSON.stringify(anchor!.subject)} (revocation ${revocationSource})`,
      };
    } catch (e) {
      const reason: RefusalReason = e instanceof Refusal ? e.reason : (pkixRefusalReason(e) ?? 'internalError');
      return {
        ok: false,
        reason,
        algorithm,
        ...(leaf ? this.facts(leaf, anchor) : {}),
        revocationSource,
        message: `host certificate refused (${reason}): ${e instanceof Error ? e.message : String(e)}`,
      };
    }
  }

  private facts(leaf: VerifierCertificate, anchor?: VerifierCertificate) {
    return {
      subject: leaf.subject,
      issuer: leaf.x509.issuer,
      sha256: fingerprint('sha256', leaf),
      sha1: fingerprint('sha1', leaf),
      ...(anchor ? { anchor: anchor.subject } : {}),
    };
  }
}
