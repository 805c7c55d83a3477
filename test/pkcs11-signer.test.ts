/**
 * The PKCS#11 signer against a real SoftHSM2 token (fresh, temporary): every
 * key type, mechanism fallback, PIN handling, selection, concurrency.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { createRequire } from 'node:module';
import { X509Certificate } from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSoftHsm, standardTokens, type SoftHsm, type TokenKey } from './helpers/softhsm.js';
import { Pkcs11Signer, openPkcs11Signer } from '../src/pkcs11.js';
import { certificatePublicKey } from '../src/certs/key.js';
import { isSshX509Error } from '../src/errors.js';
import type { HashName } from '../src/algorithms.js';
import { moduleRefCount } from '../src/signers/pkcs11/module.js';

const require = createRequire(import.meta.url);
let hsm: SoftHsm;
const open: Pkcs11Signer[] = [];

beforeAll(async () => {
  hsm = await createSoftHsm(standardTokens());
});

async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => s.close()));
}

afterAll(async () => {
  await closeAll();
  hsm?.cleanup();
});

const pinOf = (token: string) => async () => hsm.tokens.find((t) => t.label === token)!.pin;

async function openKey(k: TokenKey, extra: Partial<Parameters<typeof Pkcs11Signer.open>[0]> = {}): Promise<Pkcs11Signer> {
  const s = await Pkcs11Signer.open({ module: hsm.module, uri: `pkcs11:token=${k.token};id=%${k.id}`, pin: pinOf(k.token), ...extra });
  open.push(s);
  return s;
}

function verifyWith(k: TokenKey, data: Uint8Array, hash: HashName | null, sig: Uint8Array): boolean {
  const pub = certificatePublicKey(new X509Certificate(k.certDer));
  if (k.kind === 'ed25519') return cryptoVerify(null, data, pub, sig);
  if (k.kind.startsWith('p')) return cryptoVerify(hash, data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig);
  return cryptoVerify(hash, data, pub, sig);
}
const data = new TextEncoder().encode('session identifier and userauth request');

describe('signing on the token, verified against the certificate', () => {
  const cases: [string, HashName | null, number][] = [
    ['rsa-imp', 'sha1', 256],
    ['rsa-imp', 'sha256', 256],
    ['rsa-imp', 'sha512', 256],
    ['rsa-gen', 'sha256', 256],
    ['p256-imp', 'sha256', 64],
    ['p384-imp', 'sha384', 96],
    ['p521-imp', 'sha512', 132],
    ['p256-gen', 'sha256', 64],
    ['p384-gen', 'sha384', 96],
    ['p521-gen', 'sha512', 132],
    ['ed25519-imp', null, 64],
    ['ed25519-gen', null, 64],
  ];
  for (const [name, hash, len] of cases) {
    it(`${name} with ${hash ?? 'no hash'}`, async () => {
      const k = hsm.keys[name]!;
      const s = await openKey(k);
      expect(s.chain.leaf.subject).toContain(`CN=${name}`);
      const sig = await s.sign(data, hash);
      expect(sig.length).toBe(len);
      expect(verifyWith(k, data, hash, sig)).toBe(true);
      expect(verifyWith(k, new TextEncoder().encode('other data'), hash, sig)).toBe(false);
    });
  }

  it('uses CKM_SHA*_RSA_PKCS when the token reports it', async () => {
    const s = await openKey(hsm.keys['rsa-imp']!);
    expect(s.mechanisms).toEqual(expect.arrayContaining(['CKM_SHA1_RSA_PKCS', 'CKM_SHA256_RSA_PKCS', 'CKM_RSA_PKCS']));
  });

  it('falls back to CKM_RSA_PKCS with a library-built DigestInfo when the hashing mechanisms are missing', async () => {
    const k = hsm.keys['rsa-gen']!;
    const s = await openKey(k, { allowMechanisms: ['CKM_RSA_PKCS'] });
    expect(s.mechanisms).toEqual(['CKM_RSA_PKCS']);
    for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      const sig = await s.sign(data, hash);
      expect(verifyWith(k, data, hash, sig)).toBe(true);
    }
    // Same bytes as the on-token hashing mechanism: RSASSA-PKCS1-v1_5 is deterministic.
    const direct = await openKey(k, { allowMechanisms: ['CKM_SHA256_RSA_PKCS'] });
    expect(Buffer.from(await direct.sign(data, 'sha256'))).toEqual(Buffer.from(await s.sign(data, 'sha256')));
  });

  it('fails with ERR_PKCS11_MECHANISM_UNSUPPORTED when no usable mechanism is left', async () => {
    const k = hsm.keys['p256-imp']!;
    await expect(openKey(k, { allowMechanisms: ['CKM_RSA_PKCS'] })).rejects.toMatchObject({ code: 'ERR_PKCS11_MECHANISM_UNSUPPORTED' });
    const s = await openKey(hsm.keys['rsa-imp']!, { allowMechanisms: ['CKM_SHA256_RSA_PKCS'] });
    await expect(s.sign(data, 'sha1')).rejects.toMatchObject({ code: 'ERR_PKCS11_MECHANISM_UNSUPPORTED' });
  });

  it('refuses a hash that does not fit the key type', async () => {
    const ed = await openKey(hsm.keys['ed25519-imp']!);
    await expect(ed.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_ALGORITHM_UNSUPPORTED' });
    const ec = await openKey(hsm.keys['p256-imp']!);
    await expect(ec.sign(data, null)).rejects.toMatchObject({ code: 'ERR_ALGORITHM_UNSUPPORTED' });
  });

  it('serialises concurrent signatures on one session: 40 parallel sign() calls all verify', async () => {
    const k = hsm.keys['p256-gen']!;
    const s = await openKey(k);
    const inputs = Array.from({ length: 40 }, (_, i) => new TextEncoder().encode(`message ${i}`));
    const sigs = await Promise.all(inputs.map((d, i) => s.sign(d, i % 2 ? 'sha256' : 'sha384')));
    sigs.forEach((sig, i) => expect(verifyWith(k, inputs[i]!, i % 2 ? 'sha256' : 'sha384', sig)).toBe(true));
  });

  it('a failed signature does not block the queue', async () => {
    const k = hsm.keys['p384-imp']!;
    const s = await openKey(k);
    const bad = s.sign(data, null);
    const good = s.sign(data, 'sha384');
    await expect(bad).rejects.toMatchObject({ code: 'ERR_ALGORITHM_UNSUPPORTED' });
    expect(verifyWith(k, data, 'sha384', await good)).toBe(true);
  });

  it('the private key generated on the token is not extractable', async () => {
    const graphene = require('graphene-pk11') as typeof import('graphene-pk11');
    const s = await openKey(hsm.keys['p256-gen']!);
    // The signer's module is initialised; look at the object through a session of our own.
    const mod = graphene.Module.load(hsm.module);
    const slots = mod.getSlots(true);
    let checked = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      if (slot.getToken().label.trimEnd() !== 'alpha') continue;
      const session = slot.open(4);
      const key = session.find({ class: graphene.ObjectClass.PRIVATE_KEY, id: Buffer.from('12', 'hex') }).items(0);
      expect(key.getAttribute('extractable')).toBe(false);
      expect(key.getAttribute('sensitive')).toBe(true);
      checked++;
      session.close();
    }
    expect(checked).toBe(1);
    expect(s.removed).toBe(false);
  });
});

describe('chain', () => {
  it('takes the leaf from the token and the intermediate from the token', async () => {
    const s = await openKey(hsm.keys['p256-imp']!);
    expect(s.chain.certificates.map((c) => c.subject)).toEqual([
      'O=ssh-x509 Test, CN=p256-imp',
      'O=ssh-x509 Test, CN=ssh-x509 Test Intermediate CA',
    ]);
  });

  it('takes intermediates from a file when the token has none, and the root only when asked', async () => {
    const k = hsm.keys['beta-one']!;
    const bare = await openKey(k);
    expect(bare.chain.certificates).toHaveLength(1);
    const withFile = await openKey(k, { intermediatesFile: hsm.pki.intermediate.certPath });
    expect(withFile.chain.certificates.map((c) => c.subject)).toEqual(['O=ssh-x509 Test, CN=beta-one', 'O=ssh-x509 Test, CN=ssh-x509 Test Intermediate CA']);
    const withRoot = await openKey(k, { intermediates: hsm.pki.root.certPem + hsm.pki.intermediate.certPem, includeRoot: true });
    expect(withRoot.chain.certificates.map((c) => c.subject.split('CN=')[1])).toEqual(['beta-one', 'ssh-x509 Test Intermediate CA', 'ssh-x509 Test Root CA']);
  });
});

describe('selection among two tokens and several certificates', () => {
  const beta = () => hsm.keys;
  it('by URI (token + object label, percent-encoded)', async () => {
    const s = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20two;type=cert', pin: pinOf('beta') });
    open.push(s);
    expect(s.chain.leaf.subject).toBe('O=ssh-x509 Test, CN=beta-two');
    expect(s.location).toMatchObject({ tokenLabel: 'beta', id: '02', label: 'beta two' });
    expect(verifyWith(beta()['beta-two']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
  });

  it('by URI id picks the token named in the URI, though alpha has the same CKA_ID', async () => {
    const s = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;id=%01', pin: pinOf('beta') });
    open.push(s);
    expect(s.chain.leaf.subject).toBe('O=ssh-x509 Test, CN=beta-one');
  });

  it('by label', async () => {
    const s = await Pkcs11Signer.open({ module: hsm.module, label: 'beta one', pin: pinOf('beta') });
    open.push(s);
    expect(s.location).toMatchObject({ tokenLabel: 'beta', id: '01' });
    expect(verifyWith(beta()['beta-one']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
  });

  it('by CKA_ID (hex) on one token', async () => {
    const s = await openPkcs11Signer({ module: hsm.module, uri: 'pkcs11:token=beta', id: '02', pin: pinOf('beta') });
    open.push(s);
    expect(s.chain.leaf.subject).toBe('O=ssh-x509 Test, CN=beta-two');
  });

  it('by fingerprint, across tokens (SHA-256 and SHA-1 forms)', async () => {
    const k = beta()['beta-two']!;
    const s = await openPkcs11Signer({ module: hsm.module, fingerprint: k.sha256, pin: pinOf('beta') });
    open.push(s);
    expect(s.location.tokenLabel).toBe('beta');
    expect(s.chain.fingerprints.sha256).toBe(k.sha256);
    const sha1 = createHash('sha1').update(hsm.keys['ed25519-gen']!.certDer).digest('hex');
    const t = await openPkcs11Signer({ module: hsm.module, fingerprint: sha1, pin: pinOf('alpha') });
    open.push(t);
    expect(t.chain.leaf.subject).toBe('O=ssh-x509 Test, CN=ed25519-gen');
  });

  it('an id present on both tokens is ambiguous without the token', async () => {
    const e = await Pkcs11Signer.open({ module: hsm.module, id: '01', pin: pinOf('beta') }).catch((x: unknown) => x);
    expect(isSshX509Error(e, 'ERR_OBJECT_AMBIGUOUS')).toBe(true);
    expect((e as Error).message).toContain('token "alpha" id 01 label "rsa-imp"');
    expect((e as Error).message).toContain('token "beta" id 01 label "beta one"');
  });

  it('nothing selected among many certificates is ambiguous; nothing matching is not found', async () => {
    await expect(Pkcs11Signer.open({ module: hsm.module, pin: pinOf('alpha') })).rejects.toMatchObject({ code: 'ERR_OBJECT_AMBIGUOUS' });
    await expect(Pkcs11Signer.open({ module: hsm.module, label: 'nope' })).rejects.toMatchObject({ code: 'ERR_OBJECT_NOT_FOUND' });
    await expect(Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=gamma' })).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_FOUND', message: expect.stringContaining('"alpha"') });
  });

  it('a certificate without a private key: ERR_OBJECT_NOT_FOUND after login', async () => {
    const e = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=no%20key', pin: pinOf('beta') }).catch((x: unknown) => x);
    expect(isSshX509Error(e, 'ERR_OBJECT_NOT_FOUND')).toBe(true);
    expect((e as Error).message).toMatch(/has no private key/);
  });
});

describe('PIN', () => {
  // PKCS#11 login state belongs to the token, shared by all of the process's
  // sessions on it: close every signer so that each test starts logged out.
  beforeEach(closeAll);
  afterEach(closeAll);

  it('a second signer on a token already logged in by this process does not ask the PIN', async () => {
    const first = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20one', pin: pinOf('beta') });
    open.push(first);
    const pin = vi.fn(async () => 'beta-5678');
    const second = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20two', pin });
    open.push(second);
    expect(pin).not.toHaveBeenCalled();
    expect(verifyWith(hsm.keys['beta-two']!, data, 'sha256', await second.sign(data, 'sha256'))).toBe(true);
  });

  it('a wrong PIN is tried once, reported with the token condition, never retried', async () => {
    const graphene = require('graphene-pk11') as typeof import('graphene-pk11');
    const login = vi.spyOn(graphene.Session.prototype, 'login');
    const pin = vi.fn(async () => '0000');
    try {
      const e = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20one', pin }).catch((x: unknown) => x);
      expect(isSshX509Error(e, 'ERR_PIN_INCORRECT')).toBe(true);
      expect((e as Error).message).toMatch(/token "beta".*CKR_PIN_INCORRECT.*(CKF_USER_PIN_COUNT_LOW|no retry counter).*tried once/);
      expect((e as Error).message).not.toContain('0000');
      expect(pin).toHaveBeenCalledTimes(1);
      expect(login).toHaveBeenCalledTimes(1);
      // The next attempt tells the callback what the token now reports.
      const again = vi.fn(async () => 'beta-5678');
      const s = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20one', pin: again });
      open.push(s);
      expect(again).toHaveBeenCalledWith(expect.objectContaining({ tokenLabel: 'beta', countLow: true, finalTry: false }), { kind: 'user-login' });
      expect(login).toHaveBeenCalledTimes(2);
    } finally {
      login.mockRestore();
    }
  });

  it('no PIN source: ERR_PIN_REQUIRED at once, without hanging', async () => {
    const t0 = Date.now();
    await expect(Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20two' })).rejects.toMatchObject({ code: 'ERR_PIN_REQUIRED' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a PIN callback that fails or returns nothing: ERR_PIN_REQUIRED', async () => {
    await expect(Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20two', pin: async () => '' })).rejects.toMatchObject({ code: 'ERR_PIN_REQUIRED' });
    await expect(
      Pkcs11Signer.open({
        module: hsm.module,
        uri: 'pkcs11:token=beta;object=beta%20two',
        pin: async () => {
          throw new Error('user cancelled');
        },
      }),
    ).rejects.toMatchObject({ code: 'ERR_PIN_REQUIRED', message: expect.stringContaining('user cancelled') });
  });

  it('accepts the PIN as bytes and zeroes nothing of the caller', async () => {
    const bytes = new TextEncoder().encode('beta-5678');
    const s = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20two', pin: async () => bytes });
    open.push(s);
    expect(Buffer.from(bytes).toString()).toBe('beta-5678');
    expect(verifyWith(hsm.keys['beta-two']!, data, 'sha256', await s.sign(data, 'sha256'))).toBe(true);
  });

  it('keeps no PIN in the signer', async () => {
    const s = await Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=beta;object=beta%20two', pin: async () => 'beta-5678' });
    open.push(s);
    const seen = JSON.stringify(Object.entries(s)) + JSON.stringify(s.location) + s.label;
    expect(seen).not.toContain('beta-5678');
  });
});

describe('lifetime', () => {
  it('signers share one initialised module; the last close finalizes it; close is idempotent', async () => {
    const before = moduleRefCount(hsm.module);
    const a = await openKey(hsm.keys['p256-imp']!);
    const b = await openKey(hsm.keys['p384-imp']!);
    expect(moduleRefCount(hsm.module)).toBe(before + 2);
    await a.close();
    await a.close();
    expect(moduleRefCount(hsm.module)).toBe(before + 1);
    await expect(a.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_SIGN_FAILED', message: expect.stringContaining('closed') });
    expect(verifyWith(hsm.keys['p384-imp']!, data, 'sha384', await b.sign(data, 'sha384'))).toBe(true);
    await b.close();
    expect(moduleRefCount(hsm.module)).toBe(before);
  });

  it('close waits for queued signatures', async () => {
    const k = hsm.keys['rsa-imp']!;
    const s = await openKey(k);
    const pending = [s.sign(data, 'sha256'), s.sign(data, 'sha1')];
    const closed = s.close();
    const sigs = await Promise.all(pending);
    await closed;
    expect(verifyWith(k, data, 'sha256', sigs[0]!)).toBe(true);
    expect(verifyWith(k, data, 'sha1', sigs[1]!)).toBe(true);
  });
});
