/**
 * The one-call way to open a PKCS#11 signer from command-line style options.
 *
 * @module
 */
import { matchesFingerprint } from '../../certs/fingerprint.js';
import { ErrorCodes, isSshX509Error, SshX509Error } from '../../errors.js';
import { listWithDer, type Pkcs11CertificateInfo } from './browse.js';
import type { PinSource } from './pin.js';
import { Pkcs11Signer, type Pkcs11SignerOptions } from './signer.js';
import { acquireModule } from './module.js';
import { listTokens, openSession, parseIdHex } from './tokens.js';
import type { Session } from 'graphene-pk11';

function closeQuietly(s: Session): void {
  try {
    s.close();
  } catch {
    /* the token may have left */
  }
}

/** Options for {@link openPkcs11Signer}: strings as a command line gives them. */
export interface OpenPkcs11SignerOptions {
  /** Path of the PKCS#11 module. */
  module: string;
  /** An RFC 7512 `pkcs11:` URI selecting the token and/or certificate. */
  uri?: string;
  /** A certificate fingerprint (`SHA256:...`, SHA-256 hex or SHA-1 thumbprint). */
  fingerprint?: string;
  /** The certificate's CKA_LABEL. */
  label?: string;
  /** The certificate's CKA_ID in hex. */
  id?: string;
  /** Where the PIN comes from (see {@link envPin}, {@link ttyPin}). */
  pin?: PinSource;
  /** A PEM or DER file with intermediate certificates not on the token. */
  intermediates?: string;
}

/**
 * Opens a {@link Pkcs11Signer} from command-line style options; the `connect`
 * command's entry to PKCS#11. Errors are those of {@link Pkcs11Signer.open}.
 */
export function openPkcs11Signer(opts: OpenPkcs11SignerOptions): Promise<Pkcs11Signer> {
  return Pkcs11Signer.open({
    module: opts.module,
    ...(opts.uri !== undefined ? { uri: opts.uri } : {}),
    ...(opts.fingerprint !== undefined ? { fingerprint: opts.fingerprint } : {}),
    ...(opts.label !== undefined ? { label: opts.label } : {}),
    ...(opts.id !== undefined ? { id: opts.id } : {}),
    ...(opts.pin !== undefined ? { pin: opts.pin } : {}),
    ...(opts.intermediates !== undefined ? { intermediatesFile: opts.intermediates } : {}),
  });
}

/** Options for {@link openPkcs11Candidates}: the selection of {@link openPkcs11Signer}, narrowing the candidates, and: */
export interface OpenPkcs11CandidatesOptions extends OpenPkcs11SignerOptions {
  /** Open at most this many signers (servers disconnect after a few failed attempts). */
  maxCandidates?: number;
  /** Told about each certificate that becomes a signer, in order (for traces). */
  onCandidate?: (candidate: Pkcs11CertificateInfo) => void;
  /**
   * Log in only when a signer first signs (see {@link Pkcs11SignerOptions.loginOnFirstSign}):
   * with ssh2's query-first flow the PIN is then asked only for a certificate
   * the server accepted. A certificate whose private key is missing is then
   * found out at that signature instead of being skipped here.
   */
  loginOnFirstSign?: boolean;
}

/**
 * Opens a signer for every end-entity certificate on the module's tokens
 * (in slot order, and by CKA_ID on each token) that matches the selection, has its private key there, and serves at least
 * one X.509v3 algorithm: the candidates a client offers in turn (a card often
 * holds several certificates). The PIN is asked once per token. Throws
 * `ERR_OBJECT_NOT_FOUND` when no certificate qualifies, and the errors of
 * {@link Pkcs11Signer.open}; on an error, signers already opened are closed.
 */
export async function openPkcs11Candidates(opts: OpenPkcs11CandidatesOptions): Promise<Pkcs11Signer[]> {
  const id = opts.id === undefined ? undefined : parseIdHex(opts.id).toString('hex');
  const rows = (await listWithDer({ module: opts.module, ...(opts.uri !== undefined ? { uri: opts.uri } : {}) }))
    .filter(
      ({ info: r, der }) =>
        !r.isCA &&
        r.hasPrivateKey !== false &&
        r.algorithms.length > 0 &&
        (opts.fingerprint === undefined || matchesFingerprint(der, opts.fingerprint)) &&
        (opts.label === undefined || r.label === opts.label) &&
        (id === undefined || r.id === id),
    )
    .map((r) => r.info);
  const signers: Pkcs11Signer[] = [];
  // PKCS#11 login belongs to the token while any of the application's sessions on it is open.
  // Hold one session per token for the loop, so that a candidate whose key turns out to be
  // missing (known only after login) does not log the token out and make the next one ask again.
  const mod = acquireModule(opts.module);
  const holds: Session[] = [];
  try {
    for (const t of listTokens(mod)) if (rows.some((r) => r.tokenSerial === t.serial && r.tokenLabel === t.label)) holds.push(openSession(t));
  } catch (e) {
    holds.forEach(closeQuietly);
    mod.release();
    throw e;
  }
  try {
    for (const row of rows) {
      if (opts.maxCandidates !== undefined && signers.length >= opts.maxCandidates) break;
      let signer: Pkcs11Signer;
      try {
        signer = await Pkcs11Signer.open({
          module: opts.module,
          uri: row.uri,
          fingerprint: row.sha256,
          ...(opts.pin !== undefined ? { pin: opts.pin } : {}),
          ...(opts.intermediates !== undefined ? { intermediatesFile: opts.intermediates } : {}),
          ...(opts.loginOnFirstSign ? { loginOnFirstSign: true } : {}),
        });
      } catch (e) {
        // Private keys hidden before login: a certificate without one is no candidate.
        if (isSshX509Error(e, ErrorCodes.OBJECT_NOT_FOUND)) continue;
        throw e;
      }
      signers.push(signer);
      opts.onCandidate?.(row);
    }
  } catch (e) {
    await Promise.all(signers.map((s) => s.close()));
    throw e;
  } finally {
    holds.forEach(closeQuietly);
    mod.release();
  }
  if (signers.length === 0) {
    throw new SshX509Error(ErrorCodes.OBJECT_NOT_FOUND, `no certificate with a private key and a usable key type on the tokens of ${opts.module}${opts.uri ? ` matching ${opts.uri}` : ''}${opts.fingerprint ? ` with fingerprint ${opts.fingerprint}` : ''}`);
  }
  return signers;
}
