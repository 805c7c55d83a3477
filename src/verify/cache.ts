/**
 * The bounded LRU map of the verifier's caches (validated chains, OCSP
 * answers, CRLs); it lives in the certs layer, which caches parsed
 * certificates with it too.
 *
 * @module
 */
export { LruCache } from '../certs/cache.js';
