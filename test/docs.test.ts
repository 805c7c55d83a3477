/**
 * The API reference: `typedoc` (as `npm run docs` runs it, warnings as errors)
 * files every public symbol under one of the categories a user navigates.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const CATEGORIES = ['Client', 'Signers', 'PKCS#11', 'Host keys', 'Server', 'Formats', 'Errors', 'Low level'];
const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Node { id: number; name: string; children?: Node[]; categories?: Array<{ title: string; children: number[] }> }

describe('typedoc', () => {
  it('builds without a warning and files every public symbol under a user-facing category', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--treatWarningsAsErrors', '--out', join(dir, 'html'), '--json', join(dir, 'api.json')], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
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
    expect(where.get('index.x509AuthHandler')).toBe('Client');
    expect(where.get('index.SoftwareSigner')).toBe('Signers');
    expect(where.get('index.ttyPassphrase')).toBe('Signers');
    expect(where.get('pkcs11.ttyPin')).toBe('PKCS#11');
    expect(where.get('index.chainWarnings')).toBe('Client');
    expect(where.get('pkcs11.Pkcs11Signer')).toBe('PKCS#11');
    expect(where.get('index.X509Verifier')).toBe('Server');
    expect(where.get('index.exportPublicKey')).toBe('Formats');
    expect(where.get('index.SshX509Error')).toBe('Errors');
    expect(where.get('index.SshReader')).toBe('Low level');
    expect(where.get('index.ecdsaRawToDer')).toBe('Low level');
    // The HTML navigation shows the categories.
    expect(readFileSync(join(dir, 'html', 'modules', 'index.html'), 'utf8')).toContain('Low level');
  });
});
