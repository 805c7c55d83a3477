/**
 * Keys marked CKA_ALWAYS_AUTHENTICATE (a PIV card's 9C "digital signature"
 * key) on SoftHSM2 2.6, which enforces the flag: C_Sign with such a key
 * fails with CKR_USER_NOT_LOGGED_IN unless a C_Login(CKU_CONTEXT_SPECIFIC)
 * followed its C_SignInit, even for the first signature after the user
 * login. And a token that drops the login under the signer.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { X509Certificate } from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSoftHsm, type SoftHsm, type TokenKey } from './helpers/softhsm.js';
import { Pkcs11Signer, type PinContext, type PinRequest } from '../src/pkcs11.js';
import { certificatePublicKey } from '../src/certs/key.js';
import { acquireModule } from '../src/signers/pkcs11/module.js';
import type { HashName } from '../src/algorithms.js';

const PIN = '2580';
let hsm: SoftHsm;
const open: Pkcs11Signer[] = [];

beforeAll(async () => {
  hsm = await createSoftHsm([
    {
      label: 'piv-like',
      pin: PIN,
      keys: [
        { name: 'auth-p256', kind: 'p256', id: '01', label: 'PIV AUTH key', source: 'generate' },
        { name: 'sig-rsa', kind: 'rsa2048', id: '02', label: 'SIGN key', source: 'generate', alwaysAuthenticate: true },
        { name: 'sig-p256', kind: 'p256', id: '03', label: 'SIGN p256', source: 'generate', alwaysAuthenticate: true },
      ],
    },
  ]);
});

// Login state belongs to the token, shared by every session of the process: each test starts logged out.
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(() => hsm?.cleanup());

const data = new TextEncoder().encode('session identifier and userauth request');

function verifyWith(k: TokenKey, d: Uint8Array, hash: HashName, sig: Uint8Array): boolean {
  const pub = certificatePublicKey(new X509Certificate(k.certDer));
  return k.kind.startsWith('p') ? cryptoVerify(hash, d, { key: pub, dsaEncoding: 'ieee-p1363' }, sig) : cryptoVerify(hash, d, pub, sig);
}

/** A PIN source that records every call with its context. */
function recordingPin(answer: (req: PinRequest, ctx: PinContext | undefined) => string = () => PIN) {
  const calls: { req: PinRequest; ctx: PinContext | undefined }[] = [];
  const source = vi.fn(async (req: PinRequest, ctx?: PinContext) => {
    calls.push({ req, ctx });
    return answer(req, ctx);
  });
  return { source, calls };
}

async function openId(id: string, pin: Parameters<typeof Pkcs11Signer.open>[0]['pin'], extra: Partial<Parameters<typeof Pkcs11Signer.open>[0]> = {}): Promise<Pkcs11Signer> {
  const s = await Pkcs11Signer.open({ module: hsm.module, uri: `pkcs11:token=piv-like;id=%${id}`, pin, pollIntervalMs: 0, ...extra });
  open.push(s);
  return s;
}

describe('CKA_ALWAYS_AUTHENTICATE', () => {
  it('signs five times in a row with the RSA key, each signature valid, each after its own per-signature login', async () => {
    const { source, calls } = recordingPin();
    const s = await openId('02', source);
    expect(s.perSignaturePin).toBe(true);
    expect(calls.map((c) => c.ctx?.kind ?? 'user-login')).toEqual(['user-login']);
    const k = hsm.keys['sig-rsa']!;
    for (let i = 0; i < 5; i++) {
      const d = new TextEncoder().encode(`signature ${i}`);
      const sig = await s.sign(d, 'sha256');
      expect(verifyWith(k, d, 'sha256', sig)).toBe(true);
    }
    // One user login, then one per-signature login for each of the five, told which key signs.
    expect(calls.map((c) => c.ctx?.kind ?? 'user-login')).toEqual(['user-login', ...Array(5).fill('per-signature')]);
    for (const c of calls.slice(1)) {
      expect(c.ctx).toEqual({ kind: 'per-signature', key: { label: 'SIGN key', id: '02' } });
      expect(c.req).toMatchObject({ tokenLabel: 'piv-like', reader: expect.stringMatching(/^SoftHSM slot ID/) });
    }
  });

  it('signs with the P-256 key however the signatures are queued (concurrent calls each get their login)', async () => {
    const { source, calls } = recordingPin();
    const s = await openId('03', source);
    const k = hsm.keys['sig-p256']!;
    const sigs = await Promise.all([0, 1, 2].map(() => s.sign(data, 'sha256')));
    for (const sig of sigs) expect(verifyWith(k, data, 'sha256', sig)).toBe(true);
    expect(calls.filter((c) => c.ctx?.kind === 'per-signature')).toHaveLength(3);
  });

  it('a key without the flag asks no per-signature PIN', async () => {
    const { source, calls } = recordingPin();
    const s = await openId('01', source);
    expect(s.perSignaturePin).toBe(false);
    for (let i = 0; i < 3; i++) expect(verifyWith(hsm.keys['auth-p256']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('a wrong per-signature PIN is tried once, reported as such with the token and reader, and never retried', async () => {
    const { source, calls } = recordingPin((_req, ctx) => (ctx?.kind === 'per-signature' ? '0000' : PIN));
    const s = await openId('02', source);
    // The signer's module instance (shared per path): its pkcs11js functions are own properties.
    const ref = acquireModule(hsm.module);
    const contextLogins = vi.spyOn(ref.module.lib, 'C_Login');
    ref.release();
    try {
      const e = await s.sign(data, 'sha256').catch((x: unknown) => x);
      expect(e).toMatchObject({
        code: 'ERR_PIN_INCORRECT',
        message: expect.stringMatching(/^token "piv-like" \(serial \S+\) in reader "SoftHSM slot ID [^"]+" refused the per-signature PIN for key "SIGN key" \(CKR_PIN_INCORRECT\);.*tried once and not retried/),
      });
      expect((e as Error).message).not.toContain('0000');
      // A later signature fails alike at once: no second wrong PIN goes to the token.
      await expect(s.sign(data, 'sha256')).rejects.toBe(e);
      expect(calls.filter((c) => c.ctx?.kind === 'per-signature')).toHaveLength(1);
      expect(contextLogins.mock.calls.filter((c) => c[1] === 2)).toHaveLength(1);
    } finally {
      contextLogins.mockRestore();
    }
    // A new signer with the right PIN signs.
    await s.close();
    const again = await openId('02', async () => PIN);
    expect(verifyWith(hsm.keys['sig-rsa']!, data, 'sha256', await again.sign(data, 'sha256'))).toBe(true);
  });

  it('a per-signature PIN that is not given fails that signature typed; the next signature asks again and signs', async () => {
    let refuse = true;
    const { source, calls } = recordingPin((_req, ctx) => {
      if (ctx?.kind === 'per-signature' && refuse) throw new Error('prompt closed');
      return PIN;
    });
    const s = await openId('03', source);
    await expect(s.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_PIN_REQUIRED', message: expect.stringMatching(/per-signature PIN for key "SIGN p256" on token "piv-like".*prompt closed/) });
    refuse = false;
    expect(verifyWith(hsm.keys['sig-p256']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
    expect(calls.map((c) => c.ctx?.kind ?? 'user-login')).toEqual(['user-login', 'per-signature', 'per-signature']);
  });
});

describe('a token that drops the login', () => {
  it('fails that signature typed, then logs in again (asking the PIN once more) for the next', async () => {
    const { source, calls } = recordingPin();
    const s = await openId('01', source);
    expect(verifyWith(hsm.keys['auth-p256']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
    // Logging out any session of the process logs out the token (PKCS#11 login state is per token).
    const ref = acquireModule(hsm.module);
    try {
      const session = ref.module.getSlots(true).items(0).open(4);
      session.logout();
      session.close();
    } finally {
      ref.release();
    }
    await expect(s.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_SIGN_FAILED', message: expect.stringMatching(/reader "SoftHSM slot ID [^"]+": C_Sign.*failed: CKR_[A-Z_]+ \(the token dropped the login; the next signature logs in again\)/) });
    expect(verifyWith(hsm.keys['auth-p256']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
    expect(calls.map((c) => c.ctx?.kind ?? 'user-login')).toEqual(['user-login', 'user-login']);
  });
});
