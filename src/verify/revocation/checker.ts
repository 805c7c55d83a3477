/**
 * The revocation policy of the verifier: `off`, `prefer` (use what answers,
 * accept when nothing does) or `require` (fail closed when nothing answers).
 * Sources, in order: the OCSP response stapled in the blob, a cached or
 * fetched answer from the certificate's OCSP responder (AIA), then CRLs
 * (configured files, then the CRL distribution points).
 *
 * @module
 */
import { readInputFile } from '../../certs/load.js';
import { LruCache } from '../cache.js';
import type { CertificateStore, IssuanceChecker, SignedObjectPolicy, VerifierCertificate } from '../certificates.js';
import { Refusal, refuse, type RefusalReason } from '../reasons.js';
import { crlAnswer, crlUrls, parseCrls, type LoadedCrl } from './crl.js';
import { fetchBytes } from './http.js';
import { buildOcspRequest, checkOcspResponse, ocspUrls, type OcspAnswer, type OcspCheckContext } from './ocsp.js';

/** How revocation is checked: not at all, best effort, or fail closed. */
export type RevocationMode = 'off' | 'prefer' | 'require';

/** Where a revocation answer came from (`none`: nothing answered, allowed by `prefer`, or mode `off`). */
export type RevocationSource = 'ocsp-stapled' | 'ocsp-fetched' | 'crl' | 'none';

/** Revocation options of the verifier. */
export interface RevocationOptions {
  /** Default `prefer`. */
  mode?: RevocationMode;
  /** CRLs: file paths (DER or PEM), or the bytes. Read once, when the verifier is created. */
  crls?: ReadonlyArray<string | Uint8Array>;
  /** Fetch OCSP from the AIA responder and CRLs from distribution points over HTTP (default true). */
  fetch?: boolean;
  /** Timeout of one HTTP fetch, ms (default 3000). */
  timeoutMs?: number;
  /** Clock-skew allowance on thisUpdate/nextUpdate, ms (default 5 minutes). */
  clockSkewMs?: number;
  /** Oldest acceptable OCSP response that has no nextUpdate, ms (default 1 hour). */
  ocspMaxAgeMs?: number;
  /** Check only the leaf (default), or every certificate below the anchor. */
  scope?: 'leaf' | 'chain';
  /** Most fetched OCSP answers and CRLs kept (default 1000). */
  cacheSize?: number;
}

/** What was found for one certificate. */
export interface CertificateRevocationStatus {
  readonly subject: string;
  readonly source: RevocationSource;
  /** `unchecked` when nothing answered (mode `prefer`) or mode `off`. */
  readonly status: 'good' | 'unchecked';
  readonly nextUpdate?: Date;
  /** Why the sources that were tried did not answer, when none did. */
  readonly detail?: string;
}

/** The outcome for a path. */
export interface RevocationOutcome {
  /** The source that answered for the leaf. */
  readonly source: RevocationSource;
  readonly certificates: readonly CertificateRevocationStatus[];
  /**
   * Until when the answers used hold (the earliest nextUpdate; for an OCSP
   * answer without one, its thisUpdate plus `ocspMaxAgeMs`): a cached
   * decision must not outlive it.
   */
  readonly validUntil?: Date;
  /** From when the answers used hold (the latest OCSP or CRL thisUpdate, less the clock skew allowed): a cached decision must not be used before it. */
  readonly validFrom?: Date;
}

/** One certificate's status, and the times its answer holds between (epoch ms), for {@link RevocationOutcome}. */
interface Answered {
  readonly status: CertificateRevocationStatus;
  readonly from?: number;
  readonly until?: number;
}

const DEFAULT_FETCHED_TTL_MS = 3600_000;

/** Applies a {@link RevocationOptions} policy to validated paths. */
export class RevocationChecker {
  readonly mode: RevocationMode;
  private readonly opts: RevocationOptions;
  private crls: LoadedCrl[] = [];
  private readonly ocspCache: LruCache<string, OcspAnswer>;
  private readonly crlCache: LruCache<string, LoadedCrl[]>;

  constructor(
    options: RevocationOptions,
    private readonly store: CertificateStore,
    private readonly issuance: IssuanceChecker,
    private readonly signaturePolicy: SignedObjectPolicy,
  ) {
    this.opts = options;
    this.mode = options.mode ?? 'prefer';
    this.ocspCache = new LruCache(options.cacheSize ?? 1000);
    this.crlCache = new LruCache(Math.min(options.cacheSize ?? 1000, 100));
  }

  /** Reads the configured CRL files. */
  async load(): Promise<void> {
    const out: LoadedCrl[] = [];
    for (const c of this.opts.crls ?? []) {
      if (typeof c === 'string') out.push(...parseCrls(await readInputFile(c, 'CRL file'), c));
      else out.push(...parseCrls(c, 'in-memory CRL'));
    }
    this.crls = out;
  }

  private ctx(at: Date): OcspCheckContext {
    return {
      at,
      clockSkewMs: this.opts.clockSkewMs ?? 300_000,
      maxAgeMs: this.opts.ocspMaxAgeMs ?? 3600_000,
      issuance: this.issuance,
      store: this.store,
      signaturePolicy: this.signaturePolicy,
    };
  }

  /**
   * Checks `path` (leaf first, anchor last). `stapled` maps a certificate id
   * to the OCSP response the client stapled for it. Throws a refusal
   * (`revoked`, `ocspStale`, `ocspUnauthorized`, `ocspMismatch`,
   * `revocationInvalid`, `revocationUnavailable`).
   */
  async check(path: readonly VerifierCertificate[], stapled: ReadonlyMap<string, Uint8Array>, at: Date, pool: readonly VerifierCertificate[] = []): Promise<RevocationOutcome> {
    if (this.mode === 'off') {
      return { source: 'none', certificates: [{ subject: path[0]!.subject, source: 'none', status: 'unchecked' }] };
    }
    const count = this.opts.scope === 'chain' ? path.length - 1 : 1;
    const answers: Answered[] = [];
    for (let i = 0; i < count; i++) answers.push(await this.checkOne(path, i, stapled.get(path[i]!.id), at, pool));
    const untils = answers.map((a) => a.until).filter((t): t is number => t !== undefined);
    const froms = answers.map((a) => a.from).filter((t): t is number => t !== undefined);
    return {
      source: answers[0]!.status.source,
      certificates: answers.map((a) => a.status),
      ...(untils.length ? { validUntil: new Date(Math.min(...untils)) } : {}),
      ...(froms.length ? { validFrom: new Date(Math.max(...froms)) } : {}),
    };
  }

  private async checkOne(
    path: readonly VerifierCertificate[],
    i: number,
    stapled: Uint8Array | undefined,
    at: Date,
    pool: readonly VerifierCertificate[],
  ): Promise<Answered> {
    const cert = path[i]!;
    const issuer = path[i + 1]!;
    const subject = cert.subject;
    const ctx = this.ctx(at);
    const failures: string[] = [];
    const answered = (source: RevocationSource, a: { status: string; thisUpdate?: Date; nextUpdate?: Date; revocationTime?: Date }): Answered => {
      if (a.status === 'revoked') {
        refuse('revoked', `${JSON.stringify(subject)} is revoked (${source}${a.revocationTime ? `, since ${a.revocationTime.toISOString()}` : ''})`);
      }
      // The times the answer is accepted between (checkOcspResponse, RFC 5280 section 6.3.3 (a)): a cached decision holds only between them.
      const ocsp = source === 'ocsp-stapled' || source === 'ocsp-fetched';
      const from = a.thisUpdate ? a.thisUpdate.getTime() - ctx.clockSkewMs : undefined;
      const until = a.nextUpdate ? a.nextUpdate.getTime() : ocsp && a.thisUpdate ? a.thisUpdate.getTime() + ctx.maxAgeMs : undefined;
      return {
        status: { subject, source, status: 'good', ...(a.nextUpdate ? { nextUpdate: a.nextUpdate } : {}) },
        ...(from !== undefined ? { from } : {}),
        ...(until !== undefined ? { until } : {}),
      };
    };

    // 1. Stapled: the client's own evidence. A bad one is refused outright, never silently skipped.
    if (stapled) {
      const a = await checkOcspResponse(stapled, cert, issuer, ctx);
      if (a.status !== 'unknown') return answered('ocsp-stapled', a);
      failures.push('the stapled OCSP response says unknown');
    }

    const fetch = this.opts.fetch ?? true;
    const key = `${cert.id}:${issuer.id}`;
    // 2. OCSP from the AIA responder, cached until nextUpdate.
    const cached = this.ocspCache.get(key, at.getTime());
    if (cached) return answered('ocsp-fetched', cached);
    if (fetch) {
      for (const url of ocspUrls(cert)) {
        try {
          const req = await buildOcspRequest(cert, issuer);
          const der = await fetchBytes(url, req, 'application/ocsp-request', { timeoutMs: this.opts.timeoutMs ?? 3000 });
          const a = await checkOcspResponse(der, cert, issuer, ctx);
          if (a.status === 'unknown') {
            failures.push(`${url} says unknown`);
            continue;
          }
          const until = a.nextUpdate ? a.nextUpdate.getTime() : a.thisUpdate.getTime() + ctx.maxAgeMs;
          this.ocspCache.set(key, a, Math.min(until, at.getTime() + DEFAULT_FETCHED_TTL_MS));
          return answered('ocsp-fetched', a);
        } catch (e) {
          if (e instanceof Refusal && e.reason === 'revoked') throw e;
          failures.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }

    // 3. CRLs: configured, then distribution points.
    const issuers = { anchor: path[path.length - 1]!, candidates: [...path, ...pool] };
    const tryCrls = async (list: readonly LoadedCrl[], where: string): Promise<Answered | undefined> => {
      if (list.length === 0) return undefined;
      const notes: string[] = [];
      try {
        const a = await crlAnswer(list, cert, issuer, at, ctx.clockSkewMs, this.signaturePolicy, issuers, notes);
        if (a) return answered('crl', a);
      } catch (e) {
        if (e instanceof Refusal && e.reason === 'revoked') throw e;
        notes.push(e instanceof Error ? e.message : String(e));
      }
      failures.push(`${where}: ${notes.join('; ')}`);
      return undefined;
    };
    const fromFiles = await tryCrls(this.crls, 'CRL files');
    if (fromFiles) return fromFiles;
    if (fetch) {
      for (const url of crlUrls(cert)) {
        let list = this.crlCache.get(url, at.getTime());
        if (!list) {
          try {
            list = parseCrls(await fetchBytes(url, undefined, undefined, { timeoutMs: this.opts.timeoutMs ?? 3000, maxBytes: 16 << 20 }), url);
            const next = list[0]?.crl.nextUpdate?.value.getTime();
            this.crlCache.set(url, list, Math.min(next ?? Number.POSITIVE_INFINITY, at.getTime() + DEFAULT_FETCHED_TTL_MS));
          } catch (e) {
            failures.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
            continue;
          }
        }
        const r = await tryCrls(list, url);
        if (r) return r;
      }
    }

    const detail = failures.length ? failures.join('; ') : 'no stapled response, no OCSP responder, no CRL for this issuer';
    if (this.mode === 'require') {
      const reason: RefusalReason = 'revocationUnavailable';
      refuse(reason, `no revocation source answered for ${JSON.stringify(subject)}: ${detail}`);
    }
    return { status: { subject, source: 'none', status: 'unchecked', detail } };
  }
}
