/**
 * Browsing a module's tokens (no PIN and with one), and `ssh-x509 list`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { listPkcs11Certificates, openPkcs11Candidates, type Pkcs11CertificateInfo } from '../src/pkcs11.js';
import { runList } from '../src/cli/commands/list.js';
import { captureIo as io } from './helpers/cli-io.js';
import { OID_CLIENT_AUTH, OID_SMARTCARD_LOGON } from './helpers/pki.js';

let hsm: SoftHsm;

beforeAll(async () => {
  hsm = await createSoftHsm([
    {
      label: 'alpha',
      pin: '1234',
      intermediateOnToken: true,
      keys: [
        { name: 'alice', kind: 'rsa2048', id: '01', source: 'import', cert: { upn: 'alice@EXAMPLE.COM', eku: [OID_CLIENT_AUTH, OID_SMARTCARD_LOGON] } },
        { name: 'p256-gen', kind: 'p256', id: 'a1b2', source: 'generate', label: 'ssh key' },
        { name: 'ed', kind: 'ed25519', id: '05', source: 'import' },
      ],
    },
    {
      label: 'beta',
      pin: 'beta-5678',
      keys: [
        { name: 'bob', kind: 'p384', id: '01', source: 'import' },
        { name: 'nokey', kind: 'p521', id: '21', source: 'cert-only' },
      ],
    },
  ]);
});

afterAll(() => hsm?.cleanup());

const byLabel = (rows: Pkcs11CertificateInfo[], token: string, label: string) => rows.find((r) => r.tokenLabel === token && r.label === label)!;

describe('listPkcs11Certificates', () => {
  it('lists every certificate on every token without a PIN', async () => {
    const rows = await listPkcs11Certificates({ module: hsm.module });
    expect(rows.map((r) => `${r.tokenLabel}/${r.label}`).sort()).toEqual(['alpha/alice', 'alpha/ed', 'alpha/intermediate', 'alpha/ssh key', 'beta/bob', 'beta/nokey']);
    const alice = byLabel(rows, 'alpha', 'alice');
    const alpha = hsm.tokens.find((t) => t.label === 'alpha')!;
    expect(alice).toMatchObject({
      tokenLabel: 'alpha',
      tokenSerial: alpha.serial,
      tokenManufacturer: 'SoftHSM project',
      id: '01',
      subject: 'O=ssh-x509 Test, CN=alice',
      issuer: 'O=ssh-x509 Test, CN=ssh-x509 Test Intermediate CA',
      isCA: false,
      keyType: 'rsa',
      keyBits: 2048,
      keyDescription: 'RSA 2048',
      keyUsage: ['digitalSignature'],
      extendedKeyUsages: ['clientAuth', 'smartcardLogon'],
      upns: ['alice@EXAMPLE.COM'],
      emails: ['alice@example.com'],
      commonNames: ['alice'],
      sha256: hsm.keys.alice!.sha256,
      // SoftHSM hides private keys (CKA_PRIVATE true) until login.
      hasPrivateKey: null,
      algorithms: ['x509v3-rsa2048-sha256'],
    });
    expect(alice.slotId).toMatch(/^\d+$/);
    expect(alice.sha1).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(alice.sha256Hex).toMatch(/^[0-9a-f]{64}$/);
    expect(alice.notAfter.getTime()).toBeGreaterThan(Date.now());
    expect(alice.uri).toBe(`pkcs11:serial=${alpha.serial};token=alpha;id=%01;object=alice;type=cert`);
    expect(byLabel(rows, 'alpha', 'ssh key')).toMatchObject({ id: 'a1b2', keyDescription: 'EC P-256', curve: 'prime256v1', algorithms: ['x509v3-ecdsa-sha2-nistp256'], extendedKeyUsages: ['secureShellClient'] });
    expect(byLabel(rows, 'alpha', 'ed')).toMatchObject({ keyType: 'ed25519', algorithms: ['x509v3-ssh-ed25519'] });
    expect(byLabel(rows, 'beta', 'nokey')).toMatchObject({ keyDescription: 'EC P-521', algorithms: ['x509v3-ecdsa-sha2-nistp521'], hasPrivateKey: null });
    expect(byLabel(rows, 'alpha', 'intermediate')).toMatchObject({ isCA: true, keyUsage: ['keyCertSign', 'cRLSign'] });
  });

  it('with a PIN, reports which certificates have their private key', async () => {
    const asked: string[] = [];
    const rows = await listPkcs11Certificates({
      module: hsm.module,
      pin: async (req) => {
        asked.push(req.tokenLabel);
        return hsm.tokens.find((t) => t.label === req.tokenLabel)!.pin;
      },
    });
    expect(asked.sort()).toEqual(['alpha', 'beta']);
    const has = Object.fromEntries(rows.map((r) => [`${r.tokenLabel}/${r.label}`, r.hasPrivateKey]));
    expect(has).toEqual({ 'alpha/alice': true, 'alpha/ssh key': true, 'alpha/ed': true, 'alpha/intermediate': false, 'beta/bob': true, 'beta/nokey': false });
  });

  it('allowSha1 adds x509v3-ssh-rsa for RSA keys', async () => {
    const rows = await listPkcs11Certificates({ module: hsm.module, uri: 'pkcs11:token=alpha;object=alice', allowSha1: true });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.algorithms).toEqual(['x509v3-rsa2048-sha256', 'x509v3-ssh-rsa']);
  });

  it('a URI restricts the listing to a token, or to one object', async () => {
    expect((await listPkcs11Certificates({ module: hsm.module, uri: 'pkcs11:token=beta' })).map((r) => r.label).sort()).toEqual(['bob', 'nokey']);
    expect((await listPkcs11Certificates({ module: hsm.module, uri: 'pkcs11:id=%a1%B2' })).map((r) => r.label)).toEqual(['ssh key']);
    const alpha = hsm.tokens.find((t) => t.label === 'alpha')!;
    expect((await listPkcs11Certificates({ module: hsm.module, uri: `pkcs11:serial=${alpha.serial};object=ssh%20key` })).map((r) => r.tokenLabel)).toEqual(['alpha']);
    // A listed URI selects exactly its certificate.
    const rows = await listPkcs11Certificates({ module: hsm.module });
    for (const r of rows) {
      expect((await listPkcs11Certificates({ module: hsm.module, uri: r.uri })).map((x) => x.sha256)).toEqual([r.sha256]);
    }
  });

  it('typed errors: missing module, unknown URI attribute, wrong PIN', async () => {
    await expect(listPkcs11Certificates({ module: '/nonexistent/libpkcs11.so' })).rejects.toMatchObject({ code: 'ERR_PKCS11_MODULE_MISSING' });
    await expect(listPkcs11Certificates({ module: hsm.module, uri: 'pkcs11:token=alpha;colour=red' })).rejects.toMatchObject({ code: 'ERR_URI_INVALID', message: expect.stringContaining('"colour"') });
    await expect(listPkcs11Certificates({ module: hsm.module, uri: 'pkcs11:token=beta', pin: () => '0000' })).rejects.toMatchObject({ code: 'ERR_PIN_INCORRECT' });
  });
});

describe('openPkcs11Candidates', () => {
  it('opens a signer per end-entity certificate with its key, asking the PIN once per token', async () => {
    const asked: string[] = [];
    const seen: string[] = [];
    const signers = await openPkcs11Candidates({
      module: hsm.module,
      pin: async (req) => {
        asked.push(req.tokenLabel);
        return hsm.tokens.find((t) => t.label === req.tokenLabel)!.pin;
      },
      onCandidate: (c) => seen.push(`${c.tokenLabel}/${c.label}`),
    });
    try {
      expect(signers.map((s) => `${s.location.tokenLabel}/${s.location.label}`).sort()).toEqual(['alpha/alice', 'alpha/ed', 'alpha/ssh key', 'beta/bob']);
      expect(seen.sort()).toEqual(['alpha/alice', 'alpha/ed', 'alpha/ssh key', 'beta/bob']);
      expect(asked.sort()).toEqual(['alpha', 'beta']);
    } finally {
      await Promise.all(signers.map((s) => s.close()));
    }
  });

  it('honours the selection and maxCandidates; nothing left is ERR_OBJECT_NOT_FOUND', async () => {
    const pin = async () => '1234';
    const two = await openPkcs11Candidates({ module: hsm.module, uri: 'pkcs11:token=alpha', pin, maxCandidates: 2 });
    expect(two).toHaveLength(2);
    await Promise.all(two.map((s) => s.close()));
    const one = await openPkcs11Candidates({ module: hsm.module, fingerprint: hsm.keys.ed!.sha256, pin });
    expect(one.map((s) => s.chain.leaf.subject)).toEqual(['O=ssh-x509 Test, CN=ed']);
    await one[0]!.close();
    await expect(openPkcs11Candidates({ module: hsm.module, uri: 'pkcs11:token=beta;object=nokey', pin: async () => 'beta-5678' })).rejects.toMatchObject({ code: 'ERR_OBJECT_NOT_FOUND' });
  });
});

describe('ssh-x509 list', () => {
  it('prints a table', async () => {
    const t = io();
    expect(await runList(['--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:token=alpha'], t)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SLOT\s+TOKEN\s+ID\s+LABEL\s+SUBJECT\s+KEY\s+ALGORITHMS\s+SHA256\s+PRIVATE KEY\s+UPN$/);
    expect(lines).toHaveLength(5);
    const alice = lines.find((l) => l.includes('CN=alice'))!;
    expect(alice).toContain('RSA 2048');
    expect(alice).toContain('x509v3-rsa2048-sha256');
    expect(alice).toContain(hsm.keys.alice!.sha256);
    expect(alice).toMatch(/\s\?\s+alice@EXAMPLE\.COM$/);
    expect(t.err()).toBe('');
  });

  it('prints JSON, logging in with --pin-env', async () => {
    const t = io({ BETA_PIN: 'beta-5678' });
    expect(await runList(['--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:token=beta', '--pin-env', 'BETA_PIN', '--json'], t)).toBe(0);
    const rows = JSON.parse(t.out()) as Record<string, unknown>[];
    expect(rows.map((r) => [r.label, r.hasPrivateKey]).sort()).toEqual([['bob', true], ['nokey', false]]);
    expect(rows[0]).toHaveProperty('notAfter', expect.stringMatching(/^\d{4}-\d\d-\d\dT/));
  });

  it('errors: one line on stderr, exit 1; usage errors exit 2; PINs never printed', async () => {
    const missing = io();
    expect(await runList(['--pkcs11-module', '/nonexistent/lib.so'], missing)).toBe(1);
    expect(missing.err()).toMatch(/^ssh-x509 list: PKCS#11 module \/nonexistent\/lib.so not found.*\[ERR_PKCS11_MODULE_MISSING\]\n$/);

    const badUri = io();
    expect(await runList(['--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:bogus=1'], badUri)).toBe(1);
    expect(badUri.err()).toContain('unknown pkcs11 URI path attribute "bogus"');

    const wrongPin = io({ P: 'wrong-98765' });
    expect(await runList(['--pkcs11-module', hsm.module, '--pkcs11-uri', 'pkcs11:token=alpha', '--pin-env', 'P'], wrongPin)).toBe(1);
    expect(wrongPin.err()).toMatch(/ERR_PIN_INCORRECT/);
    expect(wrongPin.err()).not.toContain('wrong-98765');
    expect(wrongPin.err().split('\n')).toHaveLength(2);

    const unsetPin = io({});
    expect(await runList(['--pkcs11-module', hsm.module, '--pin-env', 'NOPE'], unsetPin)).toBe(1);
    expect(unsetPin.err()).toMatch(/NOPE is not set.*ERR_PIN_REQUIRED/);

    const noModule = io();
    expect(await runList([], noModule)).toBe(2);
    expect(noModule.err()).toMatch(/--pkcs11-module is required/);
    const unknown = io();
    expect(await runList(['--frobnicate'], unknown)).toBe(2);
    expect(unknown.err()).toMatch(/frobnicate/);
  });
});
