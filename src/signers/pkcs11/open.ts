/**
 * The one-call way to open a PKCS#11 signer from command-line style options.
 *
 * @module
 */
import type { CertificateChain } from '../../certs/chain.js';
import { ErrorCodes, isSshX509Error, SshX509Error } from '../../errors.js';
import { describeDiscovered, type Pkcs11CertificateInfo } from './browse.js';
import { parseSelection, readExtraCertificates, selectCertificate, tokenChain, withDiscovery } from './discover.js';
import type { PinSource } from './pin.js';
import { Pkcs11Signer, type Pkcs11SignerOptions } from './signer.js';
import { certMatches } from './tokens.js';

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
 * (in slot order, and by CKA_ID on each token) that matches the selection,
 * has its private key there, and serves at least one X.509v3 algorithm: the candidates a client offers in turn (a card often
 * holds several certificates). The PIN is asked once per token. Throws
 * `ERR_OBJECT_NOT_FOUND` when no certificate qualifies, and the errors of
 * {@link Pkcs11Signer.open}; on an error, signers already opened are closed.
 */
export async function openPkcs11Candidates(opts: OpenPkcs11CandidatesOptions): Promise<Pkcs11Signer[]> {
  const selection = parseSelection(opts);
  const extra = await readExtraCertificates({ ...(opts.intermediates !== undefined ? { intermediatesFile: opts.intermediates } : {}) });
  // One discovery pass: the tokens are listed and their certificates read once. Its sessions stay
  // open for the loop: PKCS#11 login belongs to the token while any of the application's sessions
  // on it is open, so a candidate whose key turns out to be missing (known only after login) does
  // not log the token out and make the next one ask again.
  const signers = await withDiscovery({ module: opts.module, uri: selection.uri }, async (d) => {
    const rows = (await describeDiscovered(d, {})).filter(
      (r) => !r.info.isCA && r.info.hasPrivateKey !== false && r.info.algorithms.length > 0 && certMatches(r.cert, selection),
    );
    const out: Pkcs11Signer[] = [];
    try {
      for (const row of rows) {
        if (opts.maxCandidates !== undefined && out.length >= opts.maxCandidates) break;
        let signer: Pkcs11Signer;
        try {
          signer = await Pkcs11Signer.fromDiscovery(d, row, tokenChain(row, extra), {
            ...(opts.pin !== undefined ? { pin: opts.pin } : {}),
            ...(opts.loginOnFirstSign ? { loginOnFirstSign: true } : {}),
          });
        } catch (e) {
          // Private keys hidden before login: a certificate without one is no candidate.
          if (isSshX509Error(e, ErrorCodes.OBJECT_NOT_FOUND)) continue;
          throw e;
        }
        out.push(signer);
        opts.onCandidate?.(row.info);
      }
    } catch (e) {
      await Promise.all(out.map((s) => s.close()));
      throw e;
    }
    return out;
  });
  if (signers.length === 0) {
    throw new SshX509Error(ErrorCodes.OBJECT_NOT_FOUND, `no certificate with a private key and a usable key type on the tokens of ${opts.module}${opts.uri ? ` matching ${opts.uri}` : ''}${opts.fingerprint ? ` with fingerprint ${opts.fingerprint}` : ''}`);
  }
  return signers;
}

/** Options for {@link readPkcs11Chain}: the selection of {@link openPkcs11Signer}, without a PIN. */
export type ReadPkcs11ChainOptions = Omit<OpenPkcs11SignerOptions, 'pin'>;

/**
 * Reads the chain of the one certificate the options name on a token, leaf
 * first, with the intermediates found on the token and in `intermediates`:
 * no PIN (certificates are public), no session left open, no removal
 * watcher. What `export-pub` prints from. Errors are those of
 * {@link Pkcs11Signer.open} before the login.
 */
export async function readPkcs11Chain(opts: ReadPkcs11ChainOptions): Promise<CertificateChain> {
  const selection = parseSelection(opts);
  const extra = await readExtraCertificates({ ...(opts.intermediates !== undefined ? { intermediatesFile: opts.intermediates } : {}) });
  return withDiscovery({ module: opts.module, uri: selection.uri }, (d) => tokenChain(selectCertificate(d, selection), extra));
}
