/**
 * Tracing for the adapters: what is tried, with certificate fingerprints,
 * and why it failed. Never a PIN, a private key or a signature.
 *
 * @module
 */
import type { CertificateChain } from '../certs/chain.js';

/** One trace event. */
export interface TraceEvent {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  /** Structured fields: algorithm, subject, issuer, sha256, sha1, code, ... */
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * A logger created by the `debug` package (`debug('ssh-x509')`): a function
 * with a `namespace`. It receives each event as one formatted line.
 */
export interface DebugLogger {
  (formatter: string, ...args: unknown[]): void;
  readonly namespace: string;
}

/** A sink of text lines (for example a stream's `write`), each event as one formatted line. */
export interface LineLogger {
  readonly format: 'text';
  readonly write: (line: string) => unknown;
}

/** A logger hook: any function of a {@link TraceEvent}, a `debug` logger, or a {@link LineLogger}. */
export type TraceLogger = ((event: TraceEvent) => void) | DebugLogger | LineLogger;

function isDebugLogger(l: DebugLogger | ((event: TraceEvent) => void)): l is DebugLogger {
  return typeof (l as { namespace?: unknown }).namespace === 'string';
}

/** Formats an event as one line: `message key=value ...`. */
export function formatTrace(event: TraceEvent): string {
  const kv = Object.entries(event.fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  return [event.message, ...kv].join(' ');
}

/** Sends an event to `logger`, if any. A logger that throws never breaks authentication. */
export function emitTrace(logger: TraceLogger | undefined, level: TraceEvent['level'], message: string, fields: Record<string, unknown> = {}): void {
  if (!logger) return;
  const event: TraceEvent = { level, message, fields };
  try {
    if (typeof logger !== 'function') logger.write(formatTrace(event));
    else if (isDebugLogger(logger)) logger('%s', formatTrace(event));
    else (logger as (e: TraceEvent) => void)(event);
  } catch {
    // tracing is best effort
  }
}

/** The fields that identify a certificate in traces. */
export function describeIdentity(chain: CertificateChain, algorithm: string): Record<string, string> {
  const fp = chain.fingerprints;
  return { algorithm, subject: chain.leaf.subject, issuer: chain.leaf.issuer, sha256: fp.sha256, sha1: fp.sha1 };
}
