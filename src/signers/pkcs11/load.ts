/**
 * Loads the optional peer dependency graphene-pk11 only when PKCS#11 is
 * actually used, so that `ssh-x509` users without tokens never load a native
 * module.
 *
 * @internal
 * @module
 */
import { createRequire } from 'node:module';
import type * as Graphene from 'graphene-pk11';
import { ErrorCodes, SshX509Error } from '../../errors.js';

/** The graphene-pk11 module namespace. */
export type GrapheneModule = typeof Graphene;

let cached: GrapheneModule | undefined;

/** For tests: the specifier to load instead of `graphene-pk11`. */
let specifier = 'graphene-pk11';

/**
 * Returns graphene-pk11, loading it on first use. Throws
 * `ERR_PKCS11_UNAVAILABLE` with install instructions when it is missing or
 * its native part (pkcs11js) cannot load.
 */
export function loadGraphene(): GrapheneModule {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = require(specifier) as GrapheneModule;
    return cached;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new SshX509Error(
        ErrorCodes.PKCS11_UNAVAILABLE,
        'PKCS#11 support needs the optional peer dependency graphene-pk11: run `npm install graphene-pk11` (it builds the native pkcs11js addon)',
        { cause: e },
      );
    }
    throw new SshX509Error(
      ErrorCodes.PKCS11_UNAVAILABLE,
      `graphene-pk11 is installed but cannot be loaded (${(e as Error).message}); reinstall it so that its native addon pkcs11js is rebuilt for this Node.js`,
      { cause: e },
    );
  }
}

/** @internal For tests only: load another specifier (e.g. a missing one) instead of graphene-pk11. */
export function setGrapheneSpecifierForTests(s: string | undefined): void {
  specifier = s ?? 'graphene-pk11';
  cached = undefined;
}
