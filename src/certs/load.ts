import { readFile } from 'node:fs/promises';
import { PemConverter, X509Certificate } from '@peculiar/x509';
import { ErrorCodes, SshX509Error } from '../errors.js';

/** Certificate input: PEM text (one or more blocks), DER bytes, or already parsed certificates. */
export type CertificateInput = string | Uint8Array | X509Certificate | ReadonlyArray<string | Uint8Array | X509Certificate>;

function parseOne(der: Uint8Array, where: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where} is not a DER X.509 certificate`, { cause: e });
  }
}

/**
 * Parses certificates from PEM (any number of `CERTIFICATE` blocks), DER, or
 * a list of either. Throws `ERR_CERT_INVALID` when nothing parses.
 */
export function parseCertificates(input: CertificateInput, where = 'certificate input'): X509Certificate[] {
  if (input instanceof X509Certificate) return [input];
  if (Array.isArray(input)) return input.flatMap((i: string | Uint8Array | X509Certificate, n: number) => parseCertificates(i, `${where}[${n}]`));
  let text: string | undefined;
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) {
    // PEM files are text starting with "-----BEGIN"; anything else is DER.
    const head = Buffer.from(input.subarray(0, 64)).toString('latin1');
    if (head.includes('-----BEGIN')) text = Buffer.from(input).toString('utf8');
    else return [parseOne(input, where)];
  }
  if (text === undefined) throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where}: unsupported input type`);
  const blocks = PemConverter.decodeWithHeaders(text).filter((b) => b.type === 'CERTIFICATE');
  if (blocks.length === 0) {
    throw new SshX509Error(ErrorCodes.CERT_INVALID, `${where} contains no PEM CERTIFICATE block`);
  }
  return blocks.map((b, n) => parseOne(new Uint8Array(b.rawData), `${where} PEM block ${n + 1}`));
}

/** Reads a file and returns the bytes, with `ERR_FILE_UNREADABLE` naming the file on failure. */
export async function readInputFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot read ${what} ${path}: ${reason}`, { cause: e });
  }
}

/** Reads certificates from a PEM or DER file. */
export async function readCertificateFile(path: string): Promise<X509Certificate[]> {
  return parseCertificates(await readInputFile(path, 'certificate file'), path);
}
