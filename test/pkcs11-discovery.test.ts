/**
 * One PKCS#11 discovery pass per operation: the signer, the listing, the
 * candidates and the chain of `export-pub` read a token's certificates once.
 * Counted at the PKCS#11 interface, with OpenSC's pkcs11-spy logging every
 * call that the real SoftHSM2 module answers.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm } from './helpers/softhsm.js';
import { listPkcs11Certificates, openPkcs11Candidates, Pkcs11Signer, readPkcs11Chain } from '../src/pkcs11.js';
import { moduleRefCount } from '../src/signers/pkcs11/module.js';

/** OpenSC's logging PKCS#11 module (Debian package opensc-pkcs11, a dependency of opensc, which scripts/bootstrap.sh installs). */
const SPY = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'].map((d) => join(d, 'pkcs11', 'pkcs11-spy.so')).find((p) => existsSync(p)) ?? '/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so';

let hsm: SoftHsm;
let log: string;

beforeAll(async () => {
  if (!existsSync(SPY)) throw new Error(`${SPY} is missing: run scripts/bootstrap.sh (Debian package opensc)`);
  hsm = await createSoftHsm([
    {
      label: 'alpha',
      intermediateOnToken: true,
      keys: [
        { name: 'a1', kind: 'p256', id: '01', source: 'import' },
        { name: 'a2', kind: 'rsa2048', id: '02', source: 'import' },
        { name: 'a3', kind: 'ed25519', id: '03', source: 'import' },
      ],
    },
    { label: 'beta', keys: [{ name: 'b1', kind: 'p384', id: '01', source: 'import' }] },
  ]);
  // pkcs11-spy reads these when the module is first loaded, and forwards every call to SoftHSM.
  log = join(hsm.dir, 'spy.log');
  process.env.PKCS11SPY = SOFTHSM_MODULE;
  process.env.PKCS11SPY_OUTPUT = log;
});

afterAll(() => hsm?.cleanup());

/** The PKCS#11 calls `op` makes, as the spy logged them: each entry is the call's name and its logged text. */
async function calls<T>(op: () => Promise<T>): Promise<{ result: T; calls: { name: string; text: string }[] }> {
  if (existsSync(log)) writeFileSync(log, '');
  const result = await op();
  // Each call starts with a line "<n>: C_Name" (the spy flushes after every call).
  const entries = readFileSync(log, 'utf8').split(/^(?=\d+: C_)/m).filter((e) => /^\d+: C_/.test(e));
  return { result, calls: entries.map((text) => ({ name: /^\d+: (C_\w+)/.exec(text)![1]!, text })) };
}

/**
 * Searches for certificate objects (C_FindObjectsInit with CKA_CLASS
 * CKO_CERTIFICATE), and reads of an object's CKA_VALUE: the C_GetAttributeValue
 * calls that pass a buffer (graphene first asks the length with a NULL one).
 */
function certificateReads(cs: { name: string; text: string }[]): { finds: number; values: number } {
  return {
    finds: cs.filter((c) => c.name === 'C_FindObjectsInit' && /CKA_CLASS\s+CKO_CERTIFICATE/.test(c.text)).length,
    values: cs.filter((c) => c.name === 'C_GetAttributeValue' && /\[in\] pTemplate\[1\]:\s*\n\s*CKA_VALUE\s+(?!0{16})[0-9a-f]{16} \/ [1-9]/.test(c.text)).length,
  };
}

const pin = () => '1234';
/** Certificates per token: alpha holds three leaves and the intermediate, beta one leaf. */
const CERTS = { alpha: 4, beta: 1 };

describe('PKCS#11 discovery: certificates read once per operation', () => {
  it('the spy sees the calls (the counts below are real C_FindObjects and C_GetAttributeValue calls)', async () => {
    const { result, calls: cs } = await calls(() => listPkcs11Certificates({ module: SPY }));
    expect(result.map((r) => `${r.tokenLabel}/${r.label}`).sort()).toEqual(['alpha/a1', 'alpha/a2', 'alpha/a3', 'alpha/intermediate', 'beta/b1']);
    expect(cs.some((c) => c.name === 'C_Initialize')).toBe(true);
    // One search for certificates per token, one CKA_VALUE read per certificate.
    expect(certificateReads(cs)).toEqual({ finds: 2, values: CERTS.alpha + CERTS.beta });
  });

  it('openPkcs11Candidates reads each token once, however many candidates it opens', async () => {
    const { result: signers, calls: cs } = await calls(() => openPkcs11Candidates({ module: SPY, pin }));
    try {
      expect(signers.map((s) => s.label).sort()).toEqual(['pkcs11:alpha/a1', 'pkcs11:alpha/a2', 'pkcs11:alpha/a3', 'pkcs11:beta/b1']);
      expect(certificateReads(cs)).toEqual({ finds: 2, values: CERTS.alpha + CERTS.beta });
      // The PIN went to each token once (one C_Login per token), not once per candidate.
      expect(cs.filter((c) => c.name === 'C_Login').length).toBe(2);
    } finally {
      await Promise.all(signers.map((s) => s.close()));
    }
    expect(moduleRefCount(SPY)).toBe(0);
  });

  it('Pkcs11Signer.open reads the matching token once, and no other token', async () => {
    const { result: signer, calls: cs } = await calls(() => Pkcs11Signer.open({ module: SPY, uri: 'pkcs11:token=alpha;id=%02', pin }));
    try {
      expect(signer.chain.certificates.length).toBe(2);
      expect(certificateReads(cs)).toEqual({ finds: 1, values: CERTS.alpha });
    } finally {
      await signer.close();
    }
  });

  it('readPkcs11Chain (export-pub) reads the token once, never logs in and leaves nothing open', async () => {
    const { result: chain, calls: cs } = await calls(() => readPkcs11Chain({ module: SPY, uri: 'pkcs11:token=alpha', fingerprint: hsm.keys.a3!.sha256 }));
    expect(Buffer.from(chain.leaf.rawData)).toEqual(hsm.keys.a3!.certDer);
    expect(chain.certificates.length).toBe(2);
    expect(certificateReads(cs)).toEqual({ finds: 1, values: CERTS.alpha });
    expect(cs.filter((c) => c.name === 'C_Login').length).toBe(0);
    expect(cs.filter((c) => c.name === 'C_OpenSession').length).toBe(cs.filter((c) => c.name === 'C_CloseSession').length);
    expect(moduleRefCount(SPY)).toBe(0);
  });
});
