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
import { SshX509Error } from '../src/errors.js';
import { decodeSignatureBlobStepwise, signatureLayout, signaturePrimitive } from '../src/rfc6187/signature.js';
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

describe('the one-pass reading of signature blobs', () => {
  /** The outcome of a decode: the format and primitive, or the error's code and message. */
  function outcome(f: () => { format: string; primitive: Uint8Array }, typed = true): string {
    try {
      const d = f();
      return `ok ${d.format} ${Buffer.from(d.primitive).toString('hex')}`;
    } catch (e) {
      if (typed) expect(e).toBeInstanceOf(SshX509Error);
      return e instanceof SshX509Error ? `${e.code} ${e.message}` : `${(e as Error).name} ${(e as Error).message}`;
    }
  }
  /** A deterministic byte stream (xorshift), so that a failure can be replayed. */
  function prng(seed: number): () => number {
    let x = seed;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) & 0xff;
    };
  }
  const mpint = (v: Buffer) => str(v);

  /** Blobs of every shape the checks look at, for `a`: valid ones and each kind of damage. */
  function blobsFor(a: ReturnType<typeof getAlgorithm>): Buffer[] {
    const next = prng(a.name.length * 7919 + 1);
    const bytes = (n: number, first?: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i === 0 && first !== undefined ? first : next())));
    const inner: Buffer[] = [];
    if (a.keyType === 'ec') {
      const w = Math.ceil(a.curveBits! / 8);
      // Valid forms: full width, a leading zero before a high bit, short values, zero.
      for (const r of [bytes(w, 0x7f), bytes(w, 0x80), bytes(w - 1, 0x7f), bytes(1, 1), Buffer.alloc(0)]) {
        for (const s of [bytes(w, 0x11), bytes(w, 0xf0), bytes(3, 0x05), Buffer.alloc(0)]) {
          const enc = (v: Buffer) => (v.length > 0 && (v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
          inner.push(Buffer.concat([mpint(enc(r)), mpint(enc(s))]));
        }
      }
      const good = bytes(w, 0x22);
      // Damaged forms: negative, superfluous zeros, wider than the curve, one zero byte, trailing or missing parts.
      for (const bad of [
        bytes(w, 0x80),
        Buffer.concat([Buffer.from([0]), bytes(w, 0x22)]),
        Buffer.from([0]),
        Buffer.concat([Buffer.from([0, 0]), bytes(w - 1, 0x80)]),
        bytes(w + 1, 0x01),
        Buffer.concat([Buffer.from([0]), bytes(w + 1, 0x80)]),
        bytes(w + 2, 0x01),
      ]) {
        inner.push(Buffer.concat([mpint(bad), mpint(good)]), Buffer.concat([mpint(good), mpint(bad)]));
      }
      inner.push(mpint(good), Buffer.concat([mpint(good), mpint(good), Buffer.from([0])]), Buffer.concat([mpint(good), u32(w)]), Buffer.alloc(0));
    } else {
      for (const n of [0, 39, 40, 41, 63, 64, 65, 256, 512]) inner.push(bytes(n));
    }
    const out: Buffer[] = [];
    for (const name of [a.signatureFormat, a.name, 'ssh-rsa', 'x', '', 'a'.repeat(64), 'a'.repeat(65), `${a.signatureFormat}\u00e9`, `\ufeff${a.signatureFormat}`]) {
      for (const sig of inner) out.push(Buffer.concat([str(name), str(sig)]));
    }
    // Format names that decode to the right text only if the bytes were not compared: invalid UTF-8 around the name.
    out.push(Buffer.concat([str(Buffer.concat([Buffer.from(a.signatureFormat), Buffer.from([0xc0])])), str(inner[0]!)]));
    out.push(Buffer.concat([str(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(a.signatureFormat)])), str(inner[0]!)]));
    // A signature string over the limit, with and without the bytes behind it.
    out.push(Buffer.concat([str(a.signatureFormat), u32(16 * 1024 + 1)]), Buffer.concat([str(a.signatureFormat), str(Buffer.alloc(16 * 1024 + 1))]));
    out.push(Buffer.concat([str(a.signatureFormat), str(Buffer.alloc(16 * 1024))]));
    // Each valid blob truncated at every length, extended, and with single bytes changed.
    const valid = Buffer.concat([str(a.signatureFormat), str(inner[0]!)]);
    for (let n = 0; n < valid.length; n++) out.push(valid.subarray(0, n));
    out.push(Buffer.concat([valid, Buffer.from([0])]), Buffer.concat([valid, u32(0)]));
    for (let i = 0; i < valid.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const m = Buffer.from(valid);
        m[i]! ^= x;
        out.push(m);
      }
    }
    for (let k = 0; k < 300; k++) {
      const m = Buffer.from(valid);
      for (let j = 0; j < 3; j++) m[next() % m.length] = next();
      out.push(m);
    }
    return out;
  }

  it.each(ALGORITHMS.map((a) => [a.name]))('%s: gives the step-by-step reading its answer for every blob, valid or damaged', (name) => {
    const a = getAlgorithm(name);
    let accepted = 0;
    let refused = 0;
    for (const blob of blobsFor(a)) {
      for (const acceptX509FormatName of [false, true]) {
        const want = outcome(() => decodeSignatureBlobStepwise(blob, a, { acceptX509FormatName }));
        const what = `${blob.toString('hex')} ${String(acceptX509FormatName)}`;
        expect(outcome(() => decodeSignatureBlob(blob, a, { acceptX509FormatName })), what).toBe(want);
        // The verifier's reading of the primitive alone: the same bytes, or the same error.
        const primitiveOnly = outcome(() => ({ format: want.split(' ')[1]!, primitive: signaturePrimitive(blob, signatureLayout(a), acceptX509FormatName) }));
        expect(primitiveOnly, what).toBe(want);
        if (want.startsWith('ok ')) accepted++;
        else refused++;
      }
    }
    expect(accepted).toBeGreaterThanOrEqual(3);
    expect(refused).toBeGreaterThan(100);
  });

  it.each(ALGORITHMS.map((a) => [a.name]))('%s: gives the step-by-step answer for signatures that are not bytes (from plain JavaScript)', (name) => {
    const a = getAlgorithm(name);
    const valid = blobsFor(a)[0]!;
    const odd: unknown[] = [Array.from(valid), new Uint16Array(valid), new Uint8ClampedArray(valid), new DataView(valid.buffer, valid.byteOffset, valid.length), undefined, 'text'];
    for (const blob of odd) {
      for (const acceptX509FormatName of [false, true]) {
        const want = outcome(() => decodeSignatureBlobStepwise(blob as Uint8Array, a, { acceptX509FormatName }), false);
        expect(outcome(() => decodeSignatureBlob(blob as Uint8Array, a, { acceptX509FormatName }), false), String(blob)).toBe(want);
        expect(outcome(() => ({ format: want.split(' ')[1]!, primitive: signaturePrimitive(blob as Uint8Array, signatureLayout(a), acceptX509FormatName) }), false), String(blob)).toBe(want);
      }
    }
  });
});
