/**
 * The real smartcard middleware for the tests: Debian's pcscd with vsmartcard's
 * vpcd readers, and OpenSC's PKCS#11 module, into which the tests plug virtual
 * PIV cards (test/helpers/piv-card.ts).
 *
 * Design (pcscd is one per machine: it always listens on /run/pcscd/pcscd.comm,
 * and a second one exits at once while the first runs; several engineers' test
 * runs share the machine):
 * - One pcscd with a fixed reader configuration, {@link PAIRS} vpcd reader files
 *   in {@link STATE}/conf: pair A on TCP ports 29750/29751 ("ssh-x509 vpcd A
 *   00 00" and "... 00 01"), B on 29752/29753, and so on (below Linux's
 *   ephemeral ports, so no port-0 server takes them). Each file points at its
 *   own copy of libifdvpcd.so: vpcd keeps its sockets in a static array indexed
 *   by slot, so two files sharing one loaded library would share (overwrite)
 *   their sockets and only the last file's readers would work.
 * - The global setup ({@link ensurePcscd}) reuses that pcscd when it runs (it is
 *   ours when its command line names our config dir), else starts it detached;
 *   each run registers itself in {@link STATE}/users/<pid>. At teardown a run
 *   removes its file, and the last live run stops pcscd (a killed run's file is
 *   pruned by pid). A pcscd that is not ours (a system one) makes the run fail
 *   with what to do: it cannot have our readers, and we never stop it.
 * - A test file claims a free reader pair ({@link claimReaders}: {@link STATE}/
 *   claims/<letter> holds the claiming process's pid; a dead pid frees it) and
 *   gets an OPENSC_CONF that ignores every other pair, so that concurrent files'
 *   cards never show up in its slot list.
 * - All of this happens under one lock file ({@link STATE}/lock, O_EXCL, freed
 *   when its holder's pid is dead).
 * - Latency: vpcd writes each APDU's length and body in two send() calls, so
 *   Nagle plus the card's delayed ACK cost ~44 ms per APDU (2.1 s for a
 *   `pkcs11-tool -L`). Cards therefore connect to 127.0.0.77, for which the
 *   setup adds a local route with `quickack 1` (only that address: no one
 *   else's loopback traffic changes): `pkcs11-tool -L` takes 0.19 s then. Without
 *   root the route is missing and the tests are slower, not wrong.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** OpenSC's PKCS#11 module on Debian. */
export const OPENSC_MODULE = process.env.OPENSC_MODULE ?? '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
export const PCSCD = '/usr/sbin/pcscd';
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
export const INSTALL_HINT = 'apt-get install -y --no-install-recommends pcscd vsmartcard-vpcd opensc (or run bash scripts/bootstrap.sh)';

/** Machine-wide state of the tests' pcscd, the same path for every run (not TMPDIR); versioned: a change of layout gets a new folder. */
export const STATE = '/tmp/ssh-x509-pcsc-v1';
const CONF = join(STATE, 'conf');
const LIB = join(STATE, 'lib');
const USERS = join(STATE, 'users');
const CLAIMS = join(STATE, 'claims');
const LOCK = join(STATE, 'lock');
const LOG = join(STATE, 'pcscd.log');
const PIDFILE = '/run/pcscd/pcscd.pid';
const COMM = '/run/pcscd/pcscd.comm';

/** Reader pairs: 2 readers each, 12 in all (pcscd allows 16). */
export const PAIRS = ['A', 'B', 'C', 'D', 'E', 'F'];
const BASE_PORT = 29750;
/** The address cards connect to: loopback, with the quickack route (see above). */
export const CARD_HOST = '127.0.0.77';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` holding the machine-wide lock. */
async function withLock<T>(fn: () => T | Promise<T>): Promise<T> {
  mkdirSync(STATE, { recursive: true });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readPid(LOCK);
      if (holder !== undefined && !alive(holder)) rmSync(LOCK, { force: true });
      else if (Date.now() > deadline) throw new Error(`the tests' pcscd lock ${LOCK} is held by pid ${holder} for over 60 s`);
      else await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

/** pcscd processes running now: [pid, command line]. */
function runningPcscd(): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'pcscd') continue;
      out.push([Number(d), readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim()]);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const isOurs = (cmdline: string) => cmdline.includes(`-c ${CONF}`);

function listening(ports: number[]): boolean {
  const open = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') open.add(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports.every((p) => open.has(p));
}

const pairPorts = (i: number) => [BASE_PORT + 2 * i, BASE_PORT + 2 * i + 1];

function quickackRoute(add: boolean): void {
  try {
    if (add) execFileSync('ip', ['route', 'replace', 'local', `${CARD_HOST}/32`, 'dev', 'lo', 'table', 'local', 'quickack', '1'], { stdio: 'ignore' });
    else execFileSync('ip', ['route', 'del', 'local', `${CARD_HOST}/32`, 'dev', 'lo', 'table', 'local'], { stdio: 'ignore' });
  } catch {
    // Not root, or no iproute2: the cards still work, ~44 ms slower per APDU.
  }
}

/** What is missing of the smartcard middleware, for the global setup's install message. */
export function missingMiddleware(): string[] {
  const missing: string[] = [];
  if (!existsSync(PCSCD)) missing.push(`pcscd (${PCSCD})`);
  if (!existsSync(VPCD_DRIVER)) missing.push(`vsmartcard-vpcd (${VPCD_DRIVER})`);
  if (!existsSync(OPENSC_MODULE)) missing.push(`opensc (${OPENSC_MODULE})`);
  return missing;
}

/**
 * The global setup's part: makes sure the tests' pcscd runs (reused or
 * started) and registers this run; the returned function unregisters it and
 * stops pcscd when no other run uses it.
 */
export async function ensurePcscd(): Promise<() => Promise<void>> {
  const me = join(USERS, String(process.pid));
  await withLock(async () => {
    mkdirSync(USERS, { recursive: true });
    const running = runningPcscd();
    const foreign = running.filter(([, cmd]) => !isOurs(cmd));
    if (foreign.length) {
      throw new Error(
        `a pcscd that the tests did not start runs (${foreign.map(([pid, cmd]) => `pid ${pid}: ${cmd}`).join('; ')}). ` +
          `pcscd is one per machine (${COMM}) and that one lacks the tests' virtual readers; stop it ` +
          `(systemctl stop pcscd.socket pcscd, or kill it) and run the tests again.`,
      );
    }
    if (!running.length) {
      for (const f of readdirSync(USERS)) rmSync(join(USERS, f), { force: true });
      rmSync(CONF, { recursive: true, force: true });
      mkdirSync(CONF, { recursive: true });
      mkdirSync(LIB, { recursive: true });
      PAIRS.forEach((letter, i) => {
        const lib = join(LIB, `libifdvpcd-${letter}.so`);
        copyFileSync(VPCD_DRIVER, lib);
        const port = pairPorts(i)[0];
        writeFileSync(join(CONF, `vpcd-${letter}`), `FRIENDLYNAME "ssh-x509 vpcd ${letter}"\nDEVICENAME /dev/null:${port}\nLIBPATH ${lib}\nCHANNELID ${port}\n`);
      });
      quickackRoute(true);
      const log = openSync(LOG, 'w');
      const child = spawn(PCSCD, ['-f', '-c', CONF], { detached: true, stdio: ['ignore', log, log] });
      closeSync(log);
      child.unref();
      const ports = PAIRS.flatMap((_, i) => pairPorts(i));
      const deadline = Date.now() + 15_000;
      while (!(readPid(PIDFILE) === child.pid && existsSync(COMM) && listening(ports))) {
        if (child.exitCode !== null || !alive(child.pid!)) {
          throw new Error(`pcscd exited at start (${LOG}: ${readFileSync(LOG, 'utf8').slice(-500)}); is another pcscd or pcscd.socket holding ${COMM}?`);
        }
        if (Date.now() > deadline) throw new Error(`pcscd did not open its readers within 15 s (${LOG})`);
        await sleep(50);
      }
    } else {
      quickackRoute(true);
    }
    writeFileSync(me, '');
  });
  return async () => {
    await withLock(async () => {
      rmSync(me, { force: true });
      const others = readdirSync(USERS).filter((f) => {
        const live = alive(Number(f));
        if (!live) rmSync(join(USERS, f), { force: true });
        return live;
      });
      if (others.length) return;
      for (const [pid, cmd] of runningPcscd()) {
        if (!isOurs(cmd)) continue;
        process.kill(pid, 'SIGTERM');
        const deadline = Date.now() + 5_000;
        while (alive(pid) && Date.now() < deadline) await sleep(50);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      quickackRoute(false);
      rmSync(CLAIMS, { recursive: true, force: true });
    });
  };
}

/** A vpcd reader of the tests' pcscd. */
export interface VirtualReader {
  /** The PC/SC reader name (OpenSC's slot description). */
  name: string;
  host: string;
  port: number;
}

/** A reader pair claimed by one test file. */
export interface ClaimedReaders {
  letter: string;
  readers: [VirtualReader, VirtualReader];
  /** OpenSC configuration that shows only these two readers. */
  openscConf: string;
  /** process.env plus OPENSC_CONF, for child processes. */
  env: NodeJS.ProcessEnv;
  release(): Promise<void>;
}

/**
 * Claims a free reader pair for this test file (waits up to 2 minutes for
 * one) and points `process.env.OPENSC_CONF` at a configuration that ignores
 * the other pairs; call it before this process loads OpenSC's module.
 */
export async function claimReaders(): Promise<ClaimedReaders> {
  if (!listening(PAIRS.flatMap((_, i) => pairPorts(i)))) {
    throw new Error("the tests' pcscd does not run: test/global-setup.ts starts it (run the tests with vitest from the repository)");
  }
  const deadline = Date.now() + 120_000;
  let letter: string | undefined;
  while (!letter) {
    letter = await withLock(() => {
      mkdirSync(CLAIMS, { recursive: true });
      for (const l of PAIRS) {
        const holder = readPid(join(CLAIMS, l));
        if (holder !== undefined && alive(holder)) continue;
        writeFileSync(join(CLAIMS, l), String(process.pid));
        return l;
      }
      return undefined;
    });
    if (!letter) {
      if (Date.now() > deadline) throw new Error(`every virtual reader pair of the tests' pcscd stayed claimed for 2 minutes (${CLAIMS})`);
      await sleep(200);
    }
  }
  const i = PAIRS.indexOf(letter);
  const [p0, p1] = pairPorts(i) as [number, number];
  const dir = join(tmpdir(), `ssh-x509-opensc-${process.pid}-${letter}`);
  mkdirSync(dir, { recursive: true });
  const openscConf = join(dir, 'opensc.conf');
  const ignored = PAIRS.filter((l) => l !== letter).map((l) => `"ssh-x509 vpcd ${l} "`);
  writeFileSync(openscConf, `app default {\n\tignored_readers = ${ignored.join(', ')};\n}\n`);
  process.env.OPENSC_CONF = openscConf;
  const claimed = letter;
  return {
    letter,
    readers: [
      { name: `ssh-x509 vpcd ${letter} 00 00`, host: CARD_HOST, port: p0 },
      { name: `ssh-x509 vpcd ${letter} 00 01`, host: CARD_HOST, port: p1 },
    ],
    openscConf,
    env: { ...process.env, OPENSC_CONF: openscConf },
    async release() {
      rmSync(dir, { recursive: true, force: true });
      await withLock(() => {
        if (readPid(join(CLAIMS, claimed)) === process.pid) rmSync(join(CLAIMS, claimed), { force: true });
      });
    },
  };
}
