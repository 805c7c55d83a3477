/**
 * The client path loads only what it uses: a signer from certificate and key
 * files, the ssh2 agent over it, a signature, the chain warnings `connect`
 * prints and the known_hosts module need none of pkijs,
 * @peculiar/x509 or asn1js (which cost more to load than a login). Checked
 * in a fresh node process, which then reads a @peculiar/x509 view to show
 * that the check sees a load when there is one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type IssuedCert } from './helpers/pki.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
let dir: string;
let leaf: IssuedCert;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-lazy-'));
  const pki = await createTestPki(join(dir, 'pki'));
  leaf = await pki.issue('lazy', 'p256');
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('library load', () => {
  it('connect with a certificate file loads none of pkijs, @peculiar/x509 and asn1js until a view asks for one', () => {
    const script = `
      import { createRequire } from 'node:module';
      const heavy = () => Object.keys(createRequire(import.meta.url).cache)
        .map((k) => /node_modules\\/(pkijs|asn1js|@peculiar\\/x509)\\//.exec(k)?.[1]).filter(Boolean)
        .filter((v, i, a) => a.indexOf(v) === i).sort();
      await import(${JSON.stringify(SRC + 'cli/commands/connect.ts')});
      const { SoftwareSigner } = await import(${JSON.stringify(SRC + 'signers/software.ts')});
      const { createX509Agent } = await import(${JSON.stringify(SRC + 'adapters/ssh2/client.ts')});
      const signer = await SoftwareSigner.fromFiles({ certificateFile: ${JSON.stringify(leaf.chainPath)}, keyFile: ${JSON.stringify(leaf.keyPath)} });
      const agent = createX509Agent({ signer, algorithms: ['x509v3-ecdsa-sha2-nistp256'] });
      const keys = await new Promise((res, rej) => agent.getIdentities((e, k) => (e ? rej(e) : res(k))));
      const sig = await signer.sign(new Uint8Array(32), 'sha256');
      const { chainWarnings } = await import(${JSON.stringify(SRC + 'certs/validity.ts')});
      const warnings = chainWarnings(signer.chain);
      await import(${JSON.stringify(SRC + 'verify/known-hosts.ts')});
      const before = heavy();
      const subject = signer.chain.leaf.subject;
      console.log(JSON.stringify({ before, after: heavy(), warnings: warnings.length, keys: keys.length, sig: sig.length, chain: signer.chain.der.length, subject }));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string[]; after: string[]; warnings: number; keys: number; sig: number; chain: number; subject: string };
    expect(out).toMatchObject({ warnings: 0, keys: 1, sig: 64, chain: 2, subject: 'O=ssh-x509 Test, CN=lazy' });
    expect(out.before).toEqual([]);
    expect(out.after).toContain('@peculiar/x509');
  });
});
