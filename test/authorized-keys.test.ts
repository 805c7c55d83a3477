/**
 * The authorized-keys formats module: the DN line it writes is the one it
 * reads back, whatever the dialect's escaping, and the DN reader matches a
 * certificate's subject in any RDN order, case and slash form.
 */
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getAlgorithm } from '../src/algorithms.js';
import { distinguishedNameKey, parseAuthorizedEntry, readDistinguishedName, sameDistinguishedName, writeBlobLine, writeSubjectLine } from '../src/certs/authorized-keys.js';
import { fingerprints } from '../src/certs/fingerprint.js';

x509.cryptoProvider.set(webcrypto);

async function selfSigned(name: string): Promise<x509.X509Certificate> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name, keys, signingAlgorithm: alg, notBefore: new Date(), notAfter: new Date(Date.now() + 86400e3) });
}

let plain: x509.X509Certificate;
let odd: x509.X509Certificate;
let other: x509.X509Certificate;

beforeAll(async () => {
  plain = await selfSigned('C=DE, O=Example Org, OU=ops, CN=alice, E=alice@example.com');
  odd = await selfSigned('O=Example, CN=Doe\\, Jane/ops\\+x');
  other = await selfSigned('O=Example Org, CN=bob');
});

describe('DN lines', () => {
  it('writes RDNs in DER order, with the names both servers know, other attributes by OID', () => {
    expect(writeSubjectLine('x509v3-ecdsa-sha2-nistp256', plain, 'pkix-ssh')).toBe('x509v3-ecdsa-sha2-nistp256 Subject: C=DE,O=Example Org,OU=ops,CN=alice,1.2.840.113549.1.9.1=alice@example.com');
    expect(writeSubjectLine('x509v3-ecdsa-sha2-nistp256', plain, 'asyncssh')).toBe('x509v3-ecdsa-sha2-nistp256 subject=C=DE,O=Example Org,OU=ops,CN=alice,1.2.840.113549.1.9.1=alice@example.com');
  });

  it.each(['pkix-ssh', 'asyncssh'] as const)('reads back the %s line it writes as the same subject, escapes included', (style) => {
    for (const cert of [plain, odd]) {
      const entry = parseAuthorizedEntry(writeSubjectLine('x509v3-ecdsa-sha2-nistp256', cert, style));
      expect(entry.kind).toBe('subject');
      const key = distinguishedNameKey(cert.subjectName);
      expect(entry.kind === 'subject' && sameDistinguishedName(entry.rdns, key)).toBe(true);
      expect(entry.kind === 'subject' && sameDistinguishedName(entry.rdns, distinguishedNameKey(other.subjectName))).toBe(false);
    }
  });

  it('gives the same key from a pkijs-parsed certificate (the verifier) as from @peculiar/x509', () => {
    for (const cert of [plain, odd, other]) {
      expect(distinguishedNameKey(pkijs.Certificate.fromBER(cert.rawData).subject)).toEqual(distinguishedNameKey(cert.subjectName));
    }
  });

  it('reads a DN in any RDN order, case and spacing, in RFC 4514 or slash form, with aliases', () => {
    const key = distinguishedNameKey(plain.subjectName);
    for (const text of [
      'CN=alice,OU=ops,O=Example Org,C=DE,emailAddress=alice@example.com',
      '/C=DE/O=example  org/OU=OPS/CN=Alice/E=alice@example.com',
      'C=DE, O=Example Org, OU=ops, CN=alice, 1.2.840.113549.1.9.1=alice@example.com',
      'C=DE,O=Example\\20Org,OU=ops,CN=alice,E=alice@example.com',
    ]) {
      expect(sameDistinguishedName(readDistinguishedName(text), key)).toBe(true);
    }
    expect(sameDistinguishedName(readDistinguishedName('/C=DE/O=Example Org/OU=ops/CN=alice'), key)).toBe(false);
  });

  it('refuses what is not a name, and a subject no DN line can hold', async () => {
    for (const bad of ['alice', '', '/']) expect(() => readDistinguishedName(bad)).toThrow(expect.objectContaining({ code: 'ERR_VERIFIER_CONFIG_INVALID' }));
    const binary = await selfSigned('CN=alice, 2.5.4.45=#030100');
    expect(() => writeSubjectLine('x509v3-ecdsa-sha2-nistp256', binary, 'pkix-ssh')).toThrow(expect.objectContaining({ code: 'ERR_NAME_UNREPRESENTABLE' }));
    const ctl = await selfSigned('CN=a\\0Ab');
    expect(() => writeSubjectLine('x509v3-ecdsa-sha2-nistp256', ctl, 'asyncssh')).toThrow(expect.objectContaining({ code: 'ERR_NAME_UNREPRESENTABLE' }));
  });
});

describe('blob lines', () => {
  it('reads back the blob line it writes as that leaf, and a bare DER certificate too', () => {
    const der = new Uint8Array(plain.rawData);
    const line = writeBlobLine(getAlgorithm('x509v3-ecdsa-sha2-nistp256'), [der], [], 'alice');
    expect(line).toMatch(/^x509v3-ecdsa-sha2-nistp256 [A-Za-z0-9+/]+=* alice$/);
    expect(parseAuthorizedEntry(line)).toEqual({ kind: 'certificate', sha256: fingerprints(der).sha256Hex });
    expect(parseAuthorizedEntry(`x509v3-ecdsa-sha2-nistp256 ${Buffer.from(der).toString('base64')}`)).toEqual({ kind: 'certificate', sha256: fingerprints(der).sha256Hex });
  });
});
