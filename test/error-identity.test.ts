/**
 * Error identity across two copies of the library: the ESM and the CommonJS
 * builds loaded in one process (as when an ESM application uses a CommonJS
 * dependency that requires ssh-x509) each have their own SshX509Error class.
 * Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const dist = new URL('../dist/', import.meta.url);
for (const f of ['index.js', 'index.cjs']) {
  if (!existsSync(new URL(f, dist))) throw new Error(`dist/${f} is missing: run \`npm run build\` before this test`);
}
type Lib = typeof import('../src/index.js');
const esm = (await import(new URL('index.js', dist).href)) as Lib;
const cjs = createRequire(import.meta.url)(new URL('index.cjs', dist).pathname) as Lib;

describe('isSshX509Error across the ESM and CommonJS builds', () => {
  it('are two copies: instanceof alone misses the other one', () => {
    expect(esm.SshX509Error).not.toBe(cjs.SshX509Error);
    expect(new cjs.SshX509Error('ERR_BLOB_INVALID', 'x')).not.toBeInstanceOf(esm.SshX509Error);
  });

  it('recognises the other copy errors, with and without a code', () => {
    let thrown: unknown;
    try {
      cjs.decodePublicKeyBlob(new Uint8Array([0, 0, 0]));
    } catch (e) {
      thrown = e;
    }
    expect(esm.isSshX509Error(thrown)).toBe(true);
    expect(esm.isSshX509Error(thrown, 'ERR_WIRE_TRUNCATED')).toBe(true);
    expect(esm.isSshX509Error(thrown, 'ERR_BLOB_INVALID')).toBe(false);
    const fromEsm = new esm.SshX509Error('ERR_KEY_INVALID', 'x');
    expect(cjs.isSshX509Error(fromEsm, 'ERR_KEY_INVALID')).toBe(true);
    // Subclasses too (a refusal of the verifier).
    expect(cjs.isSshX509Error(new esm.VerificationRefusedError('expired', 'x'))).toBe(true);
  });

  it('does not take look-alikes: an Error with a code but no brand, or a brand with an unknown code', () => {
    expect(esm.isSshX509Error(Object.assign(new Error('x'), { code: 'ERR_BLOB_INVALID', name: 'SshX509Error' }))).toBe(false);
    const forged = Object.assign(new Error('x'), { code: 'ERR_NOT_OURS' });
    Object.defineProperty(forged, Symbol.for('ssh-x509.SshX509Error'), { value: true });
    expect(esm.isSshX509Error(forged)).toBe(false);
    expect(esm.isSshX509Error(null)).toBe(false);
    expect(esm.isSshX509Error('ERR_BLOB_INVALID')).toBe(false);
  });
});
