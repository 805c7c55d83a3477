import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Fails the run at once, with the install step, when a real peer the tests
 * use is missing. `.ci/run` installs them; a peer is never silently skipped.
 */
export default function setup(): void {
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
}
