/**
 * NIST PKITS (test/fixtures/pkits): every case through the public path
 * validation function, with the default settings of PKITS section 3 and CRL
 * checking of every certificate of the path.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { validateCertificatePath } from '../src/index.js';
import { ANY_POLICY_OID, EXTENSION_OIDS } from '../src/oids.js';
import { PKITS_DIR } from './helpers/fixtures.js';

const ROOT = PKITS_DIR;

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
    // PKITS tests section 6.1's algorithm with CAs that break conforming-CA rules on purpose (DSA keys, a
    // non-critical basicConstraints it calls valid, non-critical policyConstraints, a negative serial it wants found on a CRL).
    laxIssuanceRules: true,
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

describe('policy inputs other than the defaults (RFC 5280 section 6.1.1 (c), (e); PKITS 4.8.1 and 4.8.2)', () => {
  const policyOf = (f: string): string =>
    (pkijs.Certificate.fromBER(cert(f)).extensions!.find((e) => e.extnID === EXTENSION_OIDS.certificatePolicies)!.parsedValue as pkijs.CertificatePolicies).certificatePolicies[0]!
      .policyIdentifier;
  const validate = (ee: string, ca: string, policy: Parameters<typeof validateCertificatePath>[0]['policy']) =>
    validateCertificatePath({
      certificates: [cert(ee), cert(ca)],
      trustAnchors: [anchor],
      time: new Date('2025-06-01T00:00:00Z'),
      ...(policy ? { policy } : {}),
      revocation: { crls: [anchorCrl, crl(`${ca.replace(/Cert\.crt$/, '')}CRL.crl`)] },
    });

  it('the user-initial-policy-set and initial-explicit-policy decide, with the leaf-level policies in the result', async () => {
    const p1 = policyOf('ValidCertificatePathTest1EE.crt');
    const other = `${p1}.99`;
    const ok = await validate('ValidCertificatePathTest1EE.crt', 'GoodCACert.crt', { initialPolicySet: [p1], initialExplicitPolicy: true });
    expect(ok).toMatchObject({ valid: true, policies: [p1] });
    expect(await validate('ValidCertificatePathTest1EE.crt', 'GoodCACert.crt', { initialPolicySet: [other], initialExplicitPolicy: true })).toMatchObject({ valid: false, reason: 'policy' });
    // Without explicit policy, an empty intersection is still a valid path (no policy).
    expect(await validate('ValidCertificatePathTest1EE.crt', 'GoodCACert.crt', { initialPolicySet: [other] })).toMatchObject({ valid: true, policies: [] });
    // 4.8.2: certificates without policies are valid unless an explicit policy is required.
    expect(await validate('AllCertificatesNoPoliciesTest2EE.crt', 'NoPoliciesCACert.crt', undefined)).toMatchObject({ valid: true });
    expect(await validate('AllCertificatesNoPoliciesTest2EE.crt', 'NoPoliciesCACert.crt', { initialExplicitPolicy: true })).toMatchObject({ valid: false, reason: 'policy' });
  });

  it('typed refusals for what is not a certificate', async () => {
    expect(await validateCertificatePath({ certificates: [Buffer.from('nonsense')], trustAnchors: [anchor] })).toMatchObject({ valid: false, reason: 'malformedCertificate' });
    expect(await validateCertificatePath({ certificates: [cert('ValidCertificatePathTest1EE.crt')], trustAnchors: [anchor], time: new Date('2025-06-01T00:00:00Z') })).toMatchObject({
      valid: false,
      reason: 'noIssuer',
    });
  });
});
