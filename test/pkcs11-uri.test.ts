/**
 * RFC 7512 URIs, and the typed errors that need no token.
 */
import { describe, expect, it } from 'vitest';
import { formatPkcs11Uri, parsePkcs11Uri, Pkcs11Signer, listPkcs11Certificates, envPin, ttyPin } from '../src/pkcs11.js';
import { setGrapheneSpecifierForTests } from '../src/signers/pkcs11/load.js';
import { digestInfo } from '../src/signers/pkcs11/mechanisms.js';
import { loginError } from '../src/signers/pkcs11/pin.js';
import { PassThrough } from 'node:stream';
import { SshX509Error } from '../src/errors.js';

describe('parsePkcs11Uri', () => {
  it('reads token, manufacturer, serial, model, object, id, type with percent-decoding', () => {
    expect(
      parsePkcs11Uri('pkcs11:token=My%20Card;manufacturer=ACME%20Inc.;serial=0042;model=PIV%2FII;object=SSH%20key%20%E2%9C%93;id=%01%a2;type=private'),
    ).toEqual({ token: 'My Card', manufacturer: 'ACME Inc.', serial: '0042', model: 'PIV/II', object: 'SSH key ✓', id: Buffer.from([1, 0xa2]), type: 'private' });
    expect(parsePkcs11Uri('pkcs11:')).toEqual({});
    expect(parsePkcs11Uri('PKCS11:slot-id=3;library-version=2.6?module-path=/usr/lib/x.so')).toEqual({ slotId: 3n, libraryVersion: '2.6', modulePath: '/usr/lib/x.so' });
    expect(parsePkcs11Uri('pkcs11:object=a;x-vendor=whatever')).toEqual({ object: 'a' });
  });

  it('rejects unknown attributes, naming them', () => {
    const e = (() => {
      try {
        parsePkcs11Uri('pkcs11:token=a;colour=blue');
      } catch (x) {
        return x as SshX509Error;
      }
    })();
    expect(e).toBeInstanceOf(SshX509Error);
    expect(e!.code).toBe('ERR_URI_INVALID');
    expect(e!.message).toContain('"colour"');
    expect(() => parsePkcs11Uri('pkcs11:token=a?colour=blue')).toThrow(/unknown pkcs11 URI query attribute "colour"/);
  });

  it('rejects malformed input and PINs in the URI', () => {
    for (const [uri, msg] of [
      ['https://example.com', /start with "pkcs11:"/],
      ['pkcs11:token=a;token=b', /"token" appears twice/],
      ['pkcs11:id=%0g', /malformed percent-encoding/],
      ['pkcs11:object=%ff', /not valid UTF-8/],
      ['pkcs11:type=secret-key', /type=secret-key/],
      ['pkcs11:token', /name=value/],
      ['pkcs11:slot-id=x', /decimal/],
      ['pkcs11:token=a?pin-value=1234', /pin-value.*--pin-env/],
      ['pkcs11:token=a?pin-source=file:/p', /pin-source/],
    ] as const) {
      expect(() => parsePkcs11Uri(uri), uri).toThrow(expect.objectContaining({ code: 'ERR_URI_INVALID', message: expect.stringMatching(msg) }));
    }
    try {
      parsePkcs11Uri('pkcs11:token=a?pin-value=98765');
    } catch (e) {
      expect((e as Error).message).not.toContain('98765');
    }
  });

  it('formats URIs that parse back', () => {
    const parts = { token: 'a;b c', serial: '01', object: 'ssh/key', id: Buffer.from([0, 255]), type: 'cert' as const };
    const uri = formatPkcs11Uri(parts);
    expect(uri).toBe('pkcs11:serial=01;token=a%3bb%20c;id=%00%ff;object=ssh%2fkey;type=cert');
    expect(parsePkcs11Uri(uri)).toEqual(parts);
  });
});

describe('typed errors without a token', () => {
  it('missing module path', async () => {
    await expect(Pkcs11Signer.open({ module: '/nonexistent/libnope.so', label: 'x' })).rejects.toMatchObject({ code: 'ERR_PKCS11_MODULE_MISSING', message: expect.stringContaining('/nonexistent/libnope.so') });
    await expect(Pkcs11Signer.open({ label: 'x' })).rejects.toMatchObject({ code: 'ERR_PKCS11_MODULE_MISSING' });
  });

  it('a file that is not a PKCS#11 module', async () => {
    await expect(listPkcs11Certificates({ module: '/etc/hostname' })).rejects.toMatchObject({ code: 'ERR_PKCS11_MODULE_INVALID' });
  });

  it('graphene-pk11 not installed: ERR_PKCS11_UNAVAILABLE saying how to install it', async () => {
    setGrapheneSpecifierForTests('graphene-pk11-not-installed');
    try {
      await expect(listPkcs11Certificates({ module: '/usr/lib/softhsm/libsofthsm2.so' })).rejects.toMatchObject({
        code: 'ERR_PKCS11_UNAVAILABLE',
        message: expect.stringContaining('npm install graphene-pk11'),
      });
    } finally {
      setGrapheneSpecifierForTests(undefined);
    }
  });

  it('login errors map to codes with the token condition', () => {
    const t = { tokenLabel: 'card', tokenSerial: 's1', slotId: '0', reader: 'Virtual PCD 00 00' };
    const err = (code: number, msg: string) => Object.assign(new Error(msg), { code });
    // Two tries left before: the refused PIN leaves the final try, and the message says so, naming token and reader.
    expect(loginError(err(0xa0, 'CKR_PIN_INCORRECT'), t, 0x20000)).toMatchObject({
      code: 'ERR_PIN_INCORRECT',
      message: expect.stringMatching(/^token "card" \(serial s1\) in reader "Virtual PCD 00 00" refused the PIN \(CKR_PIN_INCORRECT\); only the final try is left.*tried once/),
    });
    const perSig = { kind: 'per-signature', key: { label: 'sig', id: '02' } } as const;
    expect(loginError(err(0xa0, 'CKR_PIN_INCORRECT'), t, 0x20000, perSig).message).toContain('refused the per-signature PIN for key "sig"');
    // The last try used up: blocked, with what to do.
    expect(loginError(err(0xa0, 'CKR_PIN_INCORRECT'), t, 0x40000)).toMatchObject({ code: 'ERR_PIN_LOCKED', message: expect.stringMatching(/^PIN blocked: .*unblock it with the PUK/) });
    expect(loginError(err(0xa4, 'CKR_PIN_LOCKED'), t, 0x40000).message).toMatch(/^PIN blocked: .*reader "Virtual PCD 00 00".*unblock it with the PUK/);
    expect(loginError(err(0xa0, 'CKR_PIN_INCORRECT'), t, 0x10000)).toMatchObject({ code: 'ERR_PIN_INCORRECT', message: expect.stringContaining('CKF_USER_PIN_COUNT_LOW') });
    expect(loginError(err(0xa4, 'CKR_PIN_LOCKED'), t, 0x40000)).toMatchObject({ code: 'ERR_PIN_LOCKED' });
    expect(loginError(err(0xa3, 'CKR_PIN_EXPIRED'), t, 0)).toMatchObject({ code: 'ERR_PIN_EXPIRED' });
    expect(loginError(err(0x30, 'CKR_DEVICE_ERROR'), t, 0)).toMatchObject({ code: 'ERR_PKCS11_FAILED', message: expect.stringContaining('CKR_DEVICE_ERROR') });
  });

  it('PIN sources: no TTY fails at once; env var missing fails; TTY prompt reads without echo', async () => {
    const req = { tokenLabel: 't', tokenSerial: 's', slotId: '1', reader: 'Reader A', countLow: false, finalTry: true };
    const notTty = new PassThrough();
    expect(() => ttyPin(notTty, new PassThrough())(req)).toThrow(expect.objectContaining({ code: 'ERR_PIN_REQUIRED' }));
    expect(() => envPin('NO_SUCH_PIN_VAR', {})(req)).toThrow(expect.objectContaining({ code: 'ERR_PIN_REQUIRED', message: expect.stringContaining('NO_SUCH_PIN_VAR') }));
    expect(envPin('P', { P: '4321' })(req)).toBe('4321');

    const tty = Object.assign(new PassThrough(), { isTTY: true, raw: false, setRawMode(m: boolean) { this.raw = m; } });
    const out = new PassThrough();
    let prompt = '';
    out.on('data', (d) => (prompt += d));
    const p = ttyPin(tty, out)(req) as Promise<Uint8Array>;
    expect(tty.raw).toBe(true);
    tty.write('12x\x7f34\r');
    expect(Buffer.from(await p).toString()).toBe('1234');
    expect(tty.raw).toBe(false);
    expect(prompt).toBe('PIN for token "t" (reader "Reader A") (final try before the PIN locks!): \n');

    // A per-signature login says so and names the key, as OpenSSH asks again for such keys.
    prompt = '';
    const q = ttyPin(tty, out)({ ...req, finalTry: false }, { kind: 'per-signature', key: { label: 'sig', id: '02' } }) as Promise<Uint8Array>;
    tty.write('5678\r');
    expect(Buffer.from(await q).toString()).toBe('5678');
    expect(prompt).toBe('PIN for key "sig" on token "t" (reader "Reader A"), per-signature: \n');
  });

  it('builds the DigestInfo of RFC 8017 section 9.2', () => {
    // The fixed prefix for SHA-256 given in RFC 8017 section 9.2, note 1.
    const d = Buffer.alloc(32, 0xab);
    expect(Buffer.from(digestInfo('sha256', d)).toString('hex')).toBe('3031300d060960864801650304020105000420' + d.toString('hex'));
    expect(Buffer.from(digestInfo('sha1', Buffer.alloc(20))).subarray(0, 15).toString('hex')).toBe('3021300906052b0e03021a05000414');
  });
});
