/** The signatures alone that the verifier rows of bench/peers.ts must check, timed bare, and the same with asn1js's decode of the certificates received. */
import { createPublicKey, verify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { getAlgorithm, signatureAlgorithmHash } from '../src/algorithms.js';

/**
 * The bare node:crypto cost of the signatures a login must verify, keys
 * imported and certificates parsed beforehand: the user signature and the
 * leaf's certificate signature (a new leaf), and the intermediate's as well
 * (cold). Neither side checks the root's self-signature: a trust anchor's
 * signature is not part of path validation (RFC 5280 section 6.1), and
 * AsyncSSH's OpenSSL verify skips it unless X509_V_FLAG_CHECK_SS_SIGNATURE is set.
 *
 * `decodedCold` and `decodedNewLeaf` add what any verifier built on the
 * project's ASN.1 library must also do before it can read a certificate it
 * has not seen: one `asn1js.fromBER` of each certificate received (leaf and
 * intermediate cold, the leaf alone for a new leaf), without the embedded
 * decodes, as the verifier itself decodes them. Nothing is read from the
 * trees: this is the floor, not a parse.
 */
export function signatureFloor(
  alg: string,
  data: Uint8Array,
  raw: Uint8Array,
  chain: readonly [Uint8Array, Uint8Array, Uint8Array],
): { cold: () => void; newLeaf: () => void; decodedCold: () => void; decodedNewLeaf: () => void } {
  const a = getAlgorithm(alg);
  const [leaf, inter, root] = chain.map((d) => pkijs.Certificate.fromBER(d)) as [pkijs.Certificate, pkijs.Certificate, pkijs.Certificate];
  const keyOf = (c: pkijs.Certificate) => createPublicKey({ key: Buffer.from(c.subjectPublicKeyInfo.toSchema().toBER(false)), format: 'der', type: 'spki' });
  const userKey = keyOf(leaf);
  const hash = a.keyType === 'ed25519' ? null : a.hash;
  const user = () => (a.keyType === 'ec' ? verify(a.hash, data, { key: userKey, dsaEncoding: 'ieee-p1363' }, raw) : verify(hash, data, userKey, raw));
  const certSig = (c: pkijs.Certificate, issuer: pkijs.Certificate) => {
    const h = signatureAlgorithmHash(c.signatureAlgorithm.algorithmId);
    if (!h) throw new Error(`no hash for ${c.signatureAlgorithm.algorithmId}`);
    const key = keyOf(issuer);
    const tbs = c.tbsView;
    const sig = c.signatureValue.valueBlock.valueHexView;
    if (!verify(h.hash, tbs, key, sig)) throw new Error('a certificate signature does not verify');
    return () => verify(h.hash, tbs, key, sig);
  };
  const leafSig = certSig(leaf, inter);
  const interSig = certSig(inter, root);
  if (!user()) throw new Error('the user signature does not verify');
  const decode = (der: Uint8Array) => {
    if (asn1js.fromBER(der, { parseEmbedded: false }).offset !== der.length) throw new Error('a certificate does not decode');
  };
  const [leafDer, interDer] = chain;
  return {
    cold: () => {
      user();
      leafSig();
      interSig();
    },
    newLeaf: () => {
      user();
      leafSig();
    },
    decodedCold: () => {
      decode(leafDer);
      decode(interDer);
      user();
      leafSig();
      interSig();
    },
    decodedNewLeaf: () => {
      decode(leafDer);
      user();
      leafSig();
    },
  };
}

