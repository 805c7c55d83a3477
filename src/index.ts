/**
 * The main entry point, `ssh-x509`: the ssh2 client adapter and its signers,
 * X.509 host keys, server-side verification, certificate formats and errors.
 * Smartcards and HSMs are in {@link "ssh-x509/pkcs11"}.
 *
 * @module ssh-x509
 */
export { ErrorCodes, SshX509Error, isSshX509Error, type ErrorCode } from './errors.js';

// SSH wire encoding
export { SshReader, SshWriter, DEFAULT_MAX_STRING_LENGTH } from './wire/index.js';

// The algorithms table
export {
  ALGORITHMS,
  findAlgorithm,
  getAlgorithm,
  algorithmsForKey,
  keyMismatch,
  assertKeyMatches,
  RAW_SIGNATURE_ALGORITHMS,
  rawSignatureAlgorithm,
  type RawSignatureAlgorithm,
  type AlgorithmInfo,
  type KeyType,
  type KeyFacts,
  type HashName,
  type SshCurveName,
} from './algorithms.js';

// RFC 6187 public key blob and signatures
export {
  encodePublicKeyBlob,
  decodePublicKeyBlob,
  decodeLegacyCertificateBlob,
  type PublicKeyBlob,
  type BlobLimits,
} from './rfc6187/publickey-blob.js';
export { parseX509PublicKey, type X509PublicKey } from './certs/x509-public-key.js';
export {
  encodeSignatureBlob,
  decodeSignatureBlob,
  ecdsaRawToSsh,
  ecdsaSshToRaw,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  primitiveToSsh,
  sshToPrimitive,
  wrapSignature,
  signatureBlobFromInner,
  type DecodedSignature,
} from './rfc6187/signature.js';
export { encodePublickeyRequest, publickeySignedData, SSH_MSG_USERAUTH_REQUEST, type PublickeyRequest } from './rfc6187/userauth.js';

// Certificates and chains
export { CertificateChain, orderChain, type ChainOptions } from './certs/chain.js';
export { parseCertificates, readCertificateFile, type CertificateInput } from './certs/load.js';
export { fingerprints, matchesFingerprint, type Fingerprints } from './certs/fingerprint.js';
export { chainWarnings } from './certs/validity.js';
export {
  certificateIdentities,
  usernameFromCertificate,
  usernameFromIdentities,
  USERNAME_RULES,
  type UsernameRuleName,
  type CertificateIdentities,
  type UsernameRule,
} from './certs/identity.js';

// Signers
export type { Signer } from './signers/signer.js';
export { SoftwareSigner, type SoftwareSignerOptions, type PassphraseSource, type PassphraseRequest } from './signers/software.js';
export { ttyPassphrase, type PinPromptInput, type PinPromptOutput, type PromptOptions } from './signers/pkcs11/pin.js';
export { DeferredSigner } from './signers/deferred.js';

// ssh2 adapter
export { installSsh2Compat, type Ssh2Compat } from './adapters/ssh2/compat.js';
export { SUPPORTED_SSH2_RANGE } from './adapters/ssh2/bridge/ssh2-internals.js';
export type { X509KeyInfo } from './adapters/ssh2/bridge/client-auth.js';
export type { X509HostKeyInfo, X509ServerHooks } from './adapters/ssh2/bridge/server.js';
export type { PlainHostKeyInfo } from './adapters/ssh2/bridge/key-objects.js';
export {
  createX509Agent,
  x509AuthMethod,
  x509AuthHandler,
  algorithmsFor,
  type X509ClientOptions,
  type AgentAuthMethod,
  type AuthHandlerFunction,
} from './adapters/ssh2/client.js';
export {
  SessionDefaults,
  mergeSettings,
  resolveUsername,
  x509ConnectConfig,
  applyCardRemovalPolicy,
  type SessionSettings,
} from './adapters/ssh2/session.js';
export { x509ForwardAgent, type ForwardAgentOptions } from './adapters/ssh2/agent-forward.js';
export { formatTrace, type TraceEvent, type TraceLogger, type DebugLogger, type LineLogger } from './adapters/trace.js';
export { plainKeyType, sshPublicKeyBlob, openSshPublicKeyLine } from './keys/ssh-public-key.js';
export {
  exportPublicKey,
  rfc4716PublicKey,
  distinguishedNameLine,
  isPublicKeyFormat,
  PUBLIC_KEY_FORMATS,
  type PublicKeyFormat,
  type ExportPublicKeyOptions,
  type DistinguishedNameStyle,
} from './certs/export.js';
export { readDistinguishedName, distinguishedNameKey, sameDistinguishedName } from './certs/authorized-keys.js';

// Client side: host keys (X.509 host certificates, known_hosts)
export {
  x509HostVerifier,
  x509HostKeyAlgorithms,
  type X509HostVerifier,
  type X509HostVerifierOptions,
  type X509HostKeyAlgorithmsOptions,
  type HostKeyCheck,
} from './adapters/ssh2/host-verifier.js';
export { installSsh2HostKeyCompat } from './adapters/ssh2/bridge/client-host-keys.js';
export { HostCertificateVerifier, HostKeyRefusedError, type HostRefusalReason, type HostCertificateOptions, type HostCertificateResult } from './verify/host.js';
export { OcspStapler, type OcspStaplerOptions, type StapledResponses } from './verify/revocation/stapler.js';
export type { OcspAnswer } from './verify/revocation/ocsp.js';
export { checkHostKey, knownHostsName, hostKeyFingerprint, STRICT_HOST_KEY_CHECKING, type CheckHostKeyOptions, type StrictHostKeyChecking, type HostKeyDecision } from './verify/known-hosts.js';

// node-ssh and ssh2-sftp-client (optional peers, never loaded by this library)
export { nodeSshConfig, type X509ConnectOptions, type X509ConnectConfig } from './adapters/node-ssh.js';
export { sftpConfig } from './adapters/sftp.js';

// Server side: verification, and the ssh2 Server integration
export * from './verify/index.js';
export * from './adapters/ssh2/server.js';
export { parsePrivateKey, type PrivateKeyOptions } from './keys/private-key.js';
export { x509Server, readHostKeyFile, plainHostKey, type X509HostKey, type X509ServerOptions, type X509ServerOf, type HostKeyOptions, type Ssh2HostKeyEntry } from './adapters/ssh2/host-keys.js';
export { parseMaxStartups, DEFAULT_SERVER_LIMITS, type ServerLimits, type MaxStartups, type GracefulClose } from './adapters/ssh2/bridge/limits.js';
