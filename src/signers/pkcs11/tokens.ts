/**
 * Finding tokens and the certificate objects on them, and matching them
 * against a selection (RFC 7512 URI, label, CKA_ID, fingerprint).
 *
 * @internal
 * @module
 */
import type { X509Certificate } from '@peculiar/x509';
import { parsedCertificate } from '../../certs/model.js';
import type { Session, SessionObject, Slot } from 'graphene-pk11';
import { matchesFingerprint } from '../../certs/fingerprint.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { CKC_X_509, CKF_SERIAL_SESSION, CKF_TOKEN, CKF_TOKEN_PRESENT, CKK, CKO, CKR, ckrName, ckrOf } from './constants.js';
import type { ModuleRef } from './module.js';
import type { Pkcs11Uri } from './uri.js';

/** A slot with an initialised token, and what C_GetSlotInfo / C_GetTokenInfo say. */
export interface TokenEntry {
  readonly slot: Slot;
  /** The slot id in decimal (CK_SLOT_ID). */
  readonly slotId: string;
  readonly slotDescription: string;
  readonly slotManufacturer: string;
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly flags: number;
}

/** A certificate object on a token. */
export interface CertObject {
  readonly object: SessionObject;
  readonly der: Uint8Array;
  readonly cert: X509Certificate;
  /** CKA_ID (may be empty). */
  readonly id: Buffer;
  /** CKA_LABEL (may be empty). */
  readonly label: string;
}

/** The selection of a certificate on a token. Every given criterion must match. */
export interface Selection {
  readonly uri?: Pkcs11Uri;
  /** CKA_LABEL of the certificate. */
  readonly label?: string;
  /** CKA_ID of the certificate. */
  readonly id?: Uint8Array;
  /** A certificate fingerprint (see matchesFingerprint). */
  readonly fingerprint?: string;
}

/** CK_SLOT_ID from a pkcs11js handle buffer (native-endian CK_ULONG). */
export function slotIdOf(handle: Buffer): string {
  if (handle.length === 8) return handle.readBigUInt64LE().toString();
  if (handle.length === 4) return handle.readUInt32LE().toString();
  return handle.toString('hex');
}

/** A readable error for a failed PKCS#11 call. */
export function pkcs11Failed(what: string, e: unknown): SshX509Error {
  return new SshX509Error(ErrorCodes.PKCS11_FAILED, `${what} failed: ${ckrName(e)}`, { cause: e });
}

/**
 * C_GetSlotList through graphene, asked again when the list grew between
 * its size query and its fill (CKR_BUFFER_TOO_SMALL): OpenSC adds slots
 * when a card is pulled or put back.
 */
export function getSlots(mod: ModuleRef, tokenPresent: boolean): ReturnType<ModuleRef['module']['getSlots']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return mod.module.getSlots(tokenPresent);
    } catch (e) {
      if (ckrOf(e) !== CKR.BUFFER_TOO_SMALL || attempt >= 5) throw e;
    }
  }
}

/**
 * Every slot holding an initialised token. C_GetSlotList(true) is the one
 * look at the readers (OpenSC re-detects them there, through pcscd); the
 * token is read from C_GetTokenInfo, and C_GetSlotInfo (which OpenSC answers
 * with one more pcscd round trip, 3-10 ms) only when the slot's description
 * or graphene's Slot is first needed: a selection by serial or label reads
 * it for the chosen token alone.
 */
export function listTokens(mod: ModuleRef): TokenEntry[] {
  const lib = mod.module.lib;
  let handles: Buffer[];
  try {
    handles = slotList(mod, true);
  } catch (e) {
    throw pkcs11Failed(`C_GetSlotList on ${mod.path}`, e);
  }
  mod.watcher.noteRefreshed();
  const out: TokenEntry[] = [];
  for (const handle of handles) {
    try {
      const t = lib.C_GetTokenInfo(handle);
      if ((t.flags & CKF_TOKEN.TOKEN_INITIALIZED) === 0) continue;
      out.push(lazyTokenEntry(mod, handle, t));
    } catch {
      // A token that vanished or cannot be read between C_GetSlotList and C_GetTokenInfo is skipped.
    }
  }
  return out;
}

/** C_GetSlotList, asked again when the list grew between its size query and its fill (see {@link getSlots}). */
function slotList(mod: ModuleRef, tokenPresent: boolean): Buffer[] {
  for (let attempt = 1; ; attempt++) {
    try {
      return mod.module.lib.C_GetSlotList(tokenPresent);
    } catch (e) {
      if (ckrOf(e) !== CKR.BUFFER_TOO_SMALL || attempt >= 5) throw e;
    }
  }
}

/** A {@link TokenEntry} whose slot information (C_GetSlotInfo) is read on first use, once. */
function lazyTokenEntry(mod: ModuleRef, handle: Buffer, t: { label: string; serialNumber: string; manufacturerID: string; model: string; flags: number }): TokenEntry {
  let slot: Slot | undefined;
  const getSlot = (): Slot => (slot ??= new mod.graphene.Slot(handle, mod.module, mod.module.lib));
  return {
    get slot() {
      return getSlot();
    },
    slotId: slotIdOf(handle),
    get slotDescription() {
      return getSlot().slotDescription.trimEnd();
    },
    get slotManufacturer() {
      return getSlot().manufacturerID.trimEnd();
    },
    label: t.label.trimEnd(),
    serial: t.serialNumber.trimEnd(),
    manufacturer: t.manufacturerID.trimEnd(),
    model: t.model.trimEnd(),
    flags: t.flags,
  };
}

/** What is in a slot, for messages when no usable token is found. */
export interface SlotState {
  readonly slotId: string;
  /** The slot description: for a smartcard, the reader's name. */
  readonly description: string;
  /** `empty`: no card; `unrecognized`: a card the module cannot read (CKR_TOKEN_NOT_RECOGNIZED); `uninitialized`: a token without CKF_TOKEN_INITIALIZED. */
  readonly state: 'empty' | 'unrecognized' | 'uninitialized' | 'token';
}

/** Every slot of the module, with or without a token, and what is in it. */
export function slotStates(mod: ModuleRef): SlotState[] {
  let slots;
  try {
    slots = getSlots(mod, false);
  } catch {
    return [];
  }
  const out: SlotState[] = [];
  for (let i = 0; i < slots.length; i++) {
    try {
      const slot = slots.items(i);
      const base = { slotId: slotIdOf(slot.handle), description: slot.slotDescription.trimEnd() };
      if ((slot.flags & CKF_TOKEN_PRESENT) === 0) {
        out.push({ ...base, state: 'empty' });
        continue;
      }
      try {
        const t = slot.getToken();
        out.push({ ...base, state: t.flags & CKF_TOKEN.TOKEN_INITIALIZED ? 'token' : 'uninitialized' });
      } catch (e) {
        const rv = ckrOf(e);
        if (rv === CKR.TOKEN_NOT_RECOGNIZED) out.push({ ...base, state: 'unrecognized' });
        else if (rv === CKR.TOKEN_NOT_PRESENT || rv === CKR.DEVICE_REMOVED) out.push({ ...base, state: 'empty' });
      }
    } catch {
      /* a slot that vanished meanwhile */
    }
  }
  return out;
}

function versionString(v: { major: number; minor: number }): string {
  return `${v.major}.${v.minor}`;
}

/** True when `t` matches the token and library parts of `uri`. */
export function tokenMatches(mod: ModuleRef, t: TokenEntry, uri: Pkcs11Uri | undefined): boolean {
  if (!uri) return true;
  const m = mod.module;
  if (uri.token !== undefined && uri.token !== t.label) return false;
  if (uri.serial !== undefined && uri.serial !== t.serial) return false;
  if (uri.manufacturer !== undefined && uri.manufacturer !== t.manufacturer) return false;
  if (uri.model !== undefined && uri.model !== t.model) return false;
  if (uri.slotId !== undefined && uri.slotId.toString() !== t.slotId) return false;
  if (uri.slotDescription !== undefined && uri.slotDescription !== t.slotDescription) return false;
  if (uri.slotManufacturer !== undefined && uri.slotManufacturer !== t.slotManufacturer) return false;
  if (uri.libraryManufacturer !== undefined && uri.libraryManufacturer !== m.manufacturerID.trimEnd()) return false;
  if (uri.libraryDescription !== undefined && uri.libraryDescription !== m.libraryDescription.trimEnd()) return false;
  if (uri.libraryVersion !== undefined) {
    const v = versionString(m.libraryVersion);
    if (uri.libraryVersion !== v && `${uri.libraryVersion}.0` !== v) return false;
  }
  return true;
}

/** Opens a read-only session on the token. */
export function openSession(t: TokenEntry): Session {
  try {
    return t.slot.open(CKF_SERIAL_SESSION);
  } catch (e) {
    throw pkcs11Failed(`C_OpenSession on token "${t.label}"`, e);
  }
}

/** Reads one attribute, or undefined when the token refuses it. */
export function attr<T>(obj: SessionObject, name: string): T | undefined {
  try {
    return obj.getAttribute(name) as T;
  } catch {
    return undefined;
  }
}

/** Every X.509 certificate object visible in `session` (unparseable ones are skipped). */
export function readCertificates(session: Session): CertObject[] {
  let found;
  try {
    found = session.find({ class: CKO.CERTIFICATE, certType: CKC_X_509 });
  } catch (e) {
    throw pkcs11Failed('C_FindObjects (certificates)', e);
  }
  const out: CertObject[] = [];
  for (let i = 0; i < found.length; i++) {
    const object = found.items(i);
    const value = attr<Buffer>(object, 'value');
    if (!value || value.length === 0) continue;
    let cert: X509Certificate;
    try {
      cert = parsedCertificate(value).x509;
    } catch {
      continue;
    }
    out.push({ object, der: new Uint8Array(value), cert, id: attr<Buffer>(object, 'id') ?? Buffer.alloc(0), label: attr<string>(object, 'label') ?? '' });
  }
  return out;
}

/** True when the certificate object matches every criterion of `sel`. */
export function certMatches(c: CertObject, sel: Selection): boolean {
  if (sel.uri?.object !== undefined && sel.uri.object !== c.label) return false;
  if (sel.uri?.id !== undefined && !c.id.equals(sel.uri.id)) return false;
  if (sel.label !== undefined && sel.label !== c.label) return false;
  if (sel.id !== undefined && !c.id.equals(sel.id)) return false;
  if (sel.fingerprint !== undefined && !matchesFingerprint(c.der, sel.fingerprint)) return false;
  return true;
}

/** The private key object of a certificate: same CKA_ID, or (when the id is empty) same CKA_LABEL. */
export function findPrivateKey(session: Session, c: Pick<CertObject, 'id' | 'label'>): SessionObject | undefined {
  const templates = c.id.length > 0 ? [{ class: CKO.PRIVATE_KEY, id: c.id }] : c.label ? [{ class: CKO.PRIVATE_KEY, label: c.label }] : [];
  for (const t of templates) {
    try {
      const found = session.find(t);
      if (found.length > 0) return found.items(0);
    } catch {
      /* treat as not found */
    }
  }
  return undefined;
}

/** The CKK_* key type that fits a certificate key type. */
export function ckkFor(keyType: string): number | undefined {
  return keyType === 'rsa' ? CKK.RSA : keyType === 'ec' ? CKK.EC : keyType === 'ed25519' ? CKK.EC_EDWARDS : keyType === 'dsa' ? CKK.DSA : undefined;
}

/** Parses a CKA_ID given as hex (colons and spaces allowed); throws `ERR_INVALID_ARGUMENT` for anything else. */
export function parseIdHex(id: string | Uint8Array): Buffer {
  if (typeof id !== 'string') return Buffer.from(id);
  const hex = id.replace(/[:\s]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) {
    throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, `CKA_ID ${JSON.stringify(id)} is not hex (for example 01 or 4a:6b)`);
  }
  return Buffer.from(hex, 'hex');
}
