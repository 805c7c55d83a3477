/**
 * Logging in to a token: the PIN comes from a callback of the application's,
 * is used for one C_Login and is not kept.
 *
 * @module
 */
import type { Session } from 'graphene-pk11';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { CKF_TOKEN, CKR, CKS_USER, CKU_USER, ckrName, ckrOf } from './constants.js';
import type { PassphraseSource } from '../software.js';

/** What a PIN callback is told about the token that asks. */
export interface PinRequest {
  /** The token label. */
  readonly tokenLabel: string;
  /** The token serial number. */
  readonly tokenSerial: string;
  /** The slot id, in decimal. */
  readonly slotId: string;
  /** The token reports that a wrong PIN was entered recently (CKF_USER_PIN_COUNT_LOW). */
  readonly countLow: boolean;
  /** The token reports that the next wrong PIN locks it (CKF_USER_PIN_FINAL_TRY). */
  readonly finalTry: boolean;
}

/**
 * Supplies the user PIN when a token needs one. Called at most once per
 * login; a wrong PIN is reported, never retried automatically. Return a
 * string or bytes (UTF-8). Throwing, or returning an empty value, aborts the
 * login with `ERR_PIN_REQUIRED`.
 *
 * The library passes the PIN to C_Login and keeps no reference to it; byte
 * buffers it makes from the PIN are zeroed after the call. (pkcs11js takes
 * the PIN as a JavaScript string, which cannot be zeroed.)
 */
export type PinSource = (request: PinRequest) => Promise<string | Uint8Array> | string | Uint8Array;

/** What {@link loginSession} needs to know about the token. */
export interface LoginTarget {
  readonly session: Session;
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  readonly slotId: string;
  /** Reads the token's CK_TOKEN_INFO.flags now. */
  readonly tokenFlags: () => number;
}

function describe(t: LoginTarget): string {
  return `token "${t.tokenLabel}" (serial ${t.tokenSerial}, slot ${t.slotId})`;
}

/** What the token says about the remaining tries, from its flags. */
function pinCondition(flags: number): string {
  if (flags & CKF_TOKEN.USER_PIN_LOCKED) return 'the user PIN is now locked';
  if (flags & CKF_TOKEN.USER_PIN_FINAL_TRY) return 'the next wrong PIN will lock the token (CKF_USER_PIN_FINAL_TRY)';
  if (flags & CKF_TOKEN.USER_PIN_COUNT_LOW) return 'the token reports failed attempts (CKF_USER_PIN_COUNT_LOW)';
  return 'the token reports no retry counter information';
}

/** Maps a failed C_Login to the typed error; never includes the PIN. */
export function loginError(e: unknown, t: Pick<LoginTarget, 'tokenLabel' | 'tokenSerial' | 'slotId'>, flags: number | undefined): SshX509Error {
  const rv = ckrOf(e);
  const who = describe(t as LoginTarget);
  const cond = flags === undefined ? 'the token state could not be read' : pinCondition(flags);
  switch (rv) {
    case CKR.PIN_INCORRECT:
    case CKR.PIN_INVALID:
    case CKR.PIN_LEN_RANGE:
      return new SshX509Error(ErrorCodes.PIN_INCORRECT, `${who} refused the PIN (${ckrName(e)}); ${cond}. It was tried once and not retried.`, { cause: e });
    case CKR.PIN_LOCKED:
      return new SshX509Error(ErrorCodes.PIN_LOCKED, `${who}: the user PIN is locked (CKR_PIN_LOCKED); unblock it with the SO PIN or PUK`, { cause: e });
    case CKR.PIN_EXPIRED:
      return new SshX509Error(ErrorCodes.PIN_EXPIRED, `${who}: the user PIN has expired (CKR_PIN_EXPIRED); change it with the token's tools first`, { cause: e });
    default:
      return new SshX509Error(ErrorCodes.PKCS11_FAILED, `C_Login on ${who} failed: ${ckrName(e)}`, { cause: e });
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
  if (flags & CKF_TOKEN.USER_PIN_LOCKED) {
    throw new SshX509Error(ErrorCodes.PIN_LOCKED, `${describe(t)}: the user PIN is locked (CKF_USER_PIN_LOCKED); unblock it with the SO PIN or PUK`);
  }
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
  if (!pin) {
    throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `${describe(t)} needs the user PIN and no PIN source was given (the pin option: envPin, ttyPin or a function)`);
  }
  let value: string | Uint8Array;
  try {
    value = await pin({
      tokenLabel: t.tokenLabel,
      tokenSerial: t.tokenSerial,
      slotId: t.slotId,
      countLow: (flags & CKF_TOKEN.USER_PIN_COUNT_LOW) !== 0,
      finalTry: (flags & CKF_TOKEN.USER_PIN_FINAL_TRY) !== 0,
    });
  } catch (e) {
    if (e instanceof SshX509Error) throw e;
    throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `the PIN callback for ${describe(t)} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  if (value === undefined || value === null || value.length === 0) {
    throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `the PIN callback for ${describe(t)} returned no PIN`);
  }
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    const copy = Buffer.from(value);
    text = copy.toString('utf8');
    copy.fill(0);
  }
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

function safeFlags(t: LoginTarget): number | undefined {
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
  return (req) => {
    if (!isTerminal(input)) {
      const otherwise = options.otherwise ?? 'give a PinSource that needs none, such as envPin';
      throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `token "${req.tokenLabel}" needs the user PIN and there is no terminal to ask it on: ${otherwise}`);
    }
    const warn = req.finalTry ? ' (final try before the PIN locks!)' : req.countLow ? ' (a wrong PIN was entered before)' : '';
    return readHidden(input, output, `PIN for token "${req.tokenLabel}"${warn}: `, () => new SshX509Error(ErrorCodes.PIN_REQUIRED, 'PIN entry cancelled'));
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
  return () => {
    const v = env[name];
    if (!v) throw new SshX509Error(ErrorCodes.PIN_REQUIRED, `the PIN environment variable ${name} is not set`);
    return v;
  };
}
