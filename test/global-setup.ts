import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Options } from 'tsup';
import tsupConfig from '../tsup.config.js';
import { ROOT, TEST_CLI_ENV } from './helpers/cli-bin.js';
import { ensurePcscd, INSTALL_HINT, missingMiddleware } from './helpers/pcsc.js';

/**
 * Bundles the current source for the tests that start `ssh-x509` as a
 * process (test/helpers/cli-bin.ts): the builds of tsup.config.ts whose
 * entries are the command's (cli/...), without type declarations, into
 * <dir>/out, beside a copy of package.json (the command reads its version
 * from there, as from dist/). Returns the path of the command's cli/main.js.
 */
async function bundleCli(dir: string): Promise<string> {
  const configs = (Array.isArray(tsupConfig) ? tsupConfig : [tsupConfig]) as Options[];
  const command = configs.filter((c) => c.entry && !Array.isArray(c.entry) && Object.keys(c.entry).some((name) => name.startsWith('cli/')));
  if (!command.length) throw new Error('tsup.config.ts has no build of the command (an entry named cli/...)');
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  for (const c of command) await build({ ...c, config: false, dts: false, silent: true, clean: false, outDir: join(dir, 'out') });
  const main = join(dir, 'out', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`bundling the command for the tests wrote no ${main}`);
  return main;
}

/**
 * Fails the run at once, with the install step, when a real peer the tests
 * use is missing. `.ci/run` installs them; a peer is never silently skipped.
 * Starts (or joins) the tests' pcscd with its virtual readers. Then bundles the command from the current source for this run (removed
 * again at the end).
 */
export default async function setup(): Promise<() => Promise<void>> {
  const missing: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) missing.push(what);
  };
  const runs = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  need(runs('/usr/bin/python3', ['-c', 'import asyncssh']), 'python3-asyncssh (AsyncSSH, Debian interpreter /usr/bin/python3)');
  need(runs('openssl', ['version']), 'openssl');
  need(existsSync('/usr/lib/softhsm/libsofthsm2.so'), 'softhsm2 (/usr/lib/softhsm/libsofthsm2.so)');
  need(runs('pkcs11-tool', ['--version']) || existsSync('/usr/bin/pkcs11-tool'), 'opensc (pkcs11-tool)');
  need(existsSync('/usr/sbin/sshd'), 'openssh-server (/usr/sbin/sshd)');
  need(runs('tmux', ['-V']), 'tmux (a terminal for the pty tests)');
  const middleware = missingMiddleware();
  if (!existsSync(new URL('../dist/index.js', import.meta.url)) || !existsSync(new URL('../dist/pkcs11.js', import.meta.url))) {
    // The examples import 'ssh-x509' by name, which resolves to the build through package.json "exports".
    throw new Error('the build is missing (dist/index.js): run `npm run build` first; the examples import the package by name');
  }
  if (missing.length) {
    throw new Error(
      `test peers missing: ${missing.join(', ')}.\n` +
        'Install them with: apt-get install -y softhsm2 opensc python3-asyncssh openssl openssh-server openssh-client tmux (or run bash .ci/run)',
    );
  }
  if (middleware.length) throw new Error(`smartcard middleware missing: ${middleware.join(', ')}.\nInstall it with: ${INSTALL_HINT}`);
  // One pcscd for the whole run (and for concurrent runs on this machine): test/helpers/pcsc.ts.
  const stopPcscd = await ensurePcscd();
  const cache = join(ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'ssh-x509-test-cli-'));
  try {
    process.env[TEST_CLI_ENV] = await bundleCli(dir);
  } catch (e) {
    await stopPcscd();
    throw e;
  }
  return async () => {
    rmSync(dir, { recursive: true, force: true });
    await stopPcscd();
  };
}
