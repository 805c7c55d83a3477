import { readFile } from 'node:fs/promises';
import type { X509Certificate } from '@peculiar/x509';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { describeContent, type ContentRoles } from '../keys/content.js';
import { parsedCertificate, peculiarX509, type ParsedCertificate } from './model.js';

/** Certificate input: PEM text (one or more blocks), DER bytes, or already parsed certificates. */
export type CertificateInput = string | Uint8Array | X509Certificate | ReadonlyArray<string | Uint8Array | X509Certificate>;

/** A parsed @peculiar/x509 certificate given as input (told apart without loading @peculiar/x509 for other inputs). */
function isX509(input: unknown): input is X509Certificate {
  return typeof input === 'object' && input !== null && !(input instanceof Uint8Array) && 'rawData' in input && input instanceof peculiarX509().X509Certificate;
}

function parseOne(der: Uint8Array, where: string, roles?: ContentRoles): ParsedCertificate {
  const c = parsedCertificate(der);
  try {
    void c.native;
  } catch (e) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where} is not a DER X.509 certificate: ${describeContent(der, roles)}`, { cause: e });
  }
  return c;
}

/** The `CERTIFICATE` blocks of PEM text (RFC 7468), decoded; headers inside a block are skipped. */
function pemCertificates(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    if (m[1] !== 'CERTIFICATE') continue;
    const body = m[2]!
      .split(/\r?\n/)
      .filter((l) => !l.includes(':'))
      .join('')
      .replace(/\s+/g, '');
    out.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  return out;
}

/**
 * The certificates of `input` in the library's one model (each parsed once
 * per distinct DER). Throws `ERR_CERT_INVALID` when nothing parses.
 */
export function parseCertificateModels(input: CertificateInput, where = 'certificate input', roles?: ContentRoles): ParsedCertificate[] {
  if (Array.isArray(input)) return input.flatMap((i: string | Uint8Array | X509Certificate, n: number) => parseCertificateModels(i, `${where}[${n}]`, roles));
  if (isX509(input)) return [parsedCertificate(new Uint8Array(input.rawData), input)];
  let text: string | undefined;
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) {
    // PEM files are text starting with "-----BEGIN"; anything else is DER.
    const head = Buffer.from(input.subarray(0, 64)).toString('latin1');
    if (head.includes('-----BEGIN')) text = Buffer.from(input).toString('utf8');
    else return [parseOne(input, where, roles)];
  }
  if (text === undefined) throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where}: unsupported input type`);
  const blocks = pemCertificates(text);
  if (blocks.length === 0) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where} contains no certificate (no PEM CERTIFICATE block): ${describeContent(text, roles)}`);
  }
  return blocks.map((b, n) => parseOne(b, `${where} PEM block ${n + 1}`));
}

/**
 * Parses certificates from PEM (any number of `CERTIFICATE` blocks), DER, or
 * a list of either. Throws `ERR_CERT_INVALID` when nothing parses.
 */
export function parseCertificates(input: CertificateInput, where = 'certificate input'): X509Certificate[] {
  if (Array.isArray(input)) return input.flatMap((i: string | Uint8Array | X509Certificate, n: number) => parseCertificates(i, `${where}[${n}]`));
  if (isX509(input)) return [input];
  return parseCertificateModels(input, where).map((c, n) => x509Of(c, `${where}${n ? ` PEM block ${n + 1}` : ''}`));
}

/** The @peculiar/x509 form of a parsed certificate, with `ERR_CERT_INVALID` when @peculiar/x509 cannot read it. */
export function x509Of(c: ParsedCertificate, where = 'certificate'): X509Certificate {
  try {
    return c.x509;
  } catch (e) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where} is not a DER X.509 certificate`, { cause: e });
  }
}

/** Why a file could not be read, in words, with its errno code (`no such file (ENOENT)`). */
export function fileErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const reason = (code && FILE_ERRORS[code]) ?? (e as Error).message ?? String(e);
  return `${reason}${code ? ` (${code})` : ''}`;
}

/** Why a file could not be read, in words (not a bare errno code). */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory, not a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
};

/** Reads a file and returns the bytes, with `ERR_FILE_UNREADABLE` naming the file and why on failure. */
export async function readInputFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot read ${what} ${path}: ${fileErrorReason(e)}`, { cause: e });
  }
}

/** Reads certificates from a PEM or DER file. */
export async function readCertificateFile(path: string): Promise<X509Certificate[]> {
  return readCertificateFileAs(path, 'certificate file');
}

/**
 * {@link readCertificateFile}, the file named in messages as `what`
 * (`trust anchor file`), with `roles` saying where what it holds instead belongs.
 */
export async function readCertificateFileAs(path: string, what: string, roles?: ContentRoles): Promise<X509Certificate[]> {
  const models = parseCertificateModels(await readInputFile(path, what), `${what} ${path}`, roles);
  return models.map((c, n) => x509Of(c, `${what} ${path}${n ? ` PEM block ${n + 1}` : ''}`));
}

/** Reads certificates from a PEM or DER file, in the library's model. */
export async function readCertificateModels(path: string): Promise<ParsedCertificate[]> {
  return parseCertificateModels(await readInputFile(path, 'certificate file'), path);
}
