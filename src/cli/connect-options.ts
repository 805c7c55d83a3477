/** The options of `connect`; the config file uses the same names. */
export const CONNECT_OPTIONS = {
  port: { type: 'string', short: 'p' },
  cert: { type: 'string', multiple: true },
  key: { type: 'string' },
  'passphrase-env': { type: 'string' },
  algorithm: { type: 'string', multiple: true },
  'known-hosts': { type: 'string' },
  'strict-host-key-checking': { type: 'string' },
  'username-from-cert': { type: 'string' },
  'raw-key': { type: 'boolean' },
  'max-attempts': { type: 'string' },
  'pkcs11-module': { type: 'string' },
  'pkcs11-uri': { type: 'string' },
  'cert-fingerprint': { type: 'string' },
  'pin-env': { type: 'string' },
  intermediates: { type: 'string' },
  'disconnect-on-card-removal': { type: 'boolean' },
  'connect-timeout': { type: 'string' },
  config: { type: 'string' },
  trace: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Option values as parsed from the command line or read from a config file. */
export type ConnectOptionValues = {
  -readonly [K in Exclude<keyof typeof CONNECT_OPTIONS, 'config' | 'help'>]?: (typeof CONNECT_OPTIONS)[K] extends { type: 'boolean' }
    ? boolean
    : (typeof CONNECT_OPTIONS)[K] extends { multiple: true }
      ? string[]
      : string;
} & { config?: string; help?: boolean };
