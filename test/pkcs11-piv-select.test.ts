/**
 * Two PIV cards of the same layout (9A P-256, 9C RSA-2048) in two readers of
 * the real middleware (pcscd + vpcd + OpenSC): every way of naming one
 * certificate picks exactly that card's, the card that signs is the one
 * chosen, and a selection that fits both cards is refused rather than
 * guessed. Then the SDK logs in to AsyncSSH with the chosen card.
 */
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionDefaults } from '../src/index.js';
import { Pkcs11Signer, type Pkcs11SignerOptions } from '../src/pkcs11.js';
import type { AsyncSshServer } from './helpers/asyncssh.js';
import { setupPivWithServer, type PivEnv, type PivTestCard } from './helpers/piv.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

let piv: PivEnv;
let server: AsyncSshServer;
let knownHosts: string;
const frank = () => piv.cards[0]!;
const grace = () => piv.cards[1]!;
const data = Buffer.from('which card signs this?');

beforeAll(async () => {
  ({ piv, server, knownHosts } = await setupPivWithServer([
    { pin: '111111', slots: { '9A': { kind: 'p256', name: 'frank' }, '9C': { kind: 'rsa2048', name: 'frank-sig' } } },
    { pin: '222222', slots: { '9A': { kind: 'p256', name: 'grace' }, '9C': { kind: 'rsa2048', name: 'grace-sig' } } },
  ]));
});

afterAll(async () => {
  await server?.stop();
  await piv?.stop();
});

/** Opens a signer with `selection`, signs once, and says whose certificate it holds and which card signed. */
async function signWith(selection: Partial<Pkcs11SignerOptions>): Promise<{ cn: string; signedBy: string[] }> {
  const before = await Promise.all(piv.cards.map((c) => c.card.stats()));
  const s = await Pkcs11Signer.open({ module: piv.module, pin: async (req) => piv.cards.find((c) => c.label === req.tokenLabel)!.pin, ...selection });
  try {
    const sig = await s.sign(data, 'sha256');
    const cn = /CN=([^,]+)/.exec(s.chain.leaf.subject)![1]!;
    const der = Buffer.from(s.chain.leaf.rawData);
    expect(cryptoVerify('sha256', data, { key: new X509Certificate(der).publicKey, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    const after = await Promise.all(piv.cards.map((c) => c.card.stats()));
    return { cn, signedBy: piv.cards.filter((_, i) => after[i]!.signatures > before[i]!.signatures).map((c) => c.label) };
  } finally {
    await s.close();
  }
}

describe('selecting one certificate among two cards', () => {
  const cases: Array<[string, (c: PivTestCard) => Partial<Pkcs11SignerOptions>]> = [
    ['a URI with the token label and id', (c) => ({ uri: `pkcs11:token=${c.label};id=%01` })],
    ['a URI with the token serial and id', (c) => ({ uri: `pkcs11:serial=${c.serial};id=%01` })],
    ['a URI with the token serial and the object label', (c) => ({ uri: `pkcs11:serial=${c.serial};object=Certificate%20for%20PIV%20Authentication` })],
    ['the label and id options within the token', (c) => ({ uri: `pkcs11:token=${c.label}`, label: 'Certificate for PIV Authentication', id: '01' })],
    ['the certificate fingerprint alone', (c) => ({ fingerprint: c.certs['9A']!.sha256 })],
  ];
  it.each(cases)('by %s: that card, and only it, signs', async (_what, selection) => {
    for (const c of [frank(), grace()]) {
      const r = await signWith(selection(c));
      expect(r).toEqual({ cn: c.label, signedBy: [c.label] });
    }
  });

  it('refuses a selection that both cards fit (pkcs11:id=%01), naming both', async () => {
    const err = await Pkcs11Signer.open({ module: piv.module, uri: 'pkcs11:id=%01', pin: async () => '000000' }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err).toBeDefined();
    expect(err!.message).toContain('frank');
    expect(err!.message).toContain('grace');
    expect((await frank().card.stats()).pinTriesLeft).toBe(3);
    expect((await grace().card.stats()).pinTriesLeft).toBe(3);
  });

  it('connect --cert-fingerprint logs in with exactly that card', async () => {
    const since = server.log().length;
    const r = await runCommand(
      ['connect', '-p', String(server.port), '--known-hosts', knownHosts, '--pkcs11-module', piv.module, '--cert-fingerprint', grace().certs['9A']!.sha256, '--intermediates', piv.pki.intermediate.certPath, '--pin-env', 'PIN', 'grace@127.0.0.1', 'echo', 'fp-ok'],
      { env: { ...piv.env, PIN: grace().pin } },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('fp-ok\n');
    const log = await waitForLog(() => server.log().slice(since), 'phase=sign');
    expect(log).toMatch(/user=grace alg=x509v3-ecdsa-sha2-nistp256 phase=sign.*result=ok/);
  });
});

describe('the SDK with a card to AsyncSSH', () => {
  it('Pkcs11Signer in SessionDefaults logs in with the 9A key', async () => {
    const signer = await Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${frank().serial};id=%01`, intermediatesFile: piv.pki.intermediate.certPath, pin: async () => frank().pin });
    try {
      expect(signer.chain.certificates).toHaveLength(2);
      const since = server.log().length;
      const r = await ssh2Exec({ host: '127.0.0.1', port: server.port, ...new SessionDefaults({ signer, username: 'frank' }).connectConfig() }, 'echo sdk-ok');
      expect(r.stdout).toBe('sdk-ok\n');
      expect(await waitForLog(() => server.log().slice(since), 'phase=sign')).toMatch(/user=frank alg=x509v3-ecdsa-sha2-nistp256 phase=sign.*result=ok/);
    } finally {
      await signer.close();
    }
  });
});
