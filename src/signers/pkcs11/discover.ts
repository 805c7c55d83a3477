/**
 * The one PKCS#11 discovery pass: module → slots → tokens → URI match →
 * certificates, each read once per operation. The signer, the listing, the
 * candidates and the chain reader of `export-pub` all start here.
 *
 * @internal
 * @module
 */
import { BasicConstraintsExtension, type X509Certificate } from '@peculiar/x509';
import type { Session } from 'graphene-pk11';
import { CertificateChain, orderChain } from '../../certs/chain.js';
import { parseCertificates, readCertificateFile, type CertificateInput } from '../../certs/load.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { acquireModule, type ModuleRef } from './module.js';
import type { LoginTarget } from './pin.js';
import { certMatches, listTokens, openSession, parseIdHex, readCertificates, slotStates, tokenMatches, type CertObject, type Selection, type SlotState, type TokenEntry } from './tokens.js';
import { parsePkcs11Uri, type Pkcs11Uri } from './uri.js';

/** A token the URI matched, with one open session and its certificates, read once. */
export interface DiscoveredToken {
  readonly token: TokenEntry;
  /** A read-only session, open until {@link Discovery.close}. */
  readonly session: Session;
  /** Every X.509 certificate object on the token, by CKA_ID then label (handle order is the module's whim). */
  readonly certs: readonly CertObject[];
}

/** One discovery pass over a module; {@link Discovery.close} it when done. */
export interface Discovery {
  readonly mod: ModuleRef;
  /** The parsed URI, when one was given. */
  readonly uri: Pkcs11Uri | undefined;
  /** Every initialised token of the module (for messages). */
  readonly present: readonly TokenEntry[];
  /** The tokens the URI matched, in slot order. */
  readonly tokens: readonly DiscoveredToken[];
  /** Closes the sessions and releases the module reference. Idempotent. */
  close(): void;
}

/** Where to look: a module and, optionally, a URI naming tokens and objects. */
export interface DiscoveryOptions {
  /** Path of the PKCS#11 module (or `module-path` in the URI). */
  readonly module?: string;
  readonly uri?: string | Pkcs11Uri;
}

/** Closes a session, ignoring a token that has already left. */
export function closeQuietly(s: Session): void {
  try {
    s.close();
  } catch {
    /* the token may have left */
  }
}

/**
 * What {@link loginSession} needs to log in to `token` on `session`. With
 * `knownFlags` (the token flags a discovery has just read), the first read
 * of the flags answers from them: C_GetTokenInfo is a card round trip with
 * OpenSC. Later reads (after a refused PIN) ask the token.
 */
export function loginTarget(token: TokenEntry, session: Session, knownFlags?: number): LoginTarget {
  let known = knownFlags;
  const tokenFlags = (): number => {
    const flags = known ?? session.lib.C_GetTokenInfo(token.slot.handle).flags;
    known = undefined;
    return flags;
  };
  return { session, tokenLabel: token.label, tokenSerial: token.serial, slotId: token.slotId, reader: token.slotDescription, tokenFlags };
}

/**
 * Loads (or shares) the module, lists its tokens, keeps those the URI
 * matches, opens one session on each and reads its certificates once.
 * Throws `ERR_PKCS11_MODULE_MISSING` / `_INVALID`, `ERR_PKCS11_UNAVAILABLE`,
 * `ERR_URI_INVALID` and `ERR_PKCS11_FAILED`.
 */
export function discover(options: DiscoveryOptions): Discovery {
  const uri = typeof options.uri === 'string' ? parsePkcs11Uri(options.uri) : options.uri;
  const modulePath = options.module ?? uri?.modulePath;
  if (!modulePath) throw new SshX509Error(ErrorCodes.PKCS11_MODULE_MISSING, 'no PKCS#11 module given (option module, or module-path in the URI)');
  const mod = acquireModule(modulePath);
  const tokens: DiscoveredToken[] = [];
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const t of tokens) closeQuietly(t.session);
    mod.release();
  };
  try {
    const present = listTokens(mod);
    for (const token of present) {
      if (!tokenMatches(mod, token, uri)) continue;
      const session = openSession(token);
      let certs: CertObject[];
      try {
        certs = readCertificates(session).sort((a, b) => Buffer.compare(a.id, b.id) || a.label.localeCompare(b.label));
      } catch (e) {
        closeQuietly(session);
        throw e;
      }
      tokens.push({ token, session, certs });
    }
    return { mod, uri, present, tokens, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Runs `fn` over one discovery pass and closes it afterwards, whatever happens. */
export async function withDiscovery<T>(options: DiscoveryOptions, fn: (d: Discovery) => Promise<T> | T): Promise<T> {
  const d = discover(options);
  try {
    return await fn(d);
  } finally {
    d.close();
  }
}

/** A selection as options give it: a URI as text or parsed, a CKA_ID as hex or bytes. */
export interface SelectionOptions {
  readonly uri?: string | Pkcs11Uri;
  readonly label?: string;
  readonly id?: string | Uint8Array;
  readonly fingerprint?: string;
}

/** Parses a {@link SelectionOptions}: throws `ERR_URI_INVALID` and `ERR_INVALID_ARGUMENT` (an id that is not hex). */
export function parseSelection(o: SelectionOptions): Selection & { readonly uri: Pkcs11Uri | undefined } {
  return {
    uri: typeof o.uri === 'string' ? parsePkcs11Uri(o.uri) : o.uri,
    label: o.label,
    id: o.id === undefined ? undefined : parseIdHex(o.id),
    fingerprint: o.fingerprint,
  };
}

/** A certificate the selection named, on its token. */
export interface FoundCertificate {
  readonly found: DiscoveredToken;
  readonly cert: CertObject;
}

/** `token "..." id .. label ".." (subject)`, for messages. */
export function describeCert(t: TokenEntry, c: CertObject): string {
  return `token "${t.label}" id ${c.id.toString('hex') || '(none)'} label "${c.label}" (${c.cert.subject})`;
}

/** True when the certificate is a CA (basicConstraints cA); false when unreadable. */
function isCa(cert: X509Certificate): boolean {
  try {
    return cert.getExtension(BasicConstraintsExtension)?.ca === true;
  } catch {
    return false;
  }
}

function describeSelection(sel: Selection): string {
  const parts: string[] = [];
  if (sel.uri?.object !== undefined) parts.push(`object=${JSON.stringify(sel.uri.object)}`);
  if (sel.uri?.id !== undefined) parts.push(`id=${Buffer.from(sel.uri.id).toString('hex')}`);
  if (sel.label !== undefined) parts.push(`label ${JSON.stringify(sel.label)}`);
  if (sel.id !== undefined) parts.push(`id ${Buffer.from(sel.id).toString('hex')}`);
  if (sel.fingerprint !== undefined) parts.push(`fingerprint ${sel.fingerprint}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/**
 * Why no token could be used: no card in the reader(s) (`ERR_TOKEN_ABSENT`),
 * a card the module does not recognise (`ERR_TOKEN_UNRECOGNIZED`: for
 * OpenSC's PIV driver, no PIV application), or tokens that the URI does not
 * match (`ERR_TOKEN_NOT_FOUND`). Only the slots the URI's slot attributes
 * name are considered.
 */
function noToken(d: Discovery): SshX509Error {
  const uri = d.uri;
  const slots = slotStates(d.mod).filter(
    (s) => (uri?.slotId === undefined || uri.slotId.toString() === s.slotId) && (uri?.slotDescription === undefined || uri.slotDescription === s.description),
  );
  const readers = (list: readonly SlotState[]) => list.map((s) => `"${s.description}"`).join(', ');
  const empty = slots.filter((s) => s.state === 'empty');
  const unrecognized = slots.filter((s) => s.state === 'unrecognized');
  const others = d.present.length > 0 ? `; tokens present: ${d.present.map((t) => `"${t.label}" (serial ${t.serial}) in reader "${t.slotDescription}"`).join(', ')}` : '';
  if (d.present.length === 0 || uri?.slotId !== undefined || uri?.slotDescription !== undefined) {
    if (unrecognized.length > 0) {
      return new SshX509Error(
        ErrorCodes.TOKEN_UNRECOGNIZED,
        `card present but not recognized in reader ${readers(unrecognized)} (CKR_TOKEN_NOT_RECOGNIZED): ${d.mod.path} has no driver for it; for a PIV card, the card has no PIV application. Check that it is the right card${others}`,
      );
    }
    if (empty.length > 0 && empty.length === slots.filter((s) => s.state !== 'uninitialized').length) {
      return new SshX509Error(ErrorCodes.TOKEN_ABSENT, `no card in reader ${readers(empty)}: insert the card${others}`);
    }
  }
  if (d.present.length === 0) return new SshX509Error(ErrorCodes.TOKEN_NOT_FOUND, `no initialised token in any slot of ${d.mod.path}${slots.length === 0 ? ' (the module reports no slot: is the reader connected, and its daemon running?)' : ''}`);
  const notes = [empty.length ? `no card in reader ${readers(empty)}` : '', unrecognized.length ? `an unrecognized card in reader ${readers(unrecognized)}` : ''].filter(Boolean).join('; ');
  return new SshX509Error(ErrorCodes.TOKEN_NOT_FOUND, `no token matches the URI${others}${notes ? `; ${notes}` : ''}`);
}

/**
 * The one certificate `sel` names among the discovered tokens (all given
 * criteria must match; when several do, end-entity certificates win over
 * CAs). Throws `ERR_TOKEN_NOT_FOUND`, `ERR_TOKEN_ABSENT`,
 * `ERR_TOKEN_UNRECOGNIZED`, `ERR_OBJECT_NOT_FOUND` and
 * `ERR_OBJECT_AMBIGUOUS`.
 */
export function selectCertificate(d: Discovery, sel: Selection): FoundCertificate {
  if (d.tokens.length === 0) throw noToken(d);
  let hits = d.tokens.flatMap((found) => found.certs.filter((c) => certMatches(c, sel)).map((cert) => ({ found, cert })));
  if (hits.length > 1) {
    const leaves = hits.filter((h) => !isCa(h.cert.cert));
    if (leaves.length > 0) hits = leaves;
  }
  if (hits.length === 0) {
    throw new SshX509Error(ErrorCodes.OBJECT_NOT_FOUND, `no certificate on ${d.tokens.map((t) => `token "${t.token.label}"`).join(', ')} matches the selection${describeSelection(sel)}`);
  }
  if (hits.length > 1) {
    throw new SshX509Error(
      ErrorCodes.OBJECT_AMBIGUOUS,
      `${hits.length} certificates match the selection${describeSelection(sel)}: ${hits.map((h) => describeCert(h.found.token, h.cert)).join('; ')}; name one by URI, label, id or fingerprint`,
    );
  }
  return hits[0]!;
}

/** Intermediate certificates given beside a token: contents and/or files. */
export interface ExtraCertificates {
  intermediates?: CertificateInput;
  intermediatesFile?: string | readonly string[];
}

/** Reads the intermediates given beside the token (before any PKCS#11 call, so a bad file fails first). */
export async function readExtraCertificates(o: ExtraCertificates): Promise<X509Certificate[]> {
  const extra: X509Certificate[] = [];
  if (o.intermediates !== undefined) extra.push(...parseCertificates(o.intermediates, 'intermediates'));
  if (o.intermediatesFile !== undefined) {
    const files = typeof o.intermediatesFile === 'string' ? [o.intermediatesFile] : o.intermediatesFile;
    for (const f of files) extra.push(...(await readCertificateFile(f)));
  }
  return extra;
}

/**
 * The chain of a certificate on a token, leaf first (RFC 6187 section 2.1):
 * intermediates may sit on the same token or come from `extra`.
 */
export function tokenChain(f: FoundCertificate, extra: readonly X509Certificate[], includeRoot?: boolean): CertificateChain {
  return new CertificateChain(
    orderChain([f.cert.cert, ...f.found.certs.filter((c) => c !== f.cert).map((c) => c.cert), ...extra], {
      leaf: f.cert.cert,
      includeRoot,
    }),
  );
}
