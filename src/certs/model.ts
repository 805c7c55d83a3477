/**
 * The one model of a parsed certificate for the whole library: chains,
 * identities, export, verification and the PKCS#11 listing all hold a
 * {@link ParsedCertificate}, made once per distinct DER (a bounded cache
 * keyed by the DER's SHA-256), with every field read once and kept.
 *
 * A certificate is read through whichever library answers the question,
 * each made only when first needed:
 *
 * - node:crypto's `X509Certificate` (built in, nothing to load): the DER
 *   check, the public key, name equality and "could A have issued B"
 *   (OpenSSL's `X509_check_issued`) for ordering a chain;
 * - pkijs: what the verifier needs (validity, extensions, the to-be-signed
 *   bytes and signature, names as DER);
 * - @peculiar/x509: the public `X509Certificate` objects of the API, the
 *   DN text (`O=Org, CN=alice`) and the subjectAltName identities.
 *
 * pkijs and @peculiar/x509 cost more to load than a whole SSH login
 * (@peculiar/x509 and its reflect-metadata decorators alone take about
 * 0.14 s), so they are required on first use, not imported: a client that
 * only signs with a certificate (`ssh-x509 connect`) never loads them.
 * Both packages are CommonJS, so `require` and `import` give the same
 * module instance (the same classes).
 *
 * @module
 */
import * as cryptoModule from 'node:crypto';
import { createHash, createPublicKey, KeyObject, webcrypto, X509Certificate as NativeX509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as PeculiarX509 from '@peculiar/x509';
import type * as Pkijs from 'pkijs';
import type * as Asn1js from 'asn1js';
import { ALGORITHMS } from '../algorithms.js';
import { EXTENSION_OIDS, KEY_ALGORITHM_OIDS } from '../oids.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { LruCache } from './cache.js';
import { extensionParsedValue, extensionValueDecode, nameNode, pkijsCertificate } from './pkijs-form.js';

const load = createRequire(import.meta.url);
let peculiarModule: typeof PeculiarX509 | undefined;
let pkijsModule: typeof Pkijs | undefined;
let asn1jsModule: typeof Asn1js | undefined;

/** @peculiar/x509, loaded on first use. */
export function peculiarX509(): typeof PeculiarX509 {
  return (peculiarModule ??= load('@peculiar/x509') as typeof PeculiarX509);
}

/** What this module reads with @peculiar/x509's own ASN.1 layer (`@peculiar/asn1-schema`, `@peculiar/asn1-x509`). */
interface PeculiarAsn1 {
  readonly AsnConvert: { parse<T>(data: Uint8Array, target: new () => T): T };
  readonly AsnParser: { fromASN<T>(node: Asn1js.BaseBlock, target: new () => T): T };
  readonly Name: new () => object;
  readonly KeyUsage: new () => { toNumber(): number };
  readonly ExtendedKeyUsage: new () => string[];
  readonly SubjectAlternativeName: new () => object;
}
let peculiarAsn1Module: PeculiarAsn1 | undefined;

/**
 * The ASN.1 schema library and X.509 types @peculiar/x509 parses its
 * extensions with: the very modules it loads (resolved from where it is
 * installed, so that their schema registry is the one its types live in).
 */
function peculiarAsn1(): PeculiarAsn1 {
  if (!peculiarAsn1Module) {
    peculiarX509();
    const from = createRequire(load.resolve('@peculiar/x509'));
    const x = from('@peculiar/asn1-x509') as Omit<PeculiarAsn1, 'AsnConvert' | 'AsnParser'>;
    const schema = from('@peculiar/asn1-schema') as Pick<PeculiarAsn1, 'AsnConvert' | 'AsnParser'>;
    peculiarAsn1Module = {
      AsnConvert: schema.AsnConvert,
      AsnParser: schema.AsnParser,
      Name: x.Name,
      KeyUsage: x.KeyUsage,
      ExtendedKeyUsage: x.ExtendedKeyUsage,
      SubjectAlternativeName: x.SubjectAlternativeName,
    };
  }
  return peculiarAsn1Module;
}

/** pkijs, loaded on first use. */
export function pkijsLibrary(): typeof Pkijs {
  return (pkijsModule ??= load('pkijs') as typeof Pkijs);
}

/** asn1js, loaded on first use. */
export function asn1jsLibrary(): typeof Asn1js {
  return (asn1jsModule ??= load('asn1js') as typeof Asn1js);
}

/** basicConstraints as read from a certificate. */
export interface BasicConstraintsFacts {
  readonly ca: boolean;
  readonly pathLength?: number;
}

/** The curves whose points import faster as JWKs (WebCrypto and JWK name them alike), with their coordinate width in octets: from the algorithms table. */
const JWK_CURVE_WIDTHS: ReadonlyMap<string, number> = new Map(ALGORITHMS.filter((a) => a.jwkImportFaster && a.webCryptoCurve && a.curveBits).map((a) => [a.webCryptoCurve!, Math.ceil(a.curveBits! / 8)]));

/** Named curves (RFC 5480) by OID, as WebCrypto names them: from the algorithms table. */
const WEBCRYPTO_CURVES: ReadonlyMap<string, string> = new Map(ALGORITHMS.filter((a) => a.curveOid && a.webCryptoCurve).map((a) => [a.curveOid!, a.webCryptoCurve!]));

/**
 * The WebCrypto curve and the EC point of a named-curve EC key, or
 * `undefined` for any other key. Importing the point alone skips OpenSSL's
 * generic SPKI decoder, which costs about twice a P-256 signature check;
 * the point is still checked to lie on the curve.
 */
function namedCurvePoint(spki: Pkijs.PublicKeyInfo): { namedCurve: string; point: Uint8Array } | undefined {
  if (spki.algorithm.algorithmId !== KEY_ALGORITHM_OIDS.ecPublicKey) return undefined;
  const params = spki.algorithm.algorithmParams as unknown;
  if (!(params instanceof asn1jsLibrary().ObjectIdentifier)) return undefined;
  const namedCurve = WEBCRYPTO_CURVES.get(params.valueBlock.toString());
  if (!namedCurve || spki.subjectPublicKey.valueBlock.unusedBits !== 0) return undefined;
  return { namedCurve, point: spki.subjectPublicKey.valueBlock.valueHexView };
}

/**
 * The public key without OpenSSL's generic SubjectPublicKeyInfo decoder
 * (which costs more than an RSA signature check), for the keys whose SPKI
 * says no more than their own structure: rsaEncryption with NULL
 * parameters, whose BIT STRING is imported as the PKCS #1 RSAPublicKey
 * that OpenSSL's SPKI decoder reads there (the same decode of the same
 * octets, which takes and refuses what that one does, lax encodings
 * included), and Ed25519 without parameters over 32 octets, imported as a
 * JWK. `undefined` for any other key, and for one these imports refuse:
 * the SPKI is then decoded as before, and says why.
 */
function plainKey(spki: Pkijs.PublicKeyInfo): KeyObject | undefined {
  const alg = spki.algorithm;
  const bits = spki.subjectPublicKey.valueBlock;
  if (bits.unusedBits !== 0) return undefined;
  const v = bits.valueHexView;
  const octets = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  try {
    if (alg.algorithmId === KEY_ALGORITHM_OIDS.ed25519 && alg.algorithmParams === undefined && v.length === 32) {
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: octets.toString('base64url') }, format: 'jwk' });
    }
    if (alg.algorithmId === KEY_ALGORITHM_OIDS.rsaEncryption && alg.algorithmParams instanceof asn1jsLibrary().Null) {
      return createPublicKey({ key: octets, format: 'der', type: 'pkcs1' });
    }
  } catch {
    // The SPKI itself says why.
  }
  return undefined;
}

/** The DER of a parsed name: the bytes it was decoded from (what re-encoding them gives), without re-encoding. */
export function nameDer(name: Pkijs.RelativeDistinguishedNames): ArrayBuffer {
  return name.valueBeforeDecode.byteLength > 0 ? name.valueBeforeDecode : name.toSchema().toBER(false);
}

/** node:crypto's one-shot digest (Node 20.12 and later): no Hash object per call. */
const oneShotHash = (cryptoModule as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;

/** SHA-256 of `bytes` as lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return oneShotHash ? oneShotHash('sha256', bytes, 'hex') : createHash('sha256').update(bytes).digest('hex');
}

/**
 * What `AsnConvert.parse(octets, type)` gives for an extension's value (the
 * value, or the error it throws), read from the value's one shared decode:
 * `parse` is asn1js's `fromBER` with its defaults, an `Error` of the
 * result's `error` when there is one, then `AsnParser.fromASN` of the
 * result. A value asn1js throws on is parsed afresh (and throws as before).
 */
export function extensionSchemaValue<T>(ext: Pkijs.Extension, type: new () => T): T {
  const asn1 = peculiarAsn1();
  const d = extensionValueDecode(ext, asn1jsLibrary());
  if (!d) return asn1.AsnConvert.parse(ext.extnValue.valueBlock.valueHexView, type);
  if (d.result.error) throw new Error(d.result.error);
  return asn1.AsnParser.fromASN(d.result, type);
}

/**
 * Answers that are a function of an extension's value alone (keyUsage
 * bits, extendedKeyUsage purposes, basicConstraints), kept by the value's
 * octets: the certificates one CA issues mostly carry the same values, so
 * that a new leaf under it reads them from here. Only answers are kept,
 * never failures (a value that does not decode is read, and refused, every
 * time), and only for short values.
 */
const valueAnswers = new LruCache<string, unknown>(512);
/** The longest value whose answers {@link valueAnswers} keeps, octets. */
const MAX_ANSWERED_VALUE = 64;

/**
 * `read()`, the answer `what` gives for `ext`'s value, kept by the value's
 * octets (see {@link valueAnswers}): `what` names the reader, which must
 * read nothing but the value. An `undefined` answer is not kept.
 */
export function answerOfValue<T>(what: string, ext: Pkijs.Extension, read: () => T): T {
  const v = ext.extnValue.valueBlock.valueHexView;
  if (v.length > MAX_ANSWERED_VALUE) return read();
  const key = `${what} ${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')}`;
  const hit = valueAnswers.get(key, 0);
  if (hit !== undefined) return hit as T;
  const answer = read();
  if (answer !== undefined) valueAnswers.set(key, answer, Number.POSITIVE_INFINITY);
  return answer;
}

/** The identities a certificate carries, as SSH users and servers use them (usernames from them: identity.ts). */
export interface CertificateIdentities {
  /** Microsoft UPNs: subjectAltName otherName 1.3.6.1.4.1.311.20.2.3. */
  readonly upns: readonly string[];
  /** rfc822Name entries of the subjectAltName. */
  readonly emails: readonly string[];
  /** Common names of the subject (normally one). */
  readonly commonNames: readonly string[];
}

/** One certificate, parsed once; every field is read on first use and kept. */
export class ParsedCertificate {
  private nativeForm?: NativeX509Certificate;
  private pkijsForm?: Pkijs.Certificate;
  private peculiarForm?: PeculiarX509.X509Certificate;
  private subjectText?: string;
  private subjectNameForm?: PeculiarX509.Name;
  private issuerText?: string;
  private key?: KeyObject;
  private bc?: { value: BasicConstraintsFacts | undefined };
  private ids?: CertificateIdentities;
  private dates?: { notBefore: Date; notAfter: Date };
  private selfIssuedMemo?: boolean;

  /**
   * @param der The certificate's DER (kept as given: the cache copies it first).
   * @param id SHA-256 of the DER, lower-case hex: the certificate's identity everywhere.
   */
  constructor(
    readonly der: Uint8Array,
    readonly id: string,
    x509?: PeculiarX509.X509Certificate,
  ) {
    if (x509) this.peculiarForm = x509;
  }

  /** node:crypto's view (made on first use; throws when OpenSSL cannot parse the DER). */
  get native(): NativeX509Certificate {
    return (this.nativeForm ??= new NativeX509Certificate(this.der));
  }

  /** The pkijs form (made on first use; throws when the DER does not parse). */
  get pkijs(): Pkijs.Certificate {
    return (this.pkijsForm ??= pkijsCertificate(this.der, { pkijs: pkijsLibrary(), asn1js: asn1jsLibrary() }));
  }

  /** The @peculiar/x509 form, the API's public certificate type (made on first use). */
  get x509(): PeculiarX509.X509Certificate {
    return (this.peculiarForm ??= new (peculiarX509().X509Certificate)(this.der));
  }

  /** True when the @peculiar/x509 form exists already. */
  get hasX509(): boolean {
    return this.peculiarForm !== undefined;
  }

  /** The subject DN as @peculiar/x509 writes it (`O=Org, CN=alice`). */
  get subject(): string {
    if (this.subjectText === undefined) {
      this.subjectText = this.peculiarForm || !this.pkijsForm ? this.x509.subject : this.subjectName().toString();
    }
    return this.subjectText;
  }

  /**
   * The subject as a @peculiar/x509 `Name`, made once: read from the pkijs
   * parse's node of the name where there is one (what `Name` makes of the
   * name's DER: its constructor decodes the DER and reads that tree with
   * the same `AsnParser.fromASN`), otherwise from the name's DER.
   */
  private subjectName(): PeculiarX509.Name {
    if (!this.subjectNameForm) {
      const subject = this.pkijs.subject;
      const node = nameNode(subject);
      if (node) {
        const asn1 = peculiarAsn1();
        this.subjectNameForm = new (peculiarX509().Name)(asn1.AsnParser.fromASN(node, asn1.Name) as never);
      } else {
        this.subjectNameForm = new (peculiarX509().Name)(nameDer(subject));
      }
    }
    return this.subjectNameForm;
  }

  /** The issuer DN as @peculiar/x509 writes it. */
  get issuer(): string {
    if (this.issuerText === undefined) {
      this.issuerText = this.peculiarForm || !this.pkijsForm ? this.x509.issuer : new (peculiarX509().Name)(nameDer(this.pkijsForm.issuer)).toString();
    }
    return this.issuerText;
  }

  get notBefore(): Date {
    return this.validity().notBefore;
  }

  get notAfter(): Date {
    return this.validity().notAfter;
  }

  private validity(): { notBefore: Date; notAfter: Date } {
    return (this.dates ??= { notBefore: this.pkijs.notBefore.value, notAfter: this.pkijs.notAfter.value });
  }

  /** True when subject and issuer names are equal (RFC 5280 comparison, by pkijs). */
  get selfIssued(): boolean {
    return (this.selfIssuedMemo ??= this.pkijs.subject.isEqual(this.pkijs.issuer));
  }

  /** True when subject and issuer names are equal, by OpenSSL (no pkijs needed). */
  get nativeSelfIssued(): boolean {
    return this.native.subject === this.native.issuer;
  }

  /**
   * True when `issuer` could have issued this certificate (OpenSSL's
   * `X509_check_issued`: names, key identifiers, key usage; no signature check).
   */
  issuedBy(issuer: ParsedCertificate): boolean {
    return this.native.checkIssued(issuer.native);
  }

  /** The subject public key (created on first use; {@link loadPublicKey} makes it faster for EC keys). */
  get publicKey(): KeyObject {
    if (!this.key) {
      if (this.pkijsForm) {
        const spki = this.pkijsForm.subjectPublicKeyInfo;
        this.key = plainKey(spki) ?? createPublicKey({ key: Buffer.from(spki.toSchema().toBER(false)), format: 'der', type: 'spki' });
      } else {
        this.key = this.native.publicKey;
      }
    }
    return this.key;
  }

  /** Creates the subject public key, the fast way where there is one; afterwards {@link publicKey} returns it. */
  async loadPublicKey(): Promise<KeyObject> {
    if (this.key) return this.key;
    const ec = namedCurvePoint(this.pkijs.subjectPublicKeyInfo);
    if (ec) {
      let k: KeyObject | undefined;
      // Some curves import faster as a JWK (x and y of an uncompressed point). The JWK import refuses whatever
      // the point's own import refuses (coordinates not reduced, not on the curve); refused, it takes that path.
      const width = JWK_CURVE_WIDTHS.get(ec.namedCurve);
      if (width !== undefined && ec.point.length === 1 + 2 * width && ec.point[0] === 4) {
        const b64 = (v: Uint8Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64url');
        try {
          k = createPublicKey({ key: { kty: 'EC', crv: ec.namedCurve, x: b64(ec.point.subarray(1, 1 + width)), y: b64(ec.point.subarray(1 + width)) }, format: 'jwk' });
        } catch {
          k = undefined;
        }
        if (k) return (this.key ??= k);
      }
      try {
        k = KeyObject.from(await webcrypto.subtle.importKey('raw', ec.point, { name: 'ECDSA', namedCurve: ec.namedCurve }, true, ['verify']));
      } catch {
        // Not a valid point: createPublicKey below throws as it always did.
      }
      if (k) return (this.key ??= k);
    }
    return this.publicKey;
  }

  /** The extension with this OID, from the pkijs parse (its `parsedValue` is decoded on first use). */
  extension(oid: string): Pkijs.Extension | undefined {
    return this.pkijs.extensions?.find((e) => e.extnID === oid);
  }

  /**
   * What pkijs's `ext.parsedValue` gives for one of this certificate's
   * extensions, built from the one decode of its value that every reader
   * of the value shares ({@link extensionValueDecode}).
   */
  parsedValue(ext: Pkijs.Extension): unknown {
    return extensionParsedValue(ext, { pkijs: pkijsLibrary(), asn1js: asn1jsLibrary() });
  }

  /**
   * The extension as a @peculiar/x509 extension object, decoding only that
   * extension (not the whole certificate, unless its @peculiar/x509 form
   * exists already); `null` when absent.
   */
  peculiarExtension<T extends PeculiarX509.Extension>(oid: string, type: new (raw: ArrayBuffer) => T): T | null {
    if (this.peculiarForm) return this.peculiarForm.getExtension<T>(oid);
    const ext = this.extension(oid);
    return ext ? new type(ext.toSchema().toBER(false)) : null;
  }

  /**
   * The extension's value as @peculiar/x509's extension class of that OID
   * reads it: `fromForm` from the @peculiar/x509 form when it exists,
   * otherwise `fromValue` on the extnValue octets, what that class's
   * constructor parses them with (without re-encoding the extension for
   * it and parsing the extension's envelope again). `undefined` when absent.
   */
  private peculiarValue<E extends PeculiarX509.Extension, T>(oid: string, fromForm: (e: E) => T, fromValue: (parse: <V>(type: new () => V) => V) => T, kept = false): T | undefined {
    if (this.peculiarForm) {
      const e = this.peculiarForm.getExtension<E>(oid);
      return e ? fromForm(e) : undefined;
    }
    const ext = this.extension(oid);
    if (!ext) return undefined;
    const read = () => fromValue(<V>(type: new () => V) => extensionSchemaValue(ext, type));
    return kept ? answerOfValue(`peculiar ${oid}`, ext, read) : read();
  }

  /** keyUsage as @peculiar/x509's `KeyUsagesExtension.usages` (its {@link PeculiarX509.KeyUsageFlags} bits), or `undefined` when absent; throws when it does not decode. */
  keyUsageFlags(): number | undefined {
    return this.peculiarValue<PeculiarX509.KeyUsagesExtension, number>(
      EXTENSION_OIDS.keyUsage,
      (e) => e.usages,
      (parse) => parse(peculiarAsn1().KeyUsage).toNumber(),
      true,
    );
  }

  /** extendedKeyUsage as @peculiar/x509's `ExtendedKeyUsageExtension.usages` (OIDs), or `undefined` when absent; throws when it does not decode. */
  extendedKeyUsages(): string[] | undefined {
    const usages = this.peculiarValue<PeculiarX509.ExtendedKeyUsageExtension, readonly string[]>(
      EXTENSION_OIDS.extendedKeyUsage,
      (e) => e.usages.map(String),
      (parse) => Object.freeze(parse(peculiarAsn1().ExtendedKeyUsage).map(String)),
      true,
    );
    // A list of its own for each caller (the kept one is shared).
    return usages && [...usages];
  }

  /** basicConstraints, or `undefined` when absent. */
  get basicConstraints(): BasicConstraintsFacts | undefined {
    if (!this.bc) {
      const e = this.extension(EXTENSION_OIDS.basicConstraints);
      const v = e ? (this.parsedValue(e) as Pkijs.BasicConstraints | undefined) : undefined;
      const len = v?.pathLenConstraint;
      this.bc = { value: v ? { ca: v.cA, ...(typeof len === 'number' ? { pathLength: len } : len !== undefined ? { pathLength: Number.MAX_SAFE_INTEGER } : {}) } : undefined };
    }
    return this.bc.value;
  }

  /**
   * The UPNs, emails and common names, read once: the subjectAltName with
   * @peculiar/x509's classes, the subject CNs. Throws `ERR_CERT_INVALID`
   * when the subjectAltName does not parse.
   */
  get identities(): CertificateIdentities {
    if (!this.ids) {
      const lib = peculiarX509();
      let names: PeculiarX509.GeneralNames | undefined;
      try {
        names = this.peculiarValue<PeculiarX509.SubjectAlternativeNameExtension, PeculiarX509.GeneralNames>(
          EXTENSION_OIDS.subjectAltName,
          (e) => e.names,
          // What SubjectAlternativeNameExtension's constructor makes of the octets.
          (parse) => new lib.GeneralNames(parse(peculiarAsn1().SubjectAlternativeName) as never),
        );
      } catch (e) {
        throw new SshX509Error(ErrorCodes.CERT_INVALID, `the subjectAltName of ${this.subject} cannot be parsed`, { cause: e });
      }
      const upns: string[] = [];
      const emails: string[] = [];
      for (const n of names?.items ?? []) {
        if (n.type === 'upn') upns.push(n.value);
        else if (n.type === 'email') emails.push(n.value);
      }
      this.ids = { upns, emails, commonNames: (this.peculiarForm ? this.peculiarForm.subjectName : this.subjectName()).getField('CN') };
    }
    return this.ids;
  }

  /** Keeps `x509` as the @peculiar/x509 form when there is none yet. */
  adopt(x509: PeculiarX509.X509Certificate): void {
    this.peculiarForm ??= x509;
  }
}

/** Parsed certificates by the SHA-256 of their DER. */
const parsed = new LruCache<string, ParsedCertificate>(512);

/**
 * The one parsed certificate for `der` (made on first sight, then taken
 * from a bounded cache keyed by the DER's SHA-256). Parsing happens on
 * first use of a field: read {@link ParsedCertificate.native} or
 * {@link ParsedCertificate.pkijs} to check that it parses. `x509`, when
 * given, is the @peculiar/x509 form of the same DER (kept, not parsed again).
 */
export function parsedCertificate(der: Uint8Array, x509?: PeculiarX509.X509Certificate): ParsedCertificate {
  const id = sha256Hex(der);
  const hit = parsed.get(id, 0);
  if (hit) {
    if (x509) hit.adopt(x509);
    return hit;
  }
  const c = new ParsedCertificate(new Uint8Array(der), id, x509);
  parsed.set(id, c, Number.POSITIVE_INFINITY);
  return c;
}

/** Drops every parsed certificate and every kept answer of an extension value (for measuring the cold case, and for tests). */
export function clearParsedCertificates(): void {
  parsed.clear();
  valueAnswers.clear();
}
