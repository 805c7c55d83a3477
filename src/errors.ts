/**
 * Typed errors. Every failure a user can cause is an {@link SshX509Error}
 * with a stable {@link SshX509Error.code}; callers branch on the code, never
 * on the message text. Messages never contain PINs, private keys or
 * signatures.
 *
 * @module
 */

/**
 * The stable error codes, with what each means.
 */
export const ErrorCodes = {
  /** SSH wire data ended before a field was complete. */
  WIRE_TRUNCATED: 'ERR_WIRE_TRUNCATED',
  /** SSH wire data had bytes left over after the last field. */
  WIRE_TRAILING_DATA: 'ERR_WIRE_TRAILING_DATA',
  /** An SSH wire field was out of range (length or count over a limit, bad mpint). */
  WIRE_INVALID: 'ERR_WIRE_INVALID',
  /** An algorithm name that this library does not know, or that a policy refuses. */
  ALGORITHM_UNSUPPORTED: 'ERR_ALGORITHM_UNSUPPORTED',
  /** The key does not fit the algorithm (type, curve, or too small). */
  KEY_ALGORITHM_MISMATCH: 'ERR_KEY_ALGORITHM_MISMATCH',
  /** An RFC 6187 public key blob is malformed. */
  BLOB_INVALID: 'ERR_BLOB_INVALID',
  /** An RFC 6187 signature blob is malformed or has the wrong format name. */
  SIGNATURE_INVALID: 'ERR_SIGNATURE_INVALID',
  /** A certificate could not be parsed. */
  CERT_INVALID: 'ERR_CERT_INVALID',
  /** A set of certificates does not form one chain from a leaf. */
  CHAIN_INVALID: 'ERR_CHAIN_INVALID',
  /** A private key could not be read (format, or wrong/missing passphrase). */
  KEY_INVALID: 'ERR_KEY_INVALID',
  /** A private key does not belong to the certificate. */
  KEY_CERT_MISMATCH: 'ERR_KEY_CERT_MISMATCH',
  /** A signer failed to produce a signature. */
  SIGN_FAILED: 'ERR_SIGN_FAILED',
  /** The installed ssh2 is not one whose internals this library recognises. */
  SSH2_UNSUPPORTED: 'ERR_SSH2_UNSUPPORTED',
  /** The server refused every authentication attempt. */
  AUTH_FAILED: 'ERR_AUTH_FAILED',
  /** The server's host key is unknown, changed, or refused. */
  HOST_KEY_REJECTED: 'ERR_HOST_KEY_REJECTED',
  /** The certificate lacks the identity field a rule asks for (UPN, CN, email). */
  IDENTITY_MISSING: 'ERR_IDENTITY_MISSING',
  /** The certificate has several values for the identity field a rule asks for. */
  IDENTITY_AMBIGUOUS: 'ERR_IDENTITY_AMBIGUOUS',
  /** A file could not be read. */
  FILE_UNREADABLE: 'ERR_FILE_UNREADABLE',
  /** The optional peer dependency graphene-pk11 (PKCS#11 support) is not installed. */
  PKCS11_UNAVAILABLE: 'ERR_PKCS11_UNAVAILABLE',
  /** The PKCS#11 module file does not exist. */
  PKCS11_MODULE_MISSING: 'ERR_PKCS11_MODULE_MISSING',
  /** The PKCS#11 module exists but cannot be loaded or initialised. */
  PKCS11_MODULE_INVALID: 'ERR_PKCS11_MODULE_INVALID',
  /** A PKCS#11 call failed in a way not covered by a more specific code. */
  PKCS11_FAILED: 'ERR_PKCS11_FAILED',
  /** The token offers no mechanism this library can sign with for the key. */
  PKCS11_MECHANISM_UNSUPPORTED: 'ERR_PKCS11_MECHANISM_UNSUPPORTED',
  /** A `pkcs11:` URI (RFC 7512) is malformed or has an unknown attribute. */
  URI_INVALID: 'ERR_URI_INVALID',
  /** No token matches the selection. */
  TOKEN_NOT_FOUND: 'ERR_TOKEN_NOT_FOUND',
  /** No card in the reader(s): the slots the selection could use have no token present. */
  TOKEN_ABSENT: 'ERR_TOKEN_ABSENT',
  /** A card is in the reader but the module does not recognise it (CKR_TOKEN_NOT_RECOGNIZED): for OpenSC's PIV driver, no PIV application on it. */
  TOKEN_UNRECOGNIZED: 'ERR_TOKEN_UNRECOGNIZED',
  /** No certificate or private key matches the selection. */
  OBJECT_NOT_FOUND: 'ERR_OBJECT_NOT_FOUND',
  /** Several certificates match the selection; it must name one. */
  OBJECT_AMBIGUOUS: 'ERR_OBJECT_AMBIGUOUS',
  /** The token needs a PIN and there is no way to ask for one. */
  PIN_REQUIRED: 'ERR_PIN_REQUIRED',
  /** The token refused the PIN (CKR_PIN_INCORRECT); the message says what the token reports about remaining tries. */
  PIN_INCORRECT: 'ERR_PIN_INCORRECT',
  /** The token's user PIN is locked (CKR_PIN_LOCKED); it must be unblocked with the SO PIN or PUK. */
  PIN_LOCKED: 'ERR_PIN_LOCKED',
  /** The token's user PIN has expired (CKR_PIN_EXPIRED); it must be changed first. */
  PIN_EXPIRED: 'ERR_PIN_EXPIRED',
  /** The token left its slot (smartcard removed) while a signer was using it. */
  TOKEN_REMOVED: 'ERR_TOKEN_REMOVED',
  /** A command-line usage or option error (thrown only by the `ssh-x509` command, never by the library). */
  USAGE: 'ERR_USAGE',
  /** An argument or option passed to a library function is invalid: missing, out of range, or an unknown name. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** Server-side verification refused a certificate login; the error's `reason` says why. */
  VERIFY_REFUSED: 'ERR_VERIFY_REFUSED',
  /** Verifier configuration is unusable (trust anchors, authorized subjects, revocation sources). */
  VERIFIER_CONFIG_INVALID: 'ERR_VERIFIER_CONFIG_INVALID',
  /** A certificate's subject cannot be written as a distinguished-name authorized_keys line in the style asked for; export the x509v3 blob instead. */
  NAME_UNREPRESENTABLE: 'ERR_NAME_UNREPRESENTABLE',
} as const;

/** One of the {@link ErrorCodes} values. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Marks errors of this library, whichever copy made them: the ESM and the
 * CommonJS builds loaded in one process (or two installed versions) each have
 * their own {@link SshX509Error} class, so `instanceof` alone misses the other
 * copy's errors. `Symbol.for` gives every copy the same key.
 */
const BRAND = Symbol.for('ssh-x509.SshX509Error');

/**
 * The one error class of this library. `code` is stable across versions.
 * To test for it, prefer {@link isSshX509Error}: it also recognises errors
 * from another copy of the library (the other of its ESM and CommonJS builds).
 *
 * @example
 * ```ts
 * try { decodePublicKeyBlob(buf) } catch (e) {
 *   if (isSshX509Error(e, 'ERR_BLOB_INVALID')) { ... }
 * }
 * ```
 */
export class SshX509Error extends Error {
  /** A stable, machine-readable code from {@link ErrorCodes}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SshX509Error';
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCodes));

/**
 * True when `e` is an {@link SshX509Error}, optionally with the given code:
 * from this copy of the library or any other (it checks the
 * `Symbol.for('ssh-x509.SshX509Error')` brand and the `code`, not only `instanceof`).
 */
export function isSshX509Error(e: unknown, code?: ErrorCode): e is SshX509Error {
  if (typeof e !== 'object' || e === null) return false;
  const { code: found } = e as { code?: unknown };
  const ours = e instanceof SshX509Error || ((e as { [BRAND]?: unknown })[BRAND] === true && typeof found === 'string' && CODES.has(found));
  return ours && (code === undefined || found === code);
}
