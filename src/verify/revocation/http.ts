/**
 * The one HTTP client of the verifier (OCSP responders, CRL distribution
 * points): node:http / node:https, a hard timeout, a size cap, no redirects.
 *
 * @module
 */
import * as http from 'node:http';
import * as https from 'node:https';

/** Limits for one revocation fetch. */
export interface FetchLimits {
  /** Whole-request timeout in ms (default 5000). */
  timeoutMs?: number;
  /** Largest response body accepted, bytes (default 1 MiB). */
  maxBytes?: number;
}

/** A GET or POST over http(s); resolves with the body of a 200 response, rejects otherwise. */
export function fetchBytes(url: string, body: Uint8Array | undefined, contentType: string | undefined, limits: FetchLimits = {}): Promise<Buffer> {
  const timeoutMs = limits.timeoutMs ?? 5000;
  const maxBytes = limits.maxBytes ?? 1 << 20;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new Error(`invalid URL ${JSON.stringify(url)}`));
  }
  const mod = u.protocol === 'http:' ? http : u.protocol === 'https:' ? https : undefined;
  if (!mod) return Promise.reject(new Error(`unsupported URL scheme ${u.protocol}`));
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: body ? 'POST' : 'GET',
        headers: body ? { 'content-type': contentType ?? 'application/octet-stream', 'content-length': String(body.length) } : {},
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${String(res.statusCode)} from ${url}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy(new Error(`response from ${url} exceeds ${maxBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms fetching ${url}`)));
    req.on('error', reject);
    req.end(body ? Buffer.from(body) : undefined);
  });
}
