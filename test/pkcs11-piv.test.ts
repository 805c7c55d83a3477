/**
 * A PIV smartcard through the real middleware (pcscd, vpcd, OpenSC's PIV
 * driver): `list`, the SDK's Pkcs11Signer, `connect` to AsyncSSH, a wrong
 * PIN, and the card's own rules (PIN always on 9C, no PIN on 9E). The card
 * is the test's virtual one (test/helpers/piv-card.ts), laid out as the
 * issue's independent card: 9A P-256, 9C RSA-2048 (always-authenticate).
 */
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envPin, Pkcs11Signer } from '../src/pkcs11.js';
import type { AsyncSshServer } from './helpers/asyncssh.js';
import { setupPivWithServer, type PivEnv } from './helpers/piv.js';
import { runCommand } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

const require = createRequire(import.meta.url);
let piv: PivEnv;
let server: AsyncSshServer;
let knownHosts: string;

beforeAll(async () => {
  ({ piv, server, knownHosts } = await setupPivWithServer([
    {
      pin: '123456',
      slots: {
        '9A': { kind: 'p256', name: 'alice' },
        '9C': { kind: 'rsa2048', name: 'alice-sig', cert: { cn: 'alice signature' } },
        '9D': { kind: 'p384', name: 'alice-km', cert: { cn: 'alice key management', keyUsage: 'keyEncipherment', eku: [] } },
        '9E': { kind: 'p256', name: 'alice-card', cert: { cn: 'alice card authentication' } },
      },
    },
    // Two tries left: the next wrong PIN leaves the final one.
    { pin: '246810', pinTriesLeft: 2, slots: { '9A': { kind: 'p256', name: 'bob' } } },
  ]));
});

afterAll(async () => {
  await server?.stop();
  await piv?.stop();
});

const alice = () => piv.cards[0]!;
const bob = () => piv.cards[1]!;
const data = Buffer.from('session identifier and userauth request');

describe('ssh-x509 list on a PIV card', () => {
  it('shows both cards as tokens, each certificate with its slot key id, without a PIN', async () => {
    const r = await runCommand(['list', '--pkcs11-module', piv.module, '--json'], { env: piv.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    const mine = rows.map((x) => `${x.tokenLabel}/${x.tokenSerial}/${x.id}/${x.subject}`).sort();
    expect(mine).toEqual(
      [
        `alice/${alice().serial}/01/O=ssh-x509 Test, CN=alice`,
        `alice/${alice().serial}/02/O=ssh-x509 Test, CN=alice signature`,
        `alice/${alice().serial}/03/O=ssh-x509 Test, CN=alice key management`,
        `alice/${alice().serial}/04/O=ssh-x509 Test, CN=alice card authentication`,
        `bob/${bob().serial}/01/O=ssh-x509 Test, CN=bob`,
      ].sort(),
    );
    const a9a = rows.find((x) => x.tokenLabel === 'alice' && x.id === '01')!;
    const a9c = rows.find((x) => x.tokenLabel === 'alice' && x.id === '02')!;
    expect(a9a).toMatchObject({ tokenManufacturer: 'piv_II', keyDescription: 'EC P-256', sha256: alice().certs['9A']!.sha256, algorithms: ['x509v3-ecdsa-sha2-nistp256'] });
    expect(a9c).toMatchObject({ keyDescription: 'RSA 2048', sha256: alice().certs['9C']!.sha256, algorithms: ['x509v3-rsa2048-sha256'] });
    // Two readers, two slots: the cards are told apart by slot as well as by serial.
    expect(a9a.slotId).not.toBe(rows.find((x) => x.tokenLabel === 'bob')!.slotId);
    const stats = await bob().card.stats();
    expect(stats.pinTriesLeft).toBe(2);
  });

  it('private keys behind the PIN: seen only after a login (--pin-env), except 9E, which needs no PIN', async () => {
    const list = async (...extra: string[]) => {
      const r = await runCommand(['list', '--pkcs11-module', piv.module, '--pkcs11-uri', `pkcs11:serial=${alice().serial}`, '--json', ...extra], { env: { ...piv.env, PIN: alice().pin } });
      expect(r.stderr).toBe('');
      return Object.fromEntries((JSON.parse(r.stdout) as Array<{ id: string; hasPrivateKey: boolean | null }>).map((x) => [x.id, x.hasPrivateKey]));
    };
    expect(await list()).toEqual({ '01': null, '02': null, '03': null, '04': true });
    expect(await list('--pin-env', 'PIN')).toEqual({ '01': true, '02': true, '03': true, '04': true });
  });

  it('prints the table with both of the 9A and 9C certificates', async () => {
    const r = await runCommand(['list', '--pkcs11-module', piv.module, '--pkcs11-uri', `pkcs11:serial=${alice().serial}`], { env: piv.env });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SLOT\s+TOKEN\s+ID\s+LABEL/);
    expect(lines.some((l) => l.includes('Certificate for PIV Authentication') && l.includes(alice().certs['9A']!.sha256))).toBe(true);
    expect(lines.some((l) => l.includes('Certificate for Digital Signature') && l.includes(alice().certs['9C']!.sha256))).toBe(true);
    expect(lines).toHaveLength(5);
  });
});

describe('Pkcs11Signer on the PIV card', () => {
  it('signs five times in a row with the 9A key (pkcs11:id=%01), every signature valid', async () => {
    process.env.PIV_TEST_PIN = alice().pin;
    const signer = await Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${alice().serial};id=%01`, pin: envPin('PIV_TEST_PIN') });
    try {
      const pub = new X509Certificate(alice().certs['9A']!.certDer).publicKey;
      const before = (await alice().card.stats()).signatures;
      for (let i = 0; i < 5; i++) {
        const msg = Buffer.concat([data, Buffer.from([i])]);
        const sig = await signer.sign(msg, 'sha256');
        expect(cryptoVerify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
      }
      expect((await alice().card.stats()).signatures - before).toBe(5);
    } finally {
      await signer.close();
      delete process.env.PIV_TEST_PIN;
    }
  });
});

describe('the virtual card enforces what a real PIV card does (through OpenSC, in a child process)', () => {
  /** Runs raw PKCS#11 calls through graphene-pk11 in a child, so that this process's module state stays untouched. */
  function raw(script: string): { out: string[]; code: number | null } {
    const graphene = require.resolve('graphene-pk11');
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const prelude = `
const g = require(${JSON.stringify(graphene)});
const m = g.Module.load(${JSON.stringify(piv.module)}); m.initialize();
const slots = m.getSlots(true); let slot;
for (let i = 0; i < slots.length; i++) if (slots.items(i).getToken().serialNumber.trim() === ${JSON.stringify(alice().serial)}) slot = slots.items(i);
const s = slot.open(g.SessionFlag.SERIAL_SESSION);
const key = (id) => s.find({ class: g.ObjectClass.PRIVATE_KEY, id: Buffer.from(id, 'hex') }).items(0);
const out = (x) => console.log(x);
const tryIt = (f) => { try { f(); return 'ok'; } catch (e) { return String(e.message).match(/CKR_\\w+/)?.[0] ?? e.message; } };
`;
    const r = spawnSync(process.execPath, ['-e', `${prelude}\ntry {\n${script}\n} finally { m.finalize(); }`], { env: piv.env, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return { out: r.stdout.trim().split('\n'), code: r.status };
  }

  it('9C signs once per VERIFY: a second C_Sign without a context login is refused by the card', async () => {
    const before = await alice().card.stats();
    const r = raw(`
s.login(${JSON.stringify(alice().pin)});
const k = key('02');
out('always=' + k.getAttribute({ alwaysAuth: null }).alwaysAuth);
out('first=' + tryIt(() => s.createSign('SHA256_RSA_PKCS', k).once(Buffer.from('one'))));
out('second=' + tryIt(() => s.createSign('SHA256_RSA_PKCS', k).once(Buffer.from('two'))));
`);
    expect(r.out).toEqual(['always=true', 'first=ok', 'second=CKR_USER_NOT_LOGGED_IN']);
    const after = await alice().card.stats();
    expect(after.signatures - before.signatures).toBe(1);
    // OpenSC may send the refused command again before giving up.
    expect(after.refusedAlwaysAuth - before.refusedAlwaysAuth).toBeGreaterThanOrEqual(1);
  });

  it('9C signs every time with C_Login(CKU_CONTEXT_SPECIFIC) after each C_SignInit', async () => {
    const before = await alice().card.stats();
    const r = raw(`
s.login(${JSON.stringify(alice().pin)});
const k = key('02');
for (let i = 0; i < 3; i++) {
  const sign = s.createSign('SHA256_RSA_PKCS', k);
  s.login(${JSON.stringify(alice().pin)}, g.UserType.CONTEXT_SPECIFIC);
  out('sig' + i + '=' + sign.once(Buffer.from('msg' + i)).toString('base64'));
}
`);
    const pub = new X509Certificate(alice().certs['9C']!.certDer).publicKey;
    expect(r.out).toHaveLength(3);
    r.out.forEach((line, i) => {
      const sig = Buffer.from(line.replace(/^sig\d=/, ''), 'base64');
      expect(cryptoVerify('sha256', Buffer.from(`msg${i}`), pub, sig)).toBe(true);
    });
    const after = await alice().card.stats();
    expect(after.signatures - before.signatures).toBe(3);
    expect(after.refusedAlwaysAuth).toBe(before.refusedAlwaysAuth);
  });

  it('9E (card authentication) signs without any PIN', async () => {
    const r = raw(`
const k = key('04');
const sig = s.createSign('ECDSA_SHA256', k).once(Buffer.from('no pin'));
out(sig.toString('base64'));
`);
    const pub = new X509Certificate(alice().certs['9E']!.certDer).publicKey;
    expect(cryptoVerify('sha256', Buffer.from('no pin'), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(r.out[0]!, 'base64'))).toBe(true);
  });
});

describe('ssh-x509 connect with the PIV card', () => {
  const connectArgs = (...rest: string[]) => ['connect', '-p', String(server.port), '--known-hosts', knownHosts, '--pkcs11-module', piv.module, '--intermediates', piv.pki.intermediate.certPath, ...rest];

  it('logs in to AsyncSSH with the 9A key (pkcs11:id=%01) and the PIN from --pin-env', async () => {
    const since = server.log().length;
    const r = await runCommand(connectArgs('--pkcs11-uri', `pkcs11:serial=${alice().serial};id=%01`, '--pin-env', 'PIN', 'alice@127.0.0.1', 'echo', 'card-ok'), {
      env: { ...piv.env, PIN: alice().pin },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('card-ok\n');
    expect(r.code).toBe(0);
    const log = await waitForLog(() => server.log().slice(since), 'phase=sign');
    expect(log).toMatch(/user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign.*result=ok/);
  });

  it('a wrong PIN on a card with two tries left is tried once, exits 255 and says the final try is left', async () => {
    const r = await runCommand(connectArgs('--pkcs11-uri', `pkcs11:serial=${bob().serial}`, '--pin-env', 'PIN', 'bob@127.0.0.1', 'true'), {
      env: { ...piv.env, PIN: '999999' },
    });
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/refused the PIN/);
    expect(r.stderr).toMatch(/final try|next wrong PIN will lock/i);
    expect(r.stderr).not.toContain('999999');
    expect((await bob().card.stats()).pinTriesLeft).toBe(1);
  });
});
