/**
 * The package as a user installs it, and every code block a user copies from
 * the documentation: `npm pack` of the build, checked by attw and publint,
 * installed in a fresh project (`"type": "module"`) next to ssh2, and every
 * TypeScript block of README.md and docs/*.md compiled there in one tsc call
 * (strict, `module: nodenext`, as ESM and as a CommonJS consumer), then run
 * against the test peers as the `<!-- doc-test: ... -->` line before it says
 * (docs/development.md lists the kinds).
 *
 * Needs `npm run build` first. One pack, one install, one tsc.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki, HOST_CERT } from './helpers/pki.js';
import { freePort, OpensslRevocation } from './helpers/revocation.js';
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm } from './helpers/softhsm.js';
import { stopper } from './helpers/process.js';

const ROOT = new URL('..', import.meta.url).pathname;
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

/** The version installed here of a dev dependency, so the consumer gets the same one (from npm's cache). */
const installed = (name: string): string => `${name}@${(JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`;

/** The module path the documentation gives for a smartcard (OpenSC); the tests point it at SoftHSM2. */
const OPENSC_MODULE = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';

const KINDS = ['client', 'client-host', 'pkcs11', 'server', 'server-host', 'local', 'fragment'] as const;
type Kind = (typeof KINDS)[number];

interface Block {
  readonly index: number;
  /** `README.md:42` or `docs/server.md:17`: where the block starts. */
  readonly where: string;
  readonly code: string;
  /** Undefined when the line before the block is no `<!-- doc-test: ... -->` marker. */
  readonly kind: Kind | undefined;
  /** Who logs in to a server block (`as admin`; default alice, with alice's certificate). */
  readonly user: string;
  /** A line the output must contain (`expects "..."`). */
  readonly expects: string | undefined;
  /** A fragment's reason, in parentheses. */
  readonly why: string | undefined;
}

/** The documentation a user reads: README.md and the guides. */
const DOC_FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** Every ```ts block of the documentation, with the marker before it. */
function docBlocks(): Block[] {
  const blocks: Block[] = [];
  for (const file of DOC_FILES) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^```(ts|typescript|js|javascript|mts|mjs)$/.test(lines[i]!)) continue;
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
      const m = /^<!-- doc-test: ([a-z0-9-]+)(?: as ([a-z0-9-]+))?(?: expects "([^"]+)")?(?: \(([^)]+)\))? -->$/.exec(lines[start - 1]?.trim() ?? '');
      const kind = m && (KINDS as readonly string[]).includes(m[1]!) ? (m[1] as Kind) : undefined;
      blocks.push({ index: blocks.length, where: `${file}:${start + 1}`, code: body.join('\n') + '\n', kind, user: m?.[2] ?? 'alice', expects: m?.[3], why: m?.[4] });
    }
  }
  return blocks;
}

/** The same program for a CommonJS consumer: imports stay (they compile to require), the rest runs in an async function. */
function asCommonJs(code: string): string {
  const lines = code.split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  const rest = lines.filter((l) => !l.startsWith('import '));
  return `${imports.join('\n')}\n\nvoid (async () => {\n${rest.join('\n')}\n})();\n`;
}

function sh(cmd: string, args: string[], cwd: string, timeout = 120_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  killed: boolean;
}

/** Runs a program without blocking the event loop (the peers' logs come through pipes). */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, timeout = 40_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, encoding: 'utf8', timeout }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr, killed: e?.killed ?? false });
    });
  });
}

let dir: string;
let project: string;
let tarball: string;
let packInfo: { size: number; unpackedSize: number; files: Array<{ path: string }> };
let server: AsyncSshServer;
let hsm: SoftHsm;
let responder: Awaited<ReturnType<OpensslRevocation["startResponder"]>>;
const blocks = docBlocks();
let tsc: ReturnType<typeof sh>;

/** The compiled block, with only where to connect changed. */
function prepared(b: Block, ext: 'js' | 'cjs', port: number): string {
  const out = join(project, 'out', `block-${b.index}.${ext}`);
  let js = readFileSync(out, 'utf8');
  if (b.kind === 'server' || b.kind === 'server-host') {
    expect(js, `${b.where} listens on 2222`).toContain('2222');
    js = js.replaceAll('2222', String(port));
  } else if (b.kind !== 'local') {
    // A PKCS#11 block may only read the token (no server).
    if (b.kind !== 'pkcs11' || js.includes("'server.example.com'")) {
      expect(js, `${b.where} connects to server.example.com`).toContain("'server.example.com'");
      expect(js, `${b.where} names the port (port: 22)`).toContain('port: 22,');
    }
    js = js.replaceAll("'server.example.com'", "'127.0.0.1'").replaceAll('port: 22,', `port: ${port},`);
  }
  js = js.replaceAll(OPENSC_MODULE, SOFTHSM_MODULE);
  const file = join(project, 'out', `run-${b.index}.${ext}`);
  writeFileSync(file, js);
  return file;
}

/** Runs a client-side block (or a local one) and returns what it printed. */
async function runClient(b: Block, ext: 'js' | 'cjs' = 'js'): Promise<Ran> {
  const env = b.kind === 'pkcs11' ? { ...process.env, ...hsm.env, PIN: '1234' } : process.env;
  return run(process.execPath, [prepared(b, ext, server.port)], project, env);
}

/** Starts a server block, logs in to it with the installed command, and stops it. */
async function runServer(b: Block): Promise<{ server: Ran; login: Ran }> {
  const port = await freePort();
  const child = spawn(process.execPath, [prepared(b, 'js', port)], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = stopper(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    const deadline = Date.now() + 30_000;
    while (!stdout.includes(`listening on 127.0.0.1:${port}`)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${b.where} did not print "listening on 127.0.0.1:${port}": ${stdout}${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The host key checked as a user's known_hosts would (or the host certificate, against its CA).
    writeFileSync(join(project, `known_hosts-${b.index}`), `[127.0.0.1]:${port} ${readFileSync(join(project, 'ssh_host_ed25519_key.pub'), 'utf8')}`);
    const hostTrust = b.kind === 'server-host' ? ['--host-trust', 'hosts-ca.pem'] : ['-o', 'StrictHostKeyChecking=yes'];
    const login = await run(
      join(project, 'node_modules/.bin/ssh-x509'),
      ['connect', '-F', 'none', '-p', String(port), '-i', 'alice-key.pem', '--cert', 'alice-chain.pem', '-o', `UserKnownHostsFile=known_hosts-${b.index}`, ...hostTrust, `${b.user}@127.0.0.1`, 'whoami'],
      project,
    );
    await stop();
    return { server: { status: child.exitCode, stdout, stderr, killed: false }, login };
  } finally {
    await stop();
  }
}

beforeAll(async () => {
  for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.cts', 'dist/pkcs11.d.cts', 'dist/cli/main.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` before this test`);
  }
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-package-'));
  const pack = sh('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const info = (JSON.parse(pack.stdout) as Array<typeof packInfo & { filename: string }>)[0]!;
  packInfo = info;
  tarball = join(dir, info.filename);
  console.log(`package tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} bytes unpacked, ${info.files.length} files`);

  // A fresh project as the README's Install section makes it: the tarball and ssh2 (and the optional peers the guides use).
  project = join(dir, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // --ignore-scripts: the type check and the runs need no native builds (ssh2 falls back to JS crypto).
  const deps = [tarball, installed('ssh2'), installed('node-ssh'), installed('ssh2-sftp-client'), installed('@types/ssh2-sftp-client'), installed('graphene-pk11'), '@types/node@20'];
  const install = sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...deps], project, 300_000);
  if (install.status !== 0) throw new Error(`npm install in the consumer project failed: ${install.stderr}`);
  // graphene-pk11's native addon (pkcs11js), as npm built it here for this Node: the same version, so the same binary.
  const pkcs11js = (at: string) => (JSON.parse(readFileSync(join(at, 'node_modules/pkcs11js/package.json'), 'utf8')) as { version: string }).version;
  if (pkcs11js(project) !== pkcs11js(ROOT)) throw new Error(`pkcs11js ${pkcs11js(project)} in the consumer project, ${pkcs11js(ROOT)} here`);
  cpSync(join(ROOT, 'node_modules/pkcs11js/build'), join(project, 'node_modules/pkcs11js/build'), { recursive: true });

  for (const b of blocks) {
    writeFileSync(join(project, `block-${b.index}.ts`), b.code);
    writeFileSync(join(project, `block-${b.index}.cts`), asCommonJs(b.code));
  }
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'], skipLibCheck: false, outDir: 'out', noEmitOnError: true },
      include: ['*.ts', '*.cts'],
    }),
  );
  const compiling = new Promise<ReturnType<typeof sh>>((resolve) =>
    execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project, encoding: 'utf8', timeout: 180_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, error: undefined }),
    ),
  );

  // The files the examples name, in the project folder; the peers meanwhile.
  // alice's and the host's certificates name an OCSP responder (openssl ocsp), for the stapling examples.
  const pki = await createTestPki(join(dir, 'pki'));
  const ocsp = new OpensslRevocation(join(dir, 'ocsp'), pki.intermediate);
  responder = await ocsp.startResponder();
  const alice = await pki.issue('alice', 'p256', { ocspUrl: responder.url });
  const host = await pki.issue('host', 'p256', { ...HOST_CERT, ocspUrl: responder.url });
  ocsp.valid(alice.certPem);
  ocsp.valid(host.certPem);
  writeFileSync(join(project, 'host.ocsp.der'), ocsp.ocspResponse(host.certPath));
  copyFileSync(alice.chainPath, join(project, 'alice-chain.pem'));
  copyFileSync(alice.keyPath, join(project, 'alice-key.pem'));
  copyFileSync(host.chainPath, join(project, 'host-chain.pem'));
  copyFileSync(host.keyPath, join(project, 'host-key.pem'));
  copyFileSync(pki.root.certPath, join(project, 'users-ca.pem'));
  copyFileSync(pki.root.certPath, join(project, 'hosts-ca.pem'));
  writeFileSync(join(project, 'leaf.der'), alice.certDer);
  writeFileSync(join(project, 'intermediate.der'), pki.intermediate.certDer);
  writeFileSync(join(project, 'root.der'), pki.root.certDer);
  writeFileSync(join(project, 'root.crl'), new OpensslRevocation(join(dir, 'crl-root'), pki.root).crl());
  writeFileSync(join(project, 'intermediate.crl'), new OpensslRevocation(join(dir, 'crl-intermediate'), pki.intermediate).crl());
  writeFileSync(join(project, 'known_hosts'), '');
  const keygen = sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(project, 'ssh_host_ed25519_key')], project);
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr}`);
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server'), hostX509: { keyPath: host.keyPath, chainPath: host.chainPath } });
  writeFileSync(join(project, 'server_host_key.pub'), server.hostPublicKeyLine + '\n');
  hsm = await createSoftHsm([{ label: 'card', pin: '1234', intermediateOnToken: true, keys: [
    { name: 'alice-card', kind: 'p256', id: '01', source: 'import', cert: { cn: 'alice', upn: 'alice@EXAMPLE.COM', email: 'alice@example.com' } },
    // A 9C-like key: the token asks the PIN for every signature.
    { name: 'alice-sign', kind: 'p256', id: '02', source: 'generate', alwaysAuthenticate: true, label: 'SIGN key', cert: { cn: 'alice', upn: 'alice@EXAMPLE.COM', email: 'alice@example.com' } },
  ] }], { pki });

  tsc = await compiling;
}, 600_000);

afterAll(async () => {
  await server?.stop();
  await responder?.stop();
  hsm?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the builds a user loads and the LICENSE, without source maps or the unused CommonJS command', () => {
    const paths = packInfo.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/pkcs11.js', 'dist/pkcs11.cjs', 'dist/cli/main.js']));
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(paths).not.toContain('dist/cli/main.cjs');
    expect(paths.filter((p) => p.startsWith('src/') || p.startsWith('test/'))).toEqual([]);
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    expect(rootPkg.license).toBe('MIT');
  });

  it("carries every page the README links to, so that its links work in the installed package as on the repository's page", () => {
    const paths = packInfo.files.map((f) => f.path);
    const links = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
    expect(links).toEqual(expect.arrayContaining(['docs/smartcards.md', 'bench/README.md']));
    expect(links.filter((l) => !paths.includes(l))).toEqual([]);
  });

  it('declares @types/ssh2 as a dependency, so a TypeScript consumer gets the types its .d.ts imports', () => {
    expect(Object.keys(rootPkg.dependencies as object)).toContain('@types/ssh2');
    expect(readFileSync(join(ROOT, 'dist/index.d.ts'), 'utf8')).toMatch(/from 'ssh2'/);
    expect(existsSync(join(project, 'node_modules/@types/ssh2/index.d.ts'))).toBe(true);
  });

  it('attw finds no problem for either entry point under node10, node16 (CJS and ESM) and bundler', () => {
    const r = sh(process.execPath, [join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--format', 'json'], dir);
    const report = JSON.parse(r.stdout) as { analysis: { problems: unknown[]; entrypoints: Record<string, unknown> } };
    expect(Object.keys(report.analysis.entrypoints)).toEqual(expect.arrayContaining(['.', './pkcs11']));
    expect(report.analysis.problems).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('publint reports nothing, not even a suggestion', async () => {
    const buf = readFileSync(tarball);
    const result = await publint({ pack: { tarball: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer }, level: 'suggestion' });
    expect(result.messages.map((m) => `${m.type}: ${formatMessage(m, result.pkg)}`)).toEqual([]);
  });

  it('the README installs the tarball and ssh2, as this project did', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && npm run build && npm pack');
    expect(readme).toContain(`npm install /path/to/${basename(tarball)} ssh2`);
    // The installed command runs.
    const r = sh(join(project, 'node_modules/.bin/ssh-x509'), ['--help'], project);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: ssh-x509/);
  });
});

describe('the TypeScript blocks of README.md and docs/', () => {
  it('each has a doc-test marker; each fragment says why it is one', () => {
    expect(blocks.filter((b) => b.kind === undefined).map((b) => `${b.where}: no <!-- doc-test: ${KINDS.join('|')} --> line before the block`)).toEqual([]);
    expect(blocks.filter((b) => b.kind === 'fragment' && !b.why).map((b) => b.where)).toEqual([]);
    // Most blocks run; the README's all do.
    expect(blocks.filter((b) => b.where.startsWith('README.md') && b.kind === 'fragment')).toEqual([]);
    expect(blocks.filter((b) => b.kind !== 'fragment').length).toBeGreaterThanOrEqual(10);
    console.log(blocks.map((b) => `${b.where}: ${b.kind}${b.why ? ` (${b.why})` : ''}`).join('\n'));
  });

  it('every block compiles with tsc --strict, module nodenext, no skipLibCheck, as ESM and as CommonJS', () => {
    // Name the failing documentation lines, not just the temp file.
    const out = tsc.stdout.replace(/block-(\d+)\.(ts|cts)\((\d+),/g, (_m, i: string, ext: string, line: string) => `${blocks[Number(i)]!.where} (${ext === 'cts' ? 'CommonJS' : 'ESM'}) (${line},`);
    expect(out).toBe('');
    expect(tsc.status).toBe(0);
    for (const b of blocks) {
      expect(existsSync(join(project, 'out', `block-${b.index}.js`))).toBe(true);
      expect(existsSync(join(project, 'out', `block-${b.index}.cjs`))).toBe(true);
    }
    expect(readFileSync(join(project, 'out', 'block-0.cjs'), 'utf8')).toMatch(/require\("ssh-x509"\)/);
  });

  it("every import from 'ssh2' names only what Node's ESM loader finds in it", () => {
    const r = sh(process.execPath, ['--input-type=module', '-e', "import * as m from 'ssh2'; console.log(JSON.stringify(Object.keys(m)))"], project);
    const names = new Set(JSON.parse(r.stdout) as string[]);
    const missing: string[] = [];
    for (const b of blocks) {
      for (const m of b.code.matchAll(/^import (?!type )(.*) from 'ssh2';$/gm)) {
        const named = /\{([^}]*)\}/.exec(m[1]!)?.[1] ?? '';
        for (const n of named.split(',').map((x) => x.trim()).filter((x) => x && !x.startsWith('type '))) if (!names.has(n.split(' as ')[0]!)) missing.push(`${b.where}: ${n}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe.concurrent('the runnable blocks, against the test peers', () => {
  const runnable = blocks.filter((b) => b.kind !== undefined && b.kind !== 'fragment');

  it.each(runnable.filter((b) => b.kind !== 'server' && b.kind !== 'server-host').map((b) => [b.where, b.kind, b] as const))('%s (%s) runs and exits by itself', async (_where, _kind, b) => {
    expect(tsc.status).toBe(0);
    const r = await runClient(b);
    expect(r.killed, `${b.where} did not exit by itself`).toBe(false);
    expect(r.stderr, b.kind === 'local' ? '' : `the server's log:\n${server.log().slice(-3000)}`).toBe('');
    expect(r.status).toBe(0);
    if (b.expects) expect(r.stdout).toContain(b.expects);
    if (b.kind !== 'local') expect(r.stdout.length).toBeGreaterThan(0);
  });

  it.each(runnable.filter((b) => b.kind === 'server' || b.kind === 'server-host').map((b) => [b.where, b.kind, b] as const))(
    '%s (%s) serves: the installed ssh-x509 connect logs in and runs a command',
    async (_where, _kind, b) => {
      expect(tsc.status).toBe(0);
      const { server: s, login } = await runServer(b);
      expect(login.stderr, s.stderr).toBe('');
      expect(login.status).toBe(0);
      expect(login.stdout).toContain(b.expects ?? 'hello');
      // A block that stops on SIGTERM does so, and exits by itself.
      if (b.code.includes("process.once('SIGTERM'")) {
        expect(s.stdout).toContain('closed');
        expect(s.status).toBe(0);
      }
    },
  );

  it('the README quick start also runs as CommonJS, and refuses a server whose host key is not the one on file', async () => {
    expect(tsc.status).toBe(0);
    const quick = blocks.find((b) => b.kind === 'client')!;
    expect(quick.where).toMatch(/^README\.md:/);
    const cjs = await runClient(quick, 'cjs');
    expect(cjs.stderr).toBe('');
    expect(cjs.status).toBe(0);
    expect(cjs.stdout).toMatch(/load average/);

    // The same program, with another host key on file, in a folder of its own.
    const other = join(dir, 'other-host');
    mkdirSync(other);
    for (const f of ['alice-chain.pem', 'alice-key.pem']) copyFileSync(join(project, f), join(other, f));
    expect(sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(other, 'k')], other).status).toBe(0);
    copyFileSync(join(other, 'k.pub'), join(other, 'server_host_key.pub'));
    const file = prepared(quick, 'js', server.port);
    const r = await run(process.execPath, [file], other);
    expect(r.killed).toBe(false);
    expect(r.stdout).not.toMatch(/load average/);
    expect(r.stderr).toMatch(/host/i);
    expect(r.status).toBe(1);
    expect(server.log()).toMatch(/AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign .*result=ok/);
  });
});
