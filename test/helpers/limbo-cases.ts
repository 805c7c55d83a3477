/**
 * x509-limbo-style cases built here, in limbo's schema, for rules the
 * 149 cases of test/fixtures/limbo do not reach: its `webpki` and `cve`
 * categories (CA/Browser Forum rules, CVE-2025-61727), wildcard peer
 * names, weak and explicit-curve keys. Each is written from the case's
 * description in x509-limbo (C2SP, Apache-2.0); the certificates are made
 * at test time with @peculiar/x509.
 */
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { EKU_OIDS, EXTENSION_OIDS } from '../../src/oids.js';
import type { LimboCase } from '../../scripts/limbo.js';

const { subtle } = webcrypto;
x509.cryptoProvider.set(webcrypto);
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const EPOCH = new Date('2000-01-01T00:00:00Z');
const FAR = new Date('2999-01-01T00:00:00Z');
const AT = '2025-01-01T00:00:00Z';

interface Pair {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

let serial = 0x1000;
const nextSerial = (): string => (serial++).toString(16).padStart(4, '0');

async function ecKeys(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function nameConstraints(o: { permit?: string[]; exclude?: string[] }, critical = true): x509.Extension {
  const sub = (names: string[]) => names.map((n) => new pkijs.GeneralSubtree({ base: new pkijs.GeneralName({ type: 2, value: n }) }));
  const nc = new pkijs.NameConstraints({ ...(o.permit ? { permittedSubtrees: sub(o.permit) } : {}), ...(o.exclude ? { excludedSubtrees: sub(o.exclude) } : {}) });
  return new x509.Extension(EXTENSION_OIDS.nameConstraints, critical, nc.toSchema().toBER(false));
}

async function caCert(subject: string, parent: Pair | undefined, o: { extra?: x509.Extension[] } = {}): Promise<Pair> {
  const keys = await ecKeys();
  const extensions = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(parent ? [await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey)] : []),
    ...(o.extra ?? []),
  ];
  const common = { serialNumber: nextSerial(), notBefore: EPOCH, notAfter: FAR, extensions, signingAlgorithm: SIGN };
  const cert = parent
    ? await x509.X509CertificateGenerator.create({ ...common, subject, issuer: parent.cert.subject, publicKey: keys.publicKey, signingKey: parent.keys.privateKey })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: subject, keys });
  return { cert, keys };
}

interface LeafOptions {
  subject?: string;
  san?: x509.JsonGeneralName[];
  eku?: { oids: string[]; critical: boolean } | null;
  ca?: boolean;
  /** Extensions beside the usual ones. */
  extra?: x509.Extension[];
  /** A SubjectPublicKeyInfo (DER) other than a fresh P-256 key. */
  spki?: Uint8Array;
}

async function leafCert(parent: Pair, o: LeafOptions = {}): Promise<x509.X509Certificate> {
  const keys = await ecKeys();
  const publicKey = o.spki ?? keys.publicKey;
  const eku = o.eku === undefined ? { oids: [EKU_OIDS.serverAuth], critical: false } : o.eku;
  const extensions = [
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey),
    ...(o.ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : []),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, false),
    ...(eku ? [new x509.ExtendedKeyUsageExtension(eku.oids, eku.critical)] : []),
    new x509.SubjectAlternativeNameExtension(o.san ?? [{ type: 'dns', value: 'example.com' }], false),
    ...(o.extra ?? []),
  ];
  return x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: o.subject ?? 'CN=example.com',
    issuer: parent.cert.subject,
    notBefore: EPOCH,
    notAfter: FAR,
    publicKey,
    signingKey: parent.keys.privateKey,
    signingAlgorithm: SIGN,
    extensions,
  });
}

const pem = (c: x509.X509Certificate): string => c.toString('pem');

/** A built case, with the reason its failure must give (a case expected to succeed has none). */
export interface BuiltCase extends LimboCase {
  readonly reason?: string;
}

function limboCase(
  id: string,
  o: { root: Pair; intermediates?: Pair[]; leaf: x509.X509Certificate; peer?: { kind: 'DNS' | 'IP' | 'RFC822'; value: string }; kind?: 'SERVER' | 'CLIENT'; eku?: string[] },
  expected: 'SUCCESS' | 'FAILURE',
  reason?: string,
): BuiltCase {
  return {
    id,
    validation_kind: o.kind ?? 'SERVER',
    trusted_certs: [pem(o.root.cert)],
    untrusted_intermediates: (o.intermediates ?? []).map((p) => pem(p.cert)),
    peer_certificate: pem(o.leaf),
    validation_time: AT,
    expected_peer_name: o.peer === undefined ? { kind: 'DNS', value: 'example.com' } : o.peer,
    extended_key_usage: o.eku ?? [],
    expected_result: expected,
    ...(reason ? { reason } : {}),
  };
}

/** The cases: rfc5280 profile unless the id starts with `webpki::` (as scripts/limbo.ts runs them). */
export async function builtLimboCases(): Promise<BuiltCase[]> {
  const root = await caCert('CN=Built Root', undefined);
  const cases: BuiltCase[] = [];

  // CVE-2025-61727: an excluded subtree stops a wildcard that would name one of its hosts.
  const ncIca = await caCert('CN=NC ICA', root, { extra: [nameConstraints({ permit: ['example.com'], exclude: ['bar.example.com'] })] });
  const wild = await leafCert(ncIca, { subject: 'CN=*.example.com', san: [{ type: 'dns', value: '*.example.com' }] });
  cases.push(limboCase('cve::cve-2025-61727', { root, intermediates: [ncIca], leaf: wild, peer: { kind: 'DNS', value: 'bar.example.com' } }, 'FAILURE', 'nameConstraints'));
  // The same wildcard asked for another host: the certificate itself is refused all the same.
  cases.push(limboCase('cve::cve-2025-61727-other-host', { root, intermediates: [ncIca], leaf: wild, peer: { kind: 'DNS', value: 'foo.example.com' } }, 'FAILURE', 'nameConstraints'));
  const permitIca = await caCert('CN=Permit ICA', root, { extra: [nameConstraints({ permit: ['foo.example.com'] })] });
  const wild2 = await leafCert(permitIca, { subject: 'CN=*.example.com', san: [{ type: 'dns', value: '*.example.com' }] });
  cases.push(limboCase('cve::cve-2025-61727-nc-permits-variant', { root, intermediates: [permitIca], leaf: wild2, peer: { kind: 'DNS', value: 'foo.example.com' } }, 'FAILURE', 'nameConstraints'));
  const apexIca = await caCert('CN=Apex ICA', root, { extra: [nameConstraints({ permit: ['example.com'] })] });
  const wild3 = await leafCert(apexIca, { subject: 'CN=*.example.com', san: [{ type: 'dns', value: '*.example.com' }] });
  cases.push(limboCase('rfc5280::nc::nc-permits-dns-san-pattern', { root, intermediates: [apexIca], leaf: wild3, peer: { kind: 'DNS', value: 'foo.example.com' } }, 'SUCCESS'));

  // RFC 6125 wildcards: the whole left-most label, one label, two labels or more after it; only when asked for (SERVER here).
  const wl = async (pattern: string) => leafCert(root, { subject: `CN=${pattern}`, san: [{ type: 'dns', value: pattern }] });
  const star = await wl('*.example.com');
  cases.push(limboCase('webpki::san::leftmost-wildcard', { root, leaf: star, peer: { kind: 'DNS', value: 'foo.example.com' } }, 'SUCCESS'));
  cases.push(limboCase('rfc5280::san::wildcard-not-asked-for', { root, leaf: star, peer: { kind: 'DNS', value: 'foo.example.com' }, kind: 'CLIENT' }, 'FAILURE', 'peerNameMismatch'));
  cases.push(limboCase('webpki::san::wildcard-across-labels', { root, leaf: star, peer: { kind: 'DNS', value: 'bar.foo.example.com' } }, 'FAILURE', 'peerNameMismatch'));
  cases.push(limboCase('webpki::san::wildcard-apex', { root, leaf: star, peer: { kind: 'DNS', value: 'example.com' } }, 'FAILURE', 'peerNameMismatch'));
  for (const [pattern, host] of [
    ['ba*.example.com', 'baz.example.com'],
    ['foo.*.example.com', 'foo.bar.example.com'],
    ['*', 'example.com'],
    ['*.com', 'example.com'],
  ] as const) {
    cases.push(limboCase(`webpki::san::wildcard-refused-${pattern}`, { root, leaf: await wl(pattern), peer: { kind: 'DNS', value: host } }, 'FAILURE', 'peerNameMismatch'));
  }
  const ip = await leafCert(root, { subject: 'CN=127.0.0.1', san: [{ type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '2001:db8::1' }] });
  cases.push(limboCase('webpki::san::exact-ip', { root, leaf: ip, peer: { kind: 'IP', value: '127.0.0.1' } }, 'SUCCESS'));
  cases.push(limboCase('webpki::san::exact-ipv6-other-spelling', { root, leaf: ip, peer: { kind: 'IP', value: '2001:0db8:0:0::0001' } }, 'SUCCESS'));
  cases.push(limboCase('webpki::san::ip-mismatch', { root, leaf: ip, peer: { kind: 'IP', value: '127.0.0.2' } }, 'FAILURE', 'peerNameMismatch'));
  const mail = await leafCert(root, { subject: 'CN=Foo', san: [{ type: 'email', value: 'foo@Example.com' }], eku: { oids: [EKU_OIDS.clientAuth], critical: false } });
  cases.push(limboCase('rfc5280::san::email', { root, leaf: mail, peer: { kind: 'RFC822', value: 'foo@example.com' }, kind: 'CLIENT', eku: ['clientAuth'] }, 'SUCCESS'));
  cases.push(limboCase('rfc5280::san::email-local-part-case', { root, leaf: mail, peer: { kind: 'RFC822', value: 'FOO@example.com' }, kind: 'CLIENT', eku: ['clientAuth'] }, 'FAILURE', 'peerNameMismatch'));
  cases.push(limboCase('rfc5280::eku::client-leaf-for-server', { root, leaf: mail, peer: { kind: 'RFC822', value: 'foo@example.com' }, kind: 'CLIENT', eku: ['serverAuth'] }, 'FAILURE', 'extendedKeyUsage'));

  // CA/Browser Forum BR 7.1.4.3: the commonName is one of the subjectAltName names, written as there.
  cases.push(limboCase('webpki::cn::not-in-san', { root, leaf: await leafCert(root, { subject: 'CN=notinsan.example.com', san: [{ type: 'dns', value: 'valid.example.com' }] }), peer: { kind: 'DNS', value: 'valid.example.com' } }, 'FAILURE', 'peerNameMismatch'));
  cases.push(limboCase('webpki::cn::case-mismatch', { root, leaf: await leafCert(root, { subject: 'CN=Example.COM' }) }, 'FAILURE', 'peerNameMismatch'));
  cases.push(limboCase('webpki::cn::ipv6-uncompressed', { root, leaf: await leafCert(root, { subject: 'CN=2001:0db8:0000:0000:0000:0000:0000:0001', san: [{ type: 'ip', value: '2001:db8::1' }] }), peer: { kind: 'IP', value: '2001:db8::1' } }, 'FAILURE', 'peerNameMismatch'));
  cases.push(limboCase('rfc5280::cn::not-in-san', { root, leaf: await leafCert(root, { subject: 'CN=notinsan.example.com' }) }, 'SUCCESS'));

  // The Web PKI's end entity: not a CA, a non-critical extendedKeyUsage with serverAuth and without anyExtendedKeyUsage.
  cases.push(limboCase('webpki::ca-as-leaf', { root, leaf: await leafCert(root, { ca: true }) }, 'FAILURE', 'caExtensions'));
  cases.push(limboCase('rfc5280::ca-as-leaf-built', { root, leaf: await leafCert(root, { ca: true }) }, 'SUCCESS'));
  cases.push(limboCase('webpki::eku::ee-without-eku', { root, leaf: await leafCert(root, { eku: null }) }, 'FAILURE', 'extendedKeyUsage'));
  cases.push(limboCase('webpki::eku::ee-anyeku', { root, leaf: await leafCert(root, { eku: { oids: [EKU_OIDS.serverAuth, EKU_OIDS.anyExtendedKeyUsage], critical: false } }) }, 'FAILURE', 'extendedKeyUsage'));
  cases.push(limboCase('webpki::eku::ee-critical-eku', { root, leaf: await leafCert(root, { eku: { oids: [EKU_OIDS.serverAuth], critical: true } }) }, 'FAILURE', 'extendedKeyUsage'));
  const ekuRoot = await caCert('CN=EKU Root', undefined, { extra: [new x509.ExtendedKeyUsageExtension([EKU_OIDS.serverAuth], false)] });
  cases.push(limboCase('webpki::eku::root-has-eku', { root: ekuRoot, leaf: await leafCert(ekuRoot) }, 'FAILURE', 'extendedKeyUsage'));
  cases.push(limboCase('rfc5280::eku::root-has-eku', { root: ekuRoot, leaf: await leafCert(ekuRoot), eku: ['serverAuth'] }, 'SUCCESS'));
  const ncRoot = await caCert('CN=NC Root', undefined, { extra: [nameConstraints({ permit: ['example.com'] }, false)] });
  cases.push(limboCase('webpki::nc::permitted-dns-match-noncritical', { root: ncRoot, leaf: await leafCert(ncRoot) }, 'SUCCESS'));
  cases.push(limboCase('rfc5280::nc::permitted-dns-match-noncritical-built', { root: ncRoot, leaf: await leafCert(ncRoot) }, 'FAILURE', 'extensionCriticality'));

  // RFC 5280 section 4.2.2.1: authorityInfoAccess is a SEQUENCE of one AccessDescription or more.
  const aia = new x509.Extension(EXTENSION_OIDS.authorityInfoAccess, false, new TextEncoder().encode('malformed'));
  cases.push(limboCase('webpki::malformed-aia', { root, leaf: await leafCert(root, { extra: [aia] }) }, 'FAILURE', 'malformedCertificate'));

  // Keys: RSA of 2048 bits or more in whole octets, named curves only.
  const spki = (type: 'rsa' | 'ec', o: object): Uint8Array => generateKeyPairSync(type as 'rsa', { ...o, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } } as never).publicKey as unknown as Uint8Array;
  cases.push(limboCase('webpki::forbidden-weak-rsa-in-leaf', { root, leaf: await leafCert(root, { spki: spki('rsa', { modulusLength: 1024 }) }) }, 'FAILURE', 'weakKey'));
  cases.push(limboCase('webpki::forbidden-rsa-not-divisible-by-8-in-leaf', { root, leaf: await leafCert(root, { spki: spki('rsa', { modulusLength: 2052 }) }) }, 'FAILURE', 'weakKey'));
  cases.push(limboCase('webpki::rsa-2048-leaf', { root, leaf: await leafCert(root, { spki: spki('rsa', { modulusLength: 2048 }) }) }, 'SUCCESS'));
  cases.push(limboCase('webpki::explicit-curve', { root, leaf: await leafCert(root, { spki: spki('ec', { namedCurve: 'P-256', paramEncoding: 'explicit' }) }) }, 'FAILURE', 'explicitCurve'));
  return cases;
}
