/**
 * RFC 7512 `pkcs11:` URIs: which token and which object.
 *
 * @module
 */
import { ErrorCodes, SshX509Error } from '../../errors.js';

/** The parts of a `pkcs11:` URI this library uses to pick a token and an object. */
export interface Pkcs11Uri {
  /** `token`: the token label (CK_TOKEN_INFO.label). */
  token?: string;
  /** `manufacturer`: CK_TOKEN_INFO.manufacturerID. */
  manufacturer?: string;
  /** `serial`: CK_TOKEN_INFO.serialNumber. */
  serial?: string;
  /** `model`: CK_TOKEN_INFO.model. */
  model?: string;
  /** `object`: the object label (CKA_LABEL). */
  object?: string;
  /** `id`: the object id (CKA_ID), as bytes. */
  id?: Uint8Array;
  /** `type`: `cert`, `private` or `public` (all three name the same key pair here). */
  type?: 'cert' | 'private' | 'public';
  /** `slot-id`: the slot number (decimal). */
  slotId?: bigint;
  /** `slot-description` (CK_SLOT_INFO.slotDescription). */
  slotDescription?: string;
  /** `slot-manufacturer` (CK_SLOT_INFO.manufacturerID). */
  slotManufacturer?: string;
  /** `library-manufacturer` (CK_INFO.manufacturerID). */
  libraryManufacturer?: string;
  /** `library-description` (CK_INFO.libraryDescription). */
  libraryDescription?: string;
  /** `library-version` (`M` or `M.m`). */
  libraryVersion?: string;
  /** Query `module-path`: the module to load, when no module path is given otherwise. */
  modulePath?: string;
  /** Query `module-name`: the module's name (informative; not resolved). */
  moduleName?: string;
}

const PATH_ATTRS: Record<string, keyof Pkcs11Uri> = {
  token: 'token',
  manufacturer: 'manufacturer',
  serial: 'serial',
  model: 'model',
  object: 'object',
  id: 'id',
  type: 'type',
  'slot-id': 'slotId',
  'slot-description': 'slotDescription',
  'slot-manufacturer': 'slotManufacturer',
  'library-manufacturer': 'libraryManufacturer',
  'library-description': 'libraryDescription',
  'library-version': 'libraryVersion',
};

const QUERY_ATTRS: Record<string, keyof Pkcs11Uri> = {
  'module-path': 'modulePath',
  'module-name': 'moduleName',
};

function invalid(message: string): SshX509Error {
  return new SshX509Error(ErrorCodes.URI_INVALID, message);
}

/** Percent-decodes to bytes (RFC 3986 section 2.1), rejecting malformed escapes. */
function decodeBytes(value: string, attr: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw invalid(`pkcs11 URI attribute "${attr}" has a malformed percent-encoding at "${value.slice(i, i + 3)}"`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(out);
}

function decodeText(value: string, attr: string): string {
  const bytes = decodeBytes(value, attr);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(`pkcs11 URI attribute "${attr}" is not valid UTF-8 after percent-decoding`);
  }
}

/**
 * Parses an RFC 7512 `pkcs11:` URI. Path attributes are separated by `;`,
 * query attributes by `&`; values are percent-decoded (`id` to bytes, the
 * rest as UTF-8). Vendor attributes (`x-...`) are ignored, as the RFC allows.
 *
 * Throws `ERR_URI_INVALID` naming the attribute for an unknown or repeated
 * attribute, a malformed percent-encoding, an unknown `type`, or a PIN in the
 * URI (`pin-value`, `pin-source`: PINs are asked through the PIN callback).
 *
 * @example
 * ```ts
 * parsePkcs11Uri('pkcs11:token=My%20Card;object=SSH%20key;type=cert')
 * // { token: 'My Card', object: 'SSH key', type: 'cert' }
 * ```
 */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (typeof uri !== 'string' || !/^pkcs11:/i.test(uri)) {
    throw invalid(`not a pkcs11 URI (RFC 7512 URIs start with "pkcs11:"): ${JSON.stringify(String(uri).slice(0, 40))}`);
  }
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const path = q < 0 ? body : body.slice(0, q);
  const query = q < 0 ? '' : body.slice(q + 1);
  const out: Pkcs11Uri = {};
  const seen = new Set<string>();

  const take = (part: string, kind: 'path' | 'query'): void => {
    if (part === '') return;
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(`pkcs11 URI ${kind} attribute ${JSON.stringify(part.slice(0, 40))} has no "name=value" form`);
    const name = part.slice(0, eq).toLowerCase();
    const raw = part.slice(eq + 1);
    if (name.startsWith('x-')) return;
    if (name === 'pin-value' || name === 'pin-source') {
      throw invalid(`pkcs11 URI attribute "${name}" is not accepted: a PIN never goes in the URI (give it with --pin-env or at the prompt; in code, with the pin option)`);
    }
    const key = (kind === 'path' ? PATH_ATTRS : QUERY_ATTRS)[name];
    if (!key) {
      const known = Object.keys(kind === 'path' ? PATH_ATTRS : QUERY_ATTRS).join(', ');
      throw invalid(`unknown pkcs11 URI ${kind} attribute "${name}" (known: ${known})`);
    }
    if (seen.has(name)) throw invalid(`pkcs11 URI attribute "${name}" appears twice`);
    seen.add(name);
    switch (key) {
      case 'id':
        out.id = decodeBytes(raw, name);
        break;
      case 'type': {
        const t = decodeText(raw, name);
        if (t !== 'cert' && t !== 'private' && t !== 'public') {
          throw invalid(`pkcs11 URI attribute "type=${t}" does not name a certificate or a key pair (use cert, private or public)`);
        }
        out.type = t;
        break;
      }
      case 'slotId': {
        const t = decodeText(raw, name);
        if (!/^[0-9]+$/.test(t)) throw invalid(`pkcs11 URI attribute "slot-id" must be a decimal number, got ${JSON.stringify(t)}`);
        out.slotId = BigInt(t);
        break;
      }
      default:
        (out as Record<string, string>)[key] = decodeText(raw, name);
    }
  };

  for (const part of path.split(';')) take(part, 'path');
  for (const part of query.split('&')) take(part, 'query');
  return out;
}

function encode(value: string | Uint8Array, always = false): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  let s = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += !always && /[A-Za-z0-9\-._~:\[\]@!$'()*+,=&]/.test(c) ? c : `%${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/**
 * Formats the RFC 7512 URI of a certificate or key: token label, manufacturer,
 * model, serial, object label, id (always fully percent-encoded) and type.
 */
export function formatPkcs11Uri(parts: Pick<Pkcs11Uri, 'token' | 'manufacturer' | 'model' | 'serial' | 'object' | 'id' | 'type'>): string {
  const out: string[] = [];
  if (parts.model !== undefined) out.push(`model=${encode(parts.model)}`);
  if (parts.manufacturer !== undefined) out.push(`manufacturer=${encode(parts.manufacturer)}`);
  if (parts.serial !== undefined) out.push(`serial=${encode(parts.serial)}`);
  if (parts.token !== undefined) out.push(`token=${encode(parts.token)}`);
  if (parts.id !== undefined && parts.id.length > 0) out.push(`id=${encode(parts.id, true)}`);
  if (parts.object !== undefined) out.push(`object=${encode(parts.object)}`);
  if (parts.type !== undefined) out.push(`type=${parts.type}`);
  return `pkcs11:${out.join(';')}`;
}
