/**
 * The quick-start rig (not an example of the library): a throwaway PKI and a
 * local RFC 6187 server (AsyncSSH, independent of this library), made with
 * the tests' helpers; then it runs examples/demo.ts, the client, against
 * them, logs in once more with the command, and shows what the server saw.
 *
 *   bash scripts/demo.sh           the demo; removes everything at the end
 *   bash scripts/demo.sh --keep    the demo, then leaves the PKI, the server and an ssh_config in lab/
 *                                  to try the command, sftp and the README's examples on
 *   bash scripts/demo.sh --stop    stops the server of a kept lab and removes lab/
 *
 * LAB_DIR puts the kept lab elsewhere (inside the repository, so that its
 * examples find the package by name).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAsyncSshServer, type AsyncSshServer } from '../test/helpers/asyncssh.js';
import { createTestPki } from '../test/helpers/pki.js';
import { waitForLog } from '../test/helpers/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);
const example = join(ROOT, 'examples/demo.ts');
const keep = process.argv.includes('--keep');
const labDir = resolve(ROOT, process.env.LAB_DIR ?? 'lab');

/** Runs a program with the terminal's stdio; rejects unless it exits 0. */
async function runVisible(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<void> {
  const child = spawn(cmd, args, { stdio: 'inherit', cwd: options.cwd ?? ROOT, env: options.env ?? process.env });
  const [status, signal] = (await once(child, 'close')) as [number | null, string | null];
  if (status !== 0) throw new Error(`${relative(ROOT, args[args[0] === '--import' ? 2 : 0] ?? cmd)} exited with ${status ?? signal}`);
}

/** Runs a program and returns its standard output; rejects unless it exits 0 (its stderr passes through). */
async function capture(cmd: string, args: string[]): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [status, signal] = (await once(child, 'close')) as [number | null, string | null];
  if (status !== 0) throw new Error(`ssh-x509 ${args[1]} exited with ${status ?? signal}`);
  return out;
}

/** Whether a kept lab's server is still running. */
function labRunning(): number | undefined {
  const pidFile = join(labDir, 'server', 'server.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function stopLab(): Promise<void> {
  const pid = labRunning();
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && labRunning() !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
    console.log(`stopped the lab's server (pid ${pid})`);
  }
  rmSync(labDir, { recursive: true, force: true });
  console.log(`removed ${relative(process.cwd(), labDir) || labDir}`);
}

/** The README's first runnable client block, pointed at this server. */
function quickStart(port: number): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- doc-test: client -->\n```ts\n([\s\S]*?)\n```/.exec(readme);
  if (!m) throw new Error('README.md has no client quick start');
  return m[1]!.replace("'server.example.com'", "'127.0.0.1'").replace('port: 22,', `port: ${port},`) + '\n';
}

async function demo(): Promise<void> {
  if (keep && labRunning() !== undefined) {
    console.log(`A lab is already running in ${labDir}: stop it first with  bash scripts/demo.sh --stop`);
    process.exitCode = 1;
    return;
  }
  if (keep) rmSync(labDir, { recursive: true, force: true });
  const dir = keep ? labDir : mkdtempSync(join(tmpdir(), 'ssh-x509-demo-'));
  mkdirSync(dir, { recursive: true });
  let server: AsyncSshServer | undefined;
  try {
    step(1, 'Creating a throwaway PKI: root CA -> intermediate CA -> user certificate (P-256, EKU secureShellClient, UPN)');
    const pki = await createTestPki(join(dir, 'pki'));
    const alice = await pki.issue('alice', 'p256');
    const chain = join(dir, 'alice-chain.pem');
    const key = join(dir, 'alice-key.pem');
    writeFileSync(chain, readFileSync(alice.chainPath));
    writeFileSync(key, readFileSync(alice.keyPath), { mode: 0o600 });
    writeFileSync(join(dir, 'users-ca.pem'), readFileSync(pki.root.certPath));
    console.log(`    certificate chain: ${chain}`);
    console.log(`    private key:       ${key}`);

    step(2, 'Starting an AsyncSSH server on 127.0.0.1 that trusts only the root CA');
    server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server'), detached: keep });
    console.log(`    listening on 127.0.0.1:${server.port}`);
    writeFileSync(join(dir, 'server_host_key.pub'), server.hostPublicKeyLine + '\n');
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine}\n`);
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(
      sshConfig,
      [
        'Host lab',
        '  HostName 127.0.0.1',
        `  Port ${server.port}`,
        '  User alice',
        `  IdentityFile ${key}`,
        `  CertificateFile ${chain}`,
        `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
        '  StrictHostKeyChecking yes',
        '',
      ].join('\n'),
    );

    // The client: examples/demo.ts, as a user of the package would write it.
    await runVisible(process.execPath, ['--import', 'tsx', example], {
      env: { ...process.env, CERT_CHAIN: chain, PRIVATE_KEY: key, SSH_HOST: '127.0.0.1', SSH_PORT: String(server.port), SSH_USER: 'alice', SSH_HOST_KEY: server.hostPublicKeyLine },
    });

    step(5, 'The same login with the command, as ssh with an ssh_config (Host lab: HostName, Port, User, IdentityFile, CertificateFile)');
    const command = 'echo "logged in as $USER, with the command"';
    console.log(`    $ ssh-x509 connect -F ${sshConfig} lab '${command}'`);
    const output = await capture(process.execPath, [CLI, 'connect', '-F', sshConfig, 'lab', command]);
    console.log(`    remote output: ${output.trim()}`);

    step(6, 'What the server saw');
    const log = await waitForLog(server.log, /^EXEC [\s\S]*^EXEC /m, 5_000);
    for (const line of log.split('\n').filter((l) => l.startsWith('AUTH ') || l.startsWith('EXEC '))) console.log(`    ${line}`);
    console.log('\nDone: RFC 6187 certificate logins from Node and from the command, accepted by an independent server.');

    if (keep) {
      writeFileSync(join(dir, 'quickstart.ts'), quickStart(server.port));
      const rel = relative(ROOT, dir);
      console.log(`\nThe lab stays: the PKI, the server (127.0.0.1:${server.port}) and an ssh_config, in ${rel}/. From ${ROOT}, try:\n`);
      console.log(`  node dist/cli/main.js connect -F ${rel}/ssh_config lab uname -a        # the command, as ssh`);
      console.log(`  node dist/cli/main.js sftp -F ${rel}/ssh_config lab                   # sftp (ls, get, put, bye)`);
      console.log(`  (cd ${rel} && node --import tsx quickstart.ts)                       # the README's quick start`);
      console.log(`\nThe files: ${rel}/alice-chain.pem, alice-key.pem, users-ca.pem, server_host_key.pub.`);
      console.log('Stop the server and remove the lab with:\n\n  bash scripts/demo.sh --stop');
      server = undefined; // keep it running
    }
  } catch (e) {
    console.error(`demo failed: ${(e as Error).message}`);
    process.exitCode = 1;
  } finally {
    await server?.stop();
    if (!keep || process.exitCode) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--stop')) await stopLab();
else await demo();
