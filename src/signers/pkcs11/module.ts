/**
 * One initialised PKCS#11 module per library path per process, shared by
 * every signer and listing that uses it: C_Initialize on first use,
 * C_Finalize when the last user releases it.
 *
 * @internal
 * @module
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Module } from 'graphene-pk11';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { CKF_OS_LOCKING_OK, CKR, ckrName, ckrOf } from './constants.js';
import { loadGraphene, type GrapheneModule } from './load.js';
import { SlotWatcher } from './watch.js';

/** A counted reference to an initialised module. */
export interface ModuleRef {
  readonly path: string;
  readonly graphene: GrapheneModule;
  readonly module: Module;
  /** The module's removal watcher (one poller for all its signers). */
  readonly watcher: SlotWatcher;
  /** Drops this reference; the last one finalizes the module. Idempotent. */
  release(): void;
}

interface Entry {
  module: Module;
  graphene: GrapheneModule;
  refs: number;
  /** False when someone else in the process had initialised the module: then we never finalize it. */
  ownsInit: boolean;
  watcher: SlotWatcher;
}

const modules = new Map<string, Entry>();

/**
 * Opens (or shares) the PKCS#11 module at `path`. Throws
 * `ERR_PKCS11_MODULE_MISSING` when there is no such file,
 * `ERR_PKCS11_MODULE_INVALID` when it cannot be loaded or initialised, and
 * `ERR_PKCS11_UNAVAILABLE` when graphene-pk11 is not installed.
 */
export function acquireModule(path: string): ModuleRef {
  if (typeof path !== 'string' || path.length === 0) {
    throw new SshX509Error(ErrorCodes.PKCS11_MODULE_MISSING, 'no PKCS#11 module path given (for example /usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)');
  }
  const abs = resolve(path);
  let entry = modules.get(abs);
  if (!entry) {
    try {
      if (!statSync(abs).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    } catch (e) {
      throw new SshX509Error(ErrorCodes.PKCS11_MODULE_MISSING, `PKCS#11 module ${abs} not found (${(e as NodeJS.ErrnoException).code ?? 'error'}); give the path of the token's PKCS#11 library`, { cause: e });
    }
    const graphene = loadGraphene();
    let module: Module;
    try {
      module = graphene.Module.load(abs);
    } catch (e) {
      throw new SshX509Error(ErrorCodes.PKCS11_MODULE_INVALID, `cannot load ${abs} as a PKCS#11 module: ${(e as Error).message}`, { cause: e });
    }
    let ownsInit = true;
    try {
      module.initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (e) {
      if (ckrOf(e) === CKR.CRYPTOKI_ALREADY_INITIALIZED) ownsInit = false;
      else {
        try {
          module.close();
        } catch {
          /* already failing */
        }
        throw new SshX509Error(ErrorCodes.PKCS11_MODULE_INVALID, `C_Initialize of ${abs} failed: ${ckrName(e)}`, { cause: e });
      }
    }
    entry = { module, graphene, refs: 0, ownsInit, watcher: new SlotWatcher(module, abs) };
    modules.set(abs, entry);
  }
  entry.refs++;
  const e = entry;
  let released = false;
  return {
    path: abs,
    graphene: e.graphene,
    module: e.module,
    watcher: e.watcher,
    release() {
      if (released) return;
      released = true;
      if (--e.refs > 0) return;
      modules.delete(abs);
      e.watcher.stop();
      try {
        if (e.ownsInit) e.module.finalize();
      } catch {
        /* finalize errors leave nothing to recover */
      }
      try {
        e.module.close();
      } catch {
        /* idem */
      }
    },
  };
}

/** @internal For tests: how many users the module at `path` has (0 when not loaded). */
export function moduleRefCount(path: string): number {
  return modules.get(resolve(path))?.refs ?? 0;
}
