/**
 * Runs the quick-start demo as a user would, so that it never rots.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('examples', () => {
  it('examples/demo.ts logs in with a certificate and prints each step', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toContain('demo failed');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('remote output: logged in as alice');
    expect(r.stdout).toMatch(/AUTH user=alice alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=ecdsa-sha2-nistp256 result=ok/);
    expect(r.stdout).toContain('Done: an RFC 6187 certificate login from Node');
  });
});
