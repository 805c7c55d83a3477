import { ErrorCodes, SshX509Error } from '../errors.js';

/**
 * An SSH wire writer (RFC 4251 section 5). Fields are collected and joined
 * once in {@link SshWriter.toBuffer}.
 */
export class SshWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }

  /** `byte` */
  byte(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }

  /** `boolean` */
  boolean(v: boolean): this {
    return this.byte(v ? 1 : 0);
  }

  /** `uint32` */
  uint32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new SshX509Error(ErrorCodes.WIRE_INVALID, `uint32 out of range: ${v}`);
    }
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v, 0);
    return this.push(b);
  }

  /** `string` from bytes, or from text as UTF-8. */
  string(v: Uint8Array | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.uint32(b.length);
    return this.push(b);
  }

  /** Raw bytes with no length prefix. */
  raw(v: Uint8Array): this {
    return this.push(v);
  }

  /**
   * `mpint` from a non-negative big-endian magnitude: leading zeros are
   * stripped and one zero byte is added when the top bit is set.
   */
  mpintUnsigned(magnitude: Uint8Array): this {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    if (m.length === 0) return this.uint32(0);
    if ((m[0]! & 0x80) !== 0) {
      this.uint32(m.length + 1);
      this.byte(0);
      return this.push(m);
    }
    return this.string(m);
  }

  /** The bytes written so far, joined. */
  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}
