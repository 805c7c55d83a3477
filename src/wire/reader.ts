import { ErrorCodes, SshX509Error } from '../errors.js';

/** Default upper bound for one SSH `string` field: 1 MiB. */
export const DEFAULT_MAX_STRING_LENGTH = 1 << 20;

/**
 * A bounds-checked reader of SSH wire data (RFC 4251 section 5).
 * Every read checks the remaining length first; a short buffer gives
 * `ERR_WIRE_TRUNCATED`, never an out-of-range read.
 */
export class SshReader {
  private offset = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly maxStringLength = DEFAULT_MAX_STRING_LENGTH,
  ) {}

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.offset;
  }

  /** Current offset from the start of the buffer. */
  get position(): number {
    return this.offset;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new SshX509Error(
        ErrorCodes.WIRE_TRUNCATED,
        `truncated SSH data: ${what} needs ${n} bytes at offset ${this.offset}, ${this.remaining} left`,
      );
    }
  }

  /** `byte` */
  readByte(what = 'byte'): number {
    this.need(1, what);
    return this.buf[this.offset++]!;
  }

  /** `boolean` */
  readBoolean(what = 'boolean'): boolean {
    return this.readByte(what) !== 0;
  }

  /** `uint32` */
  readUint32(what = 'uint32'): number {
    this.need(4, what);
    const b = this.buf;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
  }

  /** `string` as raw bytes (a view into the buffer, not a copy). */
  readString(what = 'string', max = this.maxStringLength): Uint8Array {
    const len = this.readUint32(`${what} length`);
    if (len > max) {
      throw new SshX509Error(
        ErrorCodes.WIRE_INVALID,
        `${what} length ${len} exceeds the limit of ${max} bytes`,
      );
    }
    this.need(len, what);
    const out = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len;
    return out;
  }

  /** `string` decoded as UTF-8 (names are US-ASCII in practice). */
  readUtf8(what = 'name', max = 1024): string {
    return Buffer.from(this.readString(what, max)).toString('utf8');
  }

  /**
   * `mpint` (RFC 4251 section 5) as a non-negative big-endian magnitude with
   * no leading zeros. Negative values and non-minimal encodings are refused.
   */
  readMpintUnsigned(what = 'mpint', max = this.maxStringLength): Uint8Array {
    const v = this.readString(what, max);
    if (v.length === 0) return v;
    if ((v[0]! & 0x80) !== 0) {
      throw new SshX509Error(ErrorCodes.WIRE_INVALID, `${what} is negative`);
    }
    if (v[0] === 0 && (v.length === 1 || (v[1]! & 0x80) === 0)) {
      throw new SshX509Error(ErrorCodes.WIRE_INVALID, `${what} has a superfluous leading zero`);
    }
    return v[0] === 0 ? v.subarray(1) : v;
  }

  /** Throws `ERR_WIRE_TRAILING_DATA` when bytes are left over. */
  expectEnd(what = 'data'): void {
    if (this.remaining !== 0) {
      throw new SshX509Error(
        ErrorCodes.WIRE_TRAILING_DATA,
        `${this.remaining} trailing bytes after ${what}`,
      );
    }
  }
}
