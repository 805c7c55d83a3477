/**
 * The command loads only what the chosen subcommand needs: the built
 * `ssh-x509` (dist/cli/main.js) run under a module-resolution hook and a
 * preload that together record every package it loads, imported (ESM) or
 * required (CommonJS: the command is one CommonJS file).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const main = new URL('../dist/cli/main.js', import.meta.url).pathname;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-lazy-'));
  writeFileSync(
    join(dir, 'hook.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(process.env.LOADED_LOG, r.url + '\\n'); return r; }\n`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'; register('./hook.mjs', import.meta.url);\n`);
  writeFileSync(
    join(dir, 'required.cjs'),
    `process.on('exit', () => require('node:fs').appendFileSync(process.env.LOADED_LOG, Object.keys(require.cache).join('\\n') + '\\n'));\n`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The npm packages that `node <args>` loads. */
function loadedBy(args: string[]): string[] {
  const log = join(dir, `loaded-${Math.random().toString(36).slice(2)}`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), '-r', join(dir, 'required.cjs'), ...args], { encoding: 'utf8', env: { ...process.env, LOADED_LOG: log }, timeout: 30_000 });
  expect(r.error).toBeUndefined();
  const names = readFileSync(log, 'utf8')
    .split('\n')
    .map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1])
    .filter((n): n is string => n !== undefined);
  return [...new Set(names)].sort();
}

/** The npm packages that `ssh-x509 <args>` loads. */
function packagesLoaded(args: string[]): string[] {
  return loadedBy([main, ...args]);
}

describe('lazy loading per subcommand', () => {
  it('control: the recorder sees a package imported and one required', () => {
    expect(loadedBy(['--input-type=module', '-e', `import 'ssh-config'; import { createRequire } from 'node:module'; createRequire(import.meta.url)('asn1js');`])).toEqual(expect.arrayContaining(['asn1js', 'ssh-config']));
  });

  it.each([[['--help']], [['help', 'connect']], [['connect', '--help']], [['list', '--help']], [['export-pub', '--help']], [['connect', '--bogus', 'a@b']], [['list']], [['export-pub', 'x']]])(
    'ssh-x509 %j loads no library package (no X.509, ASN.1, ssh2 or PKCS#11 code)',
    (args) => {
      expect(packagesLoaded(args)).toEqual([]);
    },
  );

  // (The X.509 libraries are required on first use, which this ESM resolve hook does not see:
  // test/lazy-load.test.ts checks those in a fresh process, with a control.)
  it('export-pub from a file loads neither ssh2 nor PKCS#11 nor the verifier', () => {
    const loaded = packagesLoaded(['export-pub', '--cert', join(dir, 'missing.pem')]);
    expect(loaded.filter((p) => /ssh2|graphene|pkcs11|pkijs/.test(p))).toEqual([]);
  });

  it('connect with a key file loads no PKCS#11, no verifier (pkijs), and no X.509 or ASN.1 library before it parses a certificate', () => {
    const loaded = packagesLoaded(['connect', '-p', '1', '--cert', join(dir, 'missing.pem'), '--key', join(dir, 'missing.key'), 'a@127.0.0.1', 'true']);
    // The certificate model (src/certs/model.ts) requires @peculiar/x509, pkijs and asn1js on first use only.
    expect(loaded.filter((p) => /graphene|pkcs11|pkijs|@peculiar\/x509|asn1js/.test(p))).toEqual([]);
  });
});
