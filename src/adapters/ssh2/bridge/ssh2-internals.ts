/**
 * Finding ssh2 and loading the internal modules the bridge patches: the one
 * place that knows where ssh2 lives, which versions the bridge was checked
 * against, and how an ssh2 it does not recognise is refused
 * (`ERR_SSH2_UNSUPPORTED`). Loads and checks only what every part of the
 * bridge uses; each part checks the shapes it touches itself.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ErrorCodes, SshX509Error } from '../../../errors.js';

/** The versions of ssh2 whose internals the bridge was checked against: from `minimum` up to, not including, `below`. */
const SSH2_RANGE = { minimum: [1, 15, 0], below: [2, 0, 0] } as const;

/** The versions of ssh2 whose internals the bridge was checked against, as npm writes a range. */
export const SUPPORTED_SSH2_RANGE = `>=${SSH2_RANGE.minimum.join('.')} <${SSH2_RANGE.below.join('.')}`;

/** True when `version` (`major.minor.patch`, anything after ignored) lies in {@link SUPPORTED_SSH2_RANGE}. */
function isSupportedVersion(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  const compare = (bound: readonly number[]) => {
    for (let i = 0; i < 3; i++) if (v[i] !== bound[i]) return v[i]! - bound[i]!;
    return 0;
  };
  return compare(SSH2_RANGE.minimum) >= 0 && compare(SSH2_RANGE.below) < 0;
}

/** The ssh2 modules every part of the bridge uses, from one ssh2 install. */
export interface Ssh2Internals {
  version: string;
  BaseAgent: new () => object;
  parseKey: (data: string | Buffer) => unknown;
  Protocol: { prototype: Record<string | symbol, unknown> };
  sendPacket: (proto: unknown, packet: Buffer) => unknown;
  /** Loads one of ssh2's own modules (`lib/<file>`, e.g. `protocol/kex.js`). */
  lib(file: string): Record<string, unknown>;
  /** ssh2's entry module (lib/index.js: Client, Server and the rest), loaded on first call. */
  entry(): Record<string, unknown>;
  /** ssh2's `Client` class, loaded on first call. */
  client(): unknown;
}

/** The error for an ssh2 the bridge does not recognise: what is wrong, and which versions work. */
export function unsupported(why: string, cause?: unknown): SshX509Error {
  return new SshX509Error(
    ErrorCodes.SSH2_UNSUPPORTED,
    `ssh-x509 cannot work with this ssh2: ${why}. Supported: ssh2 ${SUPPORTED_SSH2_RANGE}.`,
    { cause },
  );
}

/**
 * One of ssh2's own modules (`lib/<file>`), or undefined when the file is not there. The client side
 * loads these rather than ssh2's entry point: lib/index.js also loads its Server, key generator and HTTP
 * agents (node:http, node:https), about a tenth of a command's start that a client never uses. An ssh2
 * laid out otherwise is read through its entry point.
 */
function ownModule(req: NodeJS.Require, base: string, file: string): Record<string, unknown> | undefined {
  const path = `${base}/lib/${file}`;
  return existsSync(path) ? (req(path) as Record<string, unknown>) : undefined;
}

/** What {@link readInternals} found, by ssh2 entry point (`''` for the one `ssh2` resolves to): each part of the bridge reads them once. */
const internalsByEntry = new Map<string, Ssh2Internals>();

/**
 * ssh2's internals, from the ssh2 this package resolves or from the one at
 * `ssh2Entry` (the path of its entry module). Throws `ERR_SSH2_UNSUPPORTED`
 * when ssh2 is missing, of a version outside {@link SUPPORTED_SSH2_RANGE},
 * or laid out otherwise.
 */
export function loadInternals(ssh2Entry?: string): Ssh2Internals {
  let found = internalsByEntry.get(ssh2Entry ?? '');
  if (!found) internalsByEntry.set(ssh2Entry ?? '', (found = readInternals(ssh2Entry)));
  return found;
}

function readInternals(ssh2Entry?: string): Ssh2Internals {
  const req = createRequire(import.meta.url);
  let base: string;
  let version: string;
  let entry: string;
  try {
    entry = ssh2Entry ?? req.resolve('ssh2');
    base = entry.replace(/[\\/]lib[\\/]index\.js$/, '');
    version = (req(`${base}/package.json`) as { version?: string }).version ?? '';
  } catch (e) {
    throw unsupported('ssh2 is not installed (npm install ssh2)', e);
  }
  if (!isSupportedVersion(version)) throw unsupported(`found version ${JSON.stringify(version)}`);
  const ssh2 = () => req(entry) as Record<string, unknown>;
  const lib = (file: string) => req(`${base}/lib/${file}`) as Record<string, unknown>;
  try {
    const Protocol = lib('protocol/Protocol.js') as unknown as Ssh2Internals['Protocol'];
    const utils = lib('protocol/utils.js') as { sendPacket?: unknown };
    const parseKey = (ownModule(req, base, 'protocol/keyParser.js') ?? (ssh2().utils as Record<string, unknown> | undefined))?.parseKey;
    const BaseAgent = (ownModule(req, base, 'agent.js') ?? ssh2()).BaseAgent;
    if (typeof Protocol?.prototype !== 'object') throw unsupported('protocol/Protocol.js has an unknown shape');
    if (typeof utils.sendPacket !== 'function') throw unsupported('protocol/utils.sendPacket is missing');
    if (typeof parseKey !== 'function' || typeof BaseAgent !== 'function') throw unsupported('utils.parseKey or BaseAgent is missing');
    return {
      version,
      BaseAgent: BaseAgent as Ssh2Internals['BaseAgent'],
      parseKey: parseKey as Ssh2Internals['parseKey'],
      Protocol,
      sendPacket: utils.sendPacket as Ssh2Internals['sendPacket'],
      lib,
      entry: ssh2,
      client: () => {
        let Client: unknown;
        try {
          Client = existsSync(`${base}/lib/client.js`) ? req(`${base}/lib/client.js`) : ssh2().Client;
        } catch (e) {
          throw unsupported('its Client class could not be loaded', e);
        }
        if (typeof Client !== 'function') throw unsupported('its Client class is missing');
        return Client;
      },
    };
  } catch (e) {
    if (e instanceof SshX509Error) throw e;
    throw unsupported('its internal modules could not be loaded', e);
  }
}
