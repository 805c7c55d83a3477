/**
 * Certificates as the verifier holds them: parsed once with pkijs (path
 * validation, OCSP, CRL, and the extensions the verifier reads), with the
 * public key as a node:crypto KeyObject and signature checks done with
 * node:crypto. The @peculiar/x509 form (the friendly API the rest of the
 * library and the results use) is made only when something asks for it:
 * parsing a certificate costs about as much as several signature checks, and
 * parsing it twice on every new login was most of the verifier's cold cost.
 *
 * @module
 */
import { KeyObject, createHash, createPublicKey, verify as cryptoVerify, webcrypto } from 'node:crypto';
import { Name, X509Certificate, type Extension } from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { LruCache } from './cache.js';
import { ALGORITHMS, signatureAlgorithmHash } from '../algorithms.js';
import { EXTENSION_OIDS, KEY_ALGORITHM_OIDS } from '../oids.js';

/** basicConstraints as the verifier reads it. */
export interface BasicConstraintsFacts {
  readonly ca: boolean;
  readonly pathLength?: number;
}

/** One certificate, parsed for every use the verifier has. */
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
  /** The extension with this OID, from the pkijs parse (its `parsedValue` is decoded on first use). */
  extension(oid: string): pkijs.Extension | undefined;
  /**
   * The extension as a @peculiar/x509 extension object, decoding only that
   * extension (not the whole certificate, unless its @peculiar/x509 form
   * exists already); `null` when absent.
   */
  peculiarExtension<T extends Extension>(oid: string, type: new (raw: ArrayBuffer) => T): T | null;
}

const OID_BASIC_CONSTRAINTS = EXTENSION_OIDS.basicConstraints;
const OID_EC_PUBLIC_KEY = KEY_ALGORITHM_OIDS.ecPublicKey;
/** Named curves (RFC 5480) by OID, as WebCrypto names them: from the algorithms table. */
const WEBCRYPTO_CURVES: ReadonlyMap<string, string> = new Map(ALGORITHMS.filter((a) => a.curveOid && a.webCryptoCurve).map((a) => [a.curveOid!, a.webCryptoCurve!]));

/**
 * The WebCrypto curve and the EC point of a named-curve EC key, or
 * `undefined` for any other key. Importing the point alone skips OpenSSL's
 * generic SPKI decoder, which costs about twice a P-256 signature check;
 * the point is still checked to lie on the curve.
 */
function namedCurvePoint(spki: pkijs.PublicKeyInfo): { namedCurve: string; point: Uint8Array } | undefined {
  if (spki.algorithm.algorithmId !== OID_EC_PUBLIC_KEY) return undefined;
  const params = spki.algorithm.algorithmParams as unknown;
  if (!(params instanceof asn1js.ObjectIdentifier)) return undefined;
  const namedCurve = WEBCRYPTO_CURVES.get(params.valueBlock.toString());
  if (!namedCurve || spki.subjectPublicKey.valueBlock.unusedBits !== 0) return undefined;
  return { namedCurve, point: spki.subjectPublicKey.valueBlock.valueHexView };
}

class ParsedCertificate implements VerifierCertificate {
  readonly pkijs: pkijs.Certificate;
  readonly selfIssued: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
  private key?: KeyObject;
  private peculiar?: X509Certificate;
  private subjectText?: string;
  private bc?: { value: BasicConstraintsFacts | undefined };

  constructor(
    readonly der: Uint8Array,
    readonly id: string,
    x509?: X509Certificate,
  ) {
    this.pkijs = pkijs.Certificate.fromBER(der);
    this.selfIssued = this.pkijs.subject.isEqual(this.pkijs.issuer);
    this.notBefore = this.pkijs.notBefore.value;
    this.notAfter = this.pkijs.notAfter.value;
    if (x509) this.peculiar = x509;
  }

  get x509(): X509Certificate {
    return (this.peculiar ??= new X509Certificate(this.der));
  }

  get subject(): string {
    if (this.subjectText === undefined) {
      this.subjectText = this.peculiar ? this.peculiar.subject : new Name(nameDer(this.pkijs.subject)).toString();
    }
    return this.subjectText;
  }

  get publicKey(): KeyObject {
    return (this.key ??= createPublicKey({ key: Buffer.from(this.pkijs.subjectPublicKeyInfo.toSchema().toBER(false)), format: 'der', type: 'spki' }));
  }

  async loadPublicKey(): Promise<KeyObject> {
    if (this.key) return this.key;
    const ec = namedCurvePoint(this.pkijs.subjectPublicKeyInfo);
    if (ec) {
      let k: KeyObject | undefined;
      try {
        k = KeyObject.from(await webcrypto.subtle.importKey('raw', ec.point, { name: 'ECDSA', namedCurve: ec.namedCurve }, true, ['verify']));
      } catch {
        // Not a valid point: createPublicKey below throws as it always did.
      }
      if (k) return (this.key ??= k);
    }
    return this.publicKey;
  }

  extension(oid: string): pkijs.Extension | undefined {
    return this.pkijs.extensions?.find((e) => e.extnID === oid);
  }

  peculiarExtension<T extends Extension>(oid: string, type: new (raw: ArrayBuffer) => T): T | null {
    if (this.peculiar) return this.peculiar.getExtension<T>(oid);
    const ext = this.extension(oid);
    return ext ? new type(ext.toSchema().toBER(false)) : null;
  }

  get basicConstraints(): BasicConstraintsFacts | undefined {
    if (!this.bc) {
      const v = this.extension(OID_BASIC_CONSTRAINTS)?.parsedValue as pkijs.BasicConstraints | undefined;
      const len = v?.pathLenConstraint;
      this.bc = { value: v ? { ca: v.cA, ...(typeof len === 'number' ? { pathLength: len } : len !== undefined ? { pathLength: Number.MAX_SAFE_INTEGER } : {}) } : undefined };
    }
    return this.bc.value;
  }
}

/** The DER of a parsed name: the bytes it was decoded from (what re-encoding them gives), without re-encoding. */
export function nameDer(name: pkijs.RelativeDistinguishedNames): ArrayBuffer {
  return name.valueBeforeDecode.byteLength > 0 ? name.valueBeforeDecode : name.toSchema().toBER(false);
}

/** SHA-256 of `bytes` as lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Parses certificates, remembering the most recent ones (intermediates are
 * shared by every user of a CA, so they are parsed once).
 */
export class CertificateStore {
  private readonly cache: LruCache<string, VerifierCertificate>;

  constructor(maxEntries = 1000) {
    this.cache = new LruCache(maxEntries);
  }

  /** The parsed certificate for `der`; throws when it does not parse. */
  get(der: Uint8Array, x509?: X509Certificate): VerifierCertificate {
    const id = sha256Hex(der);
    const hit = this.cache.get(id, 0);
    if (hit) return hit;
    const c = new ParsedCertificate(der, id, x509);
    this.cache.set(id, c, Number.POSITIVE_INFINITY);
    return c;
  }

  /** Wraps an already parsed certificate (its @peculiar/x509 form is kept, not parsed again). */
  fromX509(cert: X509Certificate): VerifierCertificate {
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
