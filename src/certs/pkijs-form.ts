/**
 * The pkijs form of a certificate, built from asn1js's decode without
 * pkijs's whole-certificate schema comparison.
 *
 * `pkijs.Certificate.fromBER` decodes the DER with asn1js, matches the
 * whole tree against the certificate schema (building that schema first),
 * and then builds each part (names, algorithm identifiers, times, the
 * public key, the extensions) with the part's own pkijs class, which
 * matches that part against its own schema again. The first match only
 * finds the nodes the parts are built from. Here the nodes are found by
 * position instead, and only when the tree has exactly the shape of a
 * certificate (the tags, forms and counts the schema allows, nothing
 * optional out of order, nothing extra); the parts are then built by the
 * same pkijs classes from the same nodes, so the result is what pkijs
 * gives. Any other tree, and any part a pkijs class refuses, is handed to
 * `pkijs.Certificate.fromBER` itself, which gives its own answer (and its
 * own error).
 *
 * The decode skips asn1js's "embedded" decode, its try at reading the
 * contents of every primitive OCTET STRING and BIT STRING (each extension
 * value, the key, the signature) as ASN.1 of their own: pkijs never reads
 * it (an extension's `parsedValue` and a key's `parsedKey` decode the
 * octets themselves, when first read), nor does anything in this library,
 * and it costs about a third of the decode. It can change one answer:
 * asn1js counts the nodes of the embedded decodes against its ceiling of
 * `DEFAULT_MAX_NODES` nodes per decode, so a tree within it without them may
 * exceed it with them (and pkijs then refuses the certificate). Each node
 * starts at a distinct byte of the DER, so a DER no longer than the ceiling
 * never reaches it either way; a longer one is decoded as pkijs decodes it.
 *
 * @module
 */
import type * as Asn1js from 'asn1js';
import type * as Pkijs from 'pkijs';

type Lib = { pkijs: typeof Pkijs; asn1js: typeof Asn1js };

/** Universal tag numbers (X.680), for {@link is}. */
export const BOOLEAN = 1;
export const INTEGER = 2;
export const BIT_STRING = 3;
export const OCTET_STRING = 4;
export const OBJECT_IDENTIFIER = 6;
export const ENUMERATED = 10;
export const SEQUENCE = 16;
export const SET = 17;
export const UTC_TIME = 23;
export const GENERALIZED_TIME = 24;

/** True when `b` has exactly this tag (class, number, form) in the form asn1js decodes for the schemas (not `isHexOnly`). */
export function is(b: Asn1js.BaseBlock | undefined, tagClass: number, tagNumber: number, constructed: boolean): boolean {
  if (!b) return false;
  const id = b.idBlock;
  return id.tagClass === tagClass && id.tagNumber === tagNumber && id.isConstructed === constructed && !id.isHexOnly;
}

/** The children of a constructed node. */
export function children(b: Asn1js.BaseBlock): Asn1js.BaseBlock[] {
  return (b as Asn1js.Constructed).valueBlock.value as Asn1js.BaseBlock[];
}

/*
 * The parts, built as their pkijs classes' `fromSchema` builds them (the
 * same fields, in the same order, from the same nodes), for the shapes
 * their schemas take without question; `undefined` for any other shape, so
 * that the whole certificate goes to pkijs. Each class's own schema match
 * costs more than finding its nodes: together they cost as much as the
 * decode itself.
 */

/** AlgorithmIdentifier: SEQUENCE { OBJECT IDENTIFIER, parameters ANY OPTIONAL }, nothing after. */
export function algorithmIdentifier(b: Asn1js.BaseBlock, pkijs: typeof Pkijs): Pkijs.AlgorithmIdentifier | undefined {
  const v = children(b);
  if (v.length < 1 || v.length > 2 || !is(v[0], 1, OBJECT_IDENTIFIER, false)) return undefined;
  const a = new pkijs.AlgorithmIdentifier();
  a.algorithmId = (v[0] as Asn1js.ObjectIdentifier).valueBlock.toString();
  if (v.length === 2) a.algorithmParams = v[1];
  return a;
}

/** The node each name built here was built from (what the name's DER decodes to), for reading it again without decoding it again. */
const nameNodes = new WeakMap<Pkijs.RelativeDistinguishedNames, Asn1js.BaseBlock>();

/**
 * The asn1js node `name` was built from, when it was built here (by
 * {@link pkijsCertificate} from the tree's own nodes); `undefined` for a
 * name made otherwise. It is what decoding the name's DER gives, without
 * asn1js's embedded decodes (which no reader of a name looks at).
 */
export function nameNode(name: Pkijs.RelativeDistinguishedNames): Asn1js.BaseBlock | undefined {
  return nameNodes.get(name);
}

/** Name: SEQUENCE OF SET OF SEQUENCE { OBJECT IDENTIFIER, ANY }, each attribute of exactly those two. */
export function relativeDistinguishedNames(b: Asn1js.BaseBlock, pkijs: typeof Pkijs): Pkijs.RelativeDistinguishedNames | undefined {
  const all: Pkijs.AttributeTypeAndValue[] = [];
  for (const set of children(b)) {
    if (!is(set, 1, SET, true)) return undefined;
    for (const atv of children(set)) {
      if (!is(atv, 1, SEQUENCE, true)) return undefined;
      const tv = children(atv);
      if (tv.length !== 2 || !is(tv[0], 1, OBJECT_IDENTIFIER, false)) return undefined;
      const a = new pkijs.AttributeTypeAndValue();
      a.type = (tv[0] as Asn1js.ObjectIdentifier).valueBlock.toString();
      a.value = tv[1] as Pkijs.AttributeTypeAndValue["value"];
      all.push(a);
    }
  }
  const n = new pkijs.RelativeDistinguishedNames();
  if (all.length > 0) n.typesAndValues = all;
  n.valueBeforeDecode = b.valueBeforeDecodeView.slice().buffer;
  nameNodes.set(n, b);
  return n;
}

/** Time: a UTCTime or a GeneralizedTime (the caller checked which). */
function time(b: Asn1js.BaseBlock, pkijs: typeof Pkijs): Pkijs.Time {
  const t = new pkijs.Time();
  t.type = b.idBlock.tagNumber === UTC_TIME ? 0 : 1;
  t.value = (b as Asn1js.UTCTime).toDate();
  return t;
}

/** SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING }, nothing after. */
function publicKeyInfo(b: Asn1js.BaseBlock, pkijs: typeof Pkijs): Pkijs.PublicKeyInfo | undefined {
  const v = children(b);
  if (v.length !== 2 || !is(v[0], 1, SEQUENCE, true) || !is(v[1], 1, BIT_STRING, false)) return undefined;
  const algorithm = algorithmIdentifier(v[0]!, pkijs);
  if (!algorithm) return undefined;
  const k = Object.create(pkijs.PublicKeyInfo.prototype) as Pkijs.PublicKeyInfo;
  k.algorithm = algorithm;
  k.subjectPublicKey = v[1] as Asn1js.BitString;
  return k;
}

/** Extension: SEQUENCE { OBJECT IDENTIFIER, BOOLEAN OPTIONAL, OCTET STRING }, nothing after. */
export function extension(b: Asn1js.BaseBlock, pkijs: typeof Pkijs): Pkijs.Extension | undefined {
  const v = children(b);
  const critical = v.length === 3 ? v[1] : undefined;
  const value = v[v.length - 1];
  if (v.length < 2 || v.length > 3 || !is(v[0], 1, OBJECT_IDENTIFIER, false) || !is(value, 1, OCTET_STRING, false)) return undefined;
  if (critical && !is(critical, 1, BOOLEAN, false)) return undefined;
  // The fields the constructor makes, in its order (its default value would only be replaced).
  const e = Object.create(pkijs.Extension.prototype) as Pkijs.Extension;
  e.extnID = (v[0] as Asn1js.ObjectIdentifier).valueBlock.toString();
  e.critical = critical ? (critical as Asn1js.Boolean).valueBlock.value : false;
  e.extnValue = value as Asn1js.OctetString;
  return e;
}

/** The pkijs parts of a certificate whose tree has the schema's shape, or `undefined` for any other tree. */
function fastCertificate(der: Uint8Array, lib: Lib): Pkijs.Certificate | undefined {
  const { pkijs, asn1js } = lib;
  const decoded = asn1js.fromBER(der, { parseEmbedded: der.length > asn1js.DEFAULT_MAX_NODES });
  if (decoded.offset !== der.length) return undefined;
  const root = decoded.result;
  if (!is(root, 1, SEQUENCE, true)) return undefined;
  const top = children(root);
  if (top.length !== 3) return undefined;
  const [tbs, sigAlg, sigValue] = top as [Asn1js.BaseBlock, Asn1js.BaseBlock, Asn1js.BaseBlock];
  if (!is(tbs, 1, SEQUENCE, true) || !is(sigAlg, 1, SEQUENCE, true) || !is(sigValue, 1, BIT_STRING, false)) return undefined;

  const t = children(tbs);
  let i = 0;
  let version: Asn1js.Integer | undefined;
  if (is(t[0], 3, 0, true)) {
    const v = children(t[0]!);
    if (v.length !== 1 || !is(v[0], 1, INTEGER, false)) return undefined;
    version = v[0] as Asn1js.Integer;
    i = 1;
  }
  const serial = t[i];
  const signature = t[i + 1];
  const issuer = t[i + 2];
  const validity = t[i + 3];
  const subject = t[i + 4];
  const spki = t[i + 5];
  if (!is(serial, 1, INTEGER, false) || !is(signature, 1, SEQUENCE, true) || !is(issuer, 1, SEQUENCE, true) || !is(validity, 1, SEQUENCE, true)) return undefined;
  if (!is(subject, 1, SEQUENCE, true) || !is(spki, 1, SEQUENCE, true)) return undefined;
  const times = children(validity!);
  if (times.length !== 2 || !times.every((x) => is(x, 1, UTC_TIME, false) || is(x, 1, GENERALIZED_TIME, false))) return undefined;
  i += 6;
  let issuerUniqueID: Asn1js.BaseBlock | undefined;
  let subjectUniqueID: Asn1js.BaseBlock | undefined;
  let extensions: Asn1js.BaseBlock[] | undefined;
  if (is(t[i], 3, 1, false)) issuerUniqueID = t[i++];
  if (is(t[i], 3, 2, false)) subjectUniqueID = t[i++];
  if (is(t[i], 3, 3, true)) {
    const wrapped = children(t[i++]!);
    if (wrapped.length !== 1 || !is(wrapped[0], 1, SEQUENCE, true)) return undefined;
    extensions = children(wrapped[0]!);
    // An empty SEQUENCE leaves pkijs's `extensions` unset: pkijs's own path keeps that case.
    if (extensions.length === 0 || !extensions.every((e) => is(e, 1, SEQUENCE, true))) return undefined;
  }
  if (i !== t.length) return undefined;

  const signatureParts = algorithmIdentifier(signature!, pkijs);
  const issuerParts = relativeDistinguishedNames(issuer!, pkijs);
  const subjectParts = relativeDistinguishedNames(subject!, pkijs);
  const keyParts = publicKeyInfo(spki!, pkijs);
  const extensionParts: Pkijs.Extension[] = [];
  for (const e of extensions ?? []) {
    const part = extension(e, pkijs);
    if (!part) return undefined;
    extensionParts.push(part);
  }
  const signatureAlgorithm = algorithmIdentifier(sigAlg, pkijs);
  if (!signatureParts || !issuerParts || !subjectParts || !keyParts || !signatureAlgorithm) return undefined;

  // The fields Certificate's constructor makes, in its order (its defaults, a dozen objects, would only be
  // replaced), with the values fromSchema gives them; then the optional ones, as fromSchema adds them.
  const c = Object.create(pkijs.Certificate.prototype) as Pkijs.Certificate;
  c.tbsView = tbs.valueBeforeDecodeView;
  c.version = version ? version.valueBlock.valueDec : 0;
  c.serialNumber = serial as Asn1js.Integer;
  c.signature = signatureParts;
  c.issuer = issuerParts;
  c.notBefore = time(times[0]!, pkijs);
  c.notAfter = time(times[1]!, pkijs);
  c.subject = subjectParts;
  c.subjectPublicKeyInfo = keyParts;
  c.signatureAlgorithm = signatureAlgorithm;
  c.signatureValue = sigValue as Asn1js.BitString;
  if (issuerUniqueID) c.issuerUniqueID = (issuerUniqueID as Asn1js.Primitive).valueBlock.valueHex;
  if (subjectUniqueID) c.subjectUniqueID = (subjectUniqueID as Asn1js.Primitive).valueBlock.valueHex;
  if (extensions) c.extensions = extensionParts;
  return c;
}

/**
 * What `pkijs.Certificate.fromBER(der)` gives (the same object, or the
 * same error), the common case without its whole-certificate schema match.
 */
export function pkijsCertificate(der: Uint8Array, lib: Lib): Pkijs.Certificate {
  let c: Pkijs.Certificate | undefined;
  try {
    c = fastCertificate(der, lib);
  } catch {
    c = undefined;
  }
  return c ?? lib.pkijs.Certificate.fromBER(der);
}

/**
 * One asn1js decode of an extension's value: what `asn1js.fromBER(octets)`
 * gives with its defaults, the decode each reader of the value made of its
 * own before (pkijs's `Extension.parsedValue`, @peculiar/asn1-schema's
 * `AsnParser.parse`, the path validator's look at the subjectAltName), made
 * once per extension and shared by all of them.
 */
export interface ExtensionValueDecode {
  /** fromBER's offset: -1 when the value does not decode. */
  readonly offset: number;
  /** fromBER's result, the tree the readers read (those that read without changing it; see {@link extensionParsedValue}). */
  readonly result: Asn1js.BaseBlock;
}

/** The decodes made, by the extension's value node; `null` when asn1js threw (see {@link extensionValueDecode}). */
const valueDecodes = new WeakMap<Asn1js.OctetString, ExtensionValueDecode | null>();

/**
 * The one decode of `ext`'s value (made on first use). `undefined` when
 * asn1js throws on it (it does on some malformed contents): each reader
 * then decodes the value itself again, as before, and throws its own error.
 */
export function extensionValueDecode(ext: Pkijs.Extension, asn1js: typeof Asn1js): ExtensionValueDecode | undefined {
  const node = ext.extnValue;
  let d = valueDecodes.get(node);
  if (d === undefined) {
    try {
      const r = asn1js.fromBER(node.valueBlock.valueHexView);
      d = { offset: r.offset, result: r.result };
    } catch {
      d = null;
    }
    valueDecodes.set(node, d);
  }
  return d ?? undefined;
}

/**
 * What pkijs's `ext.parsedValue` gives, built from the shared decode as
 * pkijs's `ExtensionValueFactory.fromBER` builds it from its own: `null`
 * (read as `undefined`) when the value does not decode; for an extension
 * pkijs has a class for, that class made from the tree, or, when the class
 * refuses it, an empty one with pkijs's `parsingError`; otherwise the tree
 * itself. The value is kept where pkijs keeps it (its `parsedValue`
 * setter), so that pkijs's own getter gives the same object afterwards; one
 * pkijs read already (its own decode) is used as it is.
 *
 * pkijs's classes change the tree they are built from (its GeneralName
 * re-tags an implicitly tagged name in place to decode it; its schema
 * match writes named fields and an `error` on the root), so the tree given
 * to pkijs is given to no reader after it: the next one decodes the value
 * again, as each did before. The other readers only read the tree
 * (asn1-schema's match writes on an object of its own), so any number of
 * them share it, and pkijs may take it after them.
 */
export function extensionParsedValue(ext: Pkijs.Extension, lib: Lib): unknown {
  if ((ext as unknown as { _parsedValue?: unknown })._parsedValue === undefined) {
    const d = extensionValueDecode(ext, lib.asn1js);
    // A decode that throws: pkijs's getter below decodes again and throws as it always did.
    if (d) {
      valueDecodes.delete(ext.extnValue);
      ext.parsedValue = (d.offset === -1 ? null : valueFromTree(ext.extnID, d.result, lib.pkijs)) as Pkijs.Extension['parsedValue'];
    }
  }
  return ext.parsedValue;
}

/** pkijs's `ExtensionValueFactory.fromBER` past its decode. */
function valueFromTree(id: string, tree: Asn1js.BaseBlock, pkijs: typeof Pkijs): unknown {
  const item = pkijs.ExtensionValueFactory.find(id);
  if (!item) return tree;
  try {
    return new item.type({ schema: tree });
  } catch {
    const res = new item.type() as { parsingError?: string };
    res.parsingError = `Incorrectly formatted value of extension ${item.name} (${id})`;
    return res;
  }
}
