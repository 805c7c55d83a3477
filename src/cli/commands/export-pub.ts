/**
 * `ssh-x509 export-pub --cert <file> [--format ...] [--algorithm ...] [--comment ...]`:
 * print what to put in a server's authorized_keys for a certificate
 * (SecureCRT's "Export public key"). See {@link exportPublicKey} for the formats.
 *
 * @module
 */
import type { CertificateChain } from '../../certs/chain.js';
import { defineCommand, EXIT_FAILURE, exitStatusHelp, parseOptions, usageError } from '../command.js';

/** The options of the command, as node:util parseArgs takes them. */
export const OPTIONS = {
  cert: { type: 'string', multiple: true },
  file: { type: 'string', short: 'f', multiple: true },
  'pkcs11-module': { type: 'string', short: 'I' },
  'pkcs11-uri': { type: 'string' },
  'cert-fingerprint': { type: 'string' },
  intermediates: { type: 'string' },
  format: { type: 'string', short: 'm' },
  algorithm: { type: 'string' },
  comment: { type: 'string', short: 'C' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const EXPORT_PUB_USAGE = `usage: ssh-x509 export-pub (--cert <file> | --pkcs11-module <path> [--pkcs11-uri <uri>] [--cert-fingerprint <fp>])
                           [--format <format>] [--algorithm <name>] [--comment <text>]

Prints the authorized_keys entry for a certificate (the leaf of the chain given), from a file or a token.

  --cert <file>              certificate or chain, PEM or DER (repeatable); the leaf is the one that issued none of the others
  -I, --pkcs11-module <path> take the certificate from a PKCS#11 token (no PIN needed)
  --pkcs11-uri <uri>         RFC 7512 URI choosing the token and certificate
  --cert-fingerprint <fp>    the exact certificate on the token (SHA256:..., SHA-256 hex or SHA-1 thumbprint)
  --intermediates <file>     intermediate certificates not on the token (for the x509v3 format)
  -f, --file <file>          the same as --cert, as ssh-keygen -f names the input file
  -m, --format <format>      openssh      the key as a plain OpenSSH .pub line (servers without X.509, raw-key mode) [default]
                             rfc4716      the key as an RFC 4716 "---- BEGIN SSH2 PUBLIC KEY ----" file
                             x509v3       <x509v3 algorithm> <base64 RFC 6187 blob> [comment]: pins this certificate
                             dn           PKIX-SSH line "x509v3-sign-rsa Subject: O=Org,CN=alice": any certificate with this subject
                             asyncssh-dn  AsyncSSH line "x509v3-sign-rsa subject=O=Org,CN=alice"
  --algorithm <name>         x509v3 algorithm for x509v3, dn and asyncssh-dn (default: the best for the key; x509v3-sign-rsa for RSA DN lines)
  -C, --comment <text>       comment for openssh, rfc4716 and x509v3 (default: the certificate's subject; "" for none)
  -h, --help                 this help

${exitStatusHelp(EXIT_FAILURE)}`;

/** The chain of the one certificate the options name on a token; reading it needs no PIN. */
async function tokenChain(v: { 'pkcs11-module'?: string; 'pkcs11-uri'?: string; 'cert-fingerprint'?: string; intermediates?: string }): Promise<CertificateChain> {
  const { readPkcs11Chain } = await import('../../pkcs11.js');
  return readPkcs11Chain({
    module: v['pkcs11-module']!,
    ...(v['pkcs11-uri'] !== undefined ? { uri: v['pkcs11-uri'] } : {}),
    ...(v['cert-fingerprint'] !== undefined ? { fingerprint: v['cert-fingerprint'] } : {}),
    ...(v.intermediates !== undefined ? { intermediates: v.intermediates } : {}),
  });
}

/** Runs `export-pub`; 0 on success, 2 on a usage error, 1 on any other error. */
export const runExportPub = defineCommand({
  name: 'export-pub',
  failureStatus: EXIT_FAILURE,
  run: async (argv, io) => {
    const { values, positionals } = parseOptions(argv, OPTIONS, true);
    if (values.help) {
      io.stdout.write(EXPORT_PUB_USAGE);
      return 0;
    }
    if (positionals.length) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}; give the certificate with --cert`);
    const certs = [...(values.cert ?? []), ...(values.file ?? [])];
    const fromToken = values['pkcs11-module'] !== undefined;
    if (fromToken === Boolean(certs.length)) throw usageError('give the certificate (or chain) with --cert <file>, or a token with --pkcs11-module, one of the two');
    // Loaded only now, so that --help and option errors load no X.509 code.
    const [{ CertificateChain }, { exportPublicKey, isPublicKeyFormat, PUBLIC_KEY_FORMATS }] = await Promise.all([import('../../certs/chain.js'), import('../../certs/export.js')]);
    const format = values.format ?? 'openssh';
    if (!isPublicKeyFormat(format)) throw usageError(`--format must be one of ${PUBLIC_KEY_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    if (values.algorithm !== undefined) {
      const { ALGORITHMS, findAlgorithm } = await import('../../algorithms.js');
      if (!findAlgorithm(values.algorithm)) throw usageError(`unknown algorithm ${JSON.stringify(values.algorithm)} (--algorithm); x509v3 ones: ${ALGORITHMS.map((a) => a.name).join(', ')}`);
    }
    const chain = fromToken ? await tokenChain(values) : await CertificateChain.fromFiles(certs);
    io.stdout.write(exportPublicKey(chain, { format, algorithm: values.algorithm, comment: values.comment }));
    return 0;
  },
});
