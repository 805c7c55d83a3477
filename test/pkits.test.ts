/**
 * NIST PKITS (../shared/pkits): every case through the public path
 * validation function, with the default settings of PKITS section 3 and CRL
 * checking of every certificate of the path.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateCertificatePath } from '../src/index.js';
import { ANY_POLICY_OID } from '../src/oids.js';

const ROOT = join(process.cwd(), '../shared/pkits');

interface Case {
  id: string;
  ee: string;
  intermediates: string[];
  crls: string[];
  expected: 'valid' | 'invalid' | 'revoked';
}

const cases = JSON.parse(readFileSync(join(ROOT, 'cases.json'), 'utf8')) as Case[];
const cert = (f: string): Uint8Array => readFileSync(join(ROOT, 'certs', f));
const crl = (f: string): Uint8Array => readFileSync(join(ROOT, 'crls', f));
const anchor = cert('TrustAnchorRootCertificate.crt');
const anchorCrl = crl('TrustAnchorRootCRL.crl');

async function run(c: Case): Promise<{ outcome: string; message: string }> {
  const r = await validateCertificatePath({
    certificates: [cert(c.ee), ...c.intermediates.map(cert)],
    trustAnchors: [anchor],
    time: new Date('2025-06-01T00:00:00Z'),
    policy: { initialPolicySet: [ANY_POLICY_OID] },
    revocation: { crls: [anchorCrl, ...c.crls.map(crl)] },
    allowSha1Signatures: true,
  });
  return { outcome: r.valid ? 'valid' : r.reason === 'revoked' ? 'revoked' : 'invalid', message: `${r.reason ?? ''} ${r.message}` };
}

describe('NIST PKITS', () => {
  it('has 219 cases', () => {
    expect(cases).toHaveLength(219);
  });

  it.each(cases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const r = await run(c);
    expect({ outcome: r.outcome, message: r.message }).toMatchObject({ outcome: c.expected });
  });
});
