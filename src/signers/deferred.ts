import type { HashName } from '../algorithms.js';
import type { CertificateChain } from '../certs/chain.js';
import type { Signer } from './signer.js';

/**
 * A {@link Signer} whose real signer is opened only when the first signature
 * is asked for. With ssh2's query-first publickey flow, a smartcard is then
 * asked for its PIN only for the certificate the server answered PK_OK to,
 * never for the others tried before it.
 *
 * The certificate chain must be known up front (certificates are public:
 * listing them needs no PIN). A failed open is not cached, so a later
 * signature tries again; it is never retried automatically.
 *
 * @example
 * ```ts
 * const signers = certs.map((c) => new DeferredSigner(c.chain, c.label, () => openPkcs11Signer({ module, fingerprint: c.sha256, pin })));
 * ```
 */
export class DeferredSigner implements Signer {
  #opening?: Promise<Signer>;
  #opened?: Signer;
  readonly #removedListeners = new Set<() => void>();
  #offRemoved?: () => void;

  constructor(
    readonly chain: CertificateChain,
    readonly label: string,
    private readonly open: () => Promise<Signer>,
  ) {}

  /** True once the real signer has been opened. */
  get isOpen(): boolean {
    return this.#opened !== undefined;
  }

  async sign(data: Uint8Array, hash: HashName | null): Promise<Uint8Array> {
    if (!this.#opening) {
      this.#opening = this.open().then(
        (s) => {
          this.#opened = s;
          if (s.onRemoved) this.#offRemoved = s.onRemoved(() => this.#removedListeners.forEach((l) => l()));
          return s;
        },
        (e: unknown) => {
          this.#opening = undefined;
          throw e;
        },
      );
    }
    return (await this.#opening).sign(data, hash);
  }

  /** Listeners hear removal once the real signer is open (before that there is no card session to lose). */
  onRemoved(listener: () => void): () => void {
    this.#removedListeners.add(listener);
    return () => this.#removedListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#offRemoved?.();
    const s = this.#opened ?? (this.#opening ? await this.#opening.catch(() => undefined) : undefined);
    this.#opening = undefined;
    this.#opened = undefined;
    await s?.close?.();
  }
}
