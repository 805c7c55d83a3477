import { EXIT_CONNECT_FAILURE, EXIT_FAILURE, EXIT_USAGE, packageVersion } from './command.js';
import type { CliIo, Command } from './io.js';

const USAGE = `usage: ssh-x509 <command> [options]

commands:
  connect [options] [<user>@]<host> [--] [command...] log in with an X.509 certificate (RFC 6187)
  list -I|--pkcs11-module <path> [--pkcs11-uri <uri>] [--pin-env <VAR>] [--json]
                                                      the certificates on PKCS#11 tokens
  export-pub --cert <file> [--format openssh|rfc4716|x509v3|dn|asyncssh-dn]
                                                      print the authorized_keys entry for a certificate
  sftp [options] [<user>@]<host>[:<path> [<local path>]] [-b <batchfile>]
                                                      file transfer over the same login (SecureFX's counterpart)
  serve --listen <addr:port> --host-key <file> --trust <pem> ...
                                                      an SSH server that verifies X.509 logins (a test rig)
  help [<command>]                                    this text, or the options of a command

Run 'ssh-x509 <command> --help' (or 'ssh-x509 help <command>') for a command's options.

exit status, the same for every command:
  0    success (connect: the remote command's own status)
  ${EXIT_USAGE}    usage error: unknown command or option, missing or bad value
  ${EXIT_FAILURE}    any other failure of list, export-pub and serve
  ${EXIT_CONNECT_FAILURE}  any other failure of connect and sftp (connection, host key, authentication), as ssh does;
       sftp: 1 for a failed command (-b) or download (host:file)
`;

/** The commands, loaded on demand so that `connect` never loads a PKCS#11 module. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  connect: async () => (await import('./commands/connect.js')).runConnect,
  serve: async () => (await import('./commands/serve.js')).runServe,
  list: async () => (await import('./commands/list.js')).runList,
  'export-pub': async () => (await import('./commands/export-pub.js')).runExportPub,
  sftp: async () => (await import('./commands/sftp.js')).runSftp,
};

/** Runs the command line `argv` (without node and the script) and resolves to the exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout.write(USAGE);
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`ssh-x509 ${packageVersion()}\n`);
    return 0;
  }
  if (name === 'help') {
    if (rest.length === 0) {
      io.stdout.write(USAGE);
      return 0;
    }
    const topic = COMMANDS[rest[0]!];
    if (!topic || rest.length > 1) {
      io.stderr.write(`ssh-x509 help: no command ${JSON.stringify(rest.join(' '))}\n${USAGE}`);
      return EXIT_USAGE;
    }
    return (await topic())(['--help'], io);
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`ssh-x509: unknown command ${JSON.stringify(name)}\n${USAGE}`);
    return EXIT_USAGE;
  }
  return (await load())(rest, io);
}
