/**
 * Public key export: what to put in a server's authorized_keys for a
 * certificate, in the forms servers read (SecureCRT's "Export public key").
 *
 * - `openssh`: the certificate's key as a plain OpenSSH `.pub` line, for
 *   servers without RFC 6187 (used with "raw SSH2 key" mode);
 * - `rfc4716`: the same key as an RFC 4716 `---- BEGIN SSH2 PUBLIC KEY ----`
 *   file (Tectia, `ssh-keygen -i`);
 * - `x509v3`: `<x509v3 algorithm> <base64 RFC 6187 blob> [comment]`, which
 *   pins this exact certificate (PKIX-SSH and AsyncSSH "blob" entries);
 * - `dn`: the PKIX-SSH distinguished-name line,
 *   `x509v3-sign-rsa Subject: O=Org,CN=alice`, which admits any certificate
 *   with that subject from a trusted CA;
 * - `asyncssh-dn`: the AsyncSSH form of the same, `x509v3-sign-rsa subject=O=Org,CN=alice`.
 *
 * The DN and blob lines are written by the authorized-keys formats module
 * (`authorized-keys.ts`), which also reads them for the verifier.
 *
 * Everything here takes a {@link CertificateChain}, whatever its source
 * (files, a PKCS#11 token), so every certificate source plugs in.
 *
 * @module
 */
import { ALGORITHMS, algorithmsForKey, assertKeyMatches, getAlgorithm, keyMismatch, type AlgorithmInfo } from '../algorithms.js';
import { writeBlobLine, writeSubjectLine, type DistinguishedNameStyle } from './authorized-keys.js';
import type { CertificateChain } from './chain.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { openSshPublicKeyLine, sshPublicKeyBlob } from '../keys/ssh-public-key.js';

/** The export formats; see the module description. */
export const PUBLIC_KEY_FORMATS = ['openssh', 'rfc4716', 'x509v3', 'dn', 'asyncssh-dn'] as const;

/** One of {@link PUBLIC_KEY_FORMATS}. */
export type PublicKeyFormat = (typeof PUBLIC_KEY_FORMATS)[number];

/** Options of {@link exportPublicKey}. */
export interface ExportPublicKeyOptions {
  /** Default `openssh`. */
  format?: PublicKeyFormat;
  /**
   * The x509v3 algorithm name for the `x509v3`, `dn` and `asyncssh-dn`
   * formats (the first word of the line). Default for `x509v3`: the best
   * algorithm for the key (`chain.algorithms()[0]`); for the DN formats:
   * `x509v3-sign-rsa` for RSA keys (the name PKIX-SSH documents for DN
   * lines), otherwise the best algorithm for the key. Not accepted for
   * `openssh` and `rfc4716`, whose key type is the key's own.
   */
  algorithm?: string;
  /**
   * Comment for `openssh`, `x509v3` (after the blob) and `rfc4716` (the
   * `Comment:` header). Default: the certificate's subject; `''` for none.
   * Not accepted for the DN formats: their whole rest of line is the name.
   */
  comment?: string;
  /** For `x509v3`: DER OCSP responses to put in the blob (the i-th for the i-th certificate). Default none. */
  ocspResponses?: readonly Uint8Array[];
}

/** True when `s` names one of the {@link PUBLIC_KEY_FORMATS}. */
export function isPublicKeyFormat(s: string): s is PublicKeyFormat {
  return (PUBLIC_KEY_FORMATS as readonly string[]).includes(s);
}

/**
 * The text of `chain`'s public key in `options.format`, ending with a
 * newline: one line, or for `rfc4716` a whole file.
 *
 * Throws `ERR_INVALID_ARGUMENT` for an unknown format or an option the format does not
 * take, `ERR_ALGORITHM_UNSUPPORTED` / `ERR_KEY_ALGORITHM_MISMATCH` for an
 * algorithm that is unknown or does not fit the key, and
 * `ERR_NAME_UNREPRESENTABLE` when the subject cannot be written in the DN
 * form asked for.
 *
 * @example
 * ```ts
 * const chain = await CertificateChain.fromFiles('alice-chain.pem');
 * exportPublicKey(chain, { format: 'dn' }); // "x509v3-sign-rsa Subject: O=Org,CN=alice\n"
 * ```
 */
export function exportPublicKey(chain: CertificateChain, options: ExportPublicKeyOptions = {}): string {
  const format = options.format ?? 'openssh';
  if (!isPublicKeyFormat(format)) {
    throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `unknown public key format ${JSON.stringify(format)}; use one of ${PUBLIC_KEY_FORMATS.join(', ')}`);
  }
  const dn = format === 'dn' || format === 'asyncssh-dn';
  if (options.algorithm !== undefined && (format === 'openssh' || format === 'rfc4716')) {
    throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `the ${format} format writes the key's own type (${chainKeyType(chain)}); an algorithm applies only to the x509v3, dn and asyncssh-dn formats`);
  }
  if (dn && options.comment) {
    throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `a ${format} line has no comment: everything after the keyword is the distinguished name`);
  }
  const comment = oneLine(options.comment ?? chain.leaf.subject);
  switch (format) {
    case 'openssh':
      return `${openSshPublicKeyLine(chain.publicKey, comment || undefined)}\n`;
    case 'rfc4716':
      return rfc4716PublicKey(sshPublicKeyBlob(chain.publicKey), comment || undefined);
    case 'x509v3': {
      return `${writeBlobLine(blobAlgorithm(chain, options.algorithm), chain.der, options.ocspResponses, comment)}\n`;
    }
    default:
      return `${distinguishedNameLine(chain, format === 'dn' ? 'pkix-ssh' : 'asyncssh', options.algorithm)}\n`;
  }
}

/**
 * An RFC 4716 public key file for an SSH public key blob: the BEGIN/END
 * markers, an optional `Comment:` header (quoted, continued with `\` past
 * 72 bytes, RFC 4716 section 3.3) and base64 in lines of 70 characters, as
 * `ssh-keygen -e` writes it.
 */
export function rfc4716PublicKey(blob: Uint8Array, comment?: string): string {
  const lines = ['---- BEGIN SSH2 PUBLIC KEY ----'];
  if (comment) lines.push(...wrapHeader(`Comment: "${oneLine(comment).replace(/"/g, "'")}"`));
  const b64 = Buffer.from(blob).toString('base64');
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  lines.push('---- END SSH2 PUBLIC KEY ----');
  return lines.join('\n') + '\n';
}

export type { DistinguishedNameStyle } from './authorized-keys.js';

/**
 * The authorized_keys line that admits certificates with `chain`'s leaf
 * subject: `<algorithm> Subject: <DN>` (PKIX-SSH) or
 * `<algorithm> subject=<DN>` (AsyncSSH), without a newline. See the module
 * description for the name syntax.
 */
export function distinguishedNameLine(chain: CertificateChain, style: DistinguishedNameStyle, algorithm?: string): string {
  return writeSubjectLine(dnAlgorithm(chain, algorithm), chain.leaf, style);
}

// --- helpers ---------------------------------------------------------------

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').trim();
}

function chainKeyType(chain: CertificateChain): string {
  return openSshPublicKeyLine(chain.publicKey).split(' ')[0]!;
}

/** RFC 4716 section 3.3: header lines of at most 72 bytes, continued with a trailing backslash. */
function wrapHeader(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of line) {
    if (Buffer.byteLength(cur + ch) > 71) {
      out.push(`${cur}\\`);
      cur = '';
    }
    cur += ch;
  }
  out.push(cur);
  return out;
}

/** The algorithm the caller named, checked against the chain's key. */
function namedAlgorithm(chain: CertificateChain, name: string): AlgorithmInfo {
  const alg = getAlgorithm(name);
  assertKeyMatches(alg, chain.keyFacts);
  return alg;
}

function blobAlgorithm(chain: CertificateChain, name: string | undefined): AlgorithmInfo {
  if (name !== undefined) return namedAlgorithm(chain, name);
  const best = chain.algorithms()[0];
  if (!best) {
    throw new SshX509Error(
      ErrorCodes.KEY_ALGORITHM_MISMATCH,
      `no algorithm without SHA-1 fits the key of ${chain.leaf.subject}; choose one explicitly (for example x509v3-ssh-rsa for an RSA key under 2048 bits)`,
    );
  }
  return best;
}

/** The first word of a DN line: the requested algorithm, else the legacy name for the key type (PKIX-SSH's documented one), else the best. */
function dnAlgorithm(chain: CertificateChain, name: string | undefined): string {
  if (name !== undefined) return namedAlgorithm(chain, name).name;
  const legacy = ALGORITHMS.find((a) => a.legacy && keyMismatch(a, chain.keyFacts) === undefined);
  const any = legacy ?? algorithmsForKey(chain.keyFacts, { allowSha1: true })[0];
  if (!any) throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, `no x509v3 algorithm fits the key of ${chain.leaf.subject}`);
  return any.name;
}
