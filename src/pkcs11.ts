/**
 * PKCS#11 support (`ssh-x509/pkcs11`): a {@link Pkcs11Signer} whose key
 * stays on a smartcard or HSM, certificate listing, RFC 7512 URIs and PIN
 * sources. A separate entry point, so that users without PKCS#11 never load
 * the native module; it needs the optional peer dependency graphene-pk11.
 *
 * @module ssh-x509/pkcs11
 */
export { Pkcs11Signer, type Pkcs11SignerOptions, type Pkcs11KeyLocation } from './signers/pkcs11/signer.js';
export {
  openPkcs11Signer,
  openPkcs11Candidates,
  readPkcs11Chain,
  type OpenPkcs11SignerOptions,
  type OpenPkcs11CandidatesOptions,
  type ReadPkcs11ChainOptions,
} from './signers/pkcs11/open.js';
export { listPkcs11Certificates, type ListPkcs11Options, type Pkcs11CertificateInfo } from './signers/pkcs11/browse.js';
export { parsePkcs11Uri, formatPkcs11Uri, type Pkcs11Uri } from './signers/pkcs11/uri.js';
export { envPin, ttyPin, type PinSource, type PinRequest, type PinContext, type PinPromptInput, type PinPromptOutput, type PromptOptions } from './signers/pkcs11/pin.js';
