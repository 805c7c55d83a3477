import { describe, expect, it } from 'vitest';
import { SshReader, SshWriter } from '../src/wire/index.js';
import { code } from './helpers/bytes.js';

describe('SSH wire encoding (RFC 4251 section 5)', () => {
  it('writes uint32, string, boolean and byte in network order', () => {
    const b = new SshWriter().uint32(0x01020304).string('ab').boolean(true).byte(0xff).toBuffer();
    expect(b.toString('hex')).toBe('01020304' + '00000002' + '6162' + '01' + 'ff');
  });

  it('encodes mpints as RFC 4251 examples show', () => {
    // RFC 4251 section 5 examples: 0, 0x9a378f9b2e332a7, 0x80, 0xedcc (unsigned magnitude)
    const enc = (hex: string) => new SshWriter().mpintUnsigned(Buffer.from(hex, 'hex')).toBuffer().toString('hex');
    expect(enc('')).toBe('00000000');
    expect(enc('00')).toBe('00000000');
    expect(enc('09a378f9b2e332a7')).toBe('0000000809a378f9b2e332a7');
    expect(enc('80')).toBe('000000020080');
    expect(enc('0000edcc')).toBe('0000000300edcc');
  });

  it('round-trips every field type', () => {
    const mag = Buffer.from('ff00ee', 'hex');
    const buf = new SshWriter().byte(7).uint32(0xffffffff).string('name').mpintUnsigned(mag).boolean(false).toBuffer();
    const r = new SshReader(buf);
    expect(r.readByte()).toBe(7);
    expect(r.readUint32()).toBe(0xffffffff);
    expect(r.readUtf8()).toBe('name');
    expect(Buffer.from(r.readMpintUnsigned()).equals(mag)).toBe(true);
    expect(r.readBoolean()).toBe(false);
    r.expectEnd();
  });

  it('refuses truncations of every field with ERR_WIRE_TRUNCATED', () => {
    const full = new SshWriter().uint32(5).string('hello').toBuffer();
    for (let n = 0; n < full.length; n++) {
      const r = new SshReader(full.subarray(0, n));
      expect(code(() => {
        r.readUint32();
        r.readString();
      })).toBe('ERR_WIRE_TRUNCATED');
    }
  });

  it('refuses a string length of 2^32-1 without allocating', () => {
    const buf = Buffer.from('ffffffff00', 'hex');
    expect(code(() => new SshReader(buf).readString())).toBe('ERR_WIRE_INVALID');
    expect(code(() => new SshReader(buf, 0xffffffff).readString())).toBe('ERR_WIRE_TRUNCATED');
  });

  it('refuses trailing bytes, negative and non-minimal mpints', () => {
    expect(code(() => new SshReader(Buffer.from('00', 'hex')).expectEnd())).toBe('ERR_WIRE_TRAILING_DATA');
    expect(code(() => new SshReader(Buffer.from('0000000180', 'hex')).readMpintUnsigned())).toBe('ERR_WIRE_INVALID');
    expect(code(() => new SshReader(Buffer.from('000000020001', 'hex')).readMpintUnsigned())).toBe('ERR_WIRE_INVALID');
  });

  it('refuses a uint32 out of range when writing', () => {
    expect(code(() => new SshWriter().uint32(2 ** 32))).toBe('ERR_WIRE_INVALID');
    expect(code(() => new SshWriter().uint32(-1))).toBe('ERR_WIRE_INVALID');
  });
});
