/**
 * X.509 certificate login for ssh2-sftp-client (`new SftpClient().connect(config)`),
 * the way SecureFX uses the certificate for file transfer.
 *
 * ssh2-sftp-client passes its config to ssh2's `Client.connect()`, so the
 * certificates go in as an ssh2 `authHandler`. ssh2-sftp-client is an
 * optional peer: this module never loads it; the returned config is an
 * ssh2 `ConnectConfig`, which its `ConnectOptions` extends (add
 * `promiseLimit` and the like to the result as needed).
 *
 * @module
 */
import { adapterConnectConfig, assertSharedSsh2, type X509ConnectConfig, type X509ConnectOptions } from './node-ssh.js';

/**
 * The config for ssh2-sftp-client's `connect()` that logs in with X.509
 * certificates (RFC 6187), or with the certificate's key as a plain SSH key
 * when `rawKey` is set.
 *
 * Throws `ERR_SSH2_UNSUPPORTED` when ssh2-sftp-client has its own copy of
 * ssh2, and the errors of `x509AuthHandler` for unusable signers or algorithms.
 *
 * @example
 * ```ts
 * import SftpClient from 'ssh2-sftp-client';
 * const sftp = new SftpClient();
 * await sftp.connect(sftpConfig({ host: 'server', username: 'alice', signer, connect: { hostVerifier } }));
 * await sftp.put(Buffer.from('hello'), '/upload/hello.txt');
 * await sftp.end();
 * ```
 */
export function sftpConfig(options: X509ConnectOptions): X509ConnectConfig {
  assertSharedSsh2('ssh2-sftp-client');
  return adapterConnectConfig(options);
}

export type { X509ConnectConfig, X509ConnectOptions } from './node-ssh.js';
