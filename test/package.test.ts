/**
 * The package as a user installs it: `npm pack` of the build, checked by
 * attw and publint, installed in a fresh project next to ssh2, and every
 * TypeScript block of README.md compiled there (strict, `module: nodenext`,
 * as ESM and as a CommonJS consumer) and, for the blocks marked
 * `<!-- readme-test: run -->`, run against a local AsyncSSH server.
 *
 * Needs `npm run build` first. One pack, one install, one tsc.
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki } from './helpers/pki.js';

const ROOT = new URL('..', import.meta.url).pathname;
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

/** The version installed here of a dev dependency, so the consumer gets the same one (from npm's cache). */
const installed = (name: string): string => `${name}@${(JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`;

interface Block {
  readonly index: number;
  readonly line: number;
  readonly code: string;
  readonly run: boolean;
}

/** Every ```ts block of the README, with whether a `<!-- readme-test: run -->` line precedes it. */
function readmeBlocks(): Block[] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    blocks.push({ index: blocks.length, line: start + 1, code: body.join('\n') + '\n', run: lines[start - 1]?.trim() === '<!-- readme-test: run -->' });
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

/** Runs a README program without blocking the event loop (the server's log comes through a pipe). */
function run(file: string, cwd: string): Promise<{ status: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
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
const blocks = readmeBlocks();
let tsc: ReturnType<typeof sh>;

beforeAll(async () => {
  for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.cts', 'dist/pkcs11.d.cts']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` before this test`);
  }
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-package-'));
  const pack = sh('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const info = (JSON.parse(pack.stdout) as Array<typeof packInfo & { filename: string }>)[0]!;
  packInfo = info;
  tarball = join(dir, info.filename);
  console.log(`package tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} bytes unpacked, ${info.files.length} files`);

  project = join(dir, 'consumer');
  sh('mkdir', ['-p', project], dir);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  // --ignore-scripts: the type check and the runs need no native builds (ssh2 falls back to JS crypto).
  const deps = [tarball, installed('ssh2'), installed('node-ssh'), installed('ssh2-sftp-client'), installed('@types/ssh2-sftp-client'), installed('graphene-pk11'), '@types/node@20'];
  const install = sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...deps], project, 300_000);
  if (install.status !== 0) throw new Error(`npm install in the consumer project failed: ${install.stderr}`);

  for (const b of blocks) {
    writeFileSync(join(project, `readme-${b.index}.mts`), b.code);
    writeFileSync(join(project, `readme-${b.index}.cts`), asCommonJs(b.code));
  }
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'], skipLibCheck: false, outDir: 'out', noEmitOnError: true },
      include: ['*.mts', '*.cts'],
    }),
  );
  tsc = sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], project);

  const pki = await createTestPki(join(dir, 'pki'));
  const alice = await pki.issue('alice', 'p256');
  copyFileSync(alice.chainPath, join(project, 'alice-chain.pem'));
  copyFileSync(alice.keyPath, join(project, 'alice-key.pem'));
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  writeFileSync(join(project, 'server_host_key.pub'), server.hostPublicKeyLine + '\n');
}, 600_000);

afterAll(async () => {
  await server?.stop();
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
});

describe('README TypeScript blocks, in a fresh project', () => {
  it('are there, and the quick start is one of the runnable ones', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    expect(blocks.filter((b) => b.run).length).toBeGreaterThanOrEqual(2);
    expect(blocks.find((b) => b.run)!.code).toContain('x509AuthHandler(');
  });

  it('every block compiles with tsc --strict, module nodenext, no skipLibCheck, as ESM and as CommonJS', () => {
    // Name the failing README lines, not just the temp file.
    const where = tsc.stdout.replace(/readme-(\d+)\.(mts|cts)\((\d+),/g, (_m, i: string, ext: string, line: string) => `README block at line ${blocks[Number(i)]!.line} (${ext === 'cts' ? 'CommonJS' : 'ESM'}) (${line},`);
    expect(where).toBe('');
    expect(tsc.status).toBe(0);
    for (const b of blocks) {
      expect(existsSync(join(project, 'out', `readme-${b.index}.mjs`))).toBe(true);
      expect(existsSync(join(project, 'out', `readme-${b.index}.cjs`))).toBe(true);
    }
    // The CommonJS build really loads ssh-x509 through require.
    expect(readFileSync(join(project, 'out', 'readme-0.cjs'), 'utf8')).toMatch(/require\("ssh-x509"\)/);
  });

  it('the runnable blocks log in to a local RFC 6187 server, check its host key, print the output and exit by themselves (ESM and CommonJS)', async () => {
    expect(tsc.status).toBe(0);
    for (const b of blocks.filter((x) => x.run)) {
      for (const ext of ['mjs', 'cjs']) {
        const file = join(project, 'out', `readme-${b.index}.${ext}`);
        // Only where to connect changes; the rest runs as written.
        const js = readFileSync(file, 'utf8');
        expect(js).toContain("'server.example.com'");
        writeFileSync(file, js.replaceAll("'server.example.com'", "'127.0.0.1'").replaceAll('port: 22,', `port: ${server.port},`));
        const r = await run(file, project);
        expect(r.killed, `README block at line ${b.line} (${ext}) did not exit by itself`).toBe(false);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/load average/);
      }
    }
    expect(server.log()).toMatch(/AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign .*result=ok/);
  });

  it('a runnable block refuses a server whose host key is not the one on file', async () => {
    const b = blocks.find((x) => x.run)!;
    const file = join(project, 'out', `readme-${b.index}.mjs`);
    const other = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other_host')]);
    expect(other.status).toBe(0);
    writeFileSync(join(project, 'server_host_key.pub'), readFileSync(join(dir, 'other_host.pub')));
    try {
      const r = await run(file, project);
      expect(r.killed).toBe(false);
      expect(r.stdout).not.toMatch(/load average/);
      expect(r.stderr).toMatch(/host/i);
      expect(r.status).toBe(1);
    } finally {
      writeFileSync(join(project, 'server_host_key.pub'), server.hostPublicKeyLine + '\n');
    }
  });
});
