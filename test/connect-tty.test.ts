/**
 * `connect -t`: a pseudo-terminal with the local window size that follows
 * window changes (SIGWINCH), the terminal's mode restored on exit, and
 * OpenSSH's escapes (`~.`, `~?`, `~#`, `~C`, `~^Z`, `-e`); run in a real
 * terminal (tmux, or a pty from Python) against OpenSSH sshd.
 */
import { execFileSync, execSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenSshServer, type OpenSshServer } from './helpers/openssh.js';
import { cliArgs, cliShell } from './helpers/cli-bin.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';
import { runCommand } from './helpers/ssh2-run.js';
import { freePort } from './helpers/net.js';
import { waitForLog } from './helpers/wait.js';

let dir: string;
let alice: IssuedCert;
let sshd: OpenSshServer;
let idFile: string;
let knownHosts: string;
let echo: Server;
let echoPort: number;
const socket = `ssh-x509-tty-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'cli');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-tty-'));
  const pki = await createTestPki(join(dir, 'pki'));
  alice = await pki.issue('alice', 'p256');
  const plain = execSync(`openssl x509 -in '${alice.certPath}' -pubkey -noout | ssh-keygen -i -m PKCS8 -f /dev/stdin`, { encoding: 'utf8' }).trim();
  sshd = await startOpenSshServer({ dir: join(dir, 'sshd'), authorizedKeys: [plain] });
  idFile = join(dir, 'id');
  copyFileSync(alice.keyPath, idFile);
  copyFileSync(alice.chainPath, `${idFile}-cert.pem`);
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
  echo = createServer((c) => c.pipe(c));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
  await sshd?.stop();
  echo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const args = () => ['-F', 'none', '-p', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256'];

describe('sftp on a terminal', () => {
  it('shows a progress bar for a transfer', async () => {
    const big = join(dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(20 * 1024 * 1024, 7));
    const batch = join(dir, 'batch');
    writeFileSync(batch, `put ${big} ${join(dir, 'uploaded.bin')}\n`);
    const root = new URL('..', import.meta.url).pathname;
    const sftpArgs = ['-F', 'none', '-P', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', '-b', batch, 'root@127.0.0.1'];
    const script = join(dir, 'sftp.sh');
    writeFileSync(script, [`cd '${root}'`, `${cliShell()} sftp ${sftpArgs.map((a) => `'${a}'`).join(' ')}`, 'echo "SFTP-EXITED $?"', 'sleep 60', ''].join('\n'));
    tmux('new-session', '-d', '-s', 'bar', '-x', '150', '-y', '20', `bash ${script}`);
    const shown = await waitForLog(() => tmux('capture-pane', '-p', '-t', 'bar'), /SFTP-EXITED/, 30_000);
    expect(shown).toMatch(/^SFTP-EXITED 0\s*$/m);
    expect(shown).toMatch(/big\.bin \[.*\] 100% 20971520\/20971520 bytes/);
  });
});

describe('sftp interactive', () => {
  it('prompts, runs commands as typed, and leaves on bye', async () => {
    const root = new URL('..', import.meta.url).pathname;
    const sftpArgs = ['-F', 'none', '-P', String(sshd.port), '-i', idFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'PubkeyAcceptedAlgorithms=ecdsa-sha2-nistp256', `root@127.0.0.1:${dir}`];
    const script = join(dir, 'sftp-i.sh');
    writeFileSync(script, [`cd '${root}'`, `${cliShell()} sftp ${sftpArgs.map((a) => `'${a}'`).join(' ')}`, 'echo "SFTP-I-EXITED $?"', 'sleep 60', ''].join('\n'));
    tmux('new-session', '-d', '-s', 'sftpi', '-x', '150', '-y', '40', `bash ${script}`);
    const pane = () => tmux('capture-pane', '-p', '-t', 'sftpi');
    expect(await waitForLog(pane, /^sftp>/m, 20_000)).toMatch(/^sftp>/m);
    tmux('send-keys', '-t', 'sftpi', 'mkdir made-interactively', 'Enter');
    tmux('send-keys', '-t', 'sftpi', 'pwd', 'Enter');
    expect(await waitForLog(pane, `Remote working directory: ${dir}`, 10_000)).toContain(`Remote working directory: ${dir}`);
    tmux('send-keys', '-t', 'sftpi', 'nonsense', 'Enter');
    expect(await waitForLog(pane, /unknown command "nonsense"/, 10_000)).toMatch(/unknown command "nonsense"/);
    tmux('send-keys', '-t', 'sftpi', 'bye', 'Enter');
    // An error in interactive mode does not end the session; bye does, with status 0.
    expect(await waitForLog(pane, /SFTP-I-EXITED/, 10_000)).toMatch(/^SFTP-I-EXITED 0\s*$/m);
    expect(existsSync(join(dir, 'made-interactively'))).toBe(true);
  });
});

describe('pseudo-terminal', () => {
  it('-tt gives the remote command a terminal even without a local one; -T and the default give none', async () => {
    const tt = await runCommand(['connect', '-tt', ...args(), 'root@127.0.0.1', 'tty']);
    // (sshd at LogLevel DEBUG3 also writes its debug lines to the terminal.)
    expect(tt.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    const T = await runCommand(['connect', '-T', ...args(), 'root@127.0.0.1', 'tty']);
    expect(T.stdout).toBe('not a tty\n');
    const plain = await runCommand(['connect', ...args(), 'root@127.0.0.1', 'tty']);
    expect(plain.stdout).toBe('not a tty\n');
  });

  it('-t on a terminal gives the remote command a pty; without it a command gets none; -t without a terminal warns', async () => {
    const root = new URL('..', import.meta.url).pathname;
    // Asynchronously: sshd's debug log is read by this process, and a blocked event loop would stall sshd.
    const onPty = (flags: string[]) =>
      new Promise<{ output: string; status: number }>((resolve, reject) => {
        const py = spawn('/usr/bin/python3', [join(root, 'test/peers/pty_run.py'), 'NEVER-ASKED', 'PTY_ANSWER', '30', '--', process.execPath, ...cliArgs(), 'connect', ...flags, ...args(), 'root@127.0.0.1', 'tty'], {
          cwd: root,
          env: { ...process.env, PTY_ANSWER: 'unused' },
        });
        let out = '';
        py.stdout.on('data', (d) => (out += d));
        py.on('error', reject);
        py.on('close', () => resolve(JSON.parse(out) as { output: string; status: number }));
      });
    const t = await onPty(['-t']);
    // (sshd at LogLevel DEBUG3 writes its debug lines to the terminal too.)
    expect(t.output).toMatch(/^\/dev\/pts\/\d+\r*$/m);
    const none = await onPty([]);
    expect(none.output).toMatch(/^not a tty\r*$/m);
    const warned = await runCommand(['connect', '-t', ...args(), 'root@127.0.0.1', 'tty']);
    expect(warned.stdout).toBe('not a tty\n');
    expect(warned.stderr).toContain('Pseudo-terminal will not be allocated because stdin is not a terminal.');
  });

  it('RequestTTY in the config file does what -tt and -T do', async () => {
    const cfg = join(dir, 'tty-config');
    writeFileSync(cfg, ['Host tty-force', '  RequestTTY force', 'Host tty-no', '  RequestTTY no', 'Host *', '  HostName 127.0.0.1', `  Port ${sshd.port}`, '  User root', `  IdentityFile ${idFile}`, `  UserKnownHostsFile ${knownHosts}`, '  PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256', ''].join('\n'));
    const force = await runCommand(['connect', '-F', cfg, 'tty-force', 'tty']);
    expect(force.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    const no = await runCommand(['connect', '-F', cfg, 'tty-no', 'tty']);
    expect(no.stdout).toBe('not a tty\n');
  });

  it('~. while the server is still sending: nothing it sends afterwards is shown after the closing line', async () => {
    const shot = connectInTmux('ticks', 100, 30, [], 2000);
    try {
      expect(await waitForLog(shot, /[#$] *$/m, 20_000)).toMatch(/[#$] *$/m);
      tmux('send-keys', '-t', 'ticks', 'yes TICK-$((6*7))', 'Enter');
      expect(await waitForLog(shot, /^TICK-42\s*$/m, 10_000)).toMatch(/^TICK-42\s*$/m);
      tmux('send-keys', '-t', 'ticks', 'Enter');
      tmux('send-keys', '-t', 'ticks', '~.');
      const end = await waitForLog(shot, /EXITED/, 10_000);
      const after = end.slice(end.indexOf('Connection to 127.0.0.1 closed.'));
      expect(after).toMatch(/^Connection to 127\.0\.0\.1 closed\.\s*\nEXITED 255\s*$/m);
      expect(after).not.toMatch(/TICK/);
    } finally {
      tmux('kill-session', '-t', 'ticks');
    }
  });

  it('EscapeChar changes the escape: with ^A (Ctrl-A), ~. is typed through and Ctrl-A . drops the connection', async () => {
    const root = new URL('..', import.meta.url).pathname;
    const script = join(dir, 'run-escape.sh');
    writeFileSync(
      script,
      [`cd '${root}'`, `${cliShell()} connect ${args().map((a) => `'${a}'`).join(' ')} -o EscapeChar=^A root@127.0.0.1`, 'echo "EXITED $?"', 'sleep 60'].join('\n'),
    );
    tmux('new-session', '-d', '-s', 'esc', '-x', '100', '-y', '30', `bash ${script}`);
    const shot = () => tmux('capture-pane', '-p', '-t', 'esc');
    try {
      expect(await waitForLog(shot, /[#$] *$/m, 20_000)).toMatch(/[#$] *$/m);
      // ~. at a line start reaches the remote shell as text: the connection stays.
      tmux('send-keys', '-t', 'esc', 'Enter');
      tmux('send-keys', '-t', 'esc', '-l', '~.');
      tmux('send-keys', '-t', 'esc', 'C-u');
      tmux('send-keys', '-t', 'esc', 'echo STILL-$((40+2))', 'Enter');
      expect(await waitForLog(shot, /^STILL-42\s*$/m, 10_000)).toMatch(/^STILL-42\s*$/m);
      tmux('send-keys', '-t', 'esc', 'Enter');
      tmux('send-keys', '-t', 'esc', 'C-a');
      tmux('send-keys', '-t', 'esc', '-l', '.');
      const end = await waitForLog(shot, /EXITED/, 10_000);
      expect(end).toMatch(/^EXITED 255\s*$/m);
    } finally {
      tmux('kill-session', '-t', 'esc');
    }
  });

  it('in a terminal: the local size, resizes followed, ~. drops the connection and the terminal mode comes back', async () => {
    const root = new URL('..', import.meta.url).pathname;
    const script = join(dir, 'run.sh');
    writeFileSync(
      script,
      [
        `cd '${root}'`,
        `${cliShell()} connect ${args().map((a) => `'${a}'`).join(' ')} root@127.0.0.1`,
        'echo "EXITED $?"',
        `stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon' | sed 's/^/MODE /'`,
        'sleep 60',
      ].join('\n'),
    );
    tmux('new-session', '-d', '-s', 'cli', '-x', '100', '-y', '30', `bash ${script}`);
    const prompt = await waitForLog(screen, /[#$] *$/m, 20_000);
    expect(prompt).toMatch(/[#$] *$/m);
    tmux('send-keys', '-t', 'cli', 'stty size; echo SIZE-DONE', 'Enter');
    expect(await waitForLog(screen, /^30 100\s*$/m, 10_000)).toMatch(/^30 100\s*$/m);
    tmux('resize-window', '-t', 'cli', '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 500));
    tmux('send-keys', '-t', 'cli', 'clear; stty size', 'Enter');
    expect(await waitForLog(screen, /^40 120\s*$/m, 10_000)).toMatch(/^40 120\s*$/m);
    // OpenSSH's escape: at the start of a line, ~ then .
    tmux('send-keys', '-t', 'cli', 'Enter');
    tmux('send-keys', '-t', 'cli', '~.');
    const end = await waitForLog(screen, /MODE/, 10_000);
    expect(end).toMatch(/Connection to 127\.0\.0\.1 closed\./);
    expect(end).toMatch(/^EXITED 255\s*$/m);
    // Raw mode restored: the local terminal is canonical again.
    expect(end).toMatch(/^MODE icanon\s*$/m);
  });
});


/**
 * Starts `ssh-x509 connect` (the suite's arguments, then `extra`) to the test
 * sshd in a new tmux session `name` of `cols` x `rows`, then `EXITED <status>`
 * once it ends; returns a reader of the pane with `scrollback` lines of history.
 */
function connectInTmux(name: string, cols: number, rows: number, extra: readonly string[], scrollback: number): () => string {
  const root = new URL('..', import.meta.url).pathname;
  const script = join(dir, `run-${name}.sh`);
  writeFileSync(script, [`cd '${root}'`, `${cliShell()} connect ${[...args(), ...extra].map((a) => `'${a}'`).join(' ')} root@127.0.0.1`, 'echo "EXITED $?"', 'sleep 60'].join('\n'));
  tmux('new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), `bash ${script}`);
  return () => tmux('capture-pane', '-p', '-J', '-S', `-${scrollback}`, '-t', name);
}

/** Connects to a local port and waits for `text` to come back from the echo server behind it. */
function echoThrough(port: number, text: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, '127.0.0.1', () => sock.write(text));
    let got = '';
    sock.on('data', (d) => {
      got += d;
      if (got === text) resolve(sock);
    });
    sock.on('error', reject);
  });
}

describe('escape sequences beyond ~.', () => {
  it('~? lists them, ~# lists the forwarded connections, ~C adds and cancels a forward, ~& says why not; only at a line start', async () => {
    const [lp, lp2] = [await freePort(), await freePort()];
    const shot = connectInTmux('escs', 160, 50, ['-L', `${lp}:127.0.0.1:${echoPort}`], 500);
    const keys = (...k: string[]) => tmux('send-keys', '-t', 'escs', ...k);
    let open: Socket | undefined;
    try {
      expect(await waitForLog(shot, /[#$] *$/m, 20_000)).toMatch(/[#$] *$/m);
      // In the middle of a line, ~? is text for the remote shell.
      keys('-l', 'echo mid~?line');
      keys('Enter');
      expect(await waitForLog(shot, /^mid~\?line\s*$/m, 10_000)).not.toContain('Supported escape sequences');
      keys('-l', '~?');
      expect(await waitForLog(shot, /Supported escape sequences:/, 10_000)).toMatch(/~#   - list forwarded connections/);
      // A connection through the -L forward, listed by ~#.
      open = await echoThrough(lp, 'ping');
      keys('Enter');
      keys('-l', '~#');
      const listed = await waitForLog(shot, /The following connections are open:[\s\S]*direct-tcpip/, 10_000);
      expect(listed).toContain(`direct-tcpip: listening port ${lp} for 127.0.0.1 port ${echoPort}, connect from 127.0.0.1 port ${open.localPort}`);
      expect(listed).toMatch(/#0 client-session \(the shell on 127\.0\.0\.1\)/);
      // ~C: a new local forward at run time, then cancelled.
      keys('Enter');
      keys('-l', '~C');
      expect(await waitForLog(shot, /ssh> $/m, 10_000)).toMatch(/ssh> $/m);
      keys('-l', '--', `-L ${lp2}:127.0.0.1:${echoPort}`);
      keys('Enter');
      await waitForLog(shot, /Forwarding port\./, 10_000);
      (await echoThrough(lp2, 'pong')).destroy();
      keys('Enter');
      keys('-l', '~C');
      keys('-l', '--', `-KL ${lp2}`);
      keys('Enter');
      await waitForLog(shot, /Canceled forwarding\./, 10_000);
      await expect(echoThrough(lp2, 'gone')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      keys('Enter');
      keys('-l', '~&');
      expect(await waitForLog(shot, /~& \[not available/, 10_000)).toMatch(/~& \[not available/);
      // The session is still there.
      keys('-l', 'echo STILL-$((40+2))');
      keys('Enter');
      expect(await waitForLog(shot, /^STILL-42\s*$/m, 10_000)).toMatch(/^STILL-42\s*$/m);
      keys('Enter');
      keys('-l', '~.');
      expect(await waitForLog(shot, /^EXITED 255\s*$/m, 10_000)).toMatch(/^EXITED 255\s*$/m);
    } finally {
      open?.destroy();
      tmux('kill-session', '-t', 'escs');
    }
  });

  it('~C holds the remote output while its prompt is up, and lets it through once the command has answered', async () => {
    const shot = connectInTmux('hold', 120, 50, [], 500);
    const keys = (...k: string[]) => tmux('send-keys', '-t', 'hold', ...k);
    try {
      expect(await waitForLog(shot, /[#$] *$/m, 20_000)).toMatch(/[#$] *$/m);
      // The remote shell prints a numbered line every 100 ms.
      keys('-l', 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo TICK-$i; sleep 0.1; done');
      keys('Enter');
      await waitForLog(shot, /^TICK-3\s*$/m, 10_000);
      keys('-l', '~C');
      await waitForLog(shot, /ssh> $/m, 10_000);
      await new Promise((r) => setTimeout(r, 1500));
      // A second and a half later the prompt is still the last thing on the screen.
      expect(shot().trimEnd()).toMatch(/ssh>$/);
      const before = Math.max(...[...shot().matchAll(/^TICK-(\d+)\s*$/gm)].map((m) => Number(m[1])));
      keys('Enter');
      // Once the (empty) command has answered, the held lines follow, and new ones after them.
      const after = await waitForLog(shot, new RegExp(`^TICK-${before + 10}\\s*$`, 'm'), 10_000);
      expect(after).toMatch(new RegExp(`^TICK-${before + 1}\\s*$`, 'm'));
      keys('C-c');
      keys('Enter');
      keys('-l', '~.');
      expect(await waitForLog(shot, /^EXITED 255\s*$/m, 10_000)).toMatch(/^EXITED 255\s*$/m);
    } finally {
      tmux('kill-session', '-t', 'hold');
    }
  });

  it('-e none turns the escapes off: ~. and ~? at a line start are typed through', async () => {
    const shot = connectInTmux('noesc', 120, 40, ['-e', 'none'], 200);
    const keys = (...k: string[]) => tmux('send-keys', '-t', 'noesc', ...k);
    try {
      await waitForLog(shot, /[#$] *$/m, 20_000);
      keys('Enter');
      keys('-l', '~?');
      keys('-l', 'x; echo ~.');
      keys('Enter');
      // The remote shell got the text: "~?x; echo ~." runs as a command (not found), then echo prints "~.".
      expect(await waitForLog(shot, /^~\.\s*$/m, 10_000)).not.toContain('Supported escape sequences');
      keys('-l', 'exit 7');
      keys('Enter');
      expect(await waitForLog(shot, /^EXITED \d+\s*$/m, 10_000)).toMatch(/^EXITED 7\s*$/m);
    } finally {
      tmux('kill-session', '-t', 'noesc');
    }
  });

  it('~^Z suspends the command in an interactive shell; fg resumes it with the terminal raw again (Ctrl-C reaches the remote side)', async () => {
    const root = new URL('..', import.meta.url).pathname;
    tmux('new-session', '-d', '-s', 'susp', '-x', '160', '-y', '50', 'bash --norc --noprofile -i');
    const shot = () => tmux('capture-pane', '-p', '-J', '-S', '-500', '-t', 'susp');
    const keys = (...k: string[]) => tmux('send-keys', '-t', 'susp', ...k);
    try {
      await waitForLog(shot, /[#$] *$/m, 10_000);
      keys('-l', `cd '${root}' && ${cliShell()} connect ${args().map((a) => `'${a}'`).join(' ')} root@127.0.0.1`);
      keys('Enter');
      // The remote shell: its parent is sshd.
      keys('-l', 'echo PARENT-$(cat /proc/$PPID/comm)');
      keys('Enter');
      await waitForLog(shot, /^PARENT-sshd\s*$/m, 20_000);
      keys('Enter');
      keys('-l', '~');
      keys('C-z');
      expect(await waitForLog(shot, /Stopped/, 10_000)).toMatch(/~\^Z \[suspend ssh-x509\]/);
      keys('-l', 'fg');
      keys('Enter');
      await new Promise((r) => setTimeout(r, 1000));
      // Raw again: Ctrl-C interrupts the remote sleep instead of killing ssh-x509.
      keys('-l', 'sleep 30');
      keys('Enter');
      await new Promise((r) => setTimeout(r, 500));
      keys('C-c');
      keys('-l', 'echo BACK-$(cat /proc/$PPID/comm)');
      keys('Enter');
      expect(await waitForLog(shot, /^BACK-\S+\s*$/m, 10_000)).toMatch(/^BACK-sshd\s*$/m);
      keys('Enter');
      keys('-l', '~.');
      await waitForLog(shot, /Connection to 127\.0\.0\.1 closed\./, 10_000);
      keys('-l', 'echo "EXITED $?"');
      keys('Enter');
      expect(await waitForLog(shot, /^EXITED \d+\s*$/m, 10_000)).toMatch(/^EXITED 255\s*$/m);
    } finally {
      tmux('kill-session', '-t', 'susp');
    }
  });
});
