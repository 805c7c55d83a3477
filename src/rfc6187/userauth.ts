/**
 * The publickey USERAUTH_REQUEST of RFC 4252 section 7 as RFC 6187 uses it:
 * the request itself (the query form without a signature, and the signed
 * form), and the data the client signs.
 *
 * ```
 * byte      SSH_MSG_USERAUTH_REQUEST
 * string    user name
 * string    service name
 * string    "publickey"
 * boolean   TRUE when signed
 * string    public key algorithm name   (x509v3-...)
 * string    public key blob             (RFC 6187 section 2.1)
 * string    signature blob              (signed form only, RFC 6187 section 3)
 * ```
 *
 * The signed data is `string(session identifier)` followed by the signed
 * request without its signature field.
 *
 * @module
 */
import { SshWriter } from '../wire/writer.js';

/** The message number of SSH_MSG_USERAUTH_REQUEST (RFC 4250 section 4.1.2). */
export const SSH_MSG_USERAUTH_REQUEST = 50;

/** The fields of a publickey USERAUTH_REQUEST. */
export interface PublickeyRequest {
  /** The user name. */
  readonly username: string;
  /** The service name; default `ssh-connection`. */
  readonly service?: string;
  /** The public key algorithm name (`x509v3-ecdsa-sha2-nistp256`, ...). */
  readonly algorithm: string;
  /** The public key blob (for x509v3 names, the RFC 6187 one). */
  readonly publicKeyBlob: Uint8Array;
}

function requestHead(req: PublickeyRequest, signed: boolean): SshWriter {
  return new SshWriter()
    .byte(SSH_MSG_USERAUTH_REQUEST)
    .string(req.username)
    .string(req.service ?? 'ssh-connection')
    .string('publickey')
    .boolean(signed)
    .string(req.algorithm)
    .string(req.publicKeyBlob);
}

/**
 * Encodes the request: without `signatureBlob` the query form (boolean
 * FALSE, no signature, answered by PK_OK), with it the signed form.
 */
export function encodePublickeyRequest(req: PublickeyRequest, signatureBlob?: Uint8Array): Buffer {
  const w = requestHead(req, signatureBlob !== undefined);
  if (signatureBlob !== undefined) w.string(signatureBlob);
  return w.toBuffer();
}

/** The data the client signs for the signed form of `req` in the session `sessionId`. */
export function publickeySignedData(sessionId: Uint8Array, req: PublickeyRequest): Buffer {
  return new SshWriter().string(sessionId).raw(requestHead(req, true).toBuffer()).toBuffer();
}
