/**
 * Defaults and per-connection overrides, the way SecureCRT has a Default
 * session and per-session settings: one object of defaults (signer,
 * algorithms, username rule, trace, card-removal policy, ...) and overrides
 * of any field per connection. Plus the two things a connection needs beyond
 * authentication: the username (given, or from the certificate) and the
 * "disconnect when the smartcard is removed" policy.
 *
 * @module
 */
import type { Client, ConnectConfig } from 'ssh2';
import { usernameFromCertificate, type UsernameRule } from '../../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import type { Signer } from '../../signers/signer.js';
import { emitTrace, describeIdentity } from '../trace.js';
import { x509AuthHandler, type X509ClientOptions } from './client.js';

/** Every setting of an X.509 SSH session; all optional so that defaults and overrides share one shape. */
export interface SessionSettings extends Partial<X509ClientOptions> {
  /** The login name. An explicit username always wins over the certificate. */
  username?: string;
  /** Take the username from the certificate when none is given: `upn`, `upn-local`, `cn`, `email`, or a function. */
  usernameFromCertificate?: UsernameRule;
  /**
   * End the connection when a signer reports its card removed (SecureCRT's
   * "disconnect when the smartcard is removed"). Off by default.
   */
  disconnectOnCardRemoval?: boolean;
}

/** Merges settings left to right; a field set to `undefined` does not override. */
export function mergeSettings(...layers: ReadonlyArray<SessionSettings | undefined>): SessionSettings {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v;
  }
  return out as SessionSettings;
}

/**
 * A Default session: settings shared by every connection, each of which may
 * override any field.
 *
 * @example
 * ```ts
 * const defaults = new SessionDefaults({ signer, usernameFromCertificate: 'upn-local', disconnectOnCardRemoval: true });
 * client.connect({ host: 'router1', ...defaults.connectConfig({ algorithms: ['x509v3-ssh-rsa'] }) });
 * ```
 */
export class SessionDefaults {
  constructor(readonly defaults: SessionSettings = {}) {}

  /** The settings for one connection: these defaults with `overrides` on top. */
  resolve(overrides?: SessionSettings): SessionSettings {
    return mergeSettings(this.defaults, overrides);
  }

  /** New defaults with `overrides` applied (for a group of sessions). */
  with(overrides: SessionSettings): SessionDefaults {
    return new SessionDefaults(this.resolve(overrides));
  }

  /** `username` and `authHandler` for `Client.connect()`, from these defaults and `overrides`. */
  connectConfig(overrides?: SessionSettings): Pick<ConnectConfig, 'username' | 'authHandler'> {
    return x509ConnectConfig(this.resolve(overrides));
  }
}

function signersOf(settings: SessionSettings): readonly Signer[] {
  const s = settings.signer;
  if (!s) throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'no signer configured: give a certificate and key, or a PKCS#11 token');
  return Array.isArray(s) ? (s as readonly Signer[]) : [s as Signer];
}

/**
 * The login name: the explicit `username` if set, else the one
 * `usernameFromCertificate` yields from the first signer's certificate.
 * Throws `ERR_INVALID_ARGUMENT` when there is neither, or the identity error of the rule.
 */
export function resolveUsername(settings: SessionSettings): string {
  if (settings.username) return settings.username;
  if (!settings.usernameFromCertificate) {
    throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'no username: give one, or take it from the certificate (usernameFromCertificate: upn, upn-local, cn or email)');
  }
  const signer = signersOf(settings)[0]!;
  const name = usernameFromCertificate(signer.chain.leaf, settings.usernameFromCertificate);
  emitTrace(settings.logger, 'info', 'username taken from the certificate', {
    username: name,
    rule: typeof settings.usernameFromCertificate === 'function' ? 'function' : settings.usernameFromCertificate,
    ...describeIdentity(signer.chain, ''),
  });
  return name;
}

/** `username` and `authHandler` for `Client.connect()`. */
export function x509ConnectConfig(settings: SessionSettings): Pick<ConnectConfig, 'username' | 'authHandler'> {
  const username = resolveUsername(settings);
  const { signer, algorithms, ocspResponses, ocspStapler, maxAttempts, logger, rawKey } = settings;
  const handler = x509AuthHandler(username, { signer: signer!, algorithms, ocspResponses, ocspStapler, maxAttempts, logger, rawKey });
  return { username, authHandler: handler };
}

/**
 * Applies the card-removal policy to a client: when `disconnectOnCardRemoval`
 * is set and a signer reports its card removed, the connection is ended
 * (and the event traced). Returns a function that detaches the listeners;
 * they are also detached when the client closes. A no-op when the policy is
 * off or the signers cannot report removal.
 */
export function applyCardRemovalPolicy(client: Client, settings: SessionSettings): () => void {
  if (!settings.disconnectOnCardRemoval) return () => {};
  const offs: Array<() => void> = [];
  for (const signer of signersOf(settings)) {
    if (!signer.onRemoved) continue;
    offs.push(
      signer.onRemoved(() => {
        emitTrace(settings.logger, 'warn', 'smartcard removed: disconnecting (disconnectOnCardRemoval)', describeIdentity(signer.chain, ''));
        client.emit('card-removed', signer);
        client.end();
        // A peer that does not close its side must not keep us connected.
        setTimeout(() => (client as unknown as { destroy?: () => void }).destroy?.(), 1000).unref();
      }),
    );
  }
  const off = () => offs.splice(0).forEach((f) => f());
  client.once('close', off);
  return off;
}
