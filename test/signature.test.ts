/**
 * RFC 6187 section 3 signature blobs and the ECDSA conversions, with real
 * keys and node:crypto as the independent check.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ALGORITHMS,
  decodeSignatureBlob,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  ecdsaRawToSsh,
  ecdsaSshToRaw,
  encodeSignatureBlob,
  getAlgorithm,

} from '../src/index.js';
import { u32, str, code } from './helpers/bytes.js';

const data = Buffer.from('session id and request');

function keyFor(name: string) {
  const a = getAlgorithm(name);
  if (a.keyType === 'ec') return generateKeyPairSync('ec', { namedCurve: a.nodeCurve! });
  if (a.keyType === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (a.keyType === 'dsa') return generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 });
  return generateKeyPairSync('ed25519');
}

describe('signature blobs (RFC 6187 section 3)', () => {
  it.each(ALGORITHMS.map((a) => [a.name, a.signatureFormat]))('%s uses the inner format name %s and round-trips', (name, format) => {
    const a = getAlgorithm(name);
    const { privateKey, publicKey } = keyFor(name);
    const primitive = a.keyType === 'rsa' || a.keyType === 'ed25519' ? sign(a.hash, data, privateKey) : sign(a.hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const blob = encodeSignatureBlob(a, primitive);
    // string format-name, string signature
    const nameLen = blob.readUInt32BE(0);
    expect(blob.subarray(4, 4 + nameLen).toString()).toBe(format);
    // RFC 6187: the underlying format name; only the legacy pre-RFC name signs under its own name.
    expect(format.startsWith('x509v3-')).toBe(a.legacy === true);
    const decoded = decodeSignatureBlob(blob, a);
    expect(decoded.format).toBe(format);
    const ok =
      a.keyType === 'rsa' || a.keyType === 'ed25519'
        ? verify(a.hash, data, publicKey, decoded.primitive)
        : verify(a.hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, decoded.primitive);
    expect(ok).toBe(true);
  });

  it('lays out an ECDSA signature as string(name) string(mpint r, mpint s), byte by byte', () => {
    const a = getAlgorithm('x509v3-ecdsa-sha2-nistp256');
    const r = Buffer.alloc(32, 0x81); // top bit set: mpint gets a leading zero
    const s = Buffer.concat([Buffer.alloc(1), Buffer.alloc(31, 0x11)]); // leading zero: stripped
    const blob = encodeSignatureBlob(a, Buffer.concat([r, s]));
    const inner = Buffer.concat([u32(33), Buffer.from([0]), r, u32(31), Buffer.alloc(31, 0x11)]);
    expect(blob.equals(Buffer.concat([str('ecdsa-sha2-nistp256'), str(inner)]))).toBe(true);
  });

  it('refuses the x509v3 name inside the blob unless asked to accept it (the ssh2-client form)', () => {
    const a = getAlgorithm('x509v3-ssh-ed25519');
    const sig = Buffer.alloc(64, 7);
    const wrong = Buffer.concat([str('x509v3-ssh-ed25519'), str(sig)]);
    expect(code(() => decodeSignatureBlob(wrong, a))).toBe('ERR_SIGNATURE_INVALID');
    expect(Buffer.from(decodeSignatureBlob(wrong, a, { acceptX509FormatName: true }).primitive).equals(sig)).toBe(true);
    expect(code(() => decodeSignatureBlob(Buffer.concat([str('rsa-sha2-256'), str(sig)]), 'x509v3-ssh-rsa'))).toBe('ERR_SIGNATURE_INVALID');
  });

  it('refuses truncations, trailing bytes and wrong sizes with typed errors', () => {
    const a = getAlgorithm('x509v3-ecdsa-sha2-nistp384');
    const { privateKey } = keyFor(a.name);
    const blob = encodeSignatureBlob(a, sign('sha384', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    for (let n = 0; n < blob.length; n++) expect(code(() => decodeSignatureBlob(blob.subarray(0, n), a))).toMatch(/^ERR_(WIRE_TRUNCATED|SIGNATURE_INVALID)$/);
    expect(code(() => decodeSignatureBlob(Buffer.concat([blob, Buffer.from([1])]), a))).toBe('ERR_WIRE_TRAILING_DATA');
    expect(code(() => decodeSignatureBlob(Buffer.concat([str('ssh-ed25519'), str(Buffer.alloc(63))]), 'x509v3-ssh-ed25519'))).toBe('ERR_SIGNATURE_INVALID');
    expect(code(() => encodeSignatureBlob(a, Buffer.alloc(95)))).toBe('ERR_SIGNATURE_INVALID');
    // r wider than the curve
    const wide = Buffer.concat([str(Buffer.concat([Buffer.from([1]), Buffer.alloc(48, 1)])), str(Buffer.from([1]))]);
    expect(code(() => ecdsaSshToRaw(wide, a))).toBe('ERR_SIGNATURE_INVALID');
  });
});

describe('ECDSA conversions', () => {
  it.each(['x509v3-ecdsa-sha2-nistp256', 'x509v3-ecdsa-sha2-nistp384', 'x509v3-ecdsa-sha2-nistp521'])('%s: DER <-> raw <-> SSH agree with node:crypto', (name) => {
    const a = getAlgorithm(name);
    const { privateKey, publicKey } = keyFor(name);
    for (let i = 0; i < 20; i++) {
      const der = sign(a.hash, data, privateKey);
      const raw = ecdsaDerToRaw(der, a);
      expect(raw.length).toBe(2 * Math.ceil(a.curveBits! / 8));
      expect(verify(a.hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw)).toBe(true);
      expect(ecdsaRawToDer(raw, a).equals(der)).toBe(true);
      expect(Buffer.from(ecdsaSshToRaw(ecdsaRawToSsh(raw, a), a)).equals(Buffer.from(raw))).toBe(true);
    }
    expect(publicKey.asymmetricKeyDetails?.namedCurve).toBe(a.nodeCurve);
  });

  it('refuses DER that is not a SEQUENCE of two INTEGERs', () => {
    const a = getAlgorithm('x509v3-ecdsa-sha2-nistp256');
    expect(code(() => ecdsaDerToRaw(Buffer.from('3003020101', 'hex'), a))).toBe('ERR_SIGNATURE_INVALID');
    expect(code(() => ecdsaDerToRaw(Buffer.from('0401ff', 'hex'), a))).toBe('ERR_SIGNATURE_INVALID');
    expect(code(() => ecdsaDerToRaw(Buffer.from('300602010102010100', 'hex'), a))).toBe('ERR_SIGNATURE_INVALID');
  });
});
