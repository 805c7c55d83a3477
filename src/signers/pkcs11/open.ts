/**
 * The one-call way to open a PKCS#11 signer from command-line style options.
 *
 * @module
 */
import type { PinSource } from './pin.js';
import { Pkcs11Signer } from './signer.js';

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
