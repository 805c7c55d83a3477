/**
 * `connect --staple-ocsp`: each certificate's OCSP response, fetched from its
 * AIA responder when the connection authenticates, stapled into the
 * user-authentication blob (the library's `ocspStapler` option).
 *
 * @module
 */
import { emitTrace, type TraceLogger } from '../adapters/trace.js';
import { OcspStapler } from '../verify/revocation/stapler.js';

/** The stapler of `--staple-ocsp`, tracing what each responder said. */
export function commandStapler(logger: TraceLogger | undefined): OcspStapler {
  return new OcspStapler({
    onFetched: (subject, answer, url) => emitTrace(logger, 'info', 'fetched OCSP response', { subject, url, status: answer.status, nextUpdate: answer.nextUpdate?.toISOString() }),
    onError: (subject, e) => emitTrace(logger, 'warn', `OCSP responder did not answer: ${e.message}`, { subject }),
  });
}
