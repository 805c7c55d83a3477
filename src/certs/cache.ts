/**
 * A small bounded LRU map with per-entry expiry, used for parsed
 * certificates, validated chains, OCSP answers and CRLs.
 *
 * @module
 */

interface Entry<V> {
  value: V;
  /** Epoch ms after which the entry is stale. */
  expiresAt: number;
}

/** A least-recently-used map holding at most `maxEntries` entries, each with an expiry time. */
export class LruCache<K, V> {
  private readonly map = new Map<K, Entry<V>>();
  /** The most recently used key (the map's last), whose recency a hit need not refresh. */
  private newest: K | undefined;

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a non-negative integer');
  }

  /** The value for `key` when present and not expired at `now` (epoch ms); refreshes its recency. */
  get(key: K, now: number): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (now > e.expiresAt) {
      this.map.delete(key);
      return undefined;
    }
    if (key !== this.newest) {
      this.map.delete(key);
      this.map.set(key, e);
      this.newest = key;
    }
    return e.value;
  }

  /** Stores `value` until `expiresAt` (epoch ms), evicting the least recently used entry when full. */
  set(key: K, value: V, expiresAt: number): void {
    if (this.maxEntries === 0) return;
    this.map.delete(key);
    this.map.set(key, { value, expiresAt });
    this.newest = key;
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value as K;
      this.map.delete(oldest);
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.map.clear();
    this.newest = undefined;
  }

  /** Number of entries held (including expired ones not yet seen). */
  get size(): number {
    return this.map.size;
  }
}
