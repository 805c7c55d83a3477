/**
 * The OCSP "stapler": fetches a certificate's OCSP response from the
 * responder its authorityInfoAccess names, checks it (signature, certificate
 * ID, times), keeps it until shortly before its nextUpdate, and fetches a
 * fresh one then. The same code serves a client stapling its own
 * certificate's status into the user-authentication blob and a server
 * stapling its host certificate's status into K_S (RFC 6187 section 2.1):
 * give it a chain, get the current DER responses.
 *
 * @module
 */
import type { X509Certificate } from '@peculiar/x509';
import { CertificateStore, IssuanceChecker, type VerifierCertificate } from '../certificates.js';
import { fetchBytes } from './http.js';
import { buildOcspRequest, checkOcspResponse, ocspUrls, type OcspAnswer } from './ocsp.js';

/** Options of {@link OcspStapler}. */
export interface OcspStaplerOptions {
  /** Staple for the leaf only (default), or for every certificate that has its issuer in the chain. */
  scope?: 'leaf' | 'chain';
  /** Timeout of one fetch, ms (default 3000). */
  timeoutMs?: number;
  /**
   * Fetch a fresh response this long before nextUpdate, ms (default: a
   * quarter of the response's validity window, at most one hour).
   */
  refreshBeforeMs?: number;
  /** How long a response without nextUpdate is kept, ms (default 1 hour). */
  maxAgeMs?: number;
  /** Accept SHA-1 signatures on OCSP responses (default false). */
  allowSha1?: boolean;
  /** The clock (default `() => new Date()`). */
  now?: () => Date;
  /** Told when a fetch fails (the response kept, if still valid, is stapled meanwhile). */
  onError?: (subject: string, error: Error) => void;
  /** Told about each response fetched, with its status (`good`, `revoked`, `unknown`). */
  onFetched?: (subject: string, answer: OcspAnswer, url: string) => void;
}

interface Entry {
  readonly der: Buffer;
  /** When to fetch again. */
  readonly refreshAt: number;
  /** When it may no longer be stapled. */
  readonly expiresAt: number;
}

/** What {@link OcspStapler.keepFresh} returns: the latest responses, and a way to stop refreshing them. */
export interface StapledResponses {
  /** The latest DER responses (as {@link OcspStapler.responses} gives them). */
  current(): Buffer[];
  /** Stops the background refresh. */
  stop(): void;
}

/** Fetches, caches and refreshes OCSP responses for certificate chains. */
export class OcspStapler {
  private readonly store = new CertificateStore(100);
  private readonly issuance: IssuanceChecker;
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry | undefined>>();

  constructor(private readonly options: OcspStaplerOptions = {}) {
    this.issuance = new IssuanceChecker({ allowSha1: options.allowSha1 ?? false });
  }

  private now(): number {
    return (this.options.now ?? (() => new Date()))().getTime();
  }

  /**
   * The current DER OCSP responses for `chain` (leaf first, each certificate
   * followed by its issuer): the i-th for the i-th certificate, as the
   * `ocspResponses` of an RFC 6187 blob wants them. A certificate without a
   * responder, or whose responder did not answer and whose last response
   * has expired, gets an empty entry (trailing empties are left out).
   */
  async responses(chain: ReadonlyArray<Uint8Array | X509Certificate>): Promise<Buffer[]> {
    const certs = chain.map((c) => (c instanceof Uint8Array ? this.store.get(c) : this.store.fromX509(c)));
    const count = this.options.scope === 'chain' ? certs.length - 1 : Math.min(1, certs.length - 1);
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) out.push((await this.current(certs[i]!, certs[i + 1]!))?.der ?? Buffer.alloc(0));
    while (out.length && out[out.length - 1]!.length === 0) out.pop();
    return out;
  }

  /**
   * Keeps `chain`'s responses fresh in the background, for code that needs
   * them synchronously (a server building K_S at each key exchange, RFC 6187
   * section 2.1): fetches once now, then asks again every `intervalMs`
   * (default 60 s; a fetch happens only when the cached response is due for
   * refresh). `current()` returns the latest responses, `[]` once they have
   * expired and no responder answered. Call `stop()` when done; the timer
   * never keeps the process alive.
   */
  async keepFresh(chain: ReadonlyArray<Uint8Array | X509Certificate>, intervalMs = 60_000): Promise<StapledResponses> {
    let latest = await this.responses(chain);
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.responses(chain)
        .then((r) => {
          latest = r;
        }, () => undefined)
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    timer.unref();
    return { current: () => latest, stop: () => clearInterval(timer) };
  }

  private async current(cert: VerifierCertificate, issuer: VerifierCertificate): Promise<Entry | undefined> {
    const now = this.now();
    const have = this.cache.get(cert.id);
    if (have && now < have.refreshAt) return have;
    let pending = this.inflight.get(cert.id);
    if (!pending) {
      pending = this.fetch(cert, issuer).finally(() => this.inflight.delete(cert.id));
      this.inflight.set(cert.id, pending);
    }
    const fresh = await pending;
    if (fresh) return fresh;
    return have && this.now() < have.expiresAt ? have : undefined;
  }

  private async fetch(cert: VerifierCertificate, issuer: VerifierCertificate): Promise<Entry | undefined> {
    const urls = ocspUrls(cert);
    if (urls.length === 0) return undefined;
    const request = await buildOcspRequest(cert, issuer);
    for (const url of urls) {
      try {
        const der = await fetchBytes(url, request, 'application/ocsp-request', { timeoutMs: this.options.timeoutMs ?? 3000 });
        const at = new Date(this.now());
        const answer = await checkOcspResponse(der, cert, issuer, {
          at,
          clockSkewMs: 300_000,
          maxAgeMs: this.options.maxAgeMs ?? 3600_000,
          issuance: this.issuance,
          store: this.store,
          signaturePolicy: { allowSha1: this.options.allowSha1 ?? false },
        });
        this.options.onFetched?.(cert.subject, answer, url);
        const expiresAt = answer.nextUpdate ? answer.nextUpdate.getTime() : at.getTime() + (this.options.maxAgeMs ?? 3600_000);
        const window = expiresAt - answer.thisUpdate.getTime();
        const before = this.options.refreshBeforeMs ?? Math.min(3600_000, Math.max(0, window / 4));
        const entry: Entry = { der, refreshAt: Math.max(at.getTime(), expiresAt - before), expiresAt };
        this.cache.set(cert.id, entry);
        return entry;
      } catch (e) {
        this.options.onError?.(cert.subject, e instanceof Error ? e : new Error(String(e)));
      }
    }
    return undefined;
  }
}
