/**
 * Logging in to a token: the PIN comes from a source of the application's
 * (a callback, the terminal, an environment variable), is used for one
 * C_Login and is not kept.
 *
 * @module
 */
import type { Session } from 'graphene-pk11';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { CKF_TOKEN, CKR, CKS_USER, CKU_USER, ckrName, ckrOf } from './constants.js';
import type { PassphraseSource } from '../software.js';

/** What a {@link PinSource} is told about the token that asks. */
export interface PinRequest {
  /** The token label. */
  readonly tokenLabel: string;
  /** The token serial number. */
  readonly tokenSerial: string;
  /** The slot id, in decimal. */
  readonly slotId: string;
  /** The slot description: for a smartcard, the reader's name. */
  readonly reader: string;
  /** The token reports that a wrong PIN was entered recently (CKF_USER_PIN_COUNT_LOW). */
  readonly countLow: boolean;
  /** The token reports that the next wrong PIN locks it (CKF_USER_PIN_FINAL_TRY). */
  readonly finalTry: boolean;
}

/**
 * Why a {@link PinSource} is asked: the user login that opens the token
 * (`'user-login'`), or the login one signature with a key marked
 * CKA_ALWAYS_AUTHENTICATE needs (`'per-signature'`: a PIV card's 9C "digital
 * signature" key asks for it before every signature, as OpenSSH asks again).
 */
export type PinContext =
  | { readonly kind: 'user-login' }
  | {
      readonly kind: 'per-signature';
      /** The key that is about to sign: its certificate's CKA_LABEL and CKA_ID (hex). */
      readonly key: { readonly label: string; readonly id: string };
    };

/**
 * Supplies the user PIN when a token needs one: once per user login, and
 * once per signature with a key marked CKA_ALWAYS_AUTHENTICATE (`context`
 * says which, absent means a user login; a source that ignores it answers
 * both alike). A wrong PIN is reported, never retried automatically.
 * Return a string or bytes (UTF-8).
 * Throwing, or returning an empty value, aborts the login with
 * `ERR_PIN_REQUIRED`.
 *
 * The library passes the PIN to C_Login and keeps no reference to it; byte
 * buffers it makes from the PIN are zeroed after the call. (pkcs11js takes
 * the PIN as a JavaScript string, which cannot be zeroed.)
 */
export type PinSource = (request: PinRequest, context?: PinContext) => Promise<string | Uint8Array> | string | Uint8Array;

/** What {@link loginSession} needs to know about the token. */
export interface LoginTarget {
  readonly session: Session;
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  readonly slotId: string;
  /** The slot description (the reader's name for a smartcard). */
  readonly reader: string;
  /** Reads the token's CK_TOKEN_INFO.flags now. */
  readonly tokenFlags: () => number;
}

/** Names the token and its reader, as every PIN message does. */
export function describeToken(t: Pick<LoginTarget, 'tokenLabel' | 'tokenSerial' | 'reader'>): string {
  return `token "${t.tokenLabel}" (serial ${t.tokenSerial}) in reader "${t.reader}"`;
}

/** What the token says about the remaining tries, from its flags. */
function pinCondition(flags: number): string {
  if (flags & CKF_TOKEN.USER_PIN_LOCKED) return 'the PIN is now blocked: unblock it with the PUK (or the SO PIN)';
  if (flags & CKF_TOKEN.USER_PIN_FINAL_TRY) return 'only the final try is left: the next wrong PIN blocks it (CKF_USER_PIN_FINAL_TRY)';
  if (flags & CKF_TOKEN.USER_PIN_COUNT_LOW) return 'the token reports failed attempts (CKF_USER_PIN_COUNT_LOW)';
  return 'the token reports no retry counter information';
}

/** A per-signature login's key, for messages. */
function keyPart(context: PinContext | undefined): string {
  return context?.kind === 'per-signature' ? ` per-signature PIN for key "${context.key.label || context.key.id}"` : ' PIN';
}

/**
 * Maps a failed C_Login (user or per-signature) to the typed error; never
 * includes the PIN. `flags` are the token flags read after the failure.
 */
export function loginError(e: unknown, t: Pick<LoginTarget, 'tokenLabel' | 'tokenSerial' | 'reader'>, flags: number | undefined, context?: PinContext): SshX509Error {
  const rv = ckrOf(e);
  const who = describeToken(t);
  const what = keyPart(context);
  const cond = flags === undefined ? 'the token state could not be read' : pinCondition(flags);
  switch (rv) {
    case CKR.PIN_INCORRECT:
    case CKR.PIN_INVALID:
    case CKR.PIN_LEN_RANGE:
      if (flags !== undefined && flags & CKF_TOKEN.USER_PIN_LOCKED) {
        return new SshX509Error(ErrorCodes.PIN_LOCKED, `PIN blocked: ${who} refused the${what} (${ckrName(e)}) and ${cond}`, { cause: e });
      }
      return new SshX509Error(ErrorCodes.PIN_INCORRECT, `${who} refused the${what} (${ckrName(e)}); ${cond}. It was tried once and not retried.`, { cause: e });
    case CKR.PIN_LOCKED:
      // Locked before the attempt, or by it: the flags were checked before asking, so most often by it.
      return new SshX509Error(ErrorCodes.PIN_LOCKED, `PIN blocked: ${who} refused the${what}: the user PIN is blocked (CKR_PIN_LOCKED); unblock it with the PUK (or the SO PIN)`, { cause: e });
    case CKR.PIN_EXPIRED:
      return new SshX509Error(ErrorCodes.PIN_EXPIRED, `${who}: the user PIN has expired (CKR_PIN_EXPIRED); change it with the token's tools first`, { cause: e });
    default:
      return new SshX509Error(ErrorCodes.PKCS11_FAILED, `C_Login${context?.kind === 'per-signature' ? ' (per-signature)' : ''} on ${who} failed: ${ckrName(e)}`, { cause: e });
  }
}

/**
 * Asks `pin` once and returns the PIN as a string (bytes are decoded and
 * zeroed). Throws `ERR_PIN_REQUIRED` when there is no source, when it fails
 * and when it returns nothing.
 */
export async function askPin(t: LoginTarget, pin: PinSource | undefined, flags: number, context: PinContext): Promise<string> {
  const what = context.kind === 'per-signature' ? `the per-signature PIN for key "${context.key.label || context.key.id}" on ${describeToken(t)}` : `the user PIN of ${describeToken(t)}`;
  if (!pin) {
    throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `${what} is needed and no PIN source was given (the pin option: envPin, ttyPin or a function)`);
  }
  let value: string | Uint8Array;
  try {
    value = await pin(
      {
        tokenLabel: t.tokenLabel,
        tokenSerial: t.tokenSerial,
        slotId: t.slotId,
        reader: t.reader,
        countLow: (flags & CKF_TOKEN.USER_PIN_COUNT_LOW) !== 0,
        finalTry: (flags & CKF_TOKEN.USER_PIN_FINAL_TRY) !== 0,
      },
      context,
    );
  } catch (e) {
    if (e instanceof SshX509Error) throw e;
    throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `asking ${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  if (value === undefined || value === null || value.length === 0) {
    throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `no PIN was given for ${what}`);
  }
  if (typeof value === 'string') return value;
  const copy = Buffer.from(value);
  const text = copy.toString('utf8');
  copy.fill(0);
  return text;
}

/** Throws `ERR_PIN_LOCKED` without asking when the token reports its user PIN locked. */
export function assertNotLocked(t: LoginTarget, flags: number): void {
  if (flags & CKF_TOKEN.USER_PIN_LOCKED) {
    throw new SshX509Error(ErrorCodes.PIN_LOCKED, `PIN blocked: the user PIN of ${describeToken(t)} is locked (CKF_USER_PIN_LOCKED); unblock it with the PUK (or the SO PIN)`);
  }
}

/**
 * Logs the user in on `t.session` unless the session is already logged in
 * or the token needs no login. Uses the protected authentication path (PIN
 * pad) when the token has one, else asks `pin` once. Throws
 * `ERR_PIN_REQUIRED` at once when a PIN is needed and `pin` is undefined,
 * `ERR_PIN_LOCKED` without asking when the token reports a locked PIN, and
 * `ERR_PIN_INCORRECT` / `ERR_PIN_EXPIRED` from C_Login.
 *
 * Returns true when this call logged in (false: nothing to do).
 */
export async function loginSession(t: LoginTarget, pin: PinSource | undefined): Promise<boolean> {
  const lib = t.session.lib;
  if (CKS_USER.has(lib.C_GetSessionInfo(t.session.handle).state)) return false;
  const flags = t.tokenFlags();
  if ((flags & CKF_TOKEN.LOGIN_REQUIRED) === 0) return false;
  assertNotLocked(t, flags);
  if (flags & CKF_TOKEN.PROTECTED_AUTHENTICATION_PATH) {
    // The PIN is entered on the reader's pad: C_Login with a NULL PIN.
    try {
      lib.C_Login(t.session.handle, CKU_USER);
    } catch (e) {
      if (ckrOf(e) === CKR.USER_ALREADY_LOGGED_IN) return false;
      throw loginError(e, t, safeFlags(t));
    }
    return true;
  }
  let text = await askPin(t, pin, flags, { kind: 'user-login' });
  try {
    t.session.login(text);
  } catch (e) {
    if (ckrOf(e) === CKR.USER_ALREADY_LOGGED_IN) return false;
    throw loginError(e, t, safeFlags(t));
  } finally {
    text = '';
  }
  return true;
}

/** The token flags, or undefined when they cannot be read (the token left). */
export function safeFlags(t: Pick<LoginTarget, 'tokenFlags'>): number | undefined {
  try {
    return t.tokenFlags();
  } catch {
    return undefined;
  }
}

/** A terminal-like input for {@link ttyPin}. */
export interface PinPromptInput {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

/** Where {@link ttyPin} writes its prompt. */
export interface PinPromptOutput {
  write(text: string): unknown;
}

/** Options of {@link ttyPin} and {@link ttyPassphrase}. */
export interface PromptOptions {
  /** What the message says to do when there is no terminal, in the caller's terms (a command: `give it with --pin-env VAR`). */
  readonly otherwise?: string;
}

/**
 * A {@link PinSource} that asks on a terminal without echo. When `input` is
 * not a TTY it throws `ERR_PIN_REQUIRED` at once instead of waiting for input
 * that will never come.
 */
export function ttyPin(input: PinPromptInput, output: PinPromptOutput, options: PromptOptions = {}): PinSource {
  return (req, context) => {
    const token = `token "${req.tokenLabel}" (reader "${req.reader}")`;
    const perSignature = context?.kind === 'per-signature';
    if (!isTerminal(input)) {
      const otherwise = options.otherwise ?? 'give a PinSource that needs none, such as envPin';
      throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `${token} needs the ${perSignature ? 'per-signature ' : 'user '}PIN and there is no terminal to ask it on: ${otherwise}`);
    }
    const warn = req.finalTry ? ' (final try before the PIN locks!)' : req.countLow ? ' (a wrong PIN was entered before)' : '';
    // As OpenSSH asks again for a key that needs its PIN for every signature (CKA_ALWAYS_AUTHENTICATE).
    const prompt = perSignature ? `PIN for key "${context.key.label || context.key.id}" on ${token}, per-signature${warn}: ` : `PIN for ${token}${warn}: `;
    return readHidden(input, output, prompt, () => new SshX509Error(ErrorCodes.PIN_REQUIRED, `PIN entry for ${token} cancelled`));
  };
}

/**
 * A {@link PassphraseSource} that asks for a private key's passphrase on a
 * terminal without echo, as {@link ttyPin} asks for a PIN (the same prompt).
 * It is called only for an encrypted key. When `input` is not a TTY it
 * throws `ERR_KEY_INVALID` at once, naming the key file.
 */
export function ttyPassphrase(input: PinPromptInput, output: PinPromptOutput, options: PromptOptions = {}): PassphraseSource {
  return (req) => {
    const what = req.keyFile ? `key file ${req.keyFile}` : 'the private key';
    if (!isTerminal(input)) {
      const otherwise = options.otherwise ?? 'give the passphrase itself, or a PassphraseSource that needs no terminal';
      throw new SshX509Error(ErrorCodes.KEY_INVALID, `${what} is encrypted and there is no terminal to ask its passphrase on: ${otherwise}`);
    }
    return readHidden(input, output, `Passphrase for ${what}: `, () => new SshX509Error(ErrorCodes.KEY_INVALID, `passphrase entry for ${what} cancelled`));
  };
}

function isTerminal(input: PinPromptInput): input is PinPromptInput & { setRawMode(mode: boolean): unknown } {
  return Boolean(input.isTTY) && typeof input.setRawMode === 'function';
}

/** Writes `prompt` and reads one line from a terminal in raw mode, without echo. The bytes read are not kept. */
function readHidden(input: PinPromptInput & { setRawMode(mode: boolean): unknown }, output: PinPromptOutput, prompt: string, cancelled: () => SshX509Error): Promise<Uint8Array> {
  // Echo goes off before the prompt shows: an answer typed (or pasted) at once is never echoed.
  input.setRawMode(true);
  return new Promise<Uint8Array>((resolveValue, reject) => {
    const chunks: number[] = [];
    const done = (err?: SshX509Error): void => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause?.();
      output.write('\n');
      const value = Uint8Array.from(chunks);
      chunks.fill(0);
      chunks.length = 0;
      if (err) reject(err);
      else resolveValue(value);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      for (const b of bytes) {
        if (b === 0x0d || b === 0x0a) return done();
        if (b === 0x03 || b === 0x04) return done(cancelled());
        if (b === 0x7f || b === 0x08) chunks.pop();
        else chunks.push(b);
      }
    };
    input.on('data', onData);
    input.resume?.();
    output.write(prompt);
  });
}

/**
 * A {@link PinSource} reading the PIN from an environment variable (for
 * scripts and tests). Throws `ERR_PIN_REQUIRED` when the variable is unset or
 * empty. The variable's name, never its value, appears in errors.
 */
export function envPin(name: string, env: NodeJS.ProcessEnv = process.env): PinSource {
  return (req) => {
    const v = env[name];
    if (!v) throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `the PIN environment variable ${name} is not set${req ? ` (token "${req.tokenLabel}" in reader "${req.reader}" asks for it)` : ''}`);
    return v;
  };
}
