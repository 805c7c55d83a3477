/**
 * The signer on a PIV card through pcscd + vpcd + OpenSC 0.23 (the virtual
 * card of test/helpers/piv-card.ts): the 9C key, which every PIV card marks
 * CKA_ALWAYS_AUTHENTICATE and whose card signs once per VERIFY; a wrong
 * per-signature PIN; the card pulled and put back; no card in the reader; a
 * card without a PIV application.
 */
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { envPin, Pkcs11Signer, type PinContext, type PinRequest } from '../src/pkcs11.js';
import { isSshX509Error } from '../src/errors.js';
import { acquireModule } from '../src/signers/pkcs11/module.js';
import { runOnTerminal } from './helpers/cli-io.js';
import type { AsyncSshServer } from './helpers/asyncssh.js';
import { insertBlankCard } from './helpers/blank-card.js';
import { setupPivWithServer, type PivEnv } from './helpers/piv.js';
import { runCommand } from './helpers/ssh2-run.js';

let piv: PivEnv;
let server: AsyncSshServer;
let knownHosts: string;

beforeAll(async () => {
  ({ piv, server, knownHosts } = await setupPivWithServer([
    {
      pin: '123456',
      slots: {
        '9A': { kind: 'p256', name: 'carla' },
        '9C': { kind: 'rsa2048', name: 'carla-sig', cert: { cn: 'carla signature' } },
      },
    },
    { pin: '654321', slots: { '9A': { kind: 'p256', name: 'dan' } } },
    // One try left: put in a reader by its test only.
    { pin: '112233', pinTriesLeft: 1, slots: { '9A': { kind: 'p256', name: 'erik' } }, reader: null },
  ]));
});

afterAll(async () => {
  await server?.stop();
  await piv?.stop();
});

const carla = () => piv.cards[0]!;
const dan = () => piv.cards[1]!;
const erik = () => piv.cards[2]!;
const reader = (i: 0 | 1) => piv.readers.readers[i];
const data = Buffer.from('session identifier and userauth request');
const verifyRsa = (der: Buffer, d: Buffer, sig: Uint8Array) => cryptoVerify('sha256', d, new X509Certificate(der).publicKey, sig);
const verifyEc = (der: Buffer, d: Buffer, sig: Uint8Array) => cryptoVerify('sha256', d, { key: new X509Certificate(der).publicKey, dsaEncoding: 'ieee-p1363' }, sig);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens once the token is there: tries again while it is not (yet) found, for up to 10 s. */
async function openWhenPresent(open: () => Promise<Pkcs11Signer>): Promise<Pkcs11Signer> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await open();
    } catch (e) {
      if (!isSshX509Error(e, 'ERR_TOKEN_NOT_FOUND') || Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

describe('the 9C key (CKA_ALWAYS_AUTHENTICATE) through OpenSC', () => {
  it("Pkcs11Signer.open({ module, uri: 'pkcs11:id=%02', pin: envPin('PIN') }) signs five times in a row, every signature valid", async () => {
    process.env.PIV_SIGNER_PIN = carla().pin;
    const before = await carla().card.stats();
    const signer = await Pkcs11Signer.open({ module: piv.module, uri: 'pkcs11:id=%02', pin: envPin('PIV_SIGNER_PIN') });
    try {
      expect(signer.perSignaturePin).toBe(true);
      for (let i = 0; i < 5; i++) {
        const msg = Buffer.concat([data, Buffer.from([i])]);
        expect(verifyRsa(carla().certs['9C']!.certDer, msg, await signer.sign(msg, 'sha256'))).toBe(true);
      }
      const after = await carla().card.stats();
      expect(after.signatures - before.signatures).toBe(5);
      // The card refused nothing: every signature came after its own VERIFY.
      expect(after.refusedAlwaysAuth).toBe(before.refusedAlwaysAuth);
    } finally {
      await signer.close();
      delete process.env.PIV_SIGNER_PIN;
    }
  });

  it('the PIN source hears of each per-signature login, with the key, the token and the reader', async () => {
    const calls: Array<{ req: PinRequest; ctx: PinContext | undefined }> = [];
    const signer = await Pkcs11Signer.open({
      module: piv.module,
      uri: 'pkcs11:id=%02',
      pin: (req, ctx) => {
        calls.push({ req, ctx });
        return carla().pin;
      },
    });
    try {
      await signer.sign(data, 'sha256');
      await signer.sign(data, 'sha256');
    } finally {
      await signer.close();
    }
    expect(calls.map((c) => c.ctx?.kind ?? 'user-login')).toEqual(['user-login', 'per-signature', 'per-signature']);
    expect(calls[1]!.ctx).toEqual({ kind: 'per-signature', key: { label: signer.location.label, id: '02' } });
    expect(calls[1]!.req).toMatchObject({ tokenLabel: 'carla', tokenSerial: carla().serial, reader: reader(0).name });
  });

  it('a wrong per-signature PIN: tried once, reported as such with the tries left, never sent again; a new signer signs', async () => {
    let asked = 0;
    const signer = await Pkcs11Signer.open({
      module: piv.module,
      uri: 'pkcs11:id=%02',
      pin: (_req, ctx) => {
        if (ctx?.kind !== 'per-signature') return carla().pin;
        asked++;
        return '999999';
      },
    });
    try {
      const before = await carla().card.stats();
      const e = await signer.sign(data, 'sha256').catch((x: unknown) => x);
      expect(e).toMatchObject({
        code: 'ERR_PIN_INCORRECT',
        message: expect.stringMatching(
          new RegExp(`^token "carla" \\(serial ${carla().serial}\\) in reader "${reader(0).name}" refused the per-signature PIN for key "[^"]+" \\(CKR_PIN_INCORRECT\\);.*tried once and not retried`),
        ),
      });
      expect((e as Error).message).not.toContain('999999');
      expect((await carla().card.stats()).pinTriesLeft).toBe(before.pinTriesLeft - 1);
      // Later signatures fail alike at once: no second wrong PIN reaches the card.
      await expect(signer.sign(data, 'sha256')).rejects.toBe(e);
      expect(asked).toBe(1);
      const after = await carla().card.stats();
      expect([after.pinTriesLeft, after.signatures]).toEqual([before.pinTriesLeft - 1, before.signatures]);
    } finally {
      await signer.close();
    }
    const again = await Pkcs11Signer.open({ module: piv.module, uri: 'pkcs11:id=%02', pin: () => carla().pin });
    try {
      expect(verifyRsa(carla().certs['9C']!.certDer, data, await again.sign(data, 'sha256'))).toBe(true);
      // A right PIN restores the card's counter.
      expect((await carla().card.stats()).pinTriesLeft).toBe(3);
    } finally {
      await again.close();
    }
  });
});

describe('ssh-x509 connect with the 9C key', () => {
  const connectArgs = (...rest: string[]) => [
    'connect', '-p', String(server.port), '--known-hosts', knownHosts, '--pkcs11-module', piv.module, '--intermediates', piv.pki.intermediate.certPath,
    '--pkcs11-uri', 'pkcs11:id=%02', ...rest,
  ];

  it('logs in to AsyncSSH with --pin-env (the user login and the per-signature login)', async () => {
    const before = await carla().card.stats();
    const r = await runCommand(connectArgs('--pin-env', 'PIN', 'carla-sig@127.0.0.1', 'echo', 'nine-c'), { env: { ...piv.env, PIN: carla().pin } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('nine-c\n');
    expect(r.code).toBe(0);
    const after = await carla().card.stats();
    expect(after.signatures - before.signatures).toBe(1);
    expect(after.refusedAlwaysAuth).toBe(before.refusedAlwaysAuth);
  });

  it('on a terminal asks twice: the user PIN, then the per-signature PIN naming the key, the token and the reader', async () => {
    const r = await runOnTerminal(connectArgs('carla-sig@127.0.0.1', 'echo', 'asked-twice'), carla().pin, { ...piv.env });
    const token = `token "carla" \\(reader "${reader(0).name}"\\)`;
    expect(r.stderr).toMatch(new RegExp(`^PIN for ${token}: \\nPIN for key "[^"]+" on ${token}, per-signature: \\n$`));
    expect(r.stdout).toBe('asked-twice\n');
    expect(r.code).toBe(0);
  });
});

describe('the card pulled and put back, no card, a card without a PIV application', () => {
  it('onRemoved within 3 s of the pull; sign() then rejects typed at once; no card in the reader; the card put back opens again in the same process', async () => {
    // Dan's card stays in the other reader with a signer open: the module stays initialised throughout.
    const stays = await Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${dan().serial}`, pin: () => dan().pin });
    const gone = await Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${carla().serial};id=%01`, pin: () => carla().pin });
    try {
      expect(verifyEc(carla().certs['9A']!.certDer, data, await gone.sign(data, 'sha256'))).toBe(true);
      const removed = new Promise<number>((resolve) => gone.onRemoved(() => resolve(Date.now())));
      const t0 = Date.now();
      await carla().card.remove();
      const at = await Promise.race([removed, sleep(10_000).then(() => undefined)]);
      expect(at, 'onRemoved was not called within 10 s').toBeDefined();
      expect(at! - t0).toBeLessThan(3000);

      const t1 = Date.now();
      const e = await gone.sign(data, 'sha256').catch((x: unknown) => x);
      expect(Date.now() - t1).toBeLessThan(500);
      expect(e).toMatchObject({
        code: 'ERR_TOKEN_REMOVED',
        message: expect.stringMatching(new RegExp(`^token "carla" \\(serial ${carla().serial}\\) in reader "${reader(0).name}" was removed .*open the signer again`)),
      });

      // The reader is empty now: said so, naming it.
      await expect(Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:slot-description=${encodeURIComponent(reader(0).name)}`, pin: () => carla().pin })).rejects.toMatchObject({
        code: 'ERR_TOKEN_ABSENT',
        message: expect.stringContaining(`no card in reader "${reader(0).name}"`),
      });

      await carla().card.insert(reader(0));
      // pcscd shows the card's state a moment after powering it (up to a few seconds under load): open once it does.
      const back = await openWhenPresent(() => Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${carla().serial};id=%01`, pin: () => carla().pin }));
      try {
        expect(verifyEc(carla().certs['9A']!.certDer, data, await back.sign(data, 'sha256'))).toBe(true);
      } finally {
        await back.close();
      }
      expect(verifyEc(dan().certs['9A']!.certDer, data, await stays.sign(data, 'sha256'))).toBe(true);
    } finally {
      await gone.close();
      await stays.close();
    }
  });

  it('without polling, a signature asked after pcscd saw the pull sends no C_SignInit or C_Sign to the card: ERR_TOKEN_REMOVED at once', async () => {
    const s = await Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${dan().serial}`, pin: () => dan().pin, pollIntervalMs: 0 });
    // The signer's module instance (one per path): its pkcs11js functions are own properties.
    const ref = acquireModule(piv.module);
    const signInit = vi.spyOn(ref.module.lib, 'C_SignInit');
    const sign = vi.spyOn(ref.module.lib, 'C_Sign');
    ref.release();
    try {
      expect(verifyEc(dan().certs['9A']!.certDer, data, await s.sign(data, 'sha256'))).toBe(true);
      expect([signInit.mock.calls.length, sign.mock.calls.length]).toEqual([1, 1]);
      await dan().card.remove();
      // pcscd notices a pulled card within about a second (OpenSC 0.23 can hang in a C_Sign sent before that).
      await sleep(1500);
      expect(s.removed).toBe(false);
      const t0 = Date.now();
      await expect(s.sign(data, 'sha256')).rejects.toMatchObject({ code: 'ERR_TOKEN_REMOVED', message: expect.stringContaining(`in reader "${reader(1).name}" was removed`) });
      expect(Date.now() - t0).toBeLessThan(1000);
      expect([signInit.mock.calls.length, sign.mock.calls.length]).toEqual([1, 1]);
      expect(s.removed).toBe(true);
    } finally {
      signInit.mockRestore();
      sign.mockRestore();
      await s.close();
      await dan().card.insert(reader(1));
    }
  });

  it("a pull pcscd saw after the signer's last look at the readers: the card's answer to the signature is ERR_TOKEN_REMOVED at once, no look of its own first", async () => {
    const s = await Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${dan().serial}`, pin: () => dan().pin, pollIntervalMs: 0 });
    let removed = 0;
    s.onRemoved(() => removed++);
    const ref = acquireModule(piv.module);
    try {
      // A signature 250 ms or more after the open looks at the readers once: the module's slot events are known after it.
      await sleep(300);
      expect(verifyEc(dan().certs['9A']!.certDer, data, await s.sign(data, 'sha256'))).toBe(true);
      await dan().card.remove();
      await sleep(1500);
      // As if the module had looked at its readers a moment before pcscd noticed the pull: the signer's state is fresh and says present.
      ref.watcher.noteRefreshed();
      const look = vi.spyOn(ref.module.lib, 'C_WaitForSlotEvent');
      const signInit = vi.spyOn(ref.module.lib, 'C_SignInit');
      try {
        const t0 = Date.now();
        const e = await s.sign(data, 'sha256').catch((x: unknown) => x);
        expect(Date.now() - t0).toBeLessThan(1000);
        // OpenSC answers the signature with CKR_DEVICE_REMOVED in 1-2 ms once pcscd has seen the pull.
        expect(e).toMatchObject({ code: 'ERR_TOKEN_REMOVED', message: expect.stringContaining(`in reader "${reader(1).name}" was removed (signing failed with CKR_DEVICE_REMOVED)`) });
        expect([look.mock.calls.length, signInit.mock.calls.length]).toEqual([0, 1]);
        expect(s.removed).toBe(true);
        await sleep(0);
        expect(removed).toBe(1);
        await expect(s.sign(data, 'sha256')).rejects.toBe(e);
      } finally {
        look.mockRestore();
        signInit.mockRestore();
      }
    } finally {
      ref.release();
      await s.close();
      await dan().card.insert(reader(1));
    }
  });

  it('no card in any reader: ERR_TOKEN_ABSENT naming the readers; a card without a PIV application: ERR_TOKEN_UNRECOGNIZED', async () => {
    await carla().card.remove();
    await dan().card.remove();
    try {
      // pcscd notices a pulled card within about a second.
      await sleep(1500);
      await expect(Pkcs11Signer.open({ module: piv.module, pin: () => '000000' })).rejects.toMatchObject({
        code: 'ERR_TOKEN_ABSENT',
        message: expect.stringContaining(`no card in reader "${reader(0).name}", "${reader(1).name}"`),
      });
      const blank = await insertBlankCard(reader(0));
      try {
        await sleep(500);
        await expect(Pkcs11Signer.open({ module: piv.module, pin: () => '000000' })).rejects.toMatchObject({
          code: 'ERR_TOKEN_UNRECOGNIZED',
          message: expect.stringContaining(`card present but not recognized in reader "${reader(0).name}"`),
        });
      } finally {
        await blank.remove();
      }
    } finally {
      await carla().card.insert(reader(0));
      await dan().card.insert(reader(1));
    }
  });

  it('a wrong PIN on the final try: "PIN blocked", unblock with the PUK (ERR_PIN_LOCKED); then refused at once without asking', async () => {
    await dan().card.remove();
    await erik().card.insert(reader(1));
    try {
      const open = (pin: () => string) => openWhenPresent(() => Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${erik().serial}`, pin }));
      await expect(open(() => '999999')).rejects.toMatchObject({
        code: 'ERR_PIN_LOCKED',
        message: expect.stringMatching(new RegExp(`^PIN blocked: token "erik" \\(serial ${erik().serial}\\) in reader "${reader(1).name}" refused the PIN.*unblock it with the PUK`)),
      });
      expect((await erik().card.stats()).pinTriesLeft).toBe(0);
      let asked = 0;
      await expect(
        open(() => {
          asked++;
          return erik().pin;
        }),
      ).rejects.toMatchObject({ code: 'ERR_PIN_LOCKED', message: expect.stringMatching(/^PIN blocked: the user PIN of token "erik" .* is locked .*unblock it with the PUK/) });
      expect(asked).toBe(0);
    } finally {
      await erik().card.remove();
      await dan().card.insert(reader(1));
    }
  });
});
