/**
 * The command's one map from error to exit status (2 for a usage error in
 * every subcommand; 1 for any other failure of list, export-pub and serve;
 * 255 for connect's, as ssh does), `ssh-x509 help [command]`, and every
 * option described in its subcommand's --help.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { CONNECT_OPTIONS, SSH_FLAGS } from '../src/cli/connect-options.js';
import { OPTIONS as LIST_OPTIONS } from '../src/cli/commands/list.js';
import { OPTIONS as EXPORT_PUB_OPTIONS } from '../src/cli/commands/export-pub.js';
import { SFTP_OPTIONS } from '../src/cli/commands/sftp.js';
import { KEYWORD_NAMES, SUPPORTED_KEYWORDS } from '../src/cli/ssh-config.js';
import { captureIo } from './helpers/cli-io.js';
import { runCommand } from './helpers/ssh2-run.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';

let dir: string;
let alice: IssuedCert;
let root: string;
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-exit-'));
  const pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  root = pki.root.certPath;
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => busy.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const io = captureIo({});
  const code = await runCli(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

describe('exit status of a usage error is 2 in every subcommand', () => {
  it.each([
    ['connect', ['connect', '--bogus', 'a@127.0.0.1'], /^ssh-x509: Unknown option '--bogus'/],
    ['connect', ['connect', '--strict-host-key-checking', 'maybe', 'a@127.0.0.1'], /--strict-host-key-checking must be yes, ask, accept-new or no/],
    ['list', ['list', '--bogus'], /^ssh-x509 list: Unknown option '--bogus'/],
    ['export-pub', ['export-pub', '--bogus'], /^ssh-x509 export-pub: Unknown option '--bogus'/],
    ['serve', ['serve', '--bogus'], /^ssh-x509 serve: Unknown option '--bogus'/],
    ['sftp', ['sftp', '--bogus', 'a@127.0.0.1'], /^ssh-x509 sftp: Unknown option '--bogus'/],
    ['serve', ['serve', '--listen', '127.0.0.1:0', '--host-key', 'k', '--trust', 'r', '--map', 'nobody'], /--map must be one of/],
    ['(none)', ['frobnicate'], /unknown command "frobnicate"/],
  ])('%s: %j exits 2 and points to --help', async (_name, args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('a library ERR_INVALID_ARGUMENT that comes from an option exits 2 (export-pub --comment with a DN format)', async () => {
    const r = await cli(['export-pub', '--cert', alice.certPath, '--format', 'dn', '--comment', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ssh-x509 export-pub: a dn line has no comment/);
  });

  it('the real process exits 2 for serve --bogus as for the others (it used to exit 255)', async () => {
    for (const name of ['serve', 'list', 'export-pub', 'connect']) {
      const r = await runCommand([name, '--bogus']);
      expect([name, r.code]).toEqual([name, 2]);
    }
  });
});

describe('messages and exit statuses in the command\'s own terms', () => {
  it('connect --algorithm: an unknown name and a misspelt x509v3 one exit 2 and list the known names (not a --raw-key complaint)', async () => {
    for (const name of ['bogus', 'x509v3-ecdsa-sha2-nistp265']) {
      const r = await cli(['connect', '--algorithm', name, '--cert', alice.chainPath, '--key', alice.keyPath, 'a@127.0.0.1', 'true']);
      expect([name, r.code]).toEqual([name, 2]);
      expect(r.stderr).toMatch(new RegExp(`^ssh-x509: unknown algorithm "${name}" \\(--algorithm, PubkeyAcceptedAlgorithms\\); x509v3 ones: x509v3-ecdsa-sha2-nistp256, .*; plain ones \\(the key without its certificate, --raw-key\\): rsa-sha2-512, `));
      expect(r.stderr).not.toContain('with --raw-key, --algorithm takes');
    }
    // The same through ssh_config's PubkeyAcceptedAlgorithms, and a plain name still means a plain key.
    const viaO = await cli(['connect', '-F', 'none', '-o', 'PubkeyAcceptedAlgorithms=x509v3-ssh-ed25518', 'a@127.0.0.1', 'true']);
    expect(viaO.code).toBe(2);
    expect(viaO.stderr).toContain('unknown algorithm "x509v3-ssh-ed25518"');
    const mixed = await cli(['connect', '--raw-key', '--algorithm', 'x509v3-ssh-ed25519', 'a@127.0.0.1', 'true']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('with --raw-key, --algorithm takes a plain SSH algorithm');
  });

  it('serve --trust with the CA\'s private key: says it holds a private key and to give the CA certificate, naming no --key', async () => {
    const caKey = join(dir, 'pki', 'root', 'key.pem');
    const r = await cli(['serve', '--listen', '127.0.0.1:0', '--host-key', alice.keyPath, '--trust', caKey, '--map', 'cn']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ssh-x509 serve: trust anchor file ${caKey} contains no certificate (no PEM CERTIFICATE block): it holds a private key (a CA is given by its certificate, never its private key: give the CA's certificate)\n`,
    );
    expect(r.stderr).not.toContain('--key');
    // A missing one, in words.
    const missing = await cli(['serve', '--listen', '127.0.0.1:0', '--host-key', alice.keyPath, '--trust', join(dir, 'no-root.pem'), '--map', 'cn']);
    expect(missing.stderr).toBe(`ssh-x509 serve: cannot read trust anchor file ${join(dir, 'no-root.pem')}: no such file (ENOENT)\n`);
  });

  it('connect --pin-env naming an unset variable is a bad value, exit 2, as --passphrase-env', async () => {
    const r = await cli(['connect', '-I', join(dir, 'missing.so'), '--pin-env', 'SSH_X509_NO_SUCH_PIN', 'a@127.0.0.1', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ssh-x509: --pin-env SSH_X509_NO_SUCH_PIN: the variable is not set\n/);
  });
});

describe('exit status of any other failure', () => {
  it('list: 1 when the module is missing', async () => {
    const r = await cli(['list', '--pkcs11-module', join(dir, 'missing.so')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ssh-x509 list: PKCS#11 module .*missing\.so not found.*\[ERR_PKCS11_MODULE_MISSING\]\n$/);
  });

  it('export-pub: 1 when the certificate file cannot be read', async () => {
    const r = await cli(['export-pub', '--cert', join(dir, 'missing.pem')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read certificate file');
  });

  it('serve: 1 when the port is taken', async () => {
    const hostKey = join(dir, 'host');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const r = await cli(['serve', '--listen', `127.0.0.1:${busyPort}`, '--host-key', hostKey, '--trust', root, '--map', 'upn-local']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ssh-x509 serve: .*EADDRINUSE/);
  });

  it('serve: 1 when the trust anchor file cannot be read', async () => {
    const r = await cli(['serve', '--listen', '127.0.0.1:0', '--host-key', join(dir, 'host'), '--trust', join(dir, 'missing-root.pem'), '--map', 'cn']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ssh-x509 serve: .*missing-root\.pem/);
  });

  it('connect: 255 when nothing listens, as ssh does', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await cli(['connect', '-p', String(port), '--cert', alice.chainPath, '--key', alice.keyPath, '--known-hosts', join(dir, 'kh'), 'alice@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/^ssh-x509: 127\.0\.0\.1 port \d+: .*ECONNREFUSED/);
  });
});

describe('OpenSSH habits: -F, -I', () => {
  it('connect -F with a missing file exits 255 with the file and the reason in words, as ssh does', async () => {
    const nope = join(dir, 'no-such-config');
    const r = await cli(['connect', '-F', nope, 'a@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toBe(`ssh-x509: cannot read ssh config file ${nope}: no such file (ENOENT)\n`);
    const sftp = await cli(['sftp', '-F', nope, 'a@127.0.0.1']);
    expect(sftp.code).toBe(255);
    expect(sftp.stderr).toBe(`ssh-x509 sftp: cannot read ssh config file ${nope}: no such file (ENOENT)\n`);
  });

  it('connect -E with a log file that cannot be written: one line before connecting, exit 255', async () => {
    const log = join(dir, 'no-such-dir', 'trace.log');
    const r = await cli(['connect', '-F', 'none', '-E', log, '-v', 'a@127.0.0.1', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toBe(`ssh-x509: cannot write the log file ${log} (-E): no such file (ENOENT)\n`);
  });

  it.each([
    ['list', ['list']],
    ['export-pub', ['export-pub']],
    ['sftp', ['sftp', 'a@127.0.0.1']],
    ['connect', ['connect', 'a@127.0.0.1', 'true']],
  ])('%s takes -I for --pkcs11-module, as ssh does', async (_name, args) => {
    const module = join(dir, 'missing.so');
    const long = await cli([...args.slice(0, 1), '--pkcs11-module', module, ...args.slice(1)]);
    const short = await cli([...args.slice(0, 1), '-I', module, ...args.slice(1)]);
    expect(short.stderr).toContain(`PKCS#11 module ${module} not found`);
    expect(short).toEqual(long);
  });

  it('serve takes -I for --pkcs11-module', async () => {
    const module = join(dir, 'missing.so');
    const args = (flag: string) => ['serve', '--listen', '127.0.0.1:0', flag, module, '--pin-env', 'P', '--trust', root, '--map', 'cn'];
    const io = () => captureIo({ P: '1234' });
    const [a, b] = [io(), io()];
    const [ca, cb] = [await runCli(args('-I'), a), await runCli(args('--pkcs11-module'), b)];
    expect(a.err()).toContain(`PKCS#11 module ${module} not found`);
    expect([ca, a.err()]).toEqual([cb, b.err()]);
  });
});

describe('help', () => {
  it('ssh-x509 help prints the commands and the exit statuses, exit 0', async () => {
    const r = await cli(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: ssh-x509 <command>/);
    expect(r.stdout).toMatch(/^ {2}2 {4}usage error/m);
    expect(r.stdout).toMatch(/^ {2}1 {4}any other failure of list, export-pub and serve/m);
    expect(r.stdout).toMatch(/^ {2}255 {2}any other failure of connect/m);
  });

  it.each(['connect', 'list', 'export-pub', 'serve', 'sftp'])('ssh-x509 help %s is its --help, with its exit statuses', async (name) => {
    const viaHelp = await cli(['help', name]);
    const viaFlag = await cli([name, '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toMatch(new RegExp(`^usage: ssh-x509 ${name} `));
    expect(viaHelp.stdout).toMatch(/exit status: .*2 usage error/);
    expect(viaHelp.stdout).toMatch(name === 'connect' ? /255 any other failure/ : name === 'sftp' ? /255 connection or login failure/ : /; 1 any other failure/);
  });

  it('ssh-x509 help with an unknown command exits 2', async () => {
    const r = await cli(['help', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no command "frobnicate"');
  });

  const described = (help: string, options: Record<string, { short?: string }>) =>
    Object.entries(options)
      .filter(([long, o]) => !new RegExp(`^ +((-${o.short ?? '\\0'}, )?--${long}\\b|-${o.short ?? '\\0'}\\b(?!-))`, 'm').test(help))
      .map(([long]) => long);

  it.each([
    ['connect', CONNECT_OPTIONS],
    ['list', LIST_OPTIONS],
    ['export-pub', EXPORT_PUB_OPTIONS],
    ['connect', SSH_FLAGS],
  ] as const)('%s --help describes every option it parses, one line each', async (name, options) => {
    const help = (await cli([name, '--help'])).stdout;
    expect(described(help, options as Record<string, { short?: string }>)).toEqual([]);
  });

  /** The one-letter flags an OpenSSH usage message (`ssh -?`, `sftp -?`) lists. */
  const openSshFlags = (program: string): string[] => {
    const usage = spawnSync(program, ['-?'], { encoding: 'utf8' }).stderr;
    const flags = [...usage.matchAll(/\[-([0-9A-Za-z]{2,})\]/g)].flatMap((m) => [...m[1]!]);
    flags.push(...[...usage.matchAll(/\[-([0-9A-Za-z]) /g)].map((m) => m[1]!));
    return [...new Set(flags)];
  };
  /** The flags named after "Not supported (OpenSSH's...):", up to the first "(" or blank line. */
  const notSupported = (text: string): string[] => {
    const m = /Not supported \(OpenSSH(?:'s| sftp's)\):?([^(]*?)(?:\(|\n\n|$)/s.exec(text);
    return m ? [...m[1]!.matchAll(/-([0-9A-Za-z])\b/g)].map((x) => x[1]!) : [];
  };
  /** The command's reference page (README.md links to it). */
  const readmeSection = (): string => readFileSync(new URL('../docs/command.md', import.meta.url), 'utf8');
  const shorts = (options: object) => Object.values(options as Record<string, { type: string; short?: string }>).flatMap((o) => (o.short ? [o.short] : []));

  it('connect --help and docs/command.md: each of OpenSSH ssh\'s flags (from ssh -?) described, or listed as not supported', async () => {
    const help = (await cli(['connect', '--help'])).stdout;
    const readme = readmeSection();
    const ours = new Set(shorts({ ...CONNECT_OPTIONS, ...SSH_FLAGS }));
    const theirs = openSshFlags('ssh');
    expect(theirs.length).toBeGreaterThan(40);
    const unsupported = theirs.filter((f) => !ours.has(f));
    expect(unsupported.filter((f) => !notSupported(help).includes(f))).toEqual([]);
    expect(unsupported.filter((f) => !notSupported(readme).includes(f))).toEqual([]);
    // And every flag taken is named in docs/command.md.
    expect([...ours].filter((f) => f !== 'h' && !new RegExp(`(?<![\\w-])-${f}\\b`).test(readme))).toEqual([]);
  });

  it('sftp --help and docs/command.md: each of OpenSSH sftp\'s flags (from sftp -?) described, or listed as not supported', async () => {
    const help = (await cli(['sftp', '--help'])).stdout;
    const ours = new Set(shorts(SFTP_OPTIONS));
    const theirs = openSshFlags('sftp');
    expect(theirs.length).toBeGreaterThan(20);
    const unsupported = theirs.filter((f) => !ours.has(f));
    expect(unsupported.filter((f) => !notSupported(help).includes(f))).toEqual([]);
    const readme = readmeSection();
    const sftpPart = readme.slice(readme.indexOf('`sftp` takes'));
    expect(unsupported.filter((f) => !notSupported(sftpPart).includes(f))).toEqual([]);
    expect([...ours].filter((f) => f !== 'h' && !new RegExp(`^ +(-${f}\\b|.*, -${f}\\b)`, 'm').test(help))).toEqual([]);
  });

  it('connect --help, sftp --help and docs/command.md name every ssh_config keyword read', async () => {
    const names = Object.keys(SUPPORTED_KEYWORDS).map((k) => KEYWORD_NAMES[k]);
    expect(names.filter((n) => n === undefined)).toEqual([]);
    const connectHelp = (await cli(['connect', '--help'])).stdout;
    const sftpHelp = (await cli(['sftp', '--help'])).stdout;
    const readme = readmeSection();
    for (const text of [connectHelp, sftpHelp, readme]) expect(names.filter((n) => !new RegExp(`\\b${n}\\b`).test(text.replace(/\s+/g, ' ')))).toEqual([]);
  });

  it('serve --help: its --authorized-subjects example is a line serve accepts (the algorithm before Subject:)', async () => {
    const help = (await cli(['serve', '--help'])).stdout.replace(/\n +/g, ' ');
    const example = /\("(alice [^"]+)", as export-pub --format dn/.exec(help)![1]!;
    const { parseAuthorizedSubjectsFile } = await import('../src/verify/binding.js');
    expect(() => parseAuthorizedSubjectsFile(`${example}\n`, 'example')).not.toThrow();
    // What the help showed before: refused.
    expect(() => parseAuthorizedSubjectsFile('alice Subject: O=Org,CN=alice\n', 'example')).toThrow(/not an X\.509 authorized entry/);
  });

  it('serve --help describes every option that serve parses', async () => {
    const help = (await cli(['serve', '--help'])).stdout;
    // serve's options are read from its parseArgs table in the source.
    const source = readFileSync(new URL('../src/cli/commands/serve.ts', import.meta.url), 'utf8');
    const table = /options: \{([\s\S]*?)\n {6}\},/.exec(source)![1]!;
    const names = [...table.matchAll(/^\s+'?([a-z0-9-]+)'?: \{ type:/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThanOrEqual(11);
    expect(names.filter((n) => !new RegExp(`^ +(-[A-Za-z], )?--${n}\\b`, 'm').test(help))).toEqual([]);
  });
});

describe('export-pub -f', () => {
  it('-f is the input file, as ssh-keygen -f; -m the format', async () => {
    const viaF = await cli(['export-pub', '-f', alice.chainPath, '-m', 'x509v3', '-C', '']);
    const viaCert = await cli(['export-pub', '--cert', alice.chainPath, '--format', 'x509v3', '--comment', '']);
    expect(viaF.stderr).toBe('');
    expect(viaF.code).toBe(0);
    expect(viaF.stdout).toMatch(/^x509v3-ecdsa-sha2-nistp256 [A-Za-z0-9+/=]+\n$/);
    expect(viaF.stdout).toBe(viaCert.stdout);
    // The old meaning of -f (the format) is now a file name that does not exist.
    const old = await cli(['export-pub', '--cert', alice.chainPath, '-f', 'x509v3']);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('cannot read certificate file x509v3');
  });
});

describe('library code never throws the command-line code', () => {
  it('ErrorCodes.USAGE appears only under src/cli', () => {
    const src = new URL('../src/', import.meta.url).pathname;
    const files = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    const offenders = files(src).filter((f) => !f.startsWith(join(src, 'cli')) && /ErrorCodes\.USAGE\b|'ERR_USAGE'/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => f.slice(src.length))).toEqual(['errors.ts']);
  });
});
