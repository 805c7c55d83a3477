/**
 * The one registry of object identifiers: every OID this library reads or
 * writes is spelled here, once, by the name its standard gives it. Every
 * other module imports the name (`test/layers.test.ts` refuses a dotted OID
 * literal anywhere else). The algorithms table (`algorithms.ts`) refers to
 * these names for its curves and hashes.
 *
 * @module
 */

/** Hash algorithms (RFC 3279, RFC 5758, NIST CSOR). */
export const HASH_OIDS = Object.freeze({
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const);

/** Named curves (RFC 5480 section 2.1.1.1). */
export const CURVE_OIDS = Object.freeze({
  nistp256: '1.2.840.10045.3.1.7',
  nistp384: '1.3.132.0.34',
  nistp521: '1.3.132.0.35',
} as const);

/** SubjectPublicKeyInfo algorithms (RFC 3279, RFC 5480, RFC 8410). */
export const KEY_ALGORITHM_OIDS = Object.freeze({
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  dsa: '1.2.840.10040.4.1',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
} as const);

/** Signature algorithms of certificates, CRLs and OCSP responses (RFC 3279, RFC 4055, RFC 5758, RFC 8410). */
export const SIGNATURE_ALGORITHM_OIDS = Object.freeze({
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  dsaWithSha1: '1.2.840.10040.4.3',
  dsaWithSha256: '2.16.840.1.101.3.4.3.2',
  ecdsaWithSha1: '1.2.840.10045.4.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
} as const);

/** Certificate and CRL extensions (RFC 5280 sections 4.2 and 5.2, RFC 6960). */
export const EXTENSION_OIDS = Object.freeze({
  subjectDirectoryAttributes: '2.5.29.9',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  privateKeyUsagePeriod: '2.5.29.16',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  invalidityDate: '2.5.29.24',
  deltaCRLIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  certificateIssuer: '2.5.29.29',
  nameConstraints: '2.5.29.30',
  cRLDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extendedKeyUsage: '2.5.29.37',
  freshestCRL: '2.5.29.46',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  subjectInfoAccess: '1.3.6.1.5.5.7.1.11',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
} as const);

/** The anyPolicy certificate policy (RFC 5280 section 4.2.1.4). */
export const ANY_POLICY_OID = '2.5.29.32.0';

/** extendedKeyUsage purposes (RFC 5280 section 4.2.1.12, RFC 4334, RFC 6187 section 2.2, Microsoft). */
export const EKU_OIDS = Object.freeze({
  anyExtendedKeyUsage: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  secureShellClient: '1.3.6.1.5.5.7.3.21',
  secureShellServer: '1.3.6.1.5.5.7.3.22',
  smartcardLogon: '1.3.6.1.4.1.311.20.2.2',
} as const);

/** A name of {@link EKU_OIDS}. */
export type EkuName = keyof typeof EKU_OIDS;

/** The name of an EKU OID, or `undefined` when this registry does not know it. */
export function ekuName(oid: string): EkuName | undefined {
  return (Object.keys(EKU_OIDS) as EkuName[]).find((n) => EKU_OIDS[n] === oid);
}

/** Access methods of authorityInfoAccess (RFC 5280 section 4.2.2.1). */
export const ACCESS_METHOD_OIDS = Object.freeze({
  ocsp: '1.3.6.1.5.5.7.48.1',
  caIssuers: '1.3.6.1.5.5.7.48.2',
} as const);

/** OCSP response types (RFC 6960 section 4.2.1). */
export const OCSP_OIDS = Object.freeze({
  basicResponse: '1.3.6.1.5.5.7.48.1.1',
} as const);

/** subjectAltName otherName types. */
export const OTHER_NAME_OIDS = Object.freeze({
  /** Microsoft User Principal Name (UTF8String). */
  userPrincipalName: '1.3.6.1.4.1.311.20.2.3',
} as const);

/**
 * Distinguished name attribute types (RFC 4519, RFC 5280 appendix A, PKCS#9),
 * under the short names that RFC 4514 and OpenSSL print.
 */
export const NAME_ATTRIBUTE_OIDS = Object.freeze({
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  serialNumber: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  street: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  title: '2.5.4.12',
  GN: '2.5.4.42',
  initials: '2.5.4.43',
  dnQualifier: '2.5.4.46',
  pseudonym: '2.5.4.65',
  UID: '0.9.2342.19200300.100.1.1',
  DC: '0.9.2342.19200300.100.1.25',
  emailAddress: '1.2.840.113549.1.9.1',
} as const);
