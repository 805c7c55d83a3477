/**
 * Certificate logins per second that `ssh-x509 serve` sustains at 30 concurrent clients, beside
 * AsyncSSH's server (test/peers/asyncssh_server.py, Debian's python3-asyncssh) verifying the same
 * certificates: one load generator process on the same machine (bench/login-load.ts, ssh2 clients,
 * each with its own P-256 certificate: connect, key exchange, publickey authentication,
 * disconnect), the two servers alternated round by round, medians. Revocation off on our side
 * (AsyncSSH checks none); serve's MaxStartups raised above the 30 clients (sshd's default, 10:30:100,
 * would drop some at random, as it is meant to).
 *
 * And the memory each idle unauthenticated connection costs: the server's resident set before
 * and after 200 connections (on fresh servers, before the load) that sent their identification line and then nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAsyncSshServer, type AsyncSshServer } from '../test/helpers/asyncssh.js';
import { createTestPki } from '../test/helpers/pki.js';
import { startServe, type ServeProcess } from '../test/helpers/serve.js';
import { median, type BenchRow } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONCURRENCY = 30;
const ROUNDS = 3;
const WARMUP_S = 2;
const SECONDS = 8;
const IDLE_CONNECTIONS = 200;
/** The ratio the issue asks for: serve at least twice AsyncSSH's logins per second. */
const TARGET = 2;

interface Load {
  logins: number;
  all: number;
  failures: number;
  seconds: number;
  firstError?: string;
}

function runLoad(port: number, identities: string): Promise<Load> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/login-load.ts'), String(port), String(CONCURRENCY), String(WARMUP_S), String(SECONDS), identities], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Load);
    });
  });
}

/** CPU time (user + system) a process has used, milliseconds (Linux /proc: fields 14 and 15 of stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident set size of a process, bytes (Linux /proc). */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Opens `n` connections that send an identification line and then nothing; resolves once the server answered each. */
async function idleConnections(port: number, n: number): Promise<Socket[]> {
  const out: Socket[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise<Socket>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        s.once('error', reject);
        s.once('close', () => reject(new Error(`idle connection ${i} closed by the server`)));
        s.once('connect', () => s.write('SSH-2.0-bench-idle\r\n'));
        s.once('data', () => {
          s.removeAllListeners('close');
          s.on('error', () => undefined);
          resolve(s);
        });
      }),
    );
  }
  return out;
}

/** On a fresh server (a heap grown by a load has room to spare, and would show nothing), after a few connections have loaded the code they run. */
async function memoryPerIdle(pid: number, port: number): Promise<number> {
  for (const s of await idleConnections(port, 10)) s.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const before = rss(pid);
  const sockets = await idleConnections(port, IDLE_CONNECTIONS);
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss(pid);
  for (const s of sockets) s.destroy();
  return (after - before) / IDLE_CONNECTIONS;
}

export async function benchLogins(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-bench-logins-'));
  let serve: ServeProcess | undefined;
  let asyncssh: AsyncSshServer | undefined;
  try {
    const pki = await createTestPki(join(dir, 'pki'));
    const ids = [];
    for (let i = 0; i < CONCURRENCY; i++) {
      const user = `bench${i}`;
      const c = await pki.issue(user, 'p256');
      ids.push({ user, chain: c.chainPath, key: c.keyPath, algorithm: 'x509v3-ecdsa-sha2-nistp256' });
    }
    const identities = join(dir, 'identities.json');
    writeFileSync(identities, JSON.stringify(ids));
    const hostKey = join(dir, 'host_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);

    // Outside vitest, startServe runs the command from source through tsx, as the other sections do.
    serve = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'off', '--max-startups', `${IDLE_CONNECTIONS + 100}:30:${IDLE_CONNECTIONS + 200}`]);
    asyncssh = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'asyncssh') });

    const serveBytes = await memoryPerIdle(serve.child.pid!, serve.port);
    const asyncBytes = await memoryPerIdle(asyncssh.pid, asyncssh.port);

    const ours: number[] = [];
    const theirs: number[] = [];
    // The server's CPU time per login, over the whole run (warm-up included): what a login costs the server, whatever
    // else this shared machine is doing (logins/s move with the load of other work; this moves much less).
    const oursCpu: number[] = [];
    const theirsCpu: number[] = [];
    const notes: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const [side, port, pid, into, cpuInto] of [['serve', serve.port, serve.child.pid!, ours, oursCpu], ['AsyncSSH', asyncssh.port, asyncssh.pid, theirs, theirsCpu]] as const) {
        const cpu0 = cpuMs(pid);
        const load = await runLoad(port, identities);
        cpuInto.push((cpuMs(pid) - cpu0) / load.all);
        if (load.failures) notes.push(`${side} round ${r + 1}: ${load.failures} failed (${load.firstError})`);
        into.push(load.logins / load.seconds);
      }
    }
    for (const n of notes) console.log(`  note: ${n}`);
    const mo = median(ours);
    const ma = median(theirs);
    console.log(`  logins/s per round: serve ${ours.map((x) => x.toFixed(1)).join(', ')}; AsyncSSH ${theirs.map((x) => x.toFixed(1)).join(', ')}`);
    console.log(`  server CPU ms per login per round: serve ${oursCpu.map((x) => x.toFixed(2)).join(', ')}; AsyncSSH ${theirsCpu.map((x) => x.toFixed(2)).join(', ')}`);
    const co = median(oursCpu);
    const ca = median(theirsCpu);

    // The table's targets are "ratio at most": AsyncSSH's logins/s over ours at most 1/2 is ours at least twice theirs.
    return [
      { name: `AsyncSSH server: certificate logins/s at ${CONCURRENCY} concurrent (median of ${ROUNDS})`, opsPerSec: ma, ms: 1000 / ma },
      {
        name: `serve: certificate logins/s at ${CONCURRENCY} concurrent (median of ${ROUNDS})`,
        opsPerSec: mo,
        ms: 1000 / mo,
        ratio: ma / mo,
        baseline: 'AsyncSSH logins/s over ours',
        target: 1 / TARGET,
      },
      { name: `AsyncSSH server: CPU time per certificate login (median of ${ROUNDS})`, ms: ca },
      { name: `serve: CPU time per certificate login (median of ${ROUNDS})`, ms: co, ratio: co / ca, baseline: 'AsyncSSH', target: 1 / TARGET },
      { name: `AsyncSSH server: resident memory per idle unauthenticated connection (${IDLE_CONNECTIONS} open)`, value: { amount: asyncBytes / 1024, unit: 'KiB' } },
      { name: `serve: resident memory per idle unauthenticated connection (${IDLE_CONNECTIONS} open)`, value: { amount: serveBytes / 1024, unit: 'KiB' }, ratio: serveBytes / asyncBytes, baseline: 'AsyncSSH' },
    ];
  } finally {
    await serve?.stop();
    await asyncssh?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
