/**
 * Certificates as the verifier holds them: the library's one model
 * ({@link ParsedCertificate}, parsed once per distinct DER and shared by
 * every verifier), read through pkijs for path validation, OCSP, CRL and
 * the extensions the verifier reads, with the public key as a node:crypto
 * KeyObject and signature checks done with node:crypto. The @peculiar/x509
 * form (the friendly API the rest of the library and the results use) is
 * made only when something asks for it.
 *
 * @module
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { X509Certificate, Extension } from '@peculiar/x509';
import type * as pkijs from 'pkijs';
import { LruCache } from './cache.js';
import { signatureAlgorithmHash } from '../algorithms.js';
import type { CertificateIdentities } from '../certs/identity.js';
import { parsedCertificate, type BasicConstraintsFacts, type ParsedCertificate } from '../certs/model.js';

export { nameDer, sha256Hex, type BasicConstraintsFacts } from '../certs/model.js';

/** One certificate, parsed for every use the verifier has (the library's {@link ParsedCertificate}). */
export interface VerifierCertificate {
  readonly der: Uint8Array;
  /** SHA-256 of the DER, lower-case hex: the certificate's identity everywhere in the verifier. */
  readonly id: string;
  /** The @peculiar/x509 form (made on first use). */
  readonly x509: X509Certificate;
  readonly pkijs: pkijs.Certificate;
  /** The subject DN as @peculiar/x509 writes it (`O=Org, CN=alice`), made on first use. */
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject public key (created on first use; {@link loadPublicKey} makes it faster). */
  readonly publicKey: KeyObject;
  /** Creates the subject public key, the fast way where there is one; afterwards {@link publicKey} returns it. */
  loadPublicKey(): Promise<KeyObject>;
  /** True when subject and issuer names are equal. */
  readonly selfIssued: boolean;
  /** basicConstraints, or `undefined` when absent. */
  readonly basicConstraints: BasicConstraintsFacts | undefined;
  /** UPNs, emails and common names (read once; `ERR_CERT_INVALID` when the subjectAltName does not parse). */
  readonly identities: CertificateIdentities;
  /** The extension with this OID, from the pkijs parse (its `parsedValue` is decoded on first use). */
  extension(oid: string): pkijs.Extension | undefined;
  /**
   * The extension as a @peculiar/x509 extension object, decoding only that
   * extension (not the whole certificate, unless its @peculiar/x509 form
   * exists already); `null` when absent.
   */
  peculiarExtension<T extends Extension>(oid: string, type: new (raw: ArrayBuffer) => T): T | null;
  /** keyUsage as @peculiar/x509's `KeyUsagesExtension.usages`, or `undefined` when absent; throws when it does not decode. */
  keyUsageFlags(): number | undefined;
  /** extendedKeyUsage as @peculiar/x509's `ExtendedKeyUsageExtension.usages`, or `undefined` when absent; throws when it does not decode. */
  extendedKeyUsages(): string[] | undefined;
}

/** Compile-time check that the model is what the verifier needs. */
const modelIsVerifierCertificate: (c: ParsedCertificate) => VerifierCertificate = (c) => c;
void modelIsVerifierCertificate;

/**
 * Parses certificates for a verifier: the library's shared model (each DER
 * parsed once, whoever asks), checked to parse with pkijs.
 */
export class CertificateStore {
  /**
   * @param _maxEntries Ignored: the parsed certificates live in the model's
   * one bounded cache, shared by every store.
   */
  constructor(_maxEntries?: number) {}

  /** The parsed certificate for `der`; throws when it does not parse. */
  get(der: Uint8Array, x509?: X509Certificate): ParsedCertificate {
    const c = parsedCertificate(der, x509);
    void c.pkijs;
    return c;
  }

  /** Wraps an already parsed certificate (its @peculiar/x509 form is kept, not parsed again). */
  fromX509(cert: X509Certificate): ParsedCertificate {
    return this.get(new Uint8Array(cert.rawData), cert);
  }
}

/** Options for {@link verifySignedObject}. */
export interface SignedObjectPolicy {
  /** Accept SHA-1 based signatures on certificates, OCSP responses and CRLs. */
  allowSha1?: boolean;
}

/**
 * Verifies an X.509-style signature (certificate, OCSP response, CRL) with
 * node:crypto: `algorithmOid` over `tbs`, `signature` as in the structure
 * (DER for ECDSA/DSA). RSA-PSS and unknown algorithms return `undefined`
 * so the caller can fall back to pkijs.
 */
export function verifySignedObject(
  algorithmOid: string,
  tbs: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
  policy: SignedObjectPolicy = {},
): boolean | undefined {
  const a = signatureAlgorithmHash(algorithmOid);
  if (!a) return undefined;
  if (a.sha1 && !policy.allowSha1) return false;
  try {
    return cryptoVerify(a.hash, tbs, key, signature);
  } catch {
    return false;
  }
}

/** True when `issuer`'s key verifies the signature on `cert`. Results are remembered per pair. */
export class IssuanceChecker {
  private readonly memo = new LruCache<string, boolean>(4096);

  constructor(private readonly policy: SignedObjectPolicy = {}) {}

  async check(cert: VerifierCertificate, issuer: VerifierCertificate): Promise<boolean> {
    const k = `${cert.id}:${issuer.id}`;
    const hit = this.memo.get(k, 0);
    if (hit !== undefined) return hit;
    const p = cert.pkijs;
    let ok = verifySignedObject(p.signatureAlgorithm.algorithmId, p.tbsView, p.signatureValue.valueBlock.valueHexView, await issuer.loadPublicKey(), this.policy);
    if (ok === undefined) {
      try {
        ok = await p.verify(issuer.pkijs);
      } catch {
        ok = false;
      }
    }
    this.memo.set(k, ok, Number.POSITIVE_INFINITY);
    return ok;
  }
}
