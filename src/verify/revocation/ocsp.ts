/**
 * OCSP (RFC 6960) for the verifier: checking a response (stapled in the
 * RFC 6187 blob, or fetched), building a request, and fetching from the
 * certificate's AIA responder. pkijs parses; node:crypto verifies.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type * as asn1js from 'asn1js';
import type * as pkijs from 'pkijs';
import { hashOfOid } from '../../algorithms.js';
import { asn1jsLibrary, peculiarX509, pkijsLibrary } from '../../certs/model.js';
import type { CertificateStore, IssuanceChecker, SignedObjectPolicy, VerifierCertificate } from '../certificates.js';
import { verifySignedObject } from '../certificates.js';
import {
  BIT_STRING,
  ENUMERATED,
  GENERALIZED_TIME,
  INTEGER,
  OBJECT_IDENTIFIER,
  OCTET_STRING,
  SEQUENCE,
  algorithmIdentifier,
  children,
  extension as plainExtension,
  is,
  relativeDistinguishedNames,
} from '../../certs/pkijs-form.js';
import { EKU_OIDS, EXTENSION_OIDS, OCSP_OIDS } from '../../oids.js';
import { describe, extension } from '../pkix/facts.js';
import { refuse } from '../reasons.js';

// pkijs, asn1js and @peculiar/x509 are loaded on first use (src/certs/model.ts): the `pkijs` and `asn1js` names here are types only.
const ID_PKIX_OCSP_BASIC = OCSP_OIDS.basicResponse;

/** The status an OCSP response gives one certificate. */
export interface OcspAnswer {
  readonly status: 'good' | 'revoked' | 'unknown';
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** Who signed: the issuing CA itself, or a responder it delegated. */
  readonly responder: 'ca' | 'delegated';
  readonly revocationTime?: Date;
}

/** What checking one OCSP response needs. */
export interface OcspCheckContext {
  readonly at: Date;
  /** Allowance for clock differences on thisUpdate/nextUpdate, ms. */
  readonly clockSkewMs: number;
  /** Oldest thisUpdate accepted when the response has no nextUpdate, ms. */
  readonly maxAgeMs: number;
  readonly issuance: IssuanceChecker;
  readonly store: CertificateStore;
  readonly signaturePolicy: SignedObjectPolicy;
}

function digest(hash: string, data: Uint8Array): Buffer {
  return createHash(hash).update(data).digest();
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function issuerKeyBits(issuer: VerifierCertificate): Uint8Array {
  return issuer.pkijs.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
}

/** Hashes of an issuer's name and key by hash name: the same for every certificate it issued, so computed once per issuer. */
const issuerHashes = new WeakMap<VerifierCertificate, Map<string, { name: Buffer; key: Buffer }>>();

function hashesOf(issuer: VerifierCertificate, hash: string): { name: Buffer; key: Buffer } {
  let byHash = issuerHashes.get(issuer);
  if (!byHash) issuerHashes.set(issuer, (byHash = new Map()));
  let h = byHash.get(hash);
  if (!h) {
    h = { name: digest(hash, new Uint8Array(issuer.pkijs.subject.toSchema().toBER(false))), key: digest(hash, issuerKeyBits(issuer)) };
    byHash.set(hash, h);
  }
  return h;
}

/** True when `id` (an OCSP CertID) names `cert` as issued by `issuer` (RFC 6960 section 4.1.1). */
function certIdMatches(id: pkijs.CertID, cert: VerifierCertificate, issuer: VerifierCertificate): boolean {
  const hash = hashOfOid(id.hashAlgorithm.algorithmId);
  if (!hash) return false;
  if (!id.serialNumber.isEqual(cert.pkijs.serialNumber)) return false;
  const h = hashesOf(issuer, hash);
  return eq(id.issuerNameHash.valueBlock.valueHexView, h.name) && eq(id.issuerKeyHash.valueBlock.valueHexView, h.key);
}

/** The extendedKeyUsage purposes of a responder certificate, read from pkijs's parse; a corrupt extension is `revocationInvalid`. */
function responderPurposes(vc: VerifierCertificate): string[] {
  let eku;
  try {
    eku = extension<pkijs.ExtKeyUsage>(vc, EXTENSION_OIDS.extendedKeyUsage);
  } catch (e) {
    refuse('revocationInvalid', `the OCSP responder certificate is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const purposes = eku?.value.keyPurposes;
  if (eku && !Array.isArray(purposes)) refuse('revocationInvalid', `the OCSP responder ${describe(vc)} has a corrupt extendedKeyUsage`);
  return purposes ?? [];
}

/** True when the responderID (byName or byKey) names `c`. */
function responderIs(rid: pkijs.ResponseData['responderID'], c: VerifierCertificate): boolean {
  if (rid instanceof asn1jsLibrary().OctetString) return eq(rid.valueBlock.valueHexView, hashesOf(c, 'sha1').key);
  if (rid instanceof pkijsLibrary().RelativeDistinguishedNames) return rid.isEqual(c.pkijs.subject);
  return false;
}

/**
 * BasicOCSPResponse (RFC 6960 section 4.2.1) with the certificates left as
 * undecoded elements: pkijs interprets tbsResponseData and the signature
 * algorithm, and each certificate goes through the {@link CertificateStore}
 * (keyed by its DER hash), so a responder certificate that every response
 * embeds is interpreted once, not once per login.
 */
function basicOcspResponseSchema(): asn1js.Sequence {
  const a = asn1jsLibrary();
  return new a.Sequence({
    value: [
      new a.Sequence({ name: 'tbsResponseData' }),
      new a.Sequence({ name: 'signatureAlgorithm' }),
      new a.BitString({ name: 'signature' }),
      new a.Constructed({
        optional: true,
        idBlock: { tagClass: 3, tagNumber: 0 }, // [0] EXPLICIT
        value: [new a.Sequence({ value: [new a.Repeated({ name: 'certs', value: new a.Sequence() })] })],
      }),
    ],
  });
}

/** A BasicOCSPResponse as the check reads it. */
export interface BasicOcspParts {
  readonly tbsResponseData: pkijs.ResponseData;
  readonly signatureAlgorithm: pkijs.AlgorithmIdentifier;
  readonly signature: asn1js.BitString;
  /** The embedded certificates, parsed through the store. */
  readonly certs: readonly VerifierCertificate[];
  /** The whole structure as pkijs's class, built on demand (signature algorithms node:crypto does not verify directly). */
  readonly full: () => pkijs.BasicOCSPResponse;
}

/*
 * The common OCSPResponse found by position in asn1js's decode, as
 * src/certs/pkijs-form.ts finds a certificate: pkijs's route (OCSPResponse,
 * ResponseBytes, then ResponseData, each SingleResponse and CertID matched
 * against its class's schema) costs several times the decode. Only a tree
 * of exactly the shape those schemas take without question (the tags,
 * forms and counts they allow, nothing optional out of order, nothing
 * extra: a successful id-pkix-ocsp-basic response) is read here, and its
 * parts are built with the fields, in the order, from the nodes, that the
 * pkijs classes' `fromSchema` gives them; any other tree, and any part that
 * throws, goes the pkijs route ({@link parseWithPkijs}), which gives its own
 * answer or refusal. The decodes skip asn1js's embedded decode of OCTET and
 * BIT STRING contents, which nothing reads, except the ResponseBytes octets,
 * decoded on their own (what pkijs reads from its embedded decode, or
 * decodes itself when that did not fill the octets). As for certificates,
 * a DER longer than asn1js's node ceiling goes the pkijs route, so the
 * ceiling counts the same nodes either way.
 */
/** `[n] EXPLICIT` around exactly one node of the given universal tag and form, or `undefined`. */
function explicit(b: asn1js.BaseBlock, tag: number, constructed: boolean): asn1js.BaseBlock | undefined {
  const w = children(b);
  return w.length === 1 && is(w[0], 1, tag, constructed) ? w[0] : undefined;
}

/** `[n] EXPLICIT Extensions` (SEQUENCE of at least one Extension of the plain shape), or `undefined`. */
function extensionList(wrapper: asn1js.BaseBlock, pk: typeof pkijs): pkijs.Extension[] | undefined {
  const list = explicit(wrapper, SEQUENCE, true);
  if (!list) return undefined;
  const out: pkijs.Extension[] = [];
  for (const e of children(list)) {
    const x = is(e, 1, SEQUENCE, true) ? plainExtension(e, pk) : undefined;
    if (!x) return undefined;
    out.push(x);
  }
  return out.length > 0 ? out : undefined;
}

/** CertID: SEQUENCE { AlgorithmIdentifier, OCTET STRING, OCTET STRING, INTEGER }. */
function certId(b: asn1js.BaseBlock, pk: typeof pkijs): pkijs.CertID | undefined {
  const v = children(b);
  if (v.length !== 4 || !is(v[0], 1, SEQUENCE, true) || !is(v[1], 1, OCTET_STRING, false) || !is(v[2], 1, OCTET_STRING, false) || !is(v[3], 1, INTEGER, false)) return undefined;
  const hashAlgorithm = algorithmIdentifier(v[0]!, pk);
  if (!hashAlgorithm) return undefined;
  const id = Object.create(pk.CertID.prototype) as pkijs.CertID;
  id.hashAlgorithm = hashAlgorithm;
  id.issuerNameHash = v[1] as asn1js.OctetString;
  id.issuerKeyHash = v[2] as asn1js.OctetString;
  id.serialNumber = v[3] as asn1js.Integer;
  return id;
}

/** CertStatus: good [0] or unknown [2] (primitive), or revoked [1] { GeneralizedTime, [0] { ENUMERATED } OPTIONAL }. */
function plainCertStatus(b: asn1js.BaseBlock | undefined): boolean {
  if (is(b, 3, 0, false) || is(b, 3, 2, false)) return true;
  if (!is(b, 3, 1, true)) return false;
  const v = children(b!);
  if (v.length < 1 || v.length > 2 || !is(v[0], 1, GENERALIZED_TIME, false)) return false;
  return v.length === 1 || (is(v[1], 3, 0, true) && explicit(v[1]!, ENUMERATED, false) !== undefined);
}

/** SingleResponse: SEQUENCE { CertID, CertStatus, GeneralizedTime, [0] GeneralizedTime OPTIONAL, [1] Extensions OPTIONAL }. */
function singleResponse(b: asn1js.BaseBlock, pk: typeof pkijs): pkijs.SingleResponse | undefined {
  if (!is(b, 1, SEQUENCE, true)) return undefined;
  const v = children(b);
  const [id, status, thisUpdate] = v;
  if (!is(id, 1, SEQUENCE, true) || !plainCertStatus(status) || !is(thisUpdate, 1, GENERALIZED_TIME, false)) return undefined;
  const certID = certId(id!, pk);
  if (!certID) return undefined;
  let i = 3;
  let nextUpdate: asn1js.BaseBlock | undefined;
  let extensions: pkijs.Extension[] | undefined;
  if (is(v[i], 3, 0, true)) {
    nextUpdate = explicit(v[i++]!, GENERALIZED_TIME, false);
    if (!nextUpdate) return undefined;
  }
  if (is(v[i], 3, 1, true)) {
    extensions = extensionList(v[i++]!, pk);
    if (!extensions) return undefined;
  }
  if (i !== v.length) return undefined;
  // The fields SingleResponse's constructor makes, in its order, with fromSchema's values; then the optional ones.
  const r = Object.create(pk.SingleResponse.prototype) as pkijs.SingleResponse;
  r.certID = certID;
  r.certStatus = status;
  r.thisUpdate = (thisUpdate as asn1js.GeneralizedTime).toDate();
  if (nextUpdate) r.nextUpdate = (nextUpdate as asn1js.GeneralizedTime).toDate();
  if (extensions) r.singleExtensions = extensions;
  return r;
}

/** ResponseData: SEQUENCE { [0] INTEGER OPTIONAL, ResponderID, GeneralizedTime, SEQUENCE OF SingleResponse, [1] Extensions OPTIONAL }. */
function responseData(b: asn1js.BaseBlock, pk: typeof pkijs): pkijs.ResponseData | undefined {
  const v = children(b);
  let i = 0;
  let version: asn1js.Integer | undefined;
  if (is(v[0], 3, 0, true)) {
    version = explicit(v[i++]!, INTEGER, false) as asn1js.Integer | undefined;
    if (!version) return undefined;
  }
  const rid = v[i];
  const producedAt = v[i + 1];
  const responses = v[i + 2];
  i += 3;
  let responderID: pkijs.ResponseData['responderID'] | undefined;
  if (is(rid, 3, 1, true)) {
    const name = explicit(rid!, SEQUENCE, true);
    responderID = name && relativeDistinguishedNames(name, pk);
  } else if (is(rid, 3, 2, true)) {
    responderID = explicit(rid!, OCTET_STRING, false) as asn1js.OctetString | undefined;
  }
  if (!responderID || !is(producedAt, 1, GENERALIZED_TIME, false) || !is(responses, 1, SEQUENCE, true)) return undefined;
  const singles: pkijs.SingleResponse[] = [];
  for (const s of children(responses!)) {
    const r = singleResponse(s, pk);
    if (!r) return undefined;
    singles.push(r);
  }
  if (singles.length === 0) return undefined;
  let extensions: pkijs.Extension[] | undefined;
  if (is(v[i], 3, 1, true)) {
    extensions = extensionList(v[i++]!, pk);
    if (!extensions) return undefined;
  }
  if (i !== v.length) return undefined;
  // The fields ResponseData's constructor makes, in its order, with fromSchema's values; then the optional ones, as fromSchema adds them.
  const d = Object.create(pk.ResponseData.prototype) as pkijs.ResponseData;
  d.tbsView = b.valueBeforeDecodeView;
  d.responderID = responderID;
  d.producedAt = (producedAt as asn1js.GeneralizedTime).toDate();
  d.responses = singles;
  if (version) d.version = version.valueBlock.valueDec;
  if (extensions) d.responseExtensions = extensions;
  return d;
}

/** The parts of a successful basic OCSPResponse whose trees have the schemas' plain shape, or `undefined` for any other. */
function fastParts(der: Uint8Array, store: CertificateStore): BasicOcspParts | undefined {
  const pk = pkijsLibrary();
  const a = asn1jsLibrary();
  if (der.length > a.DEFAULT_MAX_NODES) return undefined;
  const outer = a.fromBER(der, { parseEmbedded: false });
  if (outer.offset !== der.length || !is(outer.result, 1, SEQUENCE, true)) return undefined;
  const top = children(outer.result);
  if (top.length !== 2 || !is(top[0], 1, ENUMERATED, false) || !is(top[1], 3, 0, true)) return undefined;
  if ((top[0] as asn1js.Enumerated).valueBlock.valueDec !== 0) return undefined;
  const bytes = explicit(top[1]!, SEQUENCE, true);
  const rb = bytes && children(bytes);
  if (!rb || rb.length !== 2 || !is(rb[0], 1, OBJECT_IDENTIFIER, false) || !is(rb[1], 1, OCTET_STRING, false)) return undefined;
  if ((rb[0] as asn1js.ObjectIdentifier).valueBlock.toString() !== ID_PKIX_OCSP_BASIC) return undefined;
  const octets = (rb[1] as asn1js.OctetString).valueBlock.valueHexView;
  const decoded = a.fromBER(octets, { parseEmbedded: false });
  const inner = decoded.result;
  if (decoded.offset !== octets.length || !is(inner, 1, SEQUENCE, true)) return undefined;
  const v = children(inner);
  if (v.length < 3 || v.length > 4 || !is(v[0], 1, SEQUENCE, true) || !is(v[1], 1, SEQUENCE, true) || !is(v[2], 1, BIT_STRING, false)) return undefined;
  let certs: asn1js.BaseBlock[] = [];
  if (v.length === 4) {
    const list = is(v[3], 3, 0, true) ? explicit(v[3]!, SEQUENCE, true) : undefined;
    if (!list) return undefined;
    certs = children(list);
    if (!certs.every((c) => is(c, 1, SEQUENCE, true))) return undefined;
  }
  const tbsResponseData = responseData(v[0]!, pk);
  const signatureAlgorithm = algorithmIdentifier(v[1]!, pk);
  if (!tbsResponseData || !signatureAlgorithm) return undefined;
  let full: pkijs.BasicOCSPResponse | undefined;
  return {
    tbsResponseData,
    signatureAlgorithm,
    signature: v[2] as asn1js.BitString,
    certs: certs.map((c) => store.get(c.valueBeforeDecodeView)),
    full: () => (full ??= new pk.BasicOCSPResponse({ schema: inner })),
  };
}

/**
 * Parses an OCSPResponse down to its BasicOCSPResponse; refuses
 * `revocationInvalid` when it is not a successful basic response, or when
 * any part of it, an embedded certificate included, does not parse. The
 * parts are what pkijs gives ({@link parseWithPkijs}), the common case
 * found by position in asn1js's decode without pkijs's schema matches.
 */
export function parseOcspResponse(der: Uint8Array, store: CertificateStore): BasicOcspParts {
  let parts: BasicOcspParts | undefined;
  try {
    parts = fastParts(der, store);
  } catch {
    parts = undefined;
  }
  return parts ?? parseWithPkijs(der, store);
}

/** {@link parseOcspResponse} through pkijs's own classes and schemas: the answer for every input. */
export function parseWithPkijs(der: Uint8Array, store: CertificateStore): BasicOcspParts {
  const pk = pkijsLibrary();
  const a = asn1jsLibrary();
  let resp: pkijs.OCSPResponse;
  try {
    resp = pk.OCSPResponse.fromBER(der);
  } catch {
    refuse('revocationInvalid', 'the OCSP response is not DER OCSPResponse');
  }
  const status = resp.responseStatus.valueBlock.valueDec;
  if (status !== 0) refuse('revocationInvalid', `the OCSP responder answered status ${status} (not successful)`);
  if (!resp.responseBytes || resp.responseBytes.responseType !== ID_PKIX_OCSP_BASIC) {
    refuse('revocationInvalid', 'the OCSP response is not an id-pkix-ocsp-basic response');
  }
  try {
    const octets = resp.responseBytes.response;
    // asn1js already decoded the OCTET STRING's content when it is exactly one element: no second decode.
    const inner = octets.valueBlock.value.length === 1 ? octets.valueBlock.value[0]! : a.fromBER(octets.valueBlock.valueHexView).result;
    const asn1 = a.compareSchema(inner, inner, basicOcspResponseSchema());
    if (!asn1.verified) throw new Error('not a BasicOCSPResponse');
    const r = asn1.result as Record<string, asn1js.AsnType | asn1js.AsnType[] | undefined>;
    const certs = ((r.certs as asn1js.AsnType[] | undefined) ?? []).map((c) => store.get(c.valueBeforeDecodeView));
    let full: pkijs.BasicOCSPResponse | undefined;
    return {
      tbsResponseData: new pk.ResponseData({ schema: r.tbsResponseData }),
      signatureAlgorithm: new pk.AlgorithmIdentifier({ schema: r.signatureAlgorithm }),
      signature: r.signature as asn1js.BitString,
      certs,
      full: () => (full ??= new pk.BasicOCSPResponse({ schema: inner })),
    };
  } catch {
    refuse('revocationInvalid', 'the BasicOCSPResponse cannot be parsed');
  }
}

/**
 * Checks one OCSP response for `cert` (issued by `issuer`): the responder is
 * the CA or a responder the CA delegated with id-kp-OCSPSigning (valid
 * now), its signature verifies, a SingleResponse carries this certificate's
 * CertID, and thisUpdate/nextUpdate bracket `at` within the skew allowance.
 *
 * Refusals: `ocspUnauthorized`, `ocspMismatch`, `ocspStale`, `revocationInvalid`.
 * A `revoked` or `unknown` status is returned, not thrown.
 */
export async function checkOcspResponse(
  der: Uint8Array,
  cert: VerifierCertificate,
  issuer: VerifierCertificate,
  ctx: OcspCheckContext,
): Promise<OcspAnswer> {
  const basic = parseOcspResponse(der, ctx.store);
  const rid = basic.tbsResponseData.responderID;

  let signer: VerifierCertificate | undefined;
  let responder: OcspAnswer['responder'] = 'ca';
  if (responderIs(rid, issuer)) {
    signer = issuer;
  } else {
    for (const vc of basic.certs) {
      if (!responderIs(rid, vc)) continue;
      // RFC 6960 section 4.2.2.2: a delegated responder is issued directly by the CA and carries id-kp-OCSPSigning.
      if (!responderPurposes(vc).includes(EKU_OIDS.ocspSigning)) {
        refuse('ocspUnauthorized', `the OCSP responder ${describe(vc)} lacks id-kp-OCSPSigning`);
      }
      let issued = false;
      try {
        issued = await ctx.issuance.check(vc, issuer);
      } catch {
        issued = false;
      }
      if (!issued) refuse('ocspUnauthorized', `the OCSP responder ${describe(vc)} was not issued by ${describe(issuer)}`);
      if (ctx.at < vc.notBefore || ctx.at > vc.notAfter) {
        refuse('ocspUnauthorized', `the OCSP responder certificate ${describe(vc)} is outside its validity period`);
      }
      signer = vc;
      responder = 'delegated';
      break;
    }
  }
  if (!signer) refuse('ocspUnauthorized', `the OCSP response is signed by a responder that is neither ${describe(issuer)} nor delegated by it`);

  const tbs = basic.tbsResponseData.tbsView;
  let signerKey;
  try {
    signerKey = await signer.loadPublicKey();
  } catch {
    refuse('ocspUnauthorized', `the key of the OCSP responder ${describe(signer)} cannot be used`);
  }
  let ok = verifySignedObject(basic.signatureAlgorithm.algorithmId, tbs, basic.signature.valueBlock.valueHexView, signerKey, ctx.signaturePolicy);
  if (ok === undefined) {
    try {
      ok = await basic.full().verify({ trustedCerts: [signer.pkijs] });
    } catch {
      ok = false;
    }
  }
  if (!ok) refuse('ocspUnauthorized', `the OCSP response signature does not verify with the key of ${describe(signer)}`);

  const single = basic.tbsResponseData.responses.find((r) => certIdMatches(r.certID, cert, issuer));
  if (!single) refuse('ocspMismatch', `the OCSP response has no answer for ${describe(cert)} (serial ${Buffer.from(cert.pkijs.serialNumber.valueBlock.valueHexView).toString('hex')})`);

  const thisUpdate = single.thisUpdate;
  const nextUpdate = single.nextUpdate;
  const now = ctx.at.getTime();
  if (thisUpdate.getTime() > now + ctx.clockSkewMs) refuse('ocspStale', `the OCSP response's thisUpdate ${thisUpdate.toISOString()} is in the future`);
  if (nextUpdate && nextUpdate.getTime() < now - ctx.clockSkewMs) refuse('ocspStale', `the OCSP response's nextUpdate ${nextUpdate.toISOString()} has passed`);
  if (!nextUpdate && thisUpdate.getTime() < now - ctx.maxAgeMs - ctx.clockSkewMs) {
    refuse('ocspStale', `the OCSP response (no nextUpdate) is older than ${Math.round(ctx.maxAgeMs / 1000)} s`);
  }

  const st = single.certStatus as asn1js.BaseBlock;
  const tag = st.idBlock.tagNumber;
  const base = { thisUpdate, responder, ...(nextUpdate ? { nextUpdate } : {}) };
  if (tag === 0) return { status: 'good', ...base };
  if (tag === 1) {
    let revocationTime: Date | undefined;
    const inner = (st as asn1js.Constructed).valueBlock?.value?.[0];
    if (inner instanceof asn1jsLibrary().GeneralizedTime) revocationTime = inner.toDate();
    return { status: 'revoked', ...base, ...(revocationTime ? { revocationTime } : {}) };
  }
  return { status: 'unknown', ...base };
}

/** The OCSP responder URLs of the certificate's authorityInfoAccess (http and https only). */
export function ocspUrls(cert: VerifierCertificate): string[] {
  let aia;
  try {
    aia = cert.peculiarExtension(EXTENSION_OIDS.authorityInfoAccess, peculiarX509().AuthorityInfoAccessExtension);
  } catch {
    return []; // an authorityInfoAccess that does not decode names no responder
  }
  return (aia?.ocsp ?? []).map((n) => (n.type === 'url' ? n.value : '')).filter((u) => /^https?:\/\//i.test(u));
}

/** A DER OCSPRequest for `cert` (SHA-1 CertID, as every responder supports), without a nonce so that answers can be cached. */
export async function buildOcspRequest(cert: VerifierCertificate, issuer: VerifierCertificate): Promise<Uint8Array> {
  const req = new (pkijsLibrary().OCSPRequest)();
  await req.createForCertificate(cert.pkijs, { hashAlgorithm: 'SHA-1', issuerCertificate: issuer.pkijs });
  return new Uint8Array(req.toSchema(true).toBER(false));
}
