/**
 * The API reference: `typedoc` (as `npm run docs` runs it, warnings as errors)
 * files every public symbol under one of the categories a user navigates, and
 * carries the README and the guides. The README and the guides themselves:
 * short, linked, and free of lab notes. (test/package.test.ts runs their code.)
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../src/errors.js';
import { RefusalReasons } from '../src/verify/reasons.js';
import { cliShell } from './helpers/cli-bin.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CATEGORIES = ['Client', 'Signers', 'PKCS#11', 'Host keys', 'Server', 'Formats', 'Errors', 'Low level'];
const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Node { id: number; name: string; children?: Node[]; categories?: Array<{ title: string; children: number[] }> }

describe('typedoc', () => {
  it('builds without a warning and files every public symbol under a user-facing category', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--treatWarningsAsErrors', '--out', join(dir, 'html'), '--json', join(dir, 'api.json')], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
    expect(r.stdout + r.stderr).not.toMatch(/\[warning\]|\[error\]/);
    expect(r.status).toBe(0);
    const project = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as Node;
    const where = new Map<string, string>();
    for (const mod of project.children ?? []) {
      const byId = new Map((mod.children ?? []).map((c) => [c.id, c.name]));
      for (const cat of mod.categories ?? []) for (const id of cat.children) where.set(`${mod.name}.${byId.get(id)}`, cat.title);
      // Every top-level symbol of each entry point is in some category, and only in ours.
      expect((mod.children ?? []).map((c) => c.name).filter((n) => !where.has(`${mod.name}.${n}`))).toEqual([]);
    }
    expect([...new Set(where.values())].filter((c) => !CATEGORIES.includes(c))).toEqual([]);
    expect(where.get('ssh-x509.x509AuthHandler')).toBe('Client');
    expect(where.get('ssh-x509.SoftwareSigner')).toBe('Signers');
    expect(where.get('ssh-x509.ttyPassphrase')).toBe('Signers');
    expect(where.get('ssh-x509/pkcs11.ttyPin')).toBe('PKCS#11');
    expect(where.get('ssh-x509.chainWarnings')).toBe('Client');
    expect(where.get('ssh-x509/pkcs11.Pkcs11Signer')).toBe('PKCS#11');
    expect(where.get('ssh-x509.X509Verifier')).toBe('Server');
    expect(where.get('ssh-x509.exportPublicKey')).toBe('Formats');
    expect(where.get('ssh-x509.SshX509Error')).toBe('Errors');
    expect(where.get('ssh-x509.SshReader')).toBe('Low level');
    expect(where.get('ssh-x509.ecdsaRawToDer')).toBe('Low level');
    // The HTML navigation shows the categories.
    expect(readFileSync(join(dir, 'html', 'modules', 'ssh-x509.html'), 'utf8')).toContain('Low level');
    // The site opens on the README, under the title once; the guides and the command are pages of it, named by their headings.
    const index = readFileSync(join(dir, 'html', 'index.html'), 'utf8');
    expect(index.match(/<h1[^>]*>ssh-x509</g)).toHaveLength(1);
    expect(index).toContain('SSH logins with X.509 certificates');
    expect(index).toContain('href="documents/The_ssh-x509_command.html"');
    const command = readFileSync(join(dir, 'html', 'documents', 'The_ssh-x509_command.html'), 'utf8');
    expect(command).toContain('StrictHostKeyChecking');
    expect(command).not.toContain('docs/command'); // named by its heading, not its path
    const moduleText = readFileSync(join(dir, 'html', 'modules', 'ssh-x509.html'), 'utf8');
    expect(moduleText).toContain('The main entry point');
  }, 300_000); // typedoc takes 35 s alone, minutes on a loaded machine
});

/** The pages a user reads in the repository. */
const PAGES = ['README.md', 'CHANGELOG.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (page: string) => readFileSync(join(ROOT, page), 'utf8');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

describe('the README and the guides', () => {
  it('the README is read in minutes: at most 400 lines, its first code block within the first 60', () => {
    const lines = read('README.md').split('\n');
    expect(lines.length).toBeLessThanOrEqual(400);
    expect(lines.findIndex((l) => l.startsWith('```'))).toBeLessThan(60);
    expect(lines.findIndex((l) => l.startsWith('```'))).toBeGreaterThan(0);
  });

  it('every relative link leads to a file of the repository, and to a heading there when it names one', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      const text = read(page).replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? page : join(dirname(page), path);
        if (!existsSync(join(ROOT, file))) {
          broken.push(`${page}: ${target} (no file)`);
          continue;
        }
        if (anchor && file.endsWith('.md')) {
          const headings = [...read(file).replace(/```[\s\S]*?```/g, '').matchAll(/^#+ (.+)$/gm)].map((h) => slug(h[1]!));
          if (!headings.includes(anchor)) broken.push(`${page}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('name nothing outside the repository, no internal issue numbers and no dated run logs', () => {
    const found: string[] = [];
    for (const page of PAGES) {
      read(page).split('\n').forEach((line, i) => {
        if (/\.\.\/shared|\bissue \d+|\b20\d\d-\d\d-\d\d\b|\b\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) 20\d\d\b|\b\d\d:\d\d UTC\b/i.test(line)) found.push(`${page}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('docs/errors.md lists every error code and every refusal reason', () => {
    const errors = read('docs/errors.md');
    expect(Object.values(ErrorCodes).filter((code) => !errors.includes(`| \`${code}\` |`))).toEqual([]);
    expect(Object.keys(RefusalReasons).filter((reason) => !errors.includes(`| \`${reason}\` |`))).toEqual([]);
  });
});

describe('the command lines of the README and the guides', () => {
  /** Each `ssh-x509 connect ...` line of a sh block (continuations joined, comments dropped), synopsis lines left out. */
  const connectLines = (): string[] => {
    const lines: string[] = [];
    for (const page of PAGES) {
      for (const block of read(page).matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
        const joined = block[1]!.replace(/\\\n\s*/g, ' ');
        for (const line of joined.split('\n')) {
          const cmd = line.replace(/\s+#.*$/, '').trim();
          if (cmd.startsWith('ssh-x509 connect ') && !cmd.includes('[')) lines.push(cmd);
        }
      }
    }
    return lines;
  };

  it('each connect line is one the command takes: with -G it resolves its configuration and exits 0', async () => {
    const lines = connectLines();
    expect(lines.length).toBeGreaterThanOrEqual(10);
    const home = mkdtempSync(join(tmpdir(), 'ssh-x509-docs-home-'));
    try {
      const results = await Promise.all(
        lines.map(
          (line) =>
            new Promise<string | undefined>((resolve) => {
              // -G: parse and resolve, never connect; -F none and an empty HOME: no user's configuration.
              const cmd = line.replace(/^ssh-x509 connect /, `${cliShell()} connect -G -F none `);
              execFile('sh', ['-c', cmd], { cwd: home, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) =>
                resolve(err ? `${line}: exit ${(err as { code?: unknown }).code}: ${stderr.trim()}` : undefined),
              );
            }),
        ),
      );
      expect(results.filter((r) => r !== undefined)).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});
