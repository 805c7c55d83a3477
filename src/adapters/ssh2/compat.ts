/**
 * The entry to the ssh2 bridge: what the adapters install and use. Each part
 * of the bridge, the only code that reaches into ssh2's internals, lives in
 * its own file under ./bridge/:
 *
 * - ssh2-internals.ts: finding ssh2, the versions checked, loading its modules;
 * - client-auth.ts: the client's publickey requests with X.509 keys;
 * - key-objects.ts: key objects ssh2 takes as its own parsed keys;
 * - server.ts: a Server's X.509 host keys and server-sig-algs;
 * - client-host-keys.ts: the client's key exchange with an X.509 host key;
 * - hostkeys-announcements.ts: no host key proving that nobody asked for.
 *
 * Installed explicitly (the adapters call {@link installSsh2Compat} and
 * `installSsh2HostKeyCompat`), idempotent (also across several copies of this
 * library, ESM and CommonJS, in one process), a no-op for keys, servers and
 * key exchanges that are not ours, and refusing with `ERR_SSH2_UNSUPPORTED`
 * on an ssh2 whose internals it does not recognise.
 *
 * @module
 */
import { installClientAuth, x509Key, type X509KeyInfo } from './bridge/client-auth.js';
import { installHostKeysAnnouncementGuard } from './bridge/hostkeys-announcements.js';
import { keyPrototype, parsePublicKey, plainHostKey, type PlainHostKeyInfo } from './bridge/key-objects.js';
import { attachServer, type X509ServerHooks } from './bridge/server.js';
import { loadInternals, type Ssh2Internals } from './bridge/ssh2-internals.js';

/** The parts of ssh2 the adapters use. */
export interface Ssh2Compat {
  /** The installed ssh2 version. */
  readonly version: string;
  /** ssh2's `BaseAgent`, for in-process agents. */
  readonly BaseAgent: new () => object;
  /**
   * Makes a key object that ssh2 accepts as a parsed key (it passes ssh2's
   * private `isParsedKey` test through its prototype) and that the wrapped
   * `authPK` recognises as ours. `comment` may be a function, called when
   * the comment is first read.
   */
  makeKey(info: X509KeyInfo, comment: string | (() => string)): object;
  /** ssh2's own parse of an OpenSSH public key line (for raw-key mode, where ssh2 signs as usual). */
  parsePublicKey(line: string): object;
  /**
   * Makes an ssh2 `Server` ours: its connections offer the X.509 host keys
   * (ahead of its plain ones) and advertise `server-sig-algs` with
   * `hooks.serverSigAlgs` ahead of ssh2's own names. Calling it again for
   * the same server replaces the hooks for later connections. Every other
   * Server is left as ssh2 made it.
   */
  attachServer(server: object, hooks: X509ServerHooks): void;
  /**
   * Makes a plain host key object that ssh2's `Server` accepts in
   * `hostKeys` (through its prototype, as {@link Ssh2Compat.makeKey}) for a
   * key that ssh2 cannot read itself (PKCS#8): ssh2 calls `info.sign`
   * synchronously in the key exchange.
   */
  makePlainHostKey(info: PlainHostKeyInfo): object;
}

let installed: Ssh2Compat | undefined;
let installedInternals: Ssh2Internals | undefined;

/**
 * ssh2's `Client` class, from the ssh2 that {@link installSsh2Compat}
 * patches (installing it first), loaded without ssh2's entry point: what
 * `import('ssh2')` gives, for a command's start.
 */
export function ssh2ClientClass(): typeof import('ssh2').Client {
  installSsh2Compat();
  return installedInternals!.client() as typeof import('ssh2').Client;
}

/**
 * Installs the RFC 6187 fix into ssh2 and returns what the adapters need.
 * Explicit and idempotent: the adapters call it; calling it again returns
 * the same object. Throws `ERR_SSH2_UNSUPPORTED` when ssh2 is missing or
 * its internals are not the ones this was written against.
 *
 * @param options.ssh2Entry the path of the ssh2 entry module to patch, when
 *   the application's ssh2 is not the one this package resolves.
 */
export function installSsh2Compat(options: { ssh2Entry?: string } = {}): Ssh2Compat {
  if (installed && !options.ssh2Entry) return installed;
  const internals = loadInternals(options.ssh2Entry);
  installClientAuth(internals);
  installHostKeysAnnouncementGuard(internals);
  // Parsed at install, so that an ssh2 whose key parser fails is refused here, not at first use.
  keyPrototype(internals);
  const compat: Ssh2Compat = {
    version: internals.version,
    BaseAgent: internals.BaseAgent,
    makeKey: (info, comment) => x509Key(internals, info, comment),
    parsePublicKey: (line) => parsePublicKey(internals, line),
    attachServer: (server, hooks) => attachServer(internals, server, hooks),
    makePlainHostKey: (info) => plainHostKey(internals, info),
  };
  if (!options.ssh2Entry) {
    installed = compat;
    installedInternals = internals;
  }
  return compat;
}
