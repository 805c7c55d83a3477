/**
 * The authorized-keys formats for X.509 certificates, written and read here
 * only: the export side (`ssh-x509 export-pub`) and the verifier's
 * authorized lists both go through this module.
 *
 * - The DN line, `<x509v3 algorithm> Subject: <DN>` (PKIX-SSH; also `DN:`
 *   and `Distinguished Name:`) or `<x509v3 algorithm> subject=<DN>`
 *   (AsyncSSH): any certificate with that subject from a trusted CA.
 * - The blob line, `<x509v3 algorithm> <base64> [comment]`: an RFC 6187 public
 *   key blob (or a bare DER certificate), pinning that leaf.
 *
 * Names are handled by @peculiar/x509 (`Name`, `toJSON()`); the writer
 * lists the RDNs in certificate (DER) order, most significant first, and
 * names attributes `C`, `ST`, `L`, `O`, `OU`, `CN`, `DC` or by dotted OID:
 * AsyncSSH compares RDNs in order and knows only those names, PKIX-SSH ignores
 * order and accepts both. The two dialects differ in escaping: PKIX-SSH
 * splits on `,` and `/` before unescaping and takes `\XX` hex escapes,
 * AsyncSSH takes `\,` `\+` `\\` and joins a multi-valued RDN with `+`.
 *
 * @module
 */
import type { Name, X509Certificate } from '@peculiar/x509';
import { peculiarX509 } from './model.js';
import type { RelativeDistinguishedNames } from 'pkijs';
import type { AlgorithmInfo } from '../algorithms.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { NAME_ATTRIBUTE_OIDS } from '../oids.js';
import { decodePublicKeyBlob, encodePublicKeyBlob } from '../rfc6187/publickey-blob.js';
import { fingerprints } from './fingerprint.js';

/** The two DN line dialects: PKIX-SSH (`Subject:`, `\XX` escapes) and AsyncSSH (`subject=`, `\,` escapes). */
export type DistinguishedNameStyle = 'pkix-ssh' | 'asyncssh';

/** One entry of an authorized list: a subject DN, or a certificate. */
export type AuthorizedEntry =
  | { readonly kind: 'subject'; readonly dn: string; readonly rdns: readonly string[] }
  | { readonly kind: 'certificate'; readonly sha256: string };

// --- names -------------------------------------------------------------------

/** Attribute types both AsyncSSH and PKIX-SSH know by name; the writer spells every other one as a dotted OID. */
const WRITTEN_NAMES = ['C', 'ST', 'L', 'O', 'OU', 'CN', 'DC'] as const satisfies readonly (keyof typeof NAME_ATTRIBUTE_OIDS)[];

/** Attribute names PKIX-SSH and OpenSSL users write, beyond @peculiar/x509's defaults: the registry's, and common aliases. */
const READ_NAMES: Readonly<Record<string, string>> = Object.freeze({
  ...NAME_ATTRIBUTE_OIDS,
  E: NAME_ATTRIBUTE_OIDS.emailAddress,
  givenName: NAME_ATTRIBUTE_OIDS.GN,
  surname: NAME_ATTRIBUTE_OIDS.SN,
});

const WRITTEN_BY_OID: ReadonlyMap<string, string> = new Map(WRITTEN_NAMES.map((n) => [NAME_ATTRIBUTE_OIDS[n], n]));

/** The attribute types `Name.toJSON()` may name (its defaults, `G`, `I`, `T` among them, and {@link READ_NAMES}), by OID. */
const JSON_TYPE_OIDS: Readonly<Record<string, string>> = Object.freeze({
  ...READ_NAMES,
  G: NAME_ATTRIBUTE_OIDS.GN,
  I: NAME_ATTRIBUTE_OIDS.initials,
  T: NAME_ATTRIBUTE_OIDS.title,
});

/** An attribute of a name, by OID, with its value as text; `text` is undefined when the value is not a character string. */
interface NameAttribute {
  readonly oid: string;
  readonly text: string | undefined;
}

/**
 * The RDNs of `name` in DER order, each a list of attributes, read with
 * @peculiar/x509's `Name.toJSON()`. A value toJSON writes as `#<hex>` (its
 * form for a value that is no character string) counts as no text.
 */
function nameAttributes(name: Name): NameAttribute[][] {
  return name.toJSON().map((rdn) =>
    Object.entries(rdn).flatMap(([type, values]) => {
      const oid = /^[0-2](\.\d+)+$/.test(type) ? type : JSON_TYPE_OIDS[type];
      if (!oid) throw new SshX509Error(ErrorCodes.CERT_INVALID, `unknown name attribute ${type}`);
      return values.map((v) => ({ oid, text: /^#([0-9A-Fa-f]{2})*$/.test(v) ? undefined : v }));
    }),
  );
}

function normValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** One attribute in comparable form: `oid=value`, the value trimmed, spaces collapsed, lower case. */
function attributeKey(oid: string, text: string | undefined): string {
  return `${oid}=${normValue(text ?? '')}`;
}

/**
 * The comparable form of a name: its attributes as sorted `oid=value`
 * strings, values trimmed, spaces collapsed, lower case (PKIX-SSH matches
 * names in any RDN order and case). Compare two with {@link sameDistinguishedName}.
 * Takes @peculiar/x509's `Name` (`cert.subjectName`) or, where a certificate
 * is already parsed with pkijs (the verifier), its `RelativeDistinguishedNames`
 * as they are: parsing the name again with @peculiar/x509 would cost more
 * than a signature check on every new login.
 */
export function distinguishedNameKey(name: Name | RelativeDistinguishedNames): string[] {
  const keys =
    name instanceof peculiarX509().Name
      ? nameAttributes(name)
          .flat()
          .map((a) => attributeKey(a.oid, a.text))
      : name.typesAndValues.map((tv) => {
          const v: unknown = tv.value.valueBlock.value;
          return attributeKey(tv.type, typeof v === 'string' ? v : undefined);
        });
  return keys.sort();
}

/** True when two {@link distinguishedNameKey} results name the same subject. */
export function sameDistinguishedName(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Reads a distinguished name as DN lines write it: RFC 4514 (`CN=alice,O=Org`)
 * or OpenSSL's slash form (`/O=Org/CN=alice`), with attribute names
 * `CN`, `O`, `OU`, `C`, `ST`, `L`, `DC`, `E`/`emailAddress`, `UID`, `SN`/`surname`,
 * `GN`/`givenName`, `serialNumber`, `title`, `street`, ... or dotted OIDs.
 * Returns its {@link distinguishedNameKey}: compare it with
 * {@link sameDistinguishedName} against `distinguishedNameKey(cert.subjectName)`.
 * Throws `ERR_VERIFIER_CONFIG_INVALID` when the text is not a name.
 *
 * @example
 * ```ts
 * const key = readDistinguishedName('/O=Org/CN=alice');
 * sameDistinguishedName(key, distinguishedNameKey(cert.subjectName)); // true for "CN=alice, O=Org"
 * ```
 */
export function readDistinguishedName(dn: string): string[] {
  let text = dn.trim();
  if (text.startsWith('/')) {
    text = text
      .slice(1)
      .split(/(?<!\\)\//)
      .map((p) => p.replace(/(?<!\\),/g, '\\,'))
      .join(',');
  }
  let key: string[];
  try {
    key = distinguishedNameKey(new (peculiarX509().Name)(hexEscapesToChars(text), READ_NAMES));
  } catch (e) {
    throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `cannot parse distinguished name ${JSON.stringify(dn)}`, { cause: e });
  }
  if (key.length === 0) throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `${JSON.stringify(dn)} names no attribute (write it as CN=alice,O=Org or /O=Org/CN=alice)`);
  return key;
}

/**
 * `\XX` hex escapes (RFC 4514 section 2.4, and what PKIX-SSH writes) as the
 * characters they encode (UTF-8), each escaped with a backslash, which
 * @peculiar/x509's parser reads (it decodes only `\<char>`). Line breaks stay
 * `\0A` / `\0D`, its own spelling of them.
 */
function hexEscapesToChars(text: string): string {
  return text.replace(/(?:\\[0-9A-Fa-f]{2})+|\\./gs, (m) => {
    if (!/^\\[0-9A-Fa-f]{2}/.test(m)) return m;
    const chars = Buffer.from(m.replace(/\\/g, ''), 'hex').toString('utf8');
    return [...chars].map((c) => (c === '\n' ? '\\0A' : c === '\r' ? '\\0D' : `\\${c}`)).join('');
  });
}

/** PKIX-SSH splits on `,` and `/` before unescaping and trims spaces, so those become `\XX` hex escapes. */
function escapePkixSsh(value: string): string {
  return value.replace(/^ | $|[,/\\+\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** AsyncSSH splits on unescaped `,` and `+` and unescapes `\,` `\+` `\\`; it has no way to write a line break. */
function escapeAsyncSsh(value: string, subject: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new SshX509Error(ErrorCodes.NAME_UNREPRESENTABLE, `the subject ${subject} has a control character, which an AsyncSSH subject line cannot hold; export the x509v3 format instead`);
  }
  return value.replace(/[,+\\]/g, '\\$&');
}

/**
 * The DN line that admits certificates with `cert`'s subject:
 * `<algorithm> Subject: <DN>` (PKIX-SSH) or `<algorithm> subject=<DN>`
 * (AsyncSSH), without a newline. Throws `ERR_NAME_UNREPRESENTABLE` for an
 * empty subject, a value that is no character string, or (AsyncSSH) a
 * control character.
 */
export function writeSubjectLine(algorithm: string, cert: X509Certificate, style: DistinguishedNameStyle): string {
  const subject = cert.subject;
  const rdns = nameAttributes(cert.subjectName).map((rdn) =>
    rdn.map((a) => {
      if (a.text === undefined) {
        throw new SshX509Error(ErrorCodes.NAME_UNREPRESENTABLE, `the subject ${subject} cannot be written as a DN line (attribute ${a.oid} is not a character string); export the x509v3 format instead`);
      }
      return { type: WRITTEN_BY_OID.get(a.oid) ?? a.oid, value: a.text };
    }),
  );
  if (rdns.length === 0) {
    throw new SshX509Error(ErrorCodes.NAME_UNREPRESENTABLE, 'the certificate has an empty subject, which no DN line can match; export the x509v3 format instead');
  }
  if (style === 'pkix-ssh') {
    return `${algorithm} Subject: ${rdns.flatMap((rdn) => rdn.map((a) => `${a.type}=${escapePkixSsh(a.value)}`)).join(',')}`;
  }
  return `${algorithm} subject=${rdns.map((rdn) => rdn.map((a) => `${a.type}=${escapeAsyncSsh(a.value, subject)}`).join('+')).join(',')}`;
}

// --- blob lines --------------------------------------------------------------

/**
 * The blob line `<algorithm> <base64 RFC 6187 blob>[ <comment>]`, without a
 * newline. A legacy algorithm (`x509v3-sign-rsa`) carries the leaf alone.
 */
export function writeBlobLine(alg: AlgorithmInfo, certificates: readonly Uint8Array[], ocspResponses: readonly Uint8Array[] = [], comment?: string): string {
  const blob = encodePublicKeyBlob({ algorithm: alg.name, certificates: alg.legacy ? certificates.slice(0, 1) : certificates, ocspResponses });
  return `${alg.name} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

// --- reading entries ---------------------------------------------------------

const SUBJECT_KEYWORD = /^(subject|dn|distinguished[ _-]?name)\s*[:=]\s*/i;

/**
 * Reads one authorized_keys entry for an X.509 certificate: a DN line
 * (`<x509v3-alg> Subject: <DN>`, also `DN:`, `Distinguished Name:` and
 * AsyncSSH's `subject=`, any case; RDN order does not matter), or a blob
 * line (`<x509v3-alg> <base64 blob>`: an RFC 6187 public key blob, or a
 * bare DER certificate), matching that leaf exactly. Throws
 * `ERR_VERIFIER_CONFIG_INVALID` for anything else.
 */
export function parseAuthorizedEntry(line: string): AuthorizedEntry {
  const m = /^\s*(x509v3-[A-Za-z0-9@.-]+)\s+(.*?)\s*$/.exec(line);
  if (!m) throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `not an X.509 authorized entry: ${JSON.stringify(line)}`);
  const rest = m[2]!;
  const kw = SUBJECT_KEYWORD.exec(rest);
  if (kw) {
    const dn = rest.slice(kw[0].length);
    return { kind: 'subject', dn, rdns: readDistinguishedName(dn) };
  }
  const b64 = rest.split(/\s+/)[0]!;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new SshX509Error(ErrorCodes.VERIFIER_CONFIG_INVALID, `expected "Subject: <DN>" or a base64 blob in ${JSON.stringify(line)}`);
  }
  const bytes = Buffer.from(b64, 'base64');
  let leaf: Uint8Array = bytes;
  try {
    leaf = decodePublicKeyBlob(bytes).certificates[0]!;
  } catch {
    // not a blob: a bare DER certificate
  }
  return { kind: 'certificate', sha256: fingerprints(leaf).sha256Hex };
}
