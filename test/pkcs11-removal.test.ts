/**
 * Card removal, simulated on SoftHSM by deleting a token's directory: the
 * signer notices (C_GetTokenInfo fails) and emits 'removed'.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { Pkcs11Signer } from '../src/pkcs11.js';
import { acquireModule, moduleRefCount } from '../src/signers/pkcs11/module.js';
import { FRESH_MS } from '../src/signers/pkcs11/watch.js';
import type { SshX509Error } from '../src/errors.js';

let hsm: SoftHsm;
const data = new TextEncoder().encode('data');

beforeAll(async () => {
  hsm = await createSoftHsm([
    { label: 'card1', keys: [{ name: 'one', kind: 'p256', id: '01', source: 'import' }] },
    { label: 'card2', keys: [{ name: 'two', kind: 'p256', id: '01', source: 'import' }] },
    { label: 'card3', keys: [{ name: 'three', kind: 'ed25519', id: '01', source: 'import' }] },
    { label: 'stays', keys: [{ name: 'stays', kind: 'p256', id: '01', source: 'import' }] },
  ]);
});

afterAll(() => hsm?.cleanup());

const openOn = (token: string, pollIntervalMs?: number) =>
  Pkcs11Signer.open({ module: hsm.module, uri: `pkcs11:token=${token}`, pin: async () => '1234', ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}) });

function removedWithin(s: Pkcs11Signer, ms: number): Promise<SshX509Error> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no 'removed' event within ${ms} ms`)), ms);
    s.once('removed', (e) => {
      clearTimeout(t);
      resolve(e);
    });
  });
}

describe('token removal', () => {
  it("emits 'removed' after the token directory is deleted (default 1 s polling), and only for that token", async () => {
    const gone = await openOn('card1');
    const stays = await openOn('stays');
    let staysRemoved = false;
    stays.onRemoved(() => (staysRemoved = true));
    let viaOnRemoved = 0;
    gone.onRemoved(() => viaOnRemoved++);
    expect((await gone.sign(data, 'sha256')).length).toBe(64);

    const t0 = Date.now();
    const event = removedWithin(gone, 5000);
    hsm.removeToken('card1');
    const err = await event;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err).toMatchObject({ code: 'ERR_TOKEN_REMOVED', message: expect.stringContaining('card1') });
    expect(viaOnRemoved).toBe(1);
    expect(gone.removed).toBe(true);
    await expect(gone.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_TOKEN_REMOVED' });
    // A listener added after the fact still hears about it, once.
    const late = await new Promise<boolean>((resolve) => gone.onRemoved(() => resolve(true)));
    expect(late).toBe(true);

    await new Promise((r) => setTimeout(r, 300));
    expect(staysRemoved).toBe(false);
    expect((await stays.sign(data, 'sha256')).length).toBe(64);
    await gone.close();
    await gone.close();
    await stays.close();
  });

  it('without polling, a signature asks for the token first: no C_SignInit or C_Sign goes to a removed token; ERR_TOKEN_REMOVED naming token and reader', async () => {
    const s = await openOn('card2', 0);
    let removed = 0;
    s.onRemoved(() => removed++);
    // The signer's module instance (one per path): its pkcs11js functions are own properties.
    const ref = acquireModule(hsm.module);
    const signInit = vi.spyOn(ref.module.lib, 'C_SignInit');
    const sign = vi.spyOn(ref.module.lib, 'C_Sign');
    ref.release();
    try {
      expect((await s.sign(data, 'sha256')).length).toBe(64);
      expect([signInit.mock.calls.length, sign.mock.calls.length]).toEqual([1, 1]);
      hsm.removeToken('card2');
      // Past the signer's look-again time (FRESH_MS): SoftHSM has no slot events, so its tokens are checked once per that time.
      await new Promise((r) => setTimeout(r, FRESH_MS + 50));
      expect(removed).toBe(0);
      const e = await s.sign(data, 'sha256').catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'ERR_TOKEN_REMOVED', message: expect.stringMatching(/^token "card2" \(serial \S+\) in reader "SoftHSM slot ID [^"]+" was removed .*insert the card and open the signer again/) });
      expect([signInit.mock.calls.length, sign.mock.calls.length]).toEqual([1, 1]);
      expect(removed).toBe(1);
      // Later signatures reject at once with the same error.
      await expect(s.sign(data, 'sha256')).rejects.toBe(e);
    } finally {
      signInit.mockRestore();
      sign.mockRestore();
    }
    await s.close();
  });

  it('unsubscribing works, and the removed signer releases the module', async () => {
    const before = moduleRefCount(hsm.module);
    const s = await openOn('card3', 100);
    expect(moduleRefCount(hsm.module)).toBe(before + 1);
    let called = false;
    const off = s.onRemoved(() => (called = true));
    off();
    const event = removedWithin(s, 3000);
    hsm.removeToken('card3');
    await event;
    expect(called).toBe(false);
    await s.close();
    expect(moduleRefCount(hsm.module)).toBe(before);
  });
});
