/**
 * Runs the quick-start demo as a user would, so that it never rots, and
 * keeps the examples written as a user writes them: `ssh-x509` and
 * `ssh-x509/pkcs11` by name (resolved to the build through the package's
 * own "exports"), nothing from src/ or test/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('examples', () => {
  it('scripts/demo.ts runs examples/demo.ts, which logs in with a certificate and prints each step, then the same login with the command', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toContain('demo failed');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('[3] Loading the certificate and key into a software Signer');
    expect(r.stdout).toContain('remote output: logged in as alice');
    expect(r.stdout).toMatch(/AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=ecdsa-sha2-nistp256 result=ok/);
    expect(r.stdout).toContain("$ ssh-x509 connect -F ");
    expect(r.stdout).toContain('remote output: logged in as alice, with the command');
    expect(r.stdout.match(/AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=ecdsa-sha2-nistp256 result=ok/g)).toHaveLength(2);
    expect(r.stdout).toContain('Done: RFC 6187 certificate logins from Node and from the command');
    // Nothing is left behind without --keep.
    expect(r.stdout).not.toContain('The lab stays');
  });

  it('scripts/demo.ts --keep leaves a lab: the three commands it prints work, and --stop stops its server and removes it', () => {
    const lab = join('.tmp', `lab-test-${process.pid}`);
    const env = { ...process.env, LAB_DIR: lab };
    const sh = (command: string, input = '') => spawnSync('sh', ['-c', command], { cwd: root, env, input, encoding: 'utf8', timeout: 60_000 });
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--keep'], { cwd: root, env, encoding: 'utf8', timeout: 90_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`The lab stays: the PKI, the server`);
      const pid = Number(readFileSync(join(root, lab, 'server', 'server.pid'), 'utf8'));
      expect(() => process.kill(pid, 0)).not.toThrow();
      const ssh_config = readFileSync(join(root, lab, 'ssh_config'), 'utf8');
      expect(ssh_config).toMatch(/^Host lab\n  HostName 127\.0\.0\.1\n  Port \d+\n  User alice\n/);

      // The next three commands, as printed (each line: two spaces, the command, its comment).
      const commands = [...r.stdout.matchAll(/^ {2}(\S.*?)\s+# (.*)$/gm)].map((m) => m[1]!);
      expect(commands).toEqual([`node dist/cli/main.js connect -F ${lab}/ssh_config lab uname -a`, `node dist/cli/main.js sftp -F ${lab}/ssh_config lab`, `(cd ${lab} && node --import tsx quickstart.ts)`]);
      const connect = sh(commands[0]!);
      expect(connect.stderr).toBe('');
      expect(connect.stdout).toMatch(/^Linux /);
      expect(connect.status).toBe(0);
      const sftp = sh(commands[1]!, 'pwd\nls\nbye\n');
      expect(sftp.stderr).toBe('');
      expect(sftp.stdout).toContain('Remote working directory: ');
      expect(sftp.stdout).toContain('authorized_keys');
      expect(sftp.status).toBe(0);
      const quick = sh(commands[2]!);
      expect(quick.stderr).toBe('');
      expect(quick.stdout).toMatch(/load average/);
      expect(quick.status).toBe(0);

      // Again while it runs: it says so, and leaves the running lab alone.
      const again = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--keep'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
      expect(again.status).toBe(1);
      expect(again.stdout).toContain('A lab is already running');
      expect(() => process.kill(pid, 0)).not.toThrow();

      // The stop line, as printed.
      expect(r.stdout).toMatch(/^ {2}bash scripts\/demo\.sh --stop$/m);
      const stop = sh('bash scripts/demo.sh --stop');
      expect(stop.status).toBe(0);
      expect(stop.stdout).toContain(`stopped the lab's server (pid ${pid})`);
      expect(() => process.kill(pid, 0)).toThrow();
      expect(existsSync(join(root, lab))).toBe(false);
    } finally {
      sh('bash scripts/demo.sh --stop');
    }
  }, 240_000);

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
