/**
 * The ssh2 Server integration: a handler for a client's `authentication`
 * event that verifies RFC 6187 publickey requests with an
 * {@link X509Verifier}, answers the query form with PK_OK only for a chain
 * that would be accepted, and logs every decision (never keys or signatures).
 *
 * @module
 */
import { findAlgorithm } from '../../algorithms.js';
import { signatureBlobFromInner } from '../../rfc6187/signature.js';
import { X509Verifier, type VerifyResult, type X509VerifierOptions } from '../../verify/verifier.js';
import { emitTrace, type TraceLogger } from '../trace.js';

/** The parts of ssh2's AuthContext this handler reads (ssh2 1.x). */
export interface Ssh2AuthContext {
  readonly method: string;
  readonly username: string;
  readonly key?: { readonly algo: string; readonly data: Buffer };
  readonly signature?: Buffer;
  readonly blob?: Buffer;
  accept(): void;
  reject(methodsLeft?: string[], isPartial?: boolean): void;
}

/** Options of {@link x509Authentication}. */
export interface X509AuthenticationOptions {
  /** Receives one event per decision: `fields` has username, account, algorithm, subject, sha256, revocation, reason. */
  logger?: TraceLogger;
  /** Called with every accepted signed login (not queries), before `ctx.accept()`. */
  onAccept?: (result: VerifyResult, ctx: Ssh2AuthContext) => void;
  /** Called with every refusal. */
  onReject?: (result: VerifyResult | undefined, ctx: Ssh2AuthContext) => void;
}

function fields(r: VerifyResult): Record<string, unknown> {
  return {
    username: r.username,
    account: r.account,
    algorithm: r.algorithm,
    subject: r.subject,
    sha256: r.fingerprint,
    revocation: r.revocationSource,
    reason: r.reason,
    query: r.query,
    cached: r.cached,
  };
}

/**
 * Revocation mode `prefer` lets a login in when no source answered (a
 * responder down, no CRL): said as a warning at each such login, with what
 * identifies the certificate (subject and serial), so that it can be found
 * and checked later.
 */
function warnUnchecked(logger: TraceLogger | undefined, r: VerifyResult): void {
  for (const [i, c] of (r.revocation?.certificates ?? []).entries()) {
    // Mode `off` leaves no detail: nothing was tried, so nothing soft-failed.
    if (c.status !== 'unchecked' || c.detail === undefined) continue;
    // The checker answers for the path's certificates in order, leaf first.
    const cert = r.path?.[i];
    emitTrace(logger, 'warn', 'revocation not checked: no source answered, and revocation mode prefer lets the login in (a revoked certificate would be let in too)', {
      username: r.username,
      account: r.account,
      subject: c.subject,
      serial: cert?.serialNumber,
      sha256: i === 0 ? r.fingerprint : undefined,
      detail: c.detail,
    });
  }
}

/**
 * A handler for ssh2's `client.on('authentication', ...)`. Publickey
 * requests with an x509v3 algorithm go to the verifier; everything else is
 * rejected with `['publickey']` as the methods that can continue.
 *
 * @example
 * ```ts
 * const verifier = await X509Verifier.create({ trustAnchors: ['ca.pem'], account: { map: 'upn-local' } });
 * new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
 *   client.on('authentication', x509Authentication(verifier, { logger: console.log }));
 * });
 * ```
 */
export function x509Authentication(verifier: X509Verifier, options: X509AuthenticationOptions = {}): (ctx: Ssh2AuthContext) => void {
  const { logger } = options;
  return (ctx) => {
    if (ctx.method !== 'publickey' || !ctx.key || !findAlgorithm(ctx.key.algo)) {
      if (ctx.method === 'publickey') emitTrace(logger, 'debug', 'publickey with a non-X.509 algorithm refused', { username: ctx.username, algorithm: ctx.key?.algo });
      ctx.reject(['publickey']);
      return;
    }
    const key = ctx.key;
    // ssh2 (lib/protocol/handlers.misc.js) strips `string(name)` from the
    // signature only when the name starts with the algorithm name, so the
    // bytes are the whole RFC 6187 blob or the bare signature.
    const signature = ctx.signature ? signatureBlobFromInner(ctx.signature, key.algo) : undefined;
    verifier
      .verify({
        username: ctx.username,
        algorithm: key.algo,
        publicKey: key.data,
        ...(signature ? { signature, signedData: ctx.blob ?? Buffer.alloc(0) } : {}),
      })
      .then(
        (r) => {
          emitTrace(logger, r.ok ? 'info' : 'warn', r.message, fields(r));
          if (r.ok && !r.query) warnUnchecked(logger, r);
          if (r.ok) {
            if (!r.query) options.onAccept?.(r, ctx);
            ctx.accept();
          } else {
            options.onReject?.(r, ctx);
            ctx.reject(['publickey']);
          }
        },
        (e: unknown) => {
          emitTrace(logger, 'error', `verifier failed: ${e instanceof Error ? e.message : String(e)}`, { username: ctx.username, algorithm: key.algo });
          options.onReject?.(undefined, ctx);
          ctx.reject(['publickey']);
        },
      );
  };
}

/** Creates a verifier from options and returns {@link x509Authentication} for it. */
export async function createX509Authentication(verifierOptions: X509VerifierOptions, options: X509AuthenticationOptions = {}): Promise<(ctx: Ssh2AuthContext) => void> {
  return x509Authentication(await X509Verifier.create(verifierOptions), options);
}
