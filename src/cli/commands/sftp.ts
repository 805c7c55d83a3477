/**
 * `ssh-x509 sftp [options] [user@]host[:path]`: file transfer over the same
 * certificate login, configuration and jump hosts as `connect` (the
 * SecureFX counterpart), interactive or with `-b batchfile` as OpenSSH's
 * sftp(1).
 *
 * @module
 */
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readdir, stat, utimes } from 'node:fs/promises';
import { isAbsolute, join as localJoin, resolve as localResolve, basename } from 'node:path';
import { posix } from 'node:path';
import { createInterface } from 'node:readline';
import type { Client, SFTPWrapper, Stats } from 'ssh2';
import type { Signer } from '../../signers/signer.js';
import { defineCommand, EXIT_CONNECT_FAILURE, EXIT_FAILURE, EXIT_USAGE, parseOptions, usageError } from '../command.js';
import { CONNECT_OPTIONS, SSH_FLAGS } from '../connect-options.js';
import type { CliIo } from '../io.js';
import { KEYWORD_NAMES, SUPPORTED_KEYWORDS } from '../ssh-config.js';

/** `text` wrapped at 100 columns, indented by two. */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length > 98) {
      lines.push(`  ${line.trimEnd()}`);
      line = '';
    }
    line += `${word} `;
  }
  if (line) lines.push(`  ${line.trimEnd()}`);
  return lines.join('\n');
}

/** sftp's options: connect's, with OpenSSH sftp's -P for the port, -b and -r. */
export const SFTP_OPTIONS = {
  ...CONNECT_OPTIONS,
  port: { type: 'string', short: 'P' },
  'pkcs11-module': { type: 'string', short: 'I' },
  identity: SSH_FLAGS.identity,
  'ssh-config': SSH_FLAGS['ssh-config'],
  option: SSH_FLAGS.option,
  verbose: SSH_FLAGS.verbose,
  quiet: SSH_FLAGS.quiet,
  jump: SSH_FLAGS.jump,
  compression: SSH_FLAGS.compression,
  batch: { type: 'string', short: 'b' },
  recursive: { type: 'boolean', short: 'r' },
  preserve: { type: 'boolean', short: 'p' },
} as const;

export const SFTP_USAGE = `usage: ssh-x509 sftp [options] [user@]host[:path [<local path>]] | sftp://[user@]host[:port][/path]

File transfer with an X.509 certificate login: the same identities, ssh_config and jump hosts as
connect (see 'ssh-x509 connect --help' for the certificate, token and config options), interactive,
or with -b as OpenSSH's sftp. As there, host:dir starts in that remote directory; host:file downloads
the file into the current directory, or to <local path>, and ends (host:dir <local path> with -r: the directory).

  -b <batchfile>     read commands from this file ("-" for standard input); stop at the first
                     failing command unless it starts with "-"
  -P <port>          server port
  -r                 recursive get and put
  -p                 preserve modification and access times and modes of the files transferred
                     (as OpenSSH's sftp; the port is -P)
  -i <file>, -F <file>, -o <Keyword=value>, -J <hops>, -I <module>, -v, -q, -C: as in connect
  --cert, --key, --pkcs11-module, --pkcs11-uri, --pin-env, ... : as in connect
  -h, --help         this help
Not supported (OpenSSH sftp's): -4 -6 -A -a -B -c -D -f -l -N -R -S -s -X.

ssh_config keywords read (-o, -F, ~/.ssh/config, /etc/ssh/ssh_config), as connect reads them:
${wrap(Object.keys(SUPPORTED_KEYWORDS).map((k) => KEYWORD_NAMES[k] ?? k).join(', '))}

commands:
  get [-rp] <remote> [<local>]    download (a directory with -r; -p keeps times and modes)
  put [-rp] <local> [<remote>]    upload (a directory with -r; -p keeps times and modes)
  ls [<path>]                     list a remote directory
  cd <path> / lcd <path>          change the remote / local directory
  pwd / lpwd                      print the remote / local directory
  mkdir <path>, rmdir <path>, rm <path>, rename <old> <new>
  exit, quit, bye
Transfers show a progress bar on a terminal, nothing otherwise.

exit status: 0 success; ${EXIT_USAGE} usage error; ${EXIT_FAILURE} a failed command (batch mode) or download (host:file); ${EXIT_CONNECT_FAILURE} connection or login failure
`;

/** The destination with its path: `[user@]host[:path]` or `sftp://[user@]host[:port][/path]`. */
function splitDestination(dest: string): { destination: string; path?: string } {
  const uri = /^sftp:\/\/([^/]+)(\/.*)?$/i.exec(dest);
  if (uri) return { destination: `ssh://${uri[1]}`, ...(uri[2] && uri[2] !== '/' ? { path: decodeURIComponent(uri[2].slice(1)) } : {}) };
  const m = /^((?:[^@]+@)?(?:\[[^\]]+\]|[^:]+))(?::(.*))?$/.exec(dest);
  if (!m) throw usageError(`bad destination ${JSON.stringify(dest)}`);
  return { destination: m[1]!, ...(m[2] ? { path: m[2] } : {}) };
}

/** The parsed values back into connect's command line (long forms). */
function connectArgv(values: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (name === 'batch' || name === 'recursive' || name === 'preserve' || name === 'help' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === true) out.push(`--${name}`);
      else if (typeof v === 'string') out.push(`--${name}`, v);
    }
  }
  return out;
}

function promisify<T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

/** Splits a command line into words, with "double" and 'single' quotes and backslash escapes. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|((?:[^\s"'\\]|\\.)+)/g)) out.push((m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
  return out;
}

class SftpSession {
  cwd = '.';
  lcwd = process.cwd();
  constructor(
    readonly sftp: SFTPWrapper,
    readonly io: CliIo,
    readonly recursiveDefault: boolean,
    readonly preserveDefault = false,
  ) {}

  /** The command's own flags (-r, -p, -rp, ...) and its other words. */
  flags(args: string[], command: string): { recursive: boolean; preserve: boolean; rest: string[] } {
    let recursive = this.recursiveDefault;
    let preserve = this.preserveDefault;
    let i = 0;
    for (; i < args.length && /^-[a-zA-Z]+$/.test(args[i]!); i++) {
      for (const f of args[i]!.slice(1)) {
        if (f === 'r') recursive = true;
        else if (f === 'p') preserve = true;
        else throw usageError(`${command}: unknown flag -${f}`);
      }
    }
    return { recursive, preserve, rest: args.slice(i) };
  }

  /** Gives the local file the remote one's times and mode (get -p). */
  async preserveLocal(local: string, st: Stats): Promise<void> {
    await utimes(local, st.atime, st.mtime);
    await chmod(local, st.mode & 0o7777);
  }

  /** Gives the remote file the local one's times and mode (put -p). */
  preserveRemote(remote: string, st: { atimeMs: number; mtimeMs: number; mode: number }): Promise<void> {
    return promisify<void>((cb) =>
      this.sftp.setstat(remote, { mode: st.mode & 0o7777, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) }, (err) => cb(err, undefined)),
    );
  }

  remote(p: string | undefined): string {
    if (!p) return this.cwd;
    return posix.isAbsolute(p) ? p : posix.join(this.cwd, p);
  }

  local(p: string | undefined): string {
    if (!p) return this.lcwd;
    return isAbsolute(p) ? p : localResolve(this.lcwd, p);
  }

  stat(p: string): Promise<Stats> {
    return promisify<Stats>((cb) => this.sftp.stat(p, cb));
  }

  async progress(name: string, total: number): Promise<{ update(n: number): void; stop(): void }> {
    const out = this.io.stdout as NodeJS.WriteStream;
    if (!out.isTTY) return { update() {}, stop() {} };
    const { SingleBar, Presets } = (await import('cli-progress')).default;
    const bar = new SingleBar({ format: `${name} [{bar}] {percentage}% {value}/{total} bytes {eta}s`, stream: out, hideCursor: true }, Presets.shades_classic);
    bar.start(total, 0);
    return { update: (n) => bar.update(n), stop: () => bar.stop() };
  }

  async getFile(remote: string, local: string, size: number): Promise<void> {
    const bar = await this.progress(posix.basename(remote), size);
    try {
      await promisify<void>((cb) => this.sftp.fastGet(remote, local, { step: (done: number) => bar.update(done) }, (err) => cb(err, undefined)));
    } finally {
      bar.stop();
    }
  }

  async putFile(local: string, remote: string, size: number): Promise<void> {
    const bar = await this.progress(basename(local), size);
    try {
      await promisify<void>((cb) => this.sftp.fastPut(local, remote, { step: (done: number) => bar.update(done) }, (err) => cb(err, undefined)));
    } finally {
      bar.stop();
    }
  }

  async get(args: string[]): Promise<void> {
    const { recursive, preserve, rest } = this.flags(args, 'get');
    const [src, dst] = rest;
    if (!src) throw usageError('get: which file?');
    const remote = this.remote(src);
    const st = await this.stat(remote);
    let local = this.local(dst ?? posix.basename(remote));
    if (dst !== undefined && (await stat(local).catch(() => undefined))?.isDirectory() && !st.isDirectory()) local = localJoin(local, posix.basename(remote));
    if (!st.isDirectory()) {
      await this.getFile(remote, local, st.size);
      if (preserve) await this.preserveLocal(local, st);
      return;
    }
    if (!recursive) throw new Error(`${remote} is a directory: use get -r`);
    const walk = async (r: string, l: string, dirStats: Stats): Promise<void> => {
      await mkdir(l, { recursive: true });
      const list = await promisify<Array<{ filename: string; attrs: Stats }>>((cb) => this.sftp.readdir(r, cb));
      for (const e of list) {
        if (e.filename === '.' || e.filename === '..') continue;
        const rp = posix.join(r, e.filename);
        const lp = localJoin(l, e.filename);
        if (e.attrs.isDirectory()) await walk(rp, lp, e.attrs);
        else {
          await this.getFile(rp, lp, e.attrs.size);
          if (preserve) await this.preserveLocal(lp, e.attrs);
        }
      }
      if (preserve) await this.preserveLocal(l, dirStats);
    };
    await walk(remote, local, st);
  }

  async put(args: string[]): Promise<void> {
    const { recursive, preserve, rest } = this.flags(args, 'put');
    const [src, dst] = rest;
    if (!src) throw usageError('put: which file?');
    const local = this.local(src);
    const st = await stat(local);
    let remote = this.remote(dst ?? basename(local));
    if (dst !== undefined && !st.isDirectory() && (await this.stat(remote).catch(() => undefined))?.isDirectory()) remote = posix.join(remote, basename(local));
    if (!st.isDirectory()) {
      await this.putFile(local, remote, st.size);
      if (preserve) await this.preserveRemote(remote, st);
      return;
    }
    if (!recursive) throw new Error(`${local} is a directory: use put -r`);
    const walk = async (l: string, r: string): Promise<void> => {
      await promisify<void>((cb) => this.sftp.mkdir(r, (err) => cb(err && !(/exist/i.test(err.message) || (err as { code?: number }).code === 4) ? err : undefined, undefined)));
      for (const e of await readdir(l, { withFileTypes: true })) {
        const lp = localJoin(l, e.name);
        const rp = posix.join(r, e.name);
        if (e.isDirectory()) await walk(lp, rp);
        else {
          const fst = await stat(lp);
          await this.putFile(lp, rp, fst.size);
          if (preserve) await this.preserveRemote(rp, fst);
        }
      }
      if (preserve) await this.preserveRemote(r, await stat(l));
    };
    await walk(local, remote);
  }

  /** Runs one command line; resolves false for quit. */
  async run(line: string): Promise<boolean> {
    const [cmd, ...args] = words(line);
    const write = (s: string) => this.io.stdout.write(s);
    switch (cmd) {
      case undefined:
        return true;
      case 'exit':
      case 'quit':
      case 'bye':
        return false;
      case 'get':
        await this.get(args);
        return true;
      case 'put':
        await this.put(args);
        return true;
      case 'ls': {
        const dir = this.remote(args.find((a) => !a.startsWith('-')));
        const list = await promisify<Array<{ filename: string }>>((cb) => this.sftp.readdir(dir, cb));
        write(
          list
            .map((e) => e.filename)
            .filter((n) => n !== '.' && n !== '..')
            .sort()
            .map((n) => `${n}\n`)
            .join(''),
        );
        return true;
      }
      case 'cd': {
        const target = this.remote(args[0] ?? '.');
        const real = await promisify<string>((cb) => this.sftp.realpath(target, cb));
        if (!(await this.stat(real)).isDirectory()) throw new Error(`${real} is not a directory`);
        this.cwd = real;
        return true;
      }
      case 'lcd': {
        const target = this.local(args[0] ?? process.env.HOME ?? '/');
        if (!(await stat(target)).isDirectory()) throw new Error(`${target} is not a directory`);
        this.lcwd = target;
        return true;
      }
      case 'pwd':
        write(`Remote working directory: ${await promisify<string>((cb) => this.sftp.realpath(this.cwd, cb))}\n`);
        return true;
      case 'lpwd':
        write(`Local working directory: ${this.lcwd}\n`);
        return true;
      case 'mkdir':
        await promisify<void>((cb) => this.sftp.mkdir(this.remote(args[0]), (err) => cb(err, undefined)));
        return true;
      case 'rmdir':
        await promisify<void>((cb) => this.sftp.rmdir(this.remote(args[0]), (err) => cb(err, undefined)));
        return true;
      case 'rm':
        await promisify<void>((cb) => this.sftp.unlink(this.remote(args[0]), (err) => cb(err, undefined)));
        return true;
      case 'rename':
        if (args.length !== 2) throw usageError('rename <old> <new>');
        await promisify<void>((cb) => this.sftp.rename(this.remote(args[0]), this.remote(args[1]), (err) => cb(err, undefined)));
        return true;
      default:
        throw usageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  }
}

/** `sftp host:path [local]`: downloads one file (or a directory with -r), as `get` does, and resolves to the exit status. */
async function fetchOnly(session: SftpSession, sftp: SFTPWrapper, remote: string, local: string | undefined, quiet: boolean): Promise<number> {
  const quote = (p: string) => `"${p.replace(/"/g, '\\"')}"`;
  const target = session.local(local ?? posix.basename(remote));
  if (!quiet) session.io.stdout.write(`Fetching ${remote} to ${local ?? posix.basename(remote)}\n`);
  try {
    await session.run(`get ${quote(remote)}${local === undefined ? '' : ` ${quote(local)}`}`);
  } catch (e) {
    session.io.stderr.write(`ssh-x509 sftp: cannot download ${remote} to ${target}: ${(e as Error).message}\n`);
    return EXIT_FAILURE;
  } finally {
    sftp.end();
  }
  return 0;
}

/** Reads command lines from a file, standard input, or the terminal with a prompt. */
async function* commandLines(io: CliIo, batch: string | undefined): AsyncGenerator<string> {
  const input = batch === undefined || batch === '-' ? io.stdin : createReadStream(batch);
  const interactive = batch === undefined && io.stdin.isTTY === true;
  const rl = createInterface({ input, ...(interactive ? { output: io.stdout, prompt: 'sftp> ' } : {}), terminal: interactive });
  if (interactive) rl.prompt();
  try {
    for await (const line of rl) {
      yield line;
      if (interactive) rl.prompt();
    }
  } finally {
    rl.close();
  }
}

/** Runs `sftp`; 0 when every command worked, 1 after a failed command in batch mode, 255 when the login fails. */
export const runSftp = defineCommand({
  name: 'sftp',
  prefix: 'ssh-x509 sftp: ',
  failureStatus: EXIT_CONNECT_FAILURE,
  run: async (argv, io) => {
    const { values, positionals } = parseOptions(argv, SFTP_OPTIONS, true);
    if (values.help) {
      io.stdout.write(SFTP_USAGE);
      return 0;
    }
    if (positionals.length === 0) throw usageError('missing destination [user@]host[:path]');
    if (positionals.length > 2) throw usageError(`unexpected argument ${JSON.stringify(positionals[2])}: give [user@]host[:path] [<local path>]`);
    const { destination, path } = splitDestination(positionals[0]!);
    const localPath = positionals[1];
    if (localPath !== undefined && path === undefined) throw usageError(`a local path (${JSON.stringify(localPath)}) needs a remote one to download: [user@]host:<path> <local path>`);
    const batch = values.batch;
    if (batch !== undefined && batch !== '-') await stat(batch).catch(() => {
      throw usageError(`cannot read batch file ${batch}`);
    });
    const signers: Signer[] = [];
    const clients: Client[] = [];
    try {
      const { connectPlan } = await import('./connect.js');
      const plan = await connectPlan([...connectArgv(values), destination], io, signers, SFTP_USAGE);
      if (typeof plan === 'number') return plan;
      const { loginAll } = await import('../session.js');
      const client = await loginAll({ ...plan, forwards: [], forwardAgent: false }, clients);
      const sftp = await promisify<SFTPWrapper>((cb) => client.sftp(cb));
      const session = new SftpSession(sftp, io, values.recursive === true, values.preserve === true);
      session.cwd = await promisify<string>((cb) => sftp.realpath('.', cb));
      if (path) {
        // As OpenSSH's sftp: host:dir starts in that directory; host:file (or host:dir with a local path) downloads it and ends.
        const remote = session.remote(path);
        const isDir = await session.stat(remote).then((st) => st.isDirectory(), () => false);
        if (isDir && localPath === undefined) await session.run(`cd "${path.replace(/"/g, '\\"')}"`);
        else return await fetchOnly(session, sftp, remote, localPath, values.quiet === true);
      }
      const isBatch = batch !== undefined || !io.stdin.isTTY;
      for await (const raw of commandLines(io, batch)) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const tolerate = line.startsWith('-');
        const command = tolerate ? line.slice(1) : line;
        if (isBatch) io.stdout.write(`sftp> ${command}\n`);
        try {
          if (!(await session.run(command))) break;
        } catch (e) {
          io.stderr.write(`ssh-x509 sftp: ${command.split(/\s+/)[0]}: ${(e as Error).message}\n`);
          if (isBatch && !tolerate) return EXIT_FAILURE;
        }
      }
      sftp.end();
      return 0;
    } finally {
      for (const c of clients.reverse()) c.end();
      await Promise.all(signers.map((s) => s.close?.().catch(() => undefined)));
    }
  },
});
