import { describe, expect, it } from 'vitest';
import { decodeLegacyCertificateBlob, decodePublicKeyBlob, encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { ALGORITHMS, algorithmsForKey } from '../src/algorithms.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { u32, str, code } from './helpers/bytes.js';

const leaf = Buffer.from('30820101leaf', 'latin1');
const inter = Buffer.from('30820202intermediate', 'latin1');
const ocsp = Buffer.from('3003ocsp', 'latin1');

describe('RFC 6187 section 2.1 public key blob', () => {
  it('lays out name, certificate-count, certificates, ocsp-response-count, responses byte by byte', () => {
    const blob = encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [leaf, inter], ocspResponses: [ocsp] });
    const expected = Buffer.concat([str('x509v3-ecdsa-sha2-nistp256'), u32(2), str(leaf), str(inter), u32(1), str(ocsp)]);
    expect(blob.equals(expected)).toBe(true);
  });

  it('round-trips for every algorithm of the table, with and without OCSP responses', () => {
    for (const a of ALGORITHMS.filter((x) => !x.legacy)) {
      for (const ocspResponses of [[], [ocsp], [ocsp, ocsp]]) {
        const b = { algorithm: a.name, certificates: [leaf, inter], ocspResponses };
        const d = decodePublicKeyBlob(encodePublicKeyBlob(b));
        expect(d.algorithm).toBe(a.name);
        expect(d.certificates.map((c) => Buffer.from(c).toString('latin1'))).toEqual([leaf.toString('latin1'), inter.toString('latin1')]);
        expect(d.ocspResponses.length).toBe(ocspResponses.length);
      }
    }
  });

  it('refuses certificate-count 0 and ocsp-response-count above certificate-count', () => {
    expect(code(() => decodePublicKeyBlob(Buffer.concat([str('x509v3-ssh-rsa'), u32(0), u32(0)])))).toBe('ERR_BLOB_INVALID');
    expect(code(() => decodePublicKeyBlob(Buffer.concat([str('x509v3-ssh-rsa'), u32(1), str(leaf), u32(2), str(ocsp), str(ocsp)])))).toBe('ERR_BLOB_INVALID');
    expect(code(() => encodePublicKeyBlob({ algorithm: 'x509v3-ssh-rsa', certificates: [], ocspResponses: [] }))).toBe('ERR_BLOB_INVALID');
    expect(code(() => encodePublicKeyBlob({ algorithm: 'x509v3-ssh-rsa', certificates: [leaf], ocspResponses: [ocsp, ocsp] }))).toBe('ERR_BLOB_INVALID');
  });

  it('refuses counts of 2^32-1 at once, without reading on', () => {
    expect(code(() => decodePublicKeyBlob(Buffer.concat([str('x509v3-ssh-rsa'), u32(0xffffffff), str(leaf)])))).toBe('ERR_BLOB_INVALID');
    expect(code(() => decodePublicKeyBlob(Buffer.concat([str('x509v3-ssh-rsa'), u32(1), str(leaf), u32(0xffffffff)])))).toBe('ERR_BLOB_INVALID');
  });

  it('refuses a certificate over the size limit', () => {
    const big = Buffer.alloc(70 * 1024);
    expect(code(() => decodePublicKeyBlob(Buffer.concat([str('x509v3-ssh-rsa'), u32(1), str(big), u32(0)])))).toBe('ERR_WIRE_INVALID');
    expect(decodePublicKeyBlob(Buffer.concat([str('x509v3-ssh-rsa'), u32(1), str(big), u32(0)]), { maxCertificateSize: 80 * 1024 }).certificates.length).toBe(1);
  });

  it('refuses trailing bytes', () => {
    const good = encodePublicKeyBlob({ algorithm: 'x509v3-ssh-rsa', certificates: [leaf], ocspResponses: [] });
    expect(code(() => decodePublicKeyBlob(Buffer.concat([good, Buffer.from([0])])))).toBe('ERR_WIRE_TRAILING_DATA');
  });

  it('refuses every truncation with a typed error', () => {
    const good = encodePublicKeyBlob({ algorithm: 'x509v3-rsa2048-sha256', certificates: [leaf, inter], ocspResponses: [ocsp] });
    for (let n = 0; n < good.length; n++) {
      expect(['ERR_WIRE_TRUNCATED', 'ERR_ALGORITHM_UNSUPPORTED']).toContain(code(() => decodePublicKeyBlob(good.subarray(0, n))));
    }
  });

  it('refuses unknown algorithm names, including plain SSH ones', () => {
    for (const name of ['ssh-rsa', 'x509v3-unknown', '']) {
      expect(code(() => decodePublicKeyBlob(Buffer.concat([str(name), u32(1), str(leaf), u32(0)])))).toBe('ERR_ALGORITHM_UNSUPPORTED');
    }
  });
});

describe('legacy x509v3-sign-rsa (pre-RFC drafts, PKIX-SSH legacy format)', () => {
  it('is never chosen by default, even with SHA-1 allowed; only when legacy is asked for explicitly', () => {
    const rsa = { keyType: 'rsa', bits: 2048 };
    expect(algorithmsForKey(rsa).map((a) => a.name)).toEqual(['x509v3-rsa2048-sha256']);
    expect(algorithmsForKey(rsa, { allowSha1: true }).map((a) => a.name)).toEqual(['x509v3-rsa2048-sha256', 'x509v3-ssh-rsa']);
    expect(algorithmsForKey(rsa, { allowSha1: true, allowLegacy: true }).map((a) => a.name)).toContain('x509v3-sign-rsa');
  });

  it('sends the leaf DER alone as the blob and its own name as the signature format', () => {
    const blob = encodePublicKeyBlob({ algorithm: 'x509v3-sign-rsa', certificates: [leaf, inter], ocspResponses: [] });
    expect(blob.equals(leaf)).toBe(true);
    expect(decodeLegacyCertificateBlob(blob, 'x509v3-sign-rsa').certificates[0]).toEqual(leaf);
    const sig = encodeSignatureBlob('x509v3-sign-rsa', Buffer.alloc(256, 1));
    expect(sig.equals(Buffer.concat([str('x509v3-sign-rsa'), str(Buffer.alloc(256, 1))]))).toBe(true);
    expect(code(() => decodePublicKeyBlob(Buffer.concat([str('x509v3-sign-rsa'), u32(1), str(leaf), u32(0)])))).toBe('ERR_BLOB_INVALID');
  });
});
