/**
 * Test helpers written independently of the library: SSH wire fields built
 * by hand (so that layouts are checked byte by byte), and the code of the
 * typed error a call throws.
 */
import { expect } from 'vitest';
import { SshX509Error } from '../../src/errors.js';

/** `uint32`, big-endian. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** `string`: a uint32 length and the bytes. */
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
}

/** The `code` of the SshX509Error that `fn` throws (failing the test on any other error), or undefined. */
export function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SshX509Error);
    return (e as SshX509Error).code;
  }
  return undefined;
}

/** Like {@link code}, for a promise or an async function. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(SshX509Error);
    return (e as SshX509Error).code;
  }
  return undefined;
}
