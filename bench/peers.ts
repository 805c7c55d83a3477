/**
 * Side by side with the peers, in one run:
 *
 * - the verifier against AsyncSSH's own verification of the same captured
 *   logins (decode the blob, `validate_chain`, the user signature), timed by
 *   Debian's python3-asyncssh in bench/asyncssh_verify.py, for RSA-2048,
 *   P-256, P-384, P-521 and Ed25519 (leaf, intermediate and root of that
 *   algorithm; revocation off, because AsyncSSH checks none). AsyncSSH
 *   caches nothing, so each of its logins is cold; ours are timed cold
 *   (nothing cached at all), as a new leaf under a known intermediate, and
 *   warm (the same chain again, against one bare user-signature verify),
 *   each beside its floors, timed alike: the signatures alone that such a
 *   login must check, and those plus asn1js's decode of the certificates
 *   received (the least any verifier on the project's ASN.1 library does);
 * - `ssh-x509 connect` end to end (process start to exit, remote command
 *   `true`, an x509v3-ecdsa-sha2-nistp256 certificate) against the AsyncSSH
 *   test server, beside OpenSSH's `ssh -i` with the same key as a plain key
 *   against the same server, alternated run by run;
 * - `ssh-x509 --help` beside `node -e 0`, alternated run by run;
 * - for reference, in the same alternations: ssh2 alone logging in with the
 *   plain key (bench/ssh2-login.cjs, the floor of any Node.js client) and
 *   `node -e 0` beside ssh, and, when NODE_EXTRA_CA_CERTS is set, the node
 *   rows again without it.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, sign, verify } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAlgorithm } from '../src/algorithms.js';
import { openSshPublicKeyLine } from '../src/keys/ssh-public-key.js';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { encodeSignatureBlob } from '../src/rfc6187/signature.js';
import { clearParsedCertificates } from '../src/certs/model.js';
import { X509Verifier, type VerifyRequest, type X509VerifierOptions } from '../src/verify/verifier.js';
import { PYTHON, startAsyncSshServer } from '../test/helpers/asyncssh.js';
import { createTestPki, type KeyKind } from '../test/helpers/pki.js';
import { signatureFloor } from './signature-floor.js';
import { alternateRuns, median, type BenchRow, type Run } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const PY_SCRIPT = join(ROOT, 'bench/asyncssh_verify.py');

const KINDS: ReadonlyArray<[KeyKind, string, string]> = [
  ['rsa2048', 'RSA-2048', 'x509v3-rsa2048-sha256'],
  ['p256', 'P-256', 'x509v3-ecdsa-sha2-nistp256'],
  ['p384', 'P-384', 'x509v3-ecdsa-sha2-nistp384'],
  ['p521', 'P-521', 'x509v3-ecdsa-sha2-nistp521'],
  ['ed25519', 'Ed25519', 'x509v3-ssh-ed25519'],
];
/** Distinct leaves per algorithm; each login of a "cold" or "new leaf" run uses one never seen by that verifier. */
const LEAVES = 40;
/** The pause after each timed login, milliseconds, on both sides (outside the timing). */
const IDLE_MS = 1;
/** Rounds: AsyncSSH and ours alternate, round by round (five, so that one slow spell of this shared machine moves no median). */
const ROUNDS = 5;

interface Login {
  req: VerifyRequest;
  principal: string;
}

function userSignature(alg: string, keyPem: string, data: Buffer): Buffer {
  const a = getAlgorithm(alg);
  const key = createPrivateKey(keyPem);
  const raw = a.keyType === 'ec' ? sign(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }) : sign(a.keyType === 'ed25519' ? null : a.hash, data, key);
  return encodeSignatureBlob(a, raw);
}

function ok(r: { ok: boolean; message: string }): void {
  if (!r.ok) throw new Error(r.message);
}

async function each(logins: readonly Login[], f: (l: Login, i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (const [i, l] of logins.entries()) {
    const t = performance.now();
    await f(l, i);
    out.push(performance.now() - t);
    // Logins do not arrive back to back (nor do the cold ones, each after its verifier is made): let the loop idle,
    // as AsyncSSH's side does after each of its logins.
    await new Promise((r) => setTimeout(r, IDLE_MS));
  }
  return out;
}

/** Lets the event loop idle a little between phases (pending work and idle-time collection happen here, not in the next phase's timings). */
function pause(): Promise<void> {
  return new Promise((r) => setTimeout(r, 100));
}

function runAsyncSsh(specPath: string): Record<string, number[]> {
  const r = spawnSync(PYTHON, [PY_SCRIPT, specPath], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  if (r.status !== 0) throw new Error(`AsyncSSH verification failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return JSON.parse(r.stdout) as Record<string, number[]>;
}

/** The verifier against AsyncSSH's own verification, per algorithm. */
export async function benchVerifyVsAsyncSsh(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-bench-peers-'));
  try {
    const data = Buffer.alloc(180, 7);
    const sets: Array<{ label: string; alg: string; opts: X509VerifierOptions; logins: Login[]; trust: string[]; chain: [Uint8Array, Uint8Array, Uint8Array] }> = [];
    for (const [kind, label, alg] of KINDS) {
      const pki = await createTestPki(join(dir, kind), { rootKind: kind, intermediateKind: kind });
      const leaves = await Promise.all(Array.from({ length: LEAVES }, (_, i) => pki.issue(`user${i}`, kind)));
      const logins = leaves.map((leaf) => ({
        req: {
          username: leaf.name,
          algorithm: alg,
          publicKey: encodePublicKeyBlob({ algorithm: alg, certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [] }),
          signedData: data,
          signature: userSignature(alg, leaf.keyPem, data),
        },
        principal: `${leaf.name}@example.com`,
      }));
      const opts: X509VerifierOptions = { trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' } };
      sets.push({ label, alg, opts, logins, trust: [pki.root.certPath], chain: [leaves[0]!.certDer, pki.intermediate.certDer, pki.root.certDer] });
    }
    const specPath = join(dir, 'logins.json');
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    writeFileSync(
      specPath,
      JSON.stringify({
        rounds: 1,
        idle_ms: IDLE_MS,
        sets: sets.map((s) => ({
          name: s.label,
          trust: s.trust,
          logins: s.logins.map((l) => ({ blob: hex(l.req.publicKey), data: hex(l.req.signedData!), sig: hex(l.req.signature!), principal: l.principal })),
        })),
      }),
    );

    const times = new Map(
      sets.map((s) => [s.label, { asyncssh: [] as number[], cold: [] as number[], newLeaf: [] as number[], warm: [] as number[], bare: [] as number[], sigsCold: [] as number[], sigsNewLeaf: [] as number[], decodedCold: [] as number[], decodedNewLeaf: [] as number[] }]),
    );
    const floors = new Map(sets.map((s) => [s.label, signatureFloor(s.alg, s.logins[0]!.req.signedData!, rawPrimitive(s.alg, s.logins[0]!.req.signature!), s.chain)]));
    // JIT warm-up of our side (a throw-away verifier per set), not counted: every login once (validated), then
    // again from its cache, so that round 0 does not time the warm path before the JIT has optimised it.
    for (const s of sets) {
      const v = await X509Verifier.create(s.opts);
      for (const l of s.logins) ok(await v.verify(l.req));
      for (let i = 0; i < 1000; i++) ok(await v.verify(s.logins[i % s.logins.length]!.req));
    }
    for (let round = 0; round < ROUNDS; round++) {
      const py = runAsyncSsh(specPath);
      for (const s of sets) {
        const t = times.get(s.label)!;
        t.asyncssh.push(...py[s.label]!);

        // New leaf under a known intermediate: one verifier that validated the first user, then users it has not seen
        // (nothing parsed before: the warm-up and the rounds before parsed these leaves too).
        clearParsedCertificates();
        const known = await X509Verifier.create(s.opts);
        ok(await known.verify(s.logins[0]!.req));
        t.newLeaf.push(
          ...(await each(s.logins.slice(1), async (l) => {
            const r = await known.verify(l.req);
            ok(r);
            if (r.cached) throw new Error('expected a chain-cache miss');
          })),
        );

        await pause();
        // Cold: nothing cached anywhere (no parsed certificate either); a new verifier per login, made (anchors loaded) before the clock starts.
        for (const l of s.logins) {
          clearParsedCertificates();
          const v = await X509Verifier.create(s.opts);
          const t0 = performance.now();
          ok(await v.verify(l.req));
          t.cold.push(performance.now() - t0);
        }

        await pause();
        // Warm: the same chain again, beside one bare verify of the user signature.
        const warm = await X509Verifier.create(s.opts);
        const first = s.logins[0]!;
        ok(await warm.verify(first.req));
        const a = getAlgorithm(s.alg);
        const r0 = await warm.verify(first.req);
        if (!r0.cached) throw new Error('expected a chain-cache hit');
        const key = r0.chain!.publicKey;
        const rawSig = rawPrimitive(s.alg, first.req.signature!);
        const bareOnce = () =>
          a.keyType === 'ec'
            ? verify(a.hash, first.req.signedData!, { key, dsaEncoding: 'ieee-p1363' }, rawSig)
            : verify(a.keyType === 'ed25519' ? null : a.hash, first.req.signedData!, key, rawSig);
        for (let i = 0; i < 200; i++) {
          if (!bareOnce()) throw new Error('bare verify failed');
          ok(await warm.verify(first.req));
        }
        // Batches of 50 alternated, so that both see the same machine load.
        for (let b = 0; b < 10; b++) {
          let t0 = performance.now();
          for (let i = 0; i < 50; i++) bareOnce();
          t.bare.push((performance.now() - t0) / 50);
          t0 = performance.now();
          for (let i = 0; i < 50; i++) await warm.verify(first.req);
          t.warm.push((performance.now() - t0) / 50);
        }
        // The signatures alone that a cold login and a new leaf must verify (keys imported, structures parsed beforehand),
        // then with asn1js's decode of the certificates received: timed one call at a time with the same pause after
        // each as the logins above, so that floor and verifier are measured alike.
        const floor = floors.get(s.label)!;
        const parts: Array<[() => void, number[]]> = [
          [floor.cold, t.sigsCold],
          [floor.newLeaf, t.sigsNewLeaf],
          [floor.decodedCold, t.decodedCold],
          [floor.decodedNewLeaf, t.decodedNewLeaf],
        ];
        for (let i = 0; i < LEAVES; i++) {
          for (const [f, out] of parts) {
            const t0 = performance.now();
            f();
            out.push(performance.now() - t0);
            await new Promise((r) => setTimeout(r, IDLE_MS));
          }
        }
      }
    }

    const rows: BenchRow[] = [];
    for (const s of sets) {
      const t = times.get(s.label)!;
      const py = median(t.asyncssh);
      const cold = median(t.cold);
      const nl = median(t.newLeaf);
      const warm = median(t.warm);
      const bare = median(t.bare);
      const sigsCold = median(t.sigsCold);
      const sigsNewLeaf = median(t.sigsNewLeaf);
      const decodedCold = median(t.decodedCold);
      const decodedNewLeaf = median(t.decodedNewLeaf);
      rows.push({ name: `${s.label}: AsyncSSH decode + validate_chain + signature`, ms: py });
      // The floor: no verifier can be faster than the signatures it must check (printed against the same AsyncSSH time, no target).
      rows.push({ name: `${s.label}: only the signatures of a cold login (user + 2 certificates)`, ms: sigsCold, ratio: sigsCold / py, baseline: 'AsyncSSH' });
      // With asn1js's decode of each certificate received: the floor of any verifier on the project's ASN.1 library.
      rows.push({ name: `${s.label}: only the signatures + asn1js decode of leaf and intermediate`, ms: decodedCold, ratio: decodedCold / py, baseline: 'AsyncSSH' });
      rows.push({ name: `${s.label}: X509Verifier cold (nothing cached)`, ms: cold, ratio: cold / py, baseline: 'AsyncSSH', target: 0.5 });
      rows.push({ name: `${s.label}: only the signatures of a new leaf (user + leaf certificate)`, ms: sigsNewLeaf, ratio: sigsNewLeaf / py, baseline: 'AsyncSSH' });
      rows.push({ name: `${s.label}: only the signatures + asn1js decode of the leaf`, ms: decodedNewLeaf, ratio: decodedNewLeaf / py, baseline: 'AsyncSSH' });
      rows.push({ name: `${s.label}: X509Verifier new leaf, known intermediate`, ms: nl, ratio: nl / py, baseline: 'AsyncSSH', target: 0.3 });
      rows.push({ name: `${s.label}: bare user-signature verify (node:crypto)`, ms: bare });
      rows.push({ name: `${s.label}: X509Verifier warm (same chain again)`, ms: warm, ratio: warm / bare, baseline: 'one bare verify', target: 1.2 });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The signature primitive inside an SSH signature blob (`string format, string sig`), as node:crypto verifies it. */
export function rawPrimitive(alg: string, blob: Uint8Array): Buffer {
  const b = Buffer.from(blob);
  const n = b.readUInt32BE(0);
  const sig = b.subarray(8 + n);
  const a = getAlgorithm(alg);
  if (a.keyType !== 'ec') return sig;
  // ECDSA: string r, string s (mpints) inside; back to fixed-width r || s.
  const w = Math.ceil(a.curveBits! / 8);
  const rl = sig.readUInt32BE(0);
  const r = sig.subarray(4, 4 + rl);
  const sl = sig.readUInt32BE(4 + rl);
  const s = sig.subarray(8 + rl, 8 + rl + sl);
  const fix = (x: Buffer) => {
    const t = x[0] === 0 ? x.subarray(1) : x;
    return Buffer.concat([Buffer.alloc(w - t.length), t]);
  };
  return Buffer.concat([fix(r), fix(s)]);
}

/** Refuses to time a stale build: dist/cli/main.js must be newer than every file under src/. */
function requireFreshBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const built = statSync(CLI).mtimeMs;
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  const newer = walk(join(ROOT, 'src')).filter((f) => statSync(f).mtimeMs > built);
  if (newer.length) throw new Error(`dist/ is older than ${newer[0]}: run \`npm run build\` first`);
}

/**
 * `ssh-x509 connect` end to end against OpenSSH's ssh, and `--help` against
 * `node -e 0`. Beside them, for reference (no target): the floor of any
 * Node.js client (bench/ssh2-login.cjs: ssh2 alone, a plain key, nothing
 * else) and `node -e 0`, in the same alternation as ssh; and, when
 * NODE_EXTRA_CA_CERTS is set (Node 20 reads and parses that file at every
 * start, before any script runs; ssh does not), the node rows again without it.
 */
export async function benchCommand(): Promise<BenchRow[]> {
  requireFreshBuild();
  const rows: BenchRow[] = [];
  const node = (args: string[], env?: NodeJS.ProcessEnv): Run => ({ cmd: process.execPath, args, ...(env ? { env } : {}) });
  const withoutCa = process.env.NODE_EXTRA_CA_CERTS !== undefined ? (({ NODE_EXTRA_CA_CERTS: _, ...rest }) => rest)(process.env) : undefined;
  const helpRuns = [node(['-e', '0']), node([CLI, '--help'])];
  if (withoutCa) helpRuns.push(node(['-e', '0'], withoutCa), node([CLI, '--help'], withoutCa));
  const [bareNode, help, bareNodeNoCa, helpNoCa] = await alternateRuns(helpRuns, 20);
  rows.push({ name: 'node -e 0', ms: bareNode });
  rows.push({ name: 'ssh-x509 --help', ms: help, ratio: help! / bareNode!, baseline: 'node -e 0', target: 1.5 });
  if (withoutCa) {
    rows.push({ name: '  node -e 0, NODE_EXTRA_CA_CERTS unset', ms: bareNodeNoCa });
    rows.push({ name: '  ssh-x509 --help, NODE_EXTRA_CA_CERTS unset', ms: helpNoCa, ratio: helpNoCa! / bareNodeNoCa!, baseline: 'node -e 0, unset' });
  }

  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-bench-cmd-'));
  try {
    const pki = await createTestPki(join(dir, 'pki'));
    const leaf = await pki.issue('bench', 'p256');
    const key = createPrivateKey(leaf.keyPem);
    // OpenSSH reads the same key as a plain key (SEC1 PEM, private to the user; no .pub beside it, so
    // OpenSSH signs at once where ssh-x509, like ssh with a .pub or a -cert.pub, asks the server first).
    const plainKeyPath = join(dir, 'id_ecdsa');
    writeFileSync(plainKeyPath, key.export({ format: 'pem', type: 'sec1' }));
    chmodSync(plainKeyPath, 0o600);
    const server = await startAsyncSshServer({
      trust: [pki.root.certPath],
      dir: join(dir, 'server'),
      authorizedKeysLines: ['x509v3-sign-rsa subject=O=ssh-x509 Test,*', openSshPublicKeyLine(key)],
    });
    try {
      const knownHosts = join(dir, 'known_hosts');
      writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine}\n`);
      const hostKeyLine = join(dir, 'host_key.pub');
      writeFileSync(hostKeyLine, `${server.hostPublicKeyLine}\n`);
      const openssh: Run = {
        cmd: 'ssh',
        args: [
          '-F', '/dev/null', '-p', String(server.port), '-i', plainKeyPath,
          '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
          '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-o', 'PreferredAuthentications=publickey',
          'bench@127.0.0.1', 'true',
        ],
      };
      const oursArgs = [CLI, 'connect', '-p', String(server.port), '--known-hosts', knownHosts, '--cert', leaf.chainPath, '--key', leaf.keyPath, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'bench@127.0.0.1', 'true'];
      const floorArgs = [join(ROOT, 'bench/ssh2-login.cjs'), String(server.port), plainKeyPath, hostKeyLine, 'bench'];
      const runs: Run[] = [openssh, node(oursArgs), node(floorArgs), node(['-e', '0'])];
      if (withoutCa) runs.push(node(oursArgs, withoutCa), node(floorArgs, withoutCa), node(['-e', '0'], withoutCa));
      const [theirs, mine, floor, bare, mineNoCa, floorNoCa, bareNoCa] = await alternateRuns(runs, 20);
      const vsSsh = (name: string, ms: number, target?: number): BenchRow => ({ name, ms, ratio: ms / theirs!, baseline: 'OpenSSH ssh', ...(target !== undefined ? { target } : {}) });
      rows.push({ name: 'OpenSSH ssh -i (plain ecdsa-sha2-nistp256 key), AsyncSSH server', ms: theirs });
      rows.push(vsSsh('ssh-x509 connect (x509v3-ecdsa-sha2-nistp256), AsyncSSH server', mine!, 1.5));
      rows.push(vsSsh('  reference: ssh2 alone, plain key (bench/ssh2-login.cjs)', floor!));
      rows.push(vsSsh('  reference: node -e 0', bare!));
      if (withoutCa) {
        rows.push(vsSsh('  ssh-x509 connect, NODE_EXTRA_CA_CERTS unset', mineNoCa!));
        rows.push(vsSsh('  reference: ssh2 alone, NODE_EXTRA_CA_CERTS unset', floorNoCa!));
        rows.push(vsSsh('  reference: node -e 0, NODE_EXTRA_CA_CERTS unset', bareNoCa!));
      }
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
