/** The options of `connect`; the config file uses the same names. */
export const CONNECT_OPTIONS = {
  port: { type: 'string', short: 'p' },
  cert: { type: 'string', multiple: true },
  key: { type: 'string' },
  'passphrase-env': { type: 'string' },
  algorithm: { type: 'string', multiple: true },
  'known-hosts': { type: 'string' },
  'strict-host-key-checking': { type: 'string' },
  'host-trust': { type: 'string', multiple: true },
  'host-key-algorithms': { type: 'string' },
  'staple-ocsp': { type: 'boolean' },
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

/** OpenSSH's ssh(1) flags that `connect` takes, with their OpenSSH meanings (not config-file settings). */
export const SSH_FLAGS = {
  login: { type: 'string', short: 'l' },
  identity: { type: 'string', short: 'i', multiple: true },
  'ssh-config': { type: 'string', short: 'F' },
  option: { type: 'string', short: 'o', multiple: true },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  quiet: { type: 'boolean', short: 'q' },
  tty: { type: 'boolean', short: 't', multiple: true },
  'no-tty': { type: 'boolean', short: 'T' },
  'no-command': { type: 'boolean', short: 'N' },
  subsystem: { type: 'boolean', short: 's' },
  'stdin-null': { type: 'boolean', short: 'n' },
  jump: { type: 'string', short: 'J' },
  'local-forward': { type: 'string', short: 'L', multiple: true },
  'remote-forward': { type: 'string', short: 'R', multiple: true },
  'dynamic-forward': { type: 'string', short: 'D', multiple: true },
  'forward-agent': { type: 'boolean', short: 'A' },
  'gateway-ports': { type: 'boolean', short: 'g' },
  pkcs11: { type: 'string', short: 'I' },
  compression: { type: 'boolean', short: 'C' },
  'log-file': { type: 'string', short: 'E' },
  'escape-char': { type: 'string', short: 'e' },
  version: { type: 'boolean', short: 'V' },
  'print-config': { type: 'boolean', short: 'G' },
} as const;

/** Every option of `connect`: the long options (also config-file settings) and OpenSSH's flags. */
export const ALL_CONNECT_OPTIONS = { ...CONNECT_OPTIONS, ...SSH_FLAGS } as const;
