import { createRequire } from 'node:module';
import type { CliIo, Command } from './io.js';

const USAGE = `usage: ssh-x509 <command> [options]

commands:
  connect [options] [<user>@]<host> [--] [command...] log in with an X.509 certificate (RFC 6187)
  list --pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--json]
                                                      the certificates on PKCS#11 tokens
  export-pub --cert <file> [--format openssh|rfc4716|x509v3|dn|asyncssh-dn]
                                                      print the authorized_keys entry for a certificate
  serve --listen <addr:port> --host-key <file> --trust <pem> ...
                                                      an SSH server that verifies X.509 logins (a test rig)
  help <command>                                      options of a command

Run 'ssh-x509 <command> --help' for a command's options.
`;

/** The commands, loaded on demand so that `connect` never loads a PKCS#11 module. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  connect: async () => (await import('./commands/connect.js')).runConnect,
  serve: async () => (await import('./commands/serve.js')).runServe,
  list: async () => (await import('./commands/list.js')).runList,
  'export-pub': async () => (await import('./commands/export-pub.js')).runExportPub,
};

function version(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Runs the command line `argv` (without node and the script) and resolves to the exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`ssh-x509 ${version()}\n`);
    return 0;
  }
  if (name === 'help' && rest[0] && COMMANDS[rest[0]]) return (await COMMANDS[rest[0]]!())(['--help'], io);
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`ssh-x509: unknown command ${JSON.stringify(name)}\n${USAGE}`);
    return 2;
  }
  return (await load())(rest, io);
}
