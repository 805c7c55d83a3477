/**
 * Port forwards as -L, -R and -D (and LocalForward, RemoteForward,
 * DynamicForward, and the ~C command line) give them: read by `connect`'s
 * options and by the session's escape commands alike.
 *
 * @module
 */
import { usageError } from './command.js';

/** One port forward, as -L, -R and -D give it. */
export interface Forward {
  readonly kind: 'local' | 'remote' | 'dynamic';
  readonly bind?: string;
  readonly port: number;
  readonly toHost?: string;
  readonly toPort?: number;
}

/** `[bind:]port:host:hostport` (-L, -R) or `[bind:]port` (-D), IPv6 addresses in brackets. */
export function parseForward(kind: Forward['kind'], spec: string): Forward {
  const want = kind === 'dynamic' ? [1, 2] : [3, 4];
  // Split at colons outside [IPv6] brackets.
  const fields = spec.split(/:(?![^[]*\])/).map((f) => f.replace(/^\[|\]$/g, ''));
  if (!want.includes(fields.length)) {
    const shape = kind === 'dynamic' ? '[bind_address:]port' : '[bind_address:]port:host:hostport';
    throw usageError(`bad ${kind} forward ${JSON.stringify(spec)}: expected ${shape}`);
  }
  const bind = fields.length === want[1] ? fields.shift()! : undefined;
  const port = Number(fields[0]);
  if (!/^\d+$/.test(fields[0]!) || port > 65535) throw usageError(`bad ${kind} forward ${JSON.stringify(spec)}: port ${JSON.stringify(fields[0])}`);
  if (kind === 'dynamic') return { kind, bind, port };
  const toPort = Number(fields[2]);
  if (!/^\d+$/.test(fields[2]!) || toPort < 1 || toPort > 65535) throw usageError(`bad ${kind} forward ${JSON.stringify(spec)}: port ${JSON.stringify(fields[2])}`);
  return { kind, bind, port, toHost: fields[1]!, toPort };
}
