/**
 * Strict DER for certificates from a peer (RFC 5280 section 4.1: X.509
 * certificates are DER). asn1js decodes; this walks what it decoded and
 * refuses what DER does not allow: indefinite or non-minimal lengths,
 * constructed encodings of primitive types, non-minimal INTEGERs, BOOLEANs
 * other than 00/FF, bytes after the certificate, elements after
 * signatureValue, a signature BIT STRING with unused bits, and a
 * signatureAlgorithm that differs from tbsCertificate.signature. Each has
 * its own reason. INTEGERs have a size ceiling.
 *
 * @module
 */
import * as asn1js from 'asn1js';
import type { VerifierCertificate } from '../certificates.js';
import { algorithmIdentifierDer } from './facts.js';
import { sameAlgorithmParams } from './validate.js';

/** Why a certificate's encoding is refused. */
export type EncodingProblem =
  | 'nonCanonicalDer'
  | 'certificateTrailingBytes'
  | 'certificateTrailingElements'
  | 'signatureUnusedBits'
  | 'signatureAlgorithmMismatch'
  | 'tooLarge'
  | 'malformedCertificate';

/** The default ceiling on an INTEGER's contents: an 8192-bit modulus and its sign octet, with room. */
export const DEFAULT_MAX_INTEGER_BYTES = 1040;

/** Universal tags that DER encodes only in primitive form. */
const PRIMITIVE_ONLY = new Set([1, 2, 3, 4, 5, 6, 9, 10, 12, 13, 14, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);

function minimalLengthOctets(n: number): number {
  let c = 0;
  while (n > 0) {
    c++;
    n = Math.floor(n / 256);
  }
  return c;
}

interface Walk {
  problem?: { reason: EncodingProblem; detail: string };
  nodes: number;
}

function walk(b: asn1js.BaseBlock, w: Walk, maxIntegerBytes: number, depth: number): void {
  if (w.problem) return;
  w.nodes++;
  if (depth > 64 || w.nodes > 20_000) {
    w.problem = { reason: 'tooLarge', detail: 'the certificate nests or repeats elements beyond the bounds' };
    return;
  }
  const len = b.lenBlock;
  if (len.isIndefiniteForm) {
    w.problem = { reason: 'nonCanonicalDer', detail: 'an indefinite length (BER, not DER)' };
    return;
  }
  if (len.longFormUsed && (len.length < 128 || len.blockLength - 1 !== minimalLengthOctets(len.length))) {
    w.problem = { reason: 'nonCanonicalDer', detail: 'a length not in its shortest form (BER, not DER)' };
    return;
  }
  const id = b.idBlock;
  if (id.tagClass === 1) {
    if (id.isConstructed && PRIMITIVE_ONLY.has(id.tagNumber)) {
      w.problem = { reason: 'nonCanonicalDer', detail: `a constructed encoding of universal type ${id.tagNumber} (BER, not DER)` };
      return;
    }
    if (!id.isConstructed) {
      const v = (b as asn1js.Primitive).valueBlock.valueHexView ?? new Uint8Array(0);
      if (id.tagNumber === 2) {
        if (v.length > maxIntegerBytes) {
          w.problem = { reason: 'tooLarge', detail: `an INTEGER of ${v.length} octets, above the ceiling of ${maxIntegerBytes}` };
          return;
        }
        if (v.length === 0 || (v.length > 1 && ((v[0] === 0 && v[1]! < 0x80) || (v[0] === 0xff && v[1]! >= 0x80)))) {
          w.problem = { reason: 'nonCanonicalDer', detail: 'an INTEGER not in its shortest form' };
          return;
        }
      } else if (id.tagNumber === 1 && (v.length !== 1 || (v[0] !== 0 && v[0] !== 0xff))) {
        w.problem = { reason: 'nonCanonicalDer', detail: 'a BOOLEAN other than 00 or FF' };
        return;
      }
    }
  }
  // The length says exactly how much the element holds: asn1js reads past a too-short length into the following bytes.
  if (id.blockLength + len.blockLength + len.length !== b.valueBeforeDecodeView.byteLength) {
    w.problem = { reason: 'nonCanonicalDer', detail: 'an element whose length does not match its contents' };
    return;
  }
  if (id.isConstructed) {
    const children = ((b as asn1js.Constructed).valueBlock.value ?? []) as asn1js.BaseBlock[];
    let sum = 0;
    for (const c of children) sum += c.valueBeforeDecodeView.byteLength;
    if (sum !== len.length) {
      w.problem = { reason: 'nonCanonicalDer', detail: 'a constructed element whose length does not match its contents' };
      return;
    }
    for (const c of children) walk(c, w, maxIntegerBytes, depth + 1);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The DER of a definite length. */
function derLength(n: number): number[] {
  if (n < 128) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/**
 * The fast path: the certificate is exactly what its parts, in DER, make:
 * SEQUENCE { tbsCertificate (as signed), signatureAlgorithm (as pkijs
 * re-encodes it, equal to tbsCertificate.signature), BIT STRING with no
 * unused bits }, and nothing after. The signed part is the signer's: a
 * change there breaks the signature. What is outside it is checked here.
 */
function sameAsCanonical(cert: VerifierCertificate): boolean {
  const p = cert.pkijs;
  if (p.signatureAlgorithm.algorithmId !== p.signature.algorithmId || !sameAlgorithmParams(p.signatureAlgorithm, p.signature)) return false;
  const alg = algorithmIdentifierDer(p.signatureAlgorithm);
  const bits = p.signatureValue.valueBlock;
  if (bits.unusedBits !== 0) return false;
  const sigContent = bits.valueHexView;
  const sig = [0x03, ...derLength(sigContent.length + 1), 0x00];
  const contentLength = p.tbsView.byteLength + alg.length + sig.length + sigContent.length;
  const head = [0x30, ...derLength(contentLength)];
  const der = cert.der;
  if (der.length !== head.length + contentLength) return false;
  let o = 0;
  const match = (part: number[] | Uint8Array): boolean => {
    if (part instanceof Uint8Array) {
      // The long parts natively (the whole to-be-signed part among them).
      if (!Buffer.from(der.buffer, der.byteOffset + o, part.length).equals(part)) return false;
    } else {
      for (let i = 0; i < part.length; i++) if (der[o + i] !== part[i]) return false;
    }
    o += part.length;
    return true;
  };
  return match(head) && match(p.tbsView) && match(alg) && match(sig) && match(sigContent);
}

/**
 * The encoding problem of a parsed certificate, or `undefined`: the fast
 * check of its unsigned parts, and on a mismatch the full walk that names
 * the problem. Pure: the same bytes always give the same answer.
 */
export function parsedCertificateEncodingProblem(cert: VerifierCertificate, maxIntegerBytes = DEFAULT_MAX_INTEGER_BYTES): { reason: EncodingProblem; detail: string } | undefined {
  if (sameAsCanonical(cert)) return undefined;
  return certificateEncodingProblem(cert.der, maxIntegerBytes) ?? { reason: 'nonCanonicalDer', detail: "the certificate's unsigned parts are not in their DER form" };
}

/** The encoding problem of a certificate's DER, or `undefined`, from a full walk of asn1js's decode. */
export function certificateEncodingProblem(der: Uint8Array, maxIntegerBytes = DEFAULT_MAX_INTEGER_BYTES): { reason: EncodingProblem; detail: string } | undefined {
  const r = asn1js.fromBER(der);
  if (r.offset === -1) return { reason: 'malformedCertificate', detail: `the certificate does not decode: ${r.result.error}` };
  if (r.offset !== der.length) return { reason: 'certificateTrailingBytes', detail: `${der.length - r.offset} byte(s) after the certificate's DER` };
  const top = r.result;
  if (!(top instanceof asn1js.Sequence)) return { reason: 'malformedCertificate', detail: 'the certificate is not a SEQUENCE' };
  const w: Walk = { nodes: 0 };
  walk(top, w, maxIntegerBytes, 0);
  if (w.problem) return w.problem;
  const parts = top.valueBlock.value;
  if (parts.length > 3) return { reason: 'certificateTrailingElements', detail: `${parts.length - 3} element(s) after signatureValue` };
  if (parts.length < 3) return { reason: 'malformedCertificate', detail: 'the certificate lacks signatureAlgorithm or signatureValue' };
  const [tbs, alg, sig] = parts as [asn1js.BaseBlock, asn1js.BaseBlock, asn1js.BaseBlock];
  if (!(sig instanceof asn1js.BitString)) return { reason: 'malformedCertificate', detail: 'signatureValue is not a BIT STRING' };
  if (sig.valueBlock.unusedBits !== 0) return { reason: 'signatureUnusedBits', detail: `the signature BIT STRING has ${sig.valueBlock.unusedBits} unused bit(s)` };
  // Section 4.1.1.2: the same AlgorithmIdentifier, byte for byte, inside and outside the signed part.
  const tbsParts = (tbs as asn1js.Sequence).valueBlock?.value ?? [];
  const first = tbsParts[0] as asn1js.BaseBlock | undefined;
  const innerAlg = (first && first.idBlock.tagClass === 3 && first.idBlock.tagNumber === 0 ? tbsParts[2] : tbsParts[1]) as asn1js.BaseBlock | undefined;
  if (!innerAlg || !sameBytes(new Uint8Array(innerAlg.valueBeforeDecodeView), new Uint8Array(alg.valueBeforeDecodeView))) {
    return { reason: 'signatureAlgorithmMismatch', detail: 'signatureAlgorithm differs from tbsCertificate.signature (RFC 5280 section 4.1.1.2)' };
  }
  return undefined;
}
