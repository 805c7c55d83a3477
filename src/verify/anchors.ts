/**
 * Loading trust anchors and intermediate pools: PEM or DER files,
 * directories of them, PEM text, DER bytes, or parsed certificates.
 *
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { X509Certificate } from '@peculiar/x509';
import { fileErrorReason, parseCertificates, readCertificateFileAs } from '../certs/load.js';
import { CA_ROLES } from '../keys/content.js';
import { ErrorCodes, SshX509Error, isSshX509Error } from '../errors.js';

/**
 * A source of certificates: a path to a PEM/DER file or to a directory
 * (every `.pem`, `.crt`, `.cer` and `.der` file in it), PEM text, DER bytes,
 * or a parsed certificate.
 */
export type CertificateSource = string | Uint8Array | X509Certificate;

const CERT_FILE = /\.(pem|crt|cer|der)$/i;

/**
 * Reads every certificate from `sources`, in order. Throws `ERR_FILE_UNREADABLE` or `ERR_CERT_INVALID`,
 * naming a file as `what` (`trust anchor file`) and saying that a private key does not belong there.
 */
export async function loadCertificateSources(sources: readonly CertificateSource[], what = 'CA certificate file'): Promise<X509Certificate[]> {
  const out: X509Certificate[] = [];
  for (const s of sources) {
    // Neither bytes nor a string: a parsed @peculiar/x509 certificate (told apart without loading @peculiar/x509).
    if (typeof s === 'object' && !(s instanceof Uint8Array)) out.push(...parseCertificates(s));
    else if (s instanceof Uint8Array) out.push(...parseCertificates(s));
    else if (s.includes('-----BEGIN')) out.push(...parseCertificates(s));
    else {
      let isDir = false;
      try {
        isDir = (await stat(s)).isDirectory();
      } catch (e) {
        throw new SshX509Error(ErrorCodes.FILE_UNREADABLE, `cannot read ${what} ${s}: ${fileErrorReason(e)}`, { cause: e });
      }
      if (isDir) {
        const names = (await readdir(s)).filter((n) => CERT_FILE.test(n)).sort();
        // A directory may hold keys and other PEM files beside the certificates: those are skipped.
        for (const n of names) {
          try {
            out.push(...(await readCertificateFileAs(join(s, n), what, CA_ROLES)));
          } catch (e) {
            if (!isSshX509Error(e, ErrorCodes.CERT_INVALID)) throw e;
          }
        }
      } else {
        out.push(...(await readCertificateFileAs(s, what, CA_ROLES)));
      }
    }
  }
  return out;
}
