/**
 * `ssh-x509 list --pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--json]`:
 * lists the certificates on the tokens of a PKCS#11 module, as a table or
 * as JSON.
 *
 * @module
 */
import { ErrorCodes, SshX509Error } from '../../errors.js';
import type { Pkcs11CertificateInfo } from '../../signers/pkcs11/browse.js';
import { envPin } from '../../signers/pkcs11/pin.js';
import { defineCommand, EXIT_FAILURE, exitStatusHelp, parseOptions, usageError } from '../command.js';

/** The usage text of `ssh-x509 list`. */
export const LIST_USAGE = `usage: ssh-x509 list --pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--json] [--allow-sha1]

  -I, --pkcs11-module <path>
                           the token's PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)
  --pkcs11-uri <uri>       only tokens/objects matching this RFC 7512 pkcs11: URI
  --pin-env <VAR>          log in with the PIN in this environment variable, so that
                           private keys hidden before login are seen (default: no login;
                           "private key" then shows "?" where the token hides them)
  --json                   print JSON (one array of objects) instead of a table
  --allow-sha1             also list x509v3-ssh-rsa (SHA-1) among the algorithms
  -h, --help               this help

${exitStatusHelp(EXIT_FAILURE)}`;

/** The options of the command, as node:util parseArgs takes them. */
export const OPTIONS = {
  'pkcs11-module': { type: 'string', short: 'I' },
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

/** `ssh-x509 list ...`: 0 on success, 2 on a usage error, 1 on any other error. */
export const runList = defineCommand({
  name: 'list',
  failureStatus: EXIT_FAILURE,
  showCode: true,
  run: async (argv, io) => {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.help) {
      io.stdout.write(LIST_USAGE);
      return 0;
    }
    const module = values['pkcs11-module'];
    if (!module) throw usageError('--pkcs11-module is required');
    const pinVar = values['pin-env'];
    if (pinVar !== undefined && !io.env[pinVar]) {
      throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `--pin-env ${pinVar}: the environment variable ${pinVar} is not set`);
    }
    // Loaded only now, so that --help and option errors load no PKCS#11 or X.509 code.
    const { listPkcs11Certificates } = await import('../../signers/pkcs11/browse.js');
    const rows = await listPkcs11Certificates({
      module,
      ...(values['pkcs11-uri'] !== undefined ? { uri: values['pkcs11-uri'] } : {}),
      ...(pinVar !== undefined ? { pin: envPin(pinVar, io.env) } : {}),
      allowSha1: values['allow-sha1'] === true,
    });
    io.stdout.write(values.json ? JSON.stringify(rows, null, 2) + '\n' : rows.length ? formatCertificateTable(rows) : 'no certificates found\n');
    return 0;
  },
});
