/**
 * The command's config file: a Default session and per-host overrides, with
 * the same names as the command options (SecureCRT's Default session and
 * session settings). Options on the command line win over the file.
 *
 * ```json
 * {
 *   "default": { "pkcs11-module": "/usr/lib/softhsm/libsofthsm2.so", "username-from-cert": "upn-local", "max-attempts": 2 },
 *   "hosts": { "router1.example.com": { "algorithm": ["x509v3-ssh-rsa"], "port": 2222 } }
 * }
 * ```
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { readInputFile } from '../certs/load.js';
import { usageError } from './command.js';
import { CONNECT_OPTIONS, type ConnectOptionValues } from './connect-options.js';

const PATH_OPTIONS = new Set(['cert', 'key', 'known-hosts', 'pkcs11-module', 'intermediates', 'host-trust']);

function section(file: string, where: string, raw: unknown): ConnectOptionValues {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw usageError(`${file}: ${where} must be an object`);
  const out: Record<string, unknown> = {};
  const base = dirname(file);
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  for (const [key, value] of Object.entries(raw)) {
    const spec = (CONNECT_OPTIONS as Record<string, { type: string; multiple?: boolean }>)[key];
    if (!spec || key === 'config' || key === 'help') throw usageError(`${file}: unknown setting ${JSON.stringify(key)} in ${where}`);
    if (spec.type === 'boolean') {
      if (typeof value !== 'boolean') throw usageError(`${file}: ${where}.${key} must be true or false`);
      out[key] = value;
    } else if (spec.multiple) {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((x) => typeof x === 'string')) throw usageError(`${file}: ${where}.${key} must be a string or a list of strings`);
      out[key] = PATH_OPTIONS.has(key) ? (list as string[]).map(path) : list;
    } else {
      if (typeof value !== 'string' && typeof value !== 'number') throw usageError(`${file}: ${where}.${key} must be a string`);
      out[key] = PATH_OPTIONS.has(key) ? path(String(value)) : String(value);
    }
  }
  return out as ConnectOptionValues;
}

/** Reads the config file and returns its `default` settings with those of `host` on top. */
export async function loadConfig(file: string, host: string): Promise<ConnectOptionValues> {
  const text = (await readInputFile(file, 'config file')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw usageError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw usageError(`${file} must hold a JSON object`);
  const { default: defaults, hosts, ...extra } = json as Record<string, unknown>;
  const unknown = Object.keys(extra);
  if (unknown.length) throw usageError(`${file}: unknown top-level key(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; use "default" and "hosts"`);
  if (hosts !== undefined && (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts))) throw usageError(`${file}: "hosts" must be an object keyed by host name`);
  const perHost = (hosts as Record<string, unknown> | undefined)?.[host];
  return { ...section(file, 'default', defaults), ...section(file, `hosts[${JSON.stringify(host)}]`, perHost) };
}
