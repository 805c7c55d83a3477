/**
 * Listing the certificates on every token of a module, with what a user
 * needs to pick one: token, CKA_ID, label, names, key, usages, identities,
 * fingerprints, whether its private key is there, and which X.509v3
 * algorithms it can serve.
 *
 * @module
 */
import { BasicConstraintsExtension, ExtendedKeyUsageExtension, KeyUsagesExtension, type X509Certificate } from '@peculiar/x509';
import { algorithmsForKey } from '../../algorithms.js';
import { fingerprints } from '../../certs/fingerprint.js';
import { certificateIdentities } from '../../certs/identity.js';
import { certificatePublicKey, describeKey, keyFacts } from '../../certs/key.js';
import { ekuName } from '../../oids.js';
import { CKF_TOKEN } from './constants.js';
import { loginTarget, withDiscovery, type Discovery, type FoundCertificate } from './discover.js';
import { loginSession, type PinSource } from './pin.js';
import { certMatches, findPrivateKey, type CertObject, type TokenEntry } from './tokens.js';
import { formatPkcs11Uri, type Pkcs11Uri } from './uri.js';

/** One certificate found on a token. Serialises to JSON as is (dates as ISO strings). */
export interface Pkcs11CertificateInfo {
  /** The slot id (CK_SLOT_ID), in decimal. */
  readonly slotId: string;
  /** The token label. */
  readonly tokenLabel: string;
  /** The token serial number. */
  readonly tokenSerial: string;
  /** The token manufacturer. */
  readonly tokenManufacturer: string;
  /** The token model. */
  readonly tokenModel: string;
  /** CKA_ID as lower-case hex (empty when the object has none). */
  readonly id: string;
  /** CKA_LABEL. */
  readonly label: string;
  /** The RFC 7512 URI naming this certificate (token, serial, id, label, type=cert). */
  readonly uri: string;
  /** Subject DN. */
  readonly subject: string;
  /** Issuer DN. */
  readonly issuer: string;
  /** The certificate serial number (hex). */
  readonly serialNumber: string;
  /** Start of validity. */
  readonly notBefore: Date;
  /** End of validity. */
  readonly notAfter: Date;
  /** True when the certificate is a CA (basicConstraints cA). */
  readonly isCA: boolean;
  /** Key type as node:crypto names it: `rsa`, `ec`, `ed25519`, ... */
  readonly keyType: string;
  /** RSA modulus size. */
  readonly keyBits?: number;
  /** EC curve as node:crypto names it (`prime256v1`, `secp384r1`, `secp521r1`). */
  readonly curve?: string;
  /** A short key description: `RSA 2048`, `EC P-256`, `Ed25519`. */
  readonly keyDescription: string;
  /** keyUsage bits by RFC 5280 name (`digitalSignature`, ...); empty when there is no keyUsage extension. */
  readonly keyUsage: readonly string[];
  /** extendedKeyUsage purposes: known names (`secureShellClient`, `clientAuth`, `smartcardLogon`, ...) or the OID. */
  readonly extendedKeyUsages: readonly string[];
  /** UPNs (subjectAltName otherName userPrincipalName). */
  readonly upns: readonly string[];
  /** rfc822Name entries of the subjectAltName. */
  readonly emails: readonly string[];
  /** Subject common names. */
  readonly commonNames: readonly string[];
  /** OpenSSH-style SHA-256 fingerprint (`SHA256:` + base64). */
  readonly sha256: string;
  /** SHA-256 fingerprint as hex. */
  readonly sha256Hex: string;
  /** SHA-1 thumbprint (upper-case hex pairs with colons). */
  readonly sha1: string;
  /**
   * Whether a private key with the certificate's CKA_ID is on the token.
   * `null` means "not known": the token hides private objects until login
   * (SoftHSM and most smartcards do: their private keys have CKA_PRIVATE
   * true) and no PIN was given to the listing.
   */
  readonly hasPrivateKey: boolean | null;
  /** The X.509v3 algorithms the certificate's key can serve, best first (from the one algorithms table). */
  readonly algorithms: readonly string[];
}

/** Options for {@link listPkcs11Certificates}. */
export interface ListPkcs11Options {
  /** Path of the PKCS#11 module (or give `module-path` in the URI). */
  module?: string;
  /** Restrict the listing to tokens (and objects) matching this RFC 7512 URI. */
  uri?: string | Pkcs11Uri;
  /**
   * Log in to each token (asking this callback once per token) so that
   * private keys hidden before login count for `hasPrivateKey`. Without it
   * the listing needs no PIN.
   */
  pin?: PinSource;
  /** Include `x509v3-ssh-rsa` (SHA-1) in `algorithms`. Off by default. */
  allowSha1?: boolean;
}

const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;

function ext<T>(f: () => T | null): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** Describes one certificate object of `token`. */
export function describeCertificate(token: TokenEntry, c: CertObject, hasPrivateKey: boolean | null, options: { allowSha1?: boolean } = {}): Pkcs11CertificateInfo {
  const cert: X509Certificate = c.cert;
  let facts: { keyType: string; nodeCurve?: string; bits?: number } = { keyType: 'unknown' };
  try {
    facts = keyFacts(certificatePublicKey(cert));
  } catch {
    /* an unsupported key: listed, with no algorithms */
  }
  const ku = ext(() => cert.getExtension(KeyUsagesExtension));
  const eku = ext(() => cert.getExtension(ExtendedKeyUsageExtension));
  const bc = ext(() => cert.getExtension(BasicConstraintsExtension));
  let ids: { upns: readonly string[]; emails: readonly string[]; commonNames: readonly string[] } = { upns: [], emails: [], commonNames: [] };
  try {
    ids = certificateIdentities(cert);
  } catch {
    /* unparseable subjectAltName: no identities */
  }
  const fp = fingerprints(c.der);
  return {
    slotId: token.slotId,
    tokenLabel: token.label,
    tokenSerial: token.serial,
    tokenManufacturer: token.manufacturer,
    tokenModel: token.model,
    id: c.id.toString('hex'),
    label: c.label,
    uri: formatPkcs11Uri({ token: token.label, serial: token.serial, id: c.id, object: c.label || undefined, type: 'cert' }),
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCA: bc?.ca === true,
    keyType: facts.keyType,
    ...(facts.bits !== undefined ? { keyBits: facts.bits } : {}),
    ...(facts.nodeCurve !== undefined ? { curve: facts.nodeCurve } : {}),
    keyDescription: describeKey(facts),
    keyUsage: ku ? KEY_USAGE_NAMES.filter((_, i) => (ku.usages & (1 << i)) !== 0) : [],
    extendedKeyUsages: eku ? eku.usages.map((u) => ekuName(String(u)) ?? String(u)) : [],
    upns: ids.upns,
    emails: ids.emails,
    commonNames: ids.commonNames,
    sha256: fp.sha256,
    sha256Hex: fp.sha256Hex,
    sha1: fp.sha1,
    hasPrivateKey,
    algorithms: facts.keyType === 'unknown' ? [] : algorithmsForKey(facts, { allowSha1: options.allowSha1 }).map((a) => a.name),
  };
}

/**
 * Lists every X.509 certificate on every token of a module (or on the tokens
 * a URI selects). Needs no PIN unless `pin` is given; see
 * {@link Pkcs11CertificateInfo.hasPrivateKey} for what that changes.
 *
 * Throws `ERR_PKCS11_MODULE_MISSING`, `ERR_PKCS11_UNAVAILABLE`,
 * `ERR_URI_INVALID`, and the PIN errors when `pin` is given.
 */
export async function listPkcs11Certificates(options: ListPkcs11Options): Promise<Pkcs11CertificateInfo[]> {
  return withDiscovery(options, async (d) => (await describeDiscovered(d, options)).map((r) => r.info));
}

/**
 * @internal Describes the certificates of a discovery pass that its URI
 * names, logging in first to each token when `pin` is given.
 */
export async function describeDiscovered(d: Discovery, options: Pick<ListPkcs11Options, 'pin' | 'allowSha1'>): Promise<DiscoveredCertificate[]> {
  const out: DiscoveredCertificate[] = [];
  for (const found of d.tokens) {
    const { token, session } = found;
    let loggedIn = (token.flags & CKF_TOKEN.LOGIN_REQUIRED) === 0;
    if (options.pin && !loggedIn) {
      await loginSession(loginTarget(token, session), options.pin);
      loggedIn = true;
    }
    for (const cert of found.certs) {
      if (!certMatches(cert, { uri: d.uri })) continue;
      const key = findPrivateKey(session, cert);
      out.push({ info: describeCertificate(token, cert, key ? true : loggedIn ? false : null, options), found, cert });
    }
  }
  return out;
}

/** @internal A listed certificate, with where the discovery found it. */
export interface DiscoveredCertificate extends FoundCertificate {
  readonly info: Pkcs11CertificateInfo;
}
