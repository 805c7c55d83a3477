import type { HashName } from '../algorithms.js';
import type { CertificateChain } from '../certs/chain.js';

/**
 * The seam between what to sign and who signs. Software keys and PKCS#11
 * tokens are two implementations; the SSH layers above know only this.
 *
 * A signer produces the signature primitive, not an SSH encoding:
 * - RSA: the RSASSA-PKCS1-v1_5 signature bytes over `hash(data)`;
 * - ECDSA: the raw `r || s` (each the curve's byte width) over `hash(data)`;
 * - Ed25519: the 64-byte signature over `data` (`hash` is `null`).
 *
 * The RFC 6187 layer turns these into SSH signature blobs.
 */
export interface Signer {
  /** The certificate chain, leaf first, whose leaf key this signer holds. */
  readonly chain: CertificateChain;
  /** A short human label for traces (never secret). */
  readonly label: string;
  /**
   * Signs `data` with the leaf's private key. Asynchronous, because a
   * smartcard is. Rejects with an `SshX509Error` (`ERR_SIGN_FAILED` or a
   * more specific code).
   */
  sign(data: Uint8Array, hash: HashName | null): Promise<Uint8Array>;
  /**
   * Optional: true when {@link Signer.sign} asks no person for anything (no
   * PIN, no touch) and its key is at hand, as a key file read into memory is.
   * The client adapter then sends the publickey request signed at once,
   * without asking the server first whether it accepts the certificate: one
   * round trip fewer per attempt, as OpenSSH does for a private key file it
   * has read without a `.pub` beside it.
   * Leave it unset for smartcards and HSMs, so that a PIN is asked only for
   * a certificate the server has accepted. {@link SoftwareSigner} sets it.
   */
  readonly signsUnattended?: boolean;
  /**
   * Optional: subscribe to the key becoming unavailable (a smartcard pulled
   * from its reader). Returns a function that unsubscribes. Adapters use it
   * for the "disconnect when the card is removed" policy.
   */
  onRemoved?(listener: () => void): () => void;
  /** Releases what the signer holds (sessions, handles). Idempotent. */
  close?(): Promise<void>;
}
