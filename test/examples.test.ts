/**
 * Runs the quick-start demo as a user would, so that it never rots, and
 * keeps the examples written as a user writes them: `ssh-x509` and
 * `ssh-x509/pkcs11` by name (resolved to the build through the package's
 * own "exports"), nothing from src/ or test/.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('examples', () => {
  it('scripts/demo.ts runs examples/demo.ts, which logs in with a certificate and prints each step', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toContain('demo failed');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('[3] Loading the certificate and key into a software Signer');
    expect(r.stdout).toContain('remote output: logged in as alice');
    expect(r.stdout).toMatch(/AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=ecdsa-sha2-nistp256 result=ok/);
    expect(r.stdout).toContain('Done: an RFC 6187 certificate login from Node');
  });

  it('import the package by name, as a user would, and nothing from src/ or test/', () => {
    const files = readdirSync(new URL('../examples/', import.meta.url)).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    const relative: string[] = [];
    const byName = new Set<string>();
    for (const f of files) {
      const text = readFileSync(new URL(`../examples/${f}`, import.meta.url), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?['"]([^'"]+)['"]/gm)) {
        if (m[1]!.startsWith('.')) relative.push(`${f}: ${m[1]}`);
        if (m[1]!.startsWith('ssh-x509')) byName.add(m[1]!);
      }
      for (const m of text.matchAll(/import\(\s*['"](\.[^'"]+)['"]/g)) relative.push(`${f}: ${m[1]}`);
    }
    expect(relative).toEqual([]);
    expect([...byName].sort()).toEqual(['ssh-x509', 'ssh-x509/pkcs11']);
  });

  it('the package name resolves to the build, as it does for a user', async () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('ssh-x509'), import.meta.resolve('ssh-x509/pkcs11'))"], { cwd: new URL('../examples/', import.meta.url).pathname, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split(' ')).toEqual([`file://${root}dist/index.js`, `file://${root}dist/pkcs11.js`]);
  });
});
