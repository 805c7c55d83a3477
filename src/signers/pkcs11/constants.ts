/**
 * The few PKCS#11 (v2.40 / v3.0) constants this library uses, by their
 * specification names. Kept here so that nothing outside this folder needs
 * the native module to be loaded to know them.
 *
 * @internal
 * @module
 */

/** Object classes (CKO_*). */
export const CKO = { CERTIFICATE: 0x1, PUBLIC_KEY: 0x2, PRIVATE_KEY: 0x3 } as const;

/** Certificate types (CKC_*). */
export const CKC_X_509 = 0x0;

/** Key types (CKK_*). */
export const CKK = { RSA: 0x0, DSA: 0x1, EC: 0x3, EC_EDWARDS: 0x40 } as const;

/** Mechanisms (CKM_*) the signer can use. */
export const CKM = {
  RSA_PKCS: 0x1,
  SHA1_RSA_PKCS: 0x6,
  SHA256_RSA_PKCS: 0x40,
  SHA384_RSA_PKCS: 0x41,
  SHA512_RSA_PKCS: 0x42,
  ECDSA: 0x1041,
  EDDSA: 0x1057,
} as const;

/** The CKM_* name of a mechanism number, for messages and the restriction option. */
export const CKM_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(CKM).map(([k, v]) => [v, `CKM_${k}`]));

/** Return values (CKR_*) the library reacts to. */
export const CKR = {
  OK: 0x0,
  SLOT_ID_INVALID: 0x3,
  GENERAL_ERROR: 0x5,
  DEVICE_ERROR: 0x30,
  DEVICE_REMOVED: 0x32,
  FUNCTION_NOT_SUPPORTED: 0x54,
  KEY_HANDLE_INVALID: 0x60,
  OBJECT_HANDLE_INVALID: 0x82,
  OPERATION_ACTIVE: 0x90,
  OPERATION_NOT_INITIALIZED: 0x91,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_EXPIRED: 0xa3,
  PIN_LOCKED: 0xa4,
  SESSION_CLOSED: 0xb0,
  SESSION_HANDLE_INVALID: 0xb3,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  BUFFER_TOO_SMALL: 0x150,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
} as const;

/**
 * Return values meaning that the token, its session or its objects are gone:
 * the card left the reader (or, on SoftHSM, its token directory was deleted,
 * which C_GetTokenInfo reports as CKR_GENERAL_ERROR).
 */
export const CKR_GONE: ReadonlySet<number> = new Set([
  CKR.SLOT_ID_INVALID,
  CKR.DEVICE_REMOVED,
  CKR.TOKEN_NOT_PRESENT,
  CKR.TOKEN_NOT_RECOGNIZED,
  CKR.SESSION_CLOSED,
  CKR.SESSION_HANDLE_INVALID,
  CKR.KEY_HANDLE_INVALID,
  CKR.OBJECT_HANDLE_INVALID,
]);

/** Slot flags (CKF_*). */
export const CKF_TOKEN_PRESENT = 0x1;

/** Token flags (CKF_*). */
export const CKF_TOKEN = {
  LOGIN_REQUIRED: 0x4,
  USER_PIN_INITIALIZED: 0x8,
  PROTECTED_AUTHENTICATION_PATH: 0x100,
  TOKEN_INITIALIZED: 0x400,
  USER_PIN_COUNT_LOW: 0x10000,
  USER_PIN_FINAL_TRY: 0x20000,
  USER_PIN_LOCKED: 0x40000,
  USER_PIN_TO_BE_CHANGED: 0x80000,
} as const;

/** Session flags and states. */
export const CKF_SERIAL_SESSION = 0x4;
/** C_Initialize flag: the module may use OS locking (the signer calls it from the libuv thread pool). */
export const CKF_OS_LOCKING_OK = 0x2;
/** C_WaitForSlotEvent flag: return at once. */
export const CKF_DONT_BLOCK = 0x1;
/** Session states meaning the user is logged in (CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS). */
export const CKS_USER: ReadonlySet<number> = new Set([1, 3]);
/** CKU_USER. */
export const CKU_USER = 1;
/** CKU_CONTEXT_SPECIFIC: the login one operation with a CKA_ALWAYS_AUTHENTICATE key needs, after its C_SignInit. */
export const CKU_CONTEXT_SPECIFIC = 2;

/** The CKR_* number of a pkcs11js error, or undefined for other errors. */
export function ckrOf(e: unknown): number | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'number') {
    const m = (e as { message?: unknown }).message;
    // pkcs11js's Pkcs11Error: numeric code and a message starting with the CKR_ name.
    if (typeof m === 'string' && /^CKR_|CKR_/.test(m)) return (e as { code: number }).code;
  }
  return undefined;
}

/** The CKR_* name in a pkcs11js error message, for error texts. */
export function ckrName(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return /CKR_[A-Z0-9_]+/.exec(m)?.[0] ?? m;
}
