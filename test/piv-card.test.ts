/**
 * The tests' virtual PIV card (test/helpers/piv-card.ts) on its own, APDU by
 * APDU, without the middleware: what the PKCS#11 tests rely on it to enforce
 * as a real card does (PIN retry counter, blocked state, verification lost on
 * power off, PIN always on 9C, no PIN on 9E), and the transport rules OpenSC
 * needs (GET RESPONSE, command chaining, the CHUID's GUID as serial).
 */
import { constants, createHash, createPublicKey, publicEncrypt, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PivApplet, tlv, type PivCardSpec } from './helpers/piv-card.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';

let dir: string;
let certs: Record<'p256' | 'rsa' | 'p384', IssuedCert>;
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sw = (r: Buffer) => r.subarray(-2).toString('hex');
const body = (r: Buffer) => r.subarray(0, -2);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-piv-card-'));
  const pki = await createTestPki(join(dir, 'pki'));
  certs = { p256: await pki.issue('auth', 'p256'), rsa: await pki.issue('sig', 'rsa2048'), p384: await pki.issue('card', 'p384') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function card(extra: Partial<PivCardSpec> = {}): PivApplet {
  const c = new PivApplet({
    pin: '123456',
    guid: '00112233445566778899aabbccddeeff',
    slots: {
      '9A': { keyPem: certs.p256.keyPem, certDer: certs.p256.certDer },
      '9C': { keyPem: certs.rsa.keyPem, certDer: certs.rsa.certDer },
      '9E': { keyPem: certs.p384.keyPem, certDer: certs.p384.certDer },
    },
    ...extra,
  });
  c.power();
  expect(sw(c.process(hex('00 a4 04 00 09 a0 00 00 03 08 00 00 10 00 00')))).toBe('9000');
  return c;
}
const PIN = hex('00 20 00 80 08 313233343536ffff');
const WRONG = hex('00 20 00 80 08 393939393939ffff');
const STATUS = hex('00 20 00 80');
/** GENERAL AUTHENTICATE with a challenge, sent as one short APDU or chained in parts of at most 255 bytes. */
function generalAuthenticate(c: PivApplet, alg: number, key: number, challenge: Buffer): Buffer {
  const data = tlv(0x7c, tlv(0x82), tlv(0x81, challenge));
  let r: Buffer = Buffer.alloc(0);
  for (let i = 0; i < data.length; i += 255) {
    const part = data.subarray(i, i + 255);
    const last = i + 255 >= data.length;
    r = c.process(Buffer.concat([Buffer.from([last ? 0x00 : 0x10, 0x87, alg, key, part.length]), part, last ? Buffer.from([0]) : Buffer.alloc(0)]));
    if (!last) expect(sw(r)).toBe('9000');
  }
  // Collect 61 xx continuations with GET RESPONSE.
  let out: Buffer = body(r);
  while (sw(r).startsWith('61')) {
    r = c.process(hex(`00 c0 00 00 ${sw(r).slice(2)}`));
    out = Buffer.concat([out, body(r)]);
  }
  expect(sw(r)).toBe('9000');
  return out;
}
const MSG = Buffer.from('what the card signs');
/** The card signs a digest (SP 800-73-4): the hash of MSG, so that node:crypto can verify against MSG. */
const digest = createHash('sha256').update(MSG).digest();

describe('the virtual PIV card', () => {
  it('answers SELECT of the PIV AID and refuses other applications', () => {
    const c = card();
    expect(sw(c.process(hex('00 a4 04 00 07 a0 00 00 00 03 10 10 00')))).toBe('6a82');
    const r = c.process(hex('00 a4 04 00 09 a0 00 00 03 08 00 00 10 00 00'));
    expect(body(r)[0]).toBe(0x61);
  });

  it('serves a certificate larger than one response through GET RESPONSE, and the CHUID with the GUID', () => {
    const c = card();
    let r = c.process(hex('00 cb 3f ff 05 5c 03 5f c1 0a 00'));
    let obj = body(r);
    expect(sw(r)).toMatch(/^61/);
    while (sw(r).startsWith('61')) {
      r = c.process(hex(`00 c0 00 00 ${sw(r).slice(2)}`));
      obj = Buffer.concat([obj, body(r)]);
    }
    expect(sw(r)).toBe('9000');
    // 53 { 70 <DER> 71 01 00 FE 00 }
    expect(obj.includes(certs.rsa.certDer)).toBe(true);
    const chuid = body(c.process(hex('00 cb 3f ff 05 5c 03 5f c1 02 00')));
    expect(chuid.includes(hex('34 10 00112233445566778899aabbccddeeff'))).toBe(true);
    expect(c.serial).toBe('8899aabbccddeeff');
    expect(sw(c.process(hex('00 cb 3f ff 05 5c 03 5f c1 0b 00')))).toBe('6a82');
  });

  it('counts wrong PINs, blocks at zero (69 83) even for the right PIN, and a right PIN resets the counter', () => {
    const c = card();
    expect(sw(c.process(STATUS))).toBe('63c3');
    expect(sw(c.process(WRONG))).toBe('63c2');
    expect(sw(c.process(PIN))).toBe('9000');
    expect(sw(c.process(STATUS))).toBe('9000');
    expect(c.pinTriesLeft).toBe(3);
    for (const expected of ['63c2', '63c1', '6983']) expect(sw(c.process(WRONG))).toBe(expected);
    expect(sw(c.process(PIN))).toBe('6983');
    c.power();
    expect(sw(c.process(hex('00 a4 04 00 09 a0 00 00 03 08 00 00 10 00 00')))).toBe('9000');
    expect(sw(c.process(STATUS))).toBe('6983');
  });

  it('forgets the PIN verification on power off or reset', () => {
    const c = card();
    expect(sw(c.process(PIN))).toBe('9000');
    expect(generalAuthenticate(c, 0x11, 0x9a, digest)[0]).toBe(0x7c);
    c.power();
    c.process(hex('00 a4 04 00 09 a0 00 00 03 08 00 00 10 00 00'));
    expect(sw(c.process(STATUS))).toBe('63c3');
    expect(sw(c.process(hex('00 87 11 9a 26 7c 24 82 00 81 20' + '07'.repeat(32) + '00')))).toBe('6982');
  });

  it('9A signs any number of times after one VERIFY; 9C once per VERIFY; 9E without one', () => {
    const c = card();
    const p256 = createPublicKey(certs.p256.keyPem);
    expect(sw(c.process(hex('00 87 11 9a 26 7c 24 82 00 81 20' + '07'.repeat(32) + '00')))).toBe('6982');
    expect(sw(c.process(PIN))).toBe('9000');
    for (let i = 0; i < 3; i++) {
      const sig = parseSig(generalAuthenticate(c, 0x11, 0x9a, digest));
      expect(cryptoVerify('sha256', MSG, { key: p256, dsaEncoding: 'der' }, sig)).toBe(true);
    }
    // 9C: the user VERIFY above bought one signature; a second needs another VERIFY.
    const block = Buffer.concat([hex('0001'), Buffer.alloc(256 - 2 - 52, 0xff), hex('00'), Buffer.alloc(51, 1)]);
    const sig = parseSig(generalAuthenticate(c, 0x07, 0x9c, block));
    expect(publicEncrypt({ key: new X509Certificate(certs.rsa.certDer).publicKey, padding: constants.RSA_NO_PADDING }, sig)).toEqual(block);
    const again = tlv(0x7c, tlv(0x82), tlv(0x81, block));
    expect(sw(c.process(Buffer.concat([hex('10 87 07 9c ff'), again.subarray(0, 255)])))).toBe('9000');
    expect(sw(c.process(Buffer.concat([Buffer.from([0x00, 0x87, 0x07, 0x9c, again.length - 255]), again.subarray(255), hex('00')])))).toBe('6982');
    expect(c.refusedAlwaysAuth).toBe(1);
    expect(sw(c.process(PIN))).toBe('9000');
    expect(generalAuthenticate(c, 0x07, 0x9c, block)).toHaveLength(sig.length + 8);
    // 9E after power off, no PIN at all.
    c.power();
    c.process(hex('00 a4 04 00 09 a0 00 00 03 08 00 00 10 00 00'));
    const d48 = createHash('sha384').update(MSG).digest();
    expect(cryptoVerify('sha384', MSG, { key: createPublicKey(certs.p384.keyPem), dsaEncoding: 'der' }, parseSig(generalAuthenticate(c, 0x14, 0x9e, d48)))).toBe(true);
    // The wrong algorithm for a slot's key is refused.
    expect(sw(c.process(hex('00 87 07 9a 26 7c 24 82 00 81 20' + '07'.repeat(32) + '00')))).toBe('6a86');
  });
});

/** The signature inside 7C { 82 <sig> }. */
function parseSig(dyn: Buffer): Buffer {
  expect(dyn[0]).toBe(0x7c);
  let i = 1;
  const len = () => {
    const b = dyn[i++]!;
    if (b < 0x80) return b;
    let n = 0;
    for (let k = 0; k < (b & 0x7f); k++) n = (n << 8) | dyn[i++]!;
    return n;
  };
  len();
  expect(dyn[i++]).toBe(0x82);
  const n = len();
  return dyn.subarray(i, i + n);
}
