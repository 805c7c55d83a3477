/**
 * `ssh-x509 list --pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--json]`:
 * lists the certificates on the tokens of a PKCS#11 module, as a table or
 * as JSON.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { ErrorCodes, isSshX509Error, SshX509Error } from '../../errors.js';
import { listPkcs11Certificates, type Pkcs11CertificateInfo } from '../../signers/pkcs11/browse.js';
import { envPin } from '../../signers/pkcs11/pin.js';
import type { Command } from '../io.js';

/** The usage text of `ssh-x509 list`. */
export const LIST_USAGE = `usage: ssh-x509 list --pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--json] [--allow-sha1]

  --pkcs11-module <path>   the token's PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)
  --pkcs11-uri <uri>       only tokens/objects matching this RFC 7512 pkcs11: URI
  --pin-env <VAR>          log in with the PIN in this environment variable, so that
                           private keys hidden before login are seen (default: no login;
                           "private key" then shows "?" where the token hides them)
  --json                   print JSON (one array of objects) instead of a table
  --allow-sha1             also list x509v3-ssh-rsa (SHA-1) among the algorithms
`;

const OPTIONS = {
  'pkcs11-module': { type: 'string' },
  'pkcs11-uri': { type: 'string' },
  'pin-env': { type: 'string' },
  json: { type: 'boolean' },
  'allow-sha1': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function yesNo(v: boolean | null): string {
  return v === null ? '?' : v ? 'yes' : 'no';
}

/** Formats the listing as an aligned text table, one row per certificate. */
export function formatCertificateTable(rows: readonly Pkcs11CertificateInfo[]): string {
  const header = ['SLOT', 'TOKEN', 'ID', 'LABEL', 'SUBJECT', 'KEY', 'ALGORITHMS', 'SHA256', 'PRIVATE KEY', 'UPN'];
  const cells = rows.map((r) => [
    r.slotId,
    r.tokenLabel,
    r.id || '-',
    r.label || '-',
    r.subject,
    r.keyDescription,
    r.algorithms.join(',') || '-',
    r.sha256,
    yesNo(r.hasPrivateKey),
    r.upns.join(',') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}

/** `ssh-x509 list ...`: 0 on success, 1 on an error, 2 on a usage error. */
export const runList: Command = async (argv, io) => {
  let values: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }));
  } catch (e) {
    io.stderr.write(`ssh-x509 list: ${(e as Error).message}\n${LIST_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(LIST_USAGE);
    return 0;
  }
  const module = values['pkcs11-module'];
  if (!module) {
    io.stderr.write(`ssh-x509 list: --pkcs11-module is required\n${LIST_USAGE}`);
    return 2;
  }
  try {
    const pinVar = values['pin-env'];
    if (pinVar !== undefined && !io.env[pinVar]) {
      throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `--pin-env ${pinVar}: the environment variable ${pinVar} is not set`);
    }
    const rows = await listPkcs11Certificates({
      module,
      ...(values['pkcs11-uri'] !== undefined ? { uri: values['pkcs11-uri'] } : {}),
      ...(pinVar !== undefined ? { pin: envPin(pinVar, io.env) } : {}),
      allowSha1: values['allow-sha1'] === true,
    });
    io.stdout.write(values.json ? JSON.stringify(rows, null, 2) + '\n' : rows.length ? formatCertificateTable(rows) : 'no certificates found\n');
    return 0;
  } catch (e) {
    if (isSshX509Error(e, ErrorCodes.USAGE)) {
      io.stderr.write(`ssh-x509 list: ${e.message}\n`);
      return 2;
    }
    const code = isSshX509Error(e) ? ` [${e.code}]` : '';
    io.stderr.write(`ssh-x509 list: ${(e as Error)?.message ?? String(e)}${code}\n`);
    return 1;
  }
};
