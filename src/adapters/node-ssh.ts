/**
 * X.509 certificate login for node-ssh (`new NodeSSH().connect(config)`).
 *
 * node-ssh hands its config to ssh2's `Client.connect()` unchanged, so the
 * certificates go in as an ssh2 `authHandler` built by
 * {@link x509AuthHandler}. node-ssh is an optional peer: this module never
 * loads it, and the config type is ssh2's `ConnectConfig`, which node-ssh's
 * `Config` extends.
 *
 * @module
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AnyAuthMethod, AuthenticationType, ConnectConfig } from 'ssh2';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { x509AuthHandler, type X509ClientOptions } from './ssh2/client.js';

/**
 * An ssh2 connect config whose authentication is the certificates alone:
 * without ssh2's `password`, `privateKey`, `passphrase` and `agent`, so that
 * it fits node-ssh's `Config` (whose `privateKey` is a string only) and
 * ssh2-sftp-client's `ConnectOptions` as is.
 */
export type X509ConnectConfig = Omit<ConnectConfig, 'password' | 'privateKey' | 'passphrase' | 'agent'> & {
  host: string;
  port: number;
  username: string;
  authHandler: NonNullable<ConnectConfig['authHandler']>;
};

/** Where to connect and as whom, with the certificates to log in with. */
export interface X509ConnectOptions extends X509ClientOptions {
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  /**
   * Further ssh2 settings: `hostVerifier` (set it: ssh2 accepts any host key
   * without one), `readyTimeout`, `algorithms`, `keepaliveInterval`, ... The
   * authentication fields are this function's.
   */
  connect?: Omit<ConnectConfig, 'host' | 'port' | 'username' | 'authHandler' | 'agent' | 'password' | 'privateKey' | 'passphrase' | 'tryKeyboard'>;
  /** ssh2 `authHandler` entries to try after the certificates (for example `{ type: 'password', username, password }`). */
  fallback?: ReadonlyArray<AnyAuthMethod | AuthenticationType>;
}

/**
 * Throws `ERR_SSH2_UNSUPPORTED` when `pkg` (node-ssh, ssh2-sftp-client) is
 * installed with its own copy of ssh2: the certificate login patches and
 * extends the ssh2 this library loads, which that copy would not see.
 * Does nothing when `pkg` cannot be resolved from here.
 *
 * @internal
 */
export function assertSharedSsh2(pkg: string): void {
  const req = createRequire(import.meta.url);
  let theirs: string;
  let ours: string;
  try {
    theirs = realpathSync(createRequire(req.resolve(pkg)).resolve('ssh2'));
    ours = realpathSync(req.resolve('ssh2'));
  } catch {
    return;
  }
  if (theirs !== ours) {
    throw new SshX509Error(
      ErrorCodes.SSH2_UNSUPPORTED,
      `${pkg} uses its own copy of ssh2 (${theirs}), not the one ssh-x509 extends (${ours}); make them one (npm dedupe, or an ssh2 version both accept)`,
    );
  }
}

/**
 * The ssh2 connect config for {@link X509ConnectOptions}; shared by the node-ssh and ssh2-sftp-client adapters.
 *
 * @internal
 */
export function adapterConnectConfig(options: X509ConnectOptions): X509ConnectConfig {
  const { host, port, username, connect, fallback, ...x509 } = options;
  if (typeof host !== 'string' || host === '') throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'host must be a non-empty string');
  if (typeof username !== 'string' || username === '') throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'username must be a non-empty string');
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `port must be an integer from 1 to 65535, got ${port}`);
  // Drop authentication fields a caller's untyped object may still carry, so the certificates are the only credentials sent.
  const { password: _pw, privateKey: _pk, passphrase: _pp, agent: _ag, tryKeyboard: _tk, ...rest } = (connect ?? {}) as ConnectConfig;
  return {
    ...rest,
    host,
    port: port ?? 22,
    username,
    authHandler: x509AuthHandler(username, x509, fallback ?? []),
  };
}

/**
 * The config for node-ssh's `connect()` that logs in with X.509
 * certificates (RFC 6187), or with the certificate's key as a plain SSH key
 * when `rawKey` is set.
 *
 * Throws `ERR_SSH2_UNSUPPORTED` when node-ssh has its own copy of ssh2, and
 * the errors of {@link x509AuthHandler} for unusable signers or algorithms.
 *
 * @example
 * ```ts
 * import { NodeSSH } from 'node-ssh';
 * const signer = await SoftwareSigner.fromFiles({ certificateFile: 'chain.pem', keyFile: 'key.pem' });
 * const ssh = await new NodeSSH().connect(nodeSshConfig({ host: 'server', username: 'alice', signer, connect: { hostVerifier } }));
 * const { stdout } = await ssh.execCommand('uptime');
 * ```
 */
export function nodeSshConfig(options: X509ConnectOptions): X509ConnectConfig {
  assertSharedSsh2('node-ssh');
  return adapterConnectConfig(options);
}
