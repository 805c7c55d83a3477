/**
 * Load test of `ssh-x509 serve` (issue 5), bounded in count and time and on
 * loopback only: 200 logins from 20 concurrent in-process ssh2 clients
 * (x509AuthHandler), most of them good, every 10th bad (a certificate bound
 * to another account, one from an untrusted CA, or a revoked one). Every
 * good login must get its exact `authenticated ...` line, every bad one must
 * be refused with its reason, and the server process must not leak: its
 * open file descriptors return to their level after a warm-up round, and
 * its resident memory does not keep growing.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner, x509AuthHandler } from '../src/index.js';
import { createTestPki, type IssuedCert, type KeyKind, type TestPki } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { ssh2Exec } from './helpers/ssh2-run.js';

const LOGINS = 200;
const CONCURRENCY = 20;
const LOGIN_TIMEOUT_MS = 20_000;
/** Users with good certificates; algorithms cycle through these key kinds. */
const USERS = 20;
const KINDS: Array<[KeyKind, string]> = [
  ['p256', 'x509v3-ecdsa-sha2-nistp256'],
  ['ed25519', 'x509v3-ssh-ed25519'],
  ['p384', 'x509v3-ecdsa-sha2-nistp384'],
  ['rsa2048', 'x509v3-rsa2048-sha256'],
];
/** Slack on the fd count (the server may hold a socket still closing). */
const FD_SLACK = 3;
/** The most RSS may grow between the end of the warm-up and the end of the run. */
const RSS_GROWTH_LIMIT = 50 * 1024 * 1024;

interface Identity {
  user: string;
  algorithm: string;
  cert: IssuedCert;
  signer: SoftwareSigner;
}

type Login =
  | { kind: 'good'; id: Identity }
  | { kind: 'bad'; id: Identity; as: string; reason: 'accountMismatch' | 'untrusted' | 'revoked' };

let dir: string;
let pki: TestPki;
let otherPki: TestPki;
let hostKey: string;
let crlPath: string;
const good: Identity[] = [];
let untrusted: Identity;
let revoked: Identity;

async function identity(p: TestPki, user: string, kind: KeyKind, algorithm: string): Promise<Identity> {
  const cert = await p.issue(user, kind);
  return { user, algorithm, cert, signer: await SoftwareSigner.fromFiles({ certificateFile: cert.chainPath, keyFile: cert.keyPath }) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-serve-load-'));
  pki = await createTestPki(join(dir, 'pki'));
  otherPki = await createTestPki(join(dir, 'other-pki'));
  hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  good.push(
    ...(await Promise.all(
      Array.from({ length: USERS }, (_, i) => {
        const [kind, algorithm] = KINDS[i % KINDS.length]!;
        return identity(pki, `user${i}`, kind, algorithm);
      }),
    )),
  );
  untrusted = await identity(otherPki, 'intruder', 'p256', 'x509v3-ecdsa-sha2-nistp256');
  revoked = await identity(pki, 'revoked', 'p256', 'x509v3-ecdsa-sha2-nistp256');
  const rev = new OpensslRevocation(join(dir, 'ca'), pki.intermediate);
  for (const g of good) rev.valid(g.cert.certPem);
  rev.revoke(revoked.cert.certPem);
  crlPath = join(dir, 'crl.der');
  writeFileSync(crlPath, rev.crl());
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Login number `i`: every 10th is bad, cycling through the three kinds of bad. */
function plan(i: number): Login {
  if (i % 10 !== 9) return { kind: 'good', id: good[i % good.length]! };
  const k = Math.floor(i / 10) % 3;
  if (k === 0) return { kind: 'bad', id: good[i % good.length]!, as: 'mallory', reason: 'accountMismatch' };
  if (k === 1) return { kind: 'bad', id: untrusted, as: untrusted.user, reason: 'untrusted' };
  return { kind: 'bad', id: revoked, as: revoked.user, reason: 'revoked' };
}

function expectedLine(id: Identity): string {
  const fp = `SHA256:${createHash('sha256').update(id.cert.certDer).digest('base64').replace(/=+$/, '')}`;
  return `authenticated ${id.user} via ${id.algorithm} subject=O=ssh-x509 Test, CN=${id.user} sha256=${fp} revocation=crl\n`;
}

/** What happened to one login, for the assertions. */
type Outcome = { i: number; ok: true; stdout: string; code: number | null } | { i: number; ok: false; error: string; level?: string };

async function runLogin(server: ServeProcess, i: number): Promise<Outcome> {
  const p = plan(i);
  const user = p.kind === 'good' ? p.id.user : p.as;
  try {
    const r = await ssh2Exec(
      { host: '127.0.0.1', port: server.port, username: user, authHandler: x509AuthHandler(user, { signer: p.id.signer, algorithms: [p.id.algorithm] }) },
      'whoami',
      LOGIN_TIMEOUT_MS,
    );
    return { i, ok: true, stdout: r.stdout, code: r.code };
  } catch (e) {
    return { i, ok: false, error: (e as Error).message, level: (e as { level?: string }).level };
  }
}

/** Runs logins `from..to-1` on `CONCURRENCY` workers, each taking the next number. */
async function runAll(server: ServeProcess, from: number, to: number): Promise<Outcome[]> {
  let next = from;
  const out: Outcome[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) out.push(await runLogin(server, next++));
    }),
  );
  return out.sort((a, b) => a.i - b.i);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Waits (up to `ms`) for the server's fd count to come down to `limit`; returns the last count. */
async function settleFds(pid: number, limit: number, ms = 5_000): Promise<number> {
  const deadline = Date.now() + ms;
  let n = fdCount(pid);
  while (n > limit && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    n = fdCount(pid);
  }
  return n;
}

function count(log: string, re: RegExp): number {
  return (log.match(new RegExp(re.source, 'gm')) ?? []).length;
}

describe(`ssh-x509 serve under load: ${LOGINS} logins, ${CONCURRENCY} concurrent ssh2 clients`, () => {
  let server: ServeProcess;
  beforeAll(async () => {
    // 20 logins at once are 20 unauthenticated connections: past sshd's default MaxStartups (10:30:100), which drops some at random.
    server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--map', 'upn-local', '--revocation', 'prefer', '--crl', crlPath, '--max-startups', `${2 * CONCURRENCY}:30:100`]);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('accepts every good login with its exact line, refuses every bad one, and leaks no fds or memory', async () => {
    const pid = server.child.pid!;
    const fdsAtStart = fdCount(pid);

    // Warm-up: one round of each worker, so that lazily created state (JIT, caches, ssh2's
    // crypto contexts) exists before the baseline is taken.
    const warm = await runAll(server, 0, CONCURRENCY);
    for (const o of warm) expect(o.ok).toBe(plan(o.i).kind === 'good');
    const fdsBase = await settleFds(pid, fdsAtStart);
    const rssBase = rssBytes(pid);

    const t0 = performance.now();
    const outcomes = await runAll(server, 0, LOGINS);
    const seconds = (performance.now() - t0) / 1000;
    expect(outcomes).toHaveLength(LOGINS);

    const wrong: string[] = [];
    const refusedByReason: Record<string, number> = {};
    for (const o of outcomes) {
      const p = plan(o.i);
      if (p.kind === 'good') {
        const want = expectedLine(p.id);
        if (!o.ok || o.code !== 0 || o.stdout !== want) wrong.push(`#${o.i} ${p.id.user}: ${o.ok ? `code ${o.code} ${JSON.stringify(o.stdout)}` : o.error}`);
      } else {
        refusedByReason[p.reason] = (refusedByReason[p.reason] ?? 0) + 1;
        if (o.ok || o.level !== 'client-authentication') wrong.push(`#${o.i} ${p.id.user} as ${p.as} should be refused (${p.reason}): ${o.ok ? JSON.stringify(o.stdout) : o.error}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(refusedByReason).toEqual({ accountMismatch: 7, untrusted: 7, revoked: 6 });

    // Each bad login is refused once, at its query, with its reason (warm-up plus run).
    const warmBad = warm.filter((o) => plan(o.i).kind === 'bad').map((o) => plan(o.i) as Extract<Login, { kind: 'bad' }>);
    for (const reason of ['accountMismatch', 'untrusted', 'revoked'] as const) {
      const want = refusedByReason[reason]! + warmBad.filter((b) => b.reason === reason).length;
      const re = new RegExp(`^refused \\(${reason}\\)`);
      const deadline = Date.now() + 10_000;
      while (count(server.log(), re) < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(count(server.log(), re)).toBe(want);
    }
    expect(count(server.log(), /^accepted /)).toBe(outcomes.filter((o) => plan(o.i).kind === 'good').length + warm.filter((o) => plan(o.i).kind === 'good').length);
    expect(server.log()).not.toMatch(/internalError|verifier failed|client error/);

    const fdsEnd = await settleFds(pid, fdsBase + FD_SLACK);
    const rssEnd = rssBytes(pid);
    console.log(
      `serve load: ${LOGINS} logins in ${seconds.toFixed(1)} s (${(LOGINS / seconds).toFixed(0)}/s); fds start ${fdsAtStart}, after warm-up ${fdsBase}, end ${fdsEnd}; ` +
        `RSS after warm-up ${(rssBase / 2 ** 20).toFixed(1)} MiB, end ${(rssEnd / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(fdsEnd).toBeLessThanOrEqual(fdsBase + FD_SLACK);
    expect(rssEnd - rssBase).toBeLessThan(RSS_GROWTH_LIMIT);
  }, 120_000);
});
