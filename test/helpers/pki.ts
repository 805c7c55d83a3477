/**
 * Throwaway test PKI: a root CA, an intermediate CA and leaf certificates,
 * generated fresh into a directory with @peculiar/x509 on Node's WebCrypto.
 * Nothing here is ever committed; every run makes new keys.
 *
 * Layout under `dir`: `root/`, `intermediate/` and one folder per leaf name,
 * each with `key.pem` (PKCS#8, unencrypted) and `cert.pem`; leaves also get
 * `chain.pem` (leaf + intermediate) and `fullchain.pem` (+ root).
 */
import { webcrypto, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { EKU_OIDS } from '../../src/oids.js';

x509.cryptoProvider.set(webcrypto);
const { subtle } = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export type KeyKind = 'rsa2048' | 'rsa1024' | 'p256' | 'p384' | 'p521' | 'ed25519';

export interface IssuedCert {
  name: string;
  kind: KeyKind;
  /** PKCS#8 PEM, unencrypted. */
  keyPem: string;
  certPem: string;
  certDer: Buffer;
  keyPath: string;
  certPath: string;
  /** Leaf + intermediate PEM bundle (leaf + sub + intermediate under the sub CA; leaf only when issued by the root or self-signed). */
  chainPath: string;
  /** Leaf + intermediate + root PEM bundle. */
  fullChainPath: string;
}

export interface CaCert {
  certPem: string;
  certDer: Buffer;
  keyPem: string;
  certPath: string;
  keyPath: string;
}

export interface IssueOptions {
  /** Subject CN; default: the name. */
  cn?: string;
  /** Microsoft UPN otherName(s) (1.3.6.1.4.1.311.20.2.3, UTF8String); default `${name}@EXAMPLE.COM`; [] => none. */
  upn?: string | string[];
  /** rfc822Name SAN; default `${name}@example.com`; null => none. */
  email?: string | null;
  /** dNSName SANs; default none. */
  dns?: string[];
  /** iPAddress SANs; default none. */
  ip?: string[];
  /** EKU OIDs; default [secureShellClient]; [] => no EKU extension. */
  eku?: string[];
  /** Default digitalSignature (critical); 'none' => no keyUsage extension. */
  keyUsage?: 'digitalSignature' | 'keyEncipherment' | 'none';
  notBefore?: Date;
  notAfter?: Date;
  /** Default 'intermediate'; 'sub' needs a PKI made with `subCa`. */
  issuer?: 'intermediate' | 'root' | 'self' | 'sub';
  isCA?: boolean;
  /** AIA id-ad-ocsp URL. */
  ocspUrl?: string;
  /** CRL distribution point URL. */
  crlUrl?: string;
  /** Hex serial number; default random positive 128-bit. */
  serial?: string;
}

export interface TestPki {
  dir: string;
  root: CaCert;
  intermediate: CaCert;
  /** With `subCa`: a CA under the intermediate (which then has pathLenConstraint 1 instead of 0). */
  sub?: CaCert;
  issue(name: string, kind: KeyKind, opts?: IssueOptions): Promise<IssuedCert>;
}

export const OID_SECURE_SHELL_CLIENT = EKU_OIDS.secureShellClient;
export const OID_SECURE_SHELL_SERVER = EKU_OIDS.secureShellServer;
export const OID_CLIENT_AUTH = EKU_OIDS.clientAuth;
export const OID_SMARTCARD_LOGON = EKU_OIDS.smartcardLogon;
export const OID_ANY_EKU = EKU_OIDS.anyExtendedKeyUsage;

/**
 * What a host certificate for a test server on loopback carries: EKU
 * id-kp-secureShellServer, dNSName localhost and iPAddress 127.0.0.1, no
 * user identities. Pass to {@link TestPki.issue}.
 */
export const HOST_CERT: IssueOptions = { eku: [OID_SECURE_SHELL_SERVER], dns: ['localhost'], ip: ['127.0.0.1'], upn: [], email: null };

/** The six RFC 6187 algorithms the peers share, with a key kind of the test PKI for each. */
export const X509_ALGORITHM_CASES: ReadonlyArray<readonly [algorithm: string, kind: KeyKind]> = [
  ['x509v3-ssh-rsa', 'rsa2048'],
  ['x509v3-rsa2048-sha256', 'rsa2048'],
  ['x509v3-ecdsa-sha2-nistp256', 'p256'],
  ['x509v3-ecdsa-sha2-nistp384', 'p384'],
  ['x509v3-ecdsa-sha2-nistp521', 'p521'],
  ['x509v3-ssh-ed25519', 'ed25519'],
];

const ORG = 'ssh-x509 Test';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

interface KindSpec {
  gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

function spec(kind: KeyKind): KindSpec {
  const rsa = (modulusLength: number): KindSpec => {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { gen: { ...alg, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) }, sign: alg };
  };
  const ec = (namedCurve: string, hash: string): KindSpec => ({
    gen: { name: 'ECDSA', namedCurve },
    sign: { name: 'ECDSA', hash },
  });
  switch (kind) {
    case 'rsa2048': return rsa(2048);
    case 'rsa1024': return rsa(1024);
    case 'p256': return ec('P-256', 'SHA-256');
    case 'p384': return ec('P-384', 'SHA-384');
    case 'p521': return ec('P-521', 'SHA-512');
    case 'ed25519': return { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } };
  }
}

async function generateKeys(kind: KeyKind): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(spec(kind).gen, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, no leading zero byte
  return bytes.toString('hex');
}

function certPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}

interface Ca {
  kind: KeyKind;
  keys: CryptoKeyPair;
  cert: x509.X509Certificate;
  out: CaCert;
}

function writeFiles(folder: string, files: Record<string, string>): Record<string, string> {
  mkdirSync(folder, { recursive: true });
  const paths: Record<string, string> = {};
  for (const [file, text] of Object.entries(files)) {
    const path = join(folder, file);
    writeFileSync(path, text, { mode: 0o600 });
    paths[file] = path;
  }
  return paths;
}

async function makeCa(
  dir: string,
  folder: string,
  cn: string,
  kind: KeyKind,
  parent: Ca | null,
  pathLen: number | undefined = parent ? 0 : undefined,
): Promise<Ca> {
  const keys = await generateKeys(kind);
  const now = Date.now();
  const subject = `O=${ORG}, CN=${cn}`;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLen, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(parent ? parent.keys.publicKey : keys.publicKey),
  ];
  const common = {
    serialNumber: randomSerial(),
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
    extensions,
  };
  const cert = parent
    ? await x509.X509CertificateGenerator.create({
        ...common,
        subject,
        issuer: parent.cert.subject,
        publicKey: keys.publicKey,
        signingKey: parent.keys.privateKey,
        signingAlgorithm: spec(parent.kind).sign,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        ...common,
        name: subject,
        keys,
        signingAlgorithm: spec(kind).sign,
      });
  const keyPem = await pkcs8Pem(keys.privateKey);
  const paths = writeFiles(join(dir, folder), { 'cert.pem': certPem(cert), 'key.pem': keyPem });
  return {
    kind,
    keys,
    cert,
    out: {
      certPem: certPem(cert),
      certDer: Buffer.from(cert.rawData),
      keyPem,
      certPath: paths['cert.pem']!,
      keyPath: paths['key.pem']!,
    },
  };
}

/** Create a fresh root + intermediate CA (P-256 by default) under `dir`. */
export async function createTestPki(
  dir: string,
  opts: { rootKind?: KeyKind; intermediateKind?: KeyKind; subCa?: boolean } = {},
): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const root = await makeCa(dir, 'root', 'ssh-x509 Test Root CA', opts.rootKind ?? 'p256', null);
  const inter = await makeCa(
    dir, 'intermediate', 'ssh-x509 Test Intermediate CA', opts.intermediateKind ?? 'p256', root, opts.subCa ? 1 : 0,
  );
  const sub = opts.subCa ? await makeCa(dir, 'sub', 'ssh-x509 Test Sub CA', 'p256', inter) : undefined;

  async function issue(name: string, kind: KeyKind, o: IssueOptions = {}): Promise<IssuedCert> {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === 'root' || name === 'intermediate' || name === 'sub') {
      throw new Error(`invalid or reserved certificate name: ${JSON.stringify(name)}`);
    }
    const keys = await generateKeys(kind);
    const now = Date.now();
    const subject = `O=${ORG}, CN=${o.cn ?? name}`;

    const sans: x509.JsonGeneralName[] = [];
    const email = o.email === undefined ? `${name}@example.com` : o.email;
    if (email !== null) sans.push({ type: 'email', value: email });
    const upns = o.upn === undefined ? [`${name}@EXAMPLE.COM`] : typeof o.upn === 'string' ? [o.upn] : o.upn;
    for (const upn of upns) sans.push({ type: 'upn', value: upn });
    for (const dns of o.dns ?? []) sans.push({ type: 'dns', value: dns });
    for (const ip of o.ip ?? []) sans.push({ type: 'ip', value: ip });

    const ku = o.keyUsage ?? 'digitalSignature';
    let kuFlags = ku === 'digitalSignature'
      ? x509.KeyUsageFlags.digitalSignature
      : ku === 'keyEncipherment' ? x509.KeyUsageFlags.keyEncipherment : 0;
    if (o.isCA) kuFlags |= x509.KeyUsageFlags.keyCertSign;
    const eku = o.eku ?? [OID_SECURE_SHELL_CLIENT];

    if (o.issuer === 'sub' && !sub) throw new Error('issuer "sub" needs a PKI made with subCa');
    const issuerCa = o.issuer === 'root' ? root : o.issuer === 'self' ? null : o.issuer === 'sub' ? sub! : inter;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(o.isCA ?? false, undefined, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuerCa ? issuerCa.keys.publicKey : keys.publicKey),
    ];
    if (kuFlags) extensions.push(new x509.KeyUsagesExtension(kuFlags, true));
    if (eku.length) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
    if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
    if (o.ocspUrl) extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [o.ocspUrl] }));
    if (o.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([o.crlUrl]));

    const common = {
      serialNumber: o.serial ?? randomSerial(),
      notBefore: o.notBefore ?? new Date(now - HOUR),
      notAfter: o.notAfter ?? new Date(now + 30 * DAY),
      extensions,
    };
    const cert = issuerCa
      ? await x509.X509CertificateGenerator.create({
          ...common,
          subject,
          issuer: issuerCa.cert.subject,
          publicKey: keys.publicKey,
          signingKey: issuerCa.keys.privateKey,
          signingAlgorithm: spec(issuerCa.kind).sign,
        })
      : await x509.X509CertificateGenerator.createSelfSigned({
          ...common,
          name: subject,
          keys,
          signingAlgorithm: spec(kind).sign,
        });

    const leafPem = certPem(cert);
    const chain = issuerCa === inter ? leafPem + inter.out.certPem : issuerCa === sub ? leafPem + sub!.out.certPem + inter.out.certPem : leafPem;
    const fullChain = issuerCa ? chain + root.out.certPem : chain;
    const keyPem = await pkcs8Pem(keys.privateKey);
    const paths = writeFiles(join(dir, name), {
      'key.pem': keyPem,
      'cert.pem': leafPem,
      'chain.pem': chain,
      'fullchain.pem': fullChain,
    });
    return {
      name,
      kind,
      keyPem,
      certPem: leafPem,
      certDer: Buffer.from(cert.rawData),
      keyPath: paths['key.pem']!,
      certPath: paths['cert.pem']!,
      chainPath: paths['chain.pem']!,
      fullChainPath: paths['fullchain.pem']!,
    };
  }

  return { dir, root: root.out, intermediate: inter.out, ...(sub ? { sub: sub.out } : {}), issue };
}
