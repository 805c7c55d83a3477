/**
 * `ssh-x509 serve`: an SSH server (ssh2) that authenticates users with the
 * RFC 6187 verifier and answers an exec request with one line saying who
 * logged in and how. A test and demonstration server, not a shell.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { x509Authentication, type Ssh2AuthContext } from '../../adapters/ssh2/server.js';
import { formatTrace } from '../../adapters/trace.js';
import { USERNAME_RULES, type UsernameRule } from '../../certs/identity.js';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import { parseAuthorizedSubjectsFile } from '../../verify/binding.js';
import type { RevocationMode } from '../../verify/revocation/checker.js';
import { X509Verifier, type VerifyResult } from '../../verify/verifier.js';
import type { Command } from '../io.js';

const USAGE = `usage: ssh-x509 serve --listen <addr:port> --host-key <file> --trust <pem> [--trust ...]
       [--intermediates <pem>] [--map upn|upn-local|cn|email] [--authorized-subjects <file>]
       [--revocation off|prefer|require] [--crl <file>] [--eku-compat] [--allow-sha1]`;

function usage(msg: string): never {
  throw new SshX509Error(ErrorCodes.USAGE, `${msg}\n${USAGE}`);
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  if (!m) usage(`--listen must be <addr:port>, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) usage(`port ${port} out of range`);
  return { host: m[1] ?? m[2]!, port };
}

/** The exec answer line of `serve`. */
export function authenticatedLine(r: VerifyResult): string {
  return `authenticated ${r.account ?? r.username} via ${r.algorithm} subject=${r.subject ?? ''} sha256=${r.fingerprint ?? ''} revocation=${r.revocationSource}\n`;
}

/** `ssh-x509 serve ...`: runs until SIGTERM or SIGINT, then returns 0. */
export const runServe: Command = async (argv, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        'host-key': { type: 'string' },
        trust: { type: 'string', multiple: true },
        intermediates: { type: 'string', multiple: true },
        map: { type: 'string', multiple: true },
        'authorized-subjects': { type: 'string' },
        revocation: { type: 'string' },
        crl: { type: 'string', multiple: true },
        'eku-compat': { type: 'boolean' },
        'allow-sha1': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) {
    io.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!values.listen) usage('--listen is required');
  if (!values['host-key']) usage('--host-key is required');
  if (!values.trust?.length) usage('at least one --trust is required');
  const { host, port } = parseListen(values.listen);
  const maps = (values.map ?? []).map((m) => {
    if (!(USERNAME_RULES as readonly string[]).includes(m)) usage(`--map must be one of ${USERNAME_RULES.join(', ')}`);
    return m as UsernameRule;
  });
  const mode = (values.revocation ?? 'prefer') as RevocationMode;
  if (!['off', 'prefer', 'require'].includes(mode)) usage('--revocation must be off, prefer or require');
  const authorizedPath = values['authorized-subjects'];
  const authorized = authorizedPath ? parseAuthorizedSubjectsFile(await readFile(authorizedPath, 'utf8'), authorizedPath) : undefined;
  if (maps.length === 0 && !authorized) usage('give --map and/or --authorized-subjects: without a binding nobody can log in');

  const verifier = await X509Verifier.create({
    trustAnchors: values.trust,
    intermediates: values.intermediates ?? [],
    account: { ...(maps.length ? { map: maps } : {}), ...(authorized ? { authorized } : {}) },
    revocation: { mode, crls: values.crl ?? [] },
    ...(values['eku-compat'] ? { ekuCompat: ['clientAuth', 'smartcardLogon'] as const } : {}),
    allowSha1Algorithms: values['allow-sha1'] ?? false,
  });
  const hostKey = await readFile(values['host-key']);

  // ssh2 is a peer dependency, loaded only by the command that needs it.
  const require = createRequire(import.meta.url);
  const ssh2 = require('ssh2') as typeof import('ssh2');
  const logger = { format: 'text' as const, write: (line: string) => io.stderr.write(line + '\n') };

  const clients = new Set<import('ssh2').Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    clients.add(client);
    let accepted: VerifyResult | undefined;
    client.on('authentication', x509Authentication(verifier, { logger, onAccept: (r: VerifyResult, _ctx: Ssh2AuthContext) => (accepted = r) }) as never);
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.write(accepted ? authenticatedLine(accepted) : 'not authenticated\n');
          stream.exit(accepted ? 0 : 1);
          stream.end();
        });
        session.on('pty', (_a, reject) => reject?.());
        session.on('shell', (_a, reject) => reject());
      });
    });
    client.on('error', (e) => logger.write(formatTrace({ level: 'warn', message: `client error: ${e.message}`, fields: {} })));
    client.on('close', () => clients.delete(client));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  io.stdout.write(`listening on ${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      for (const c of clients) c.end();
      server.close(() => resolve());
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
};
