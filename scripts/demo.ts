/**
 * The quick-start rig (not an example of the library): a throwaway PKI and a
 * local RFC 6187 server (AsyncSSH, independent of this library), made with
 * the tests' helpers; then it runs examples/demo.ts, the client, against
 * them, and shows what the server saw.
 *
 *   bash scripts/demo.sh          (installs and builds what it needs, then runs this)
 *   npm run build && node --import tsx scripts/demo.ts
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAsyncSshServer } from '../test/helpers/asyncssh.js';
import { createTestPki } from '../test/helpers/pki.js';
import { waitForLog } from '../test/helpers/wait.js';

const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);
const example = fileURLToPath(new URL('../examples/demo.ts', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-demo-'));
let stop: (() => Promise<void>) | undefined;
try {
  step(1, 'Creating a throwaway PKI: root CA -> intermediate CA -> user certificate (P-256, EKU secureShellClient, UPN)');
  const pki = await createTestPki(join(dir, 'pki'));
  const alice = await pki.issue('alice', 'p256');
  console.log(`    certificate chain: ${alice.chainPath}`);
  console.log(`    private key:       ${alice.keyPath}`);

  step(2, 'Starting an AsyncSSH server on 127.0.0.1 that trusts only the root CA');
  const server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server') });
  stop = server.stop;
  console.log(`    listening on 127.0.0.1:${server.port}`);

  // The client: examples/demo.ts, as a user of the package would write it.
  // Asynchronous, so that the server's log keeps being read meanwhile.
  const child = spawn(process.execPath, ['--import', 'tsx', example], {
    stdio: 'inherit',
    env: {
      ...process.env,
      CERT_CHAIN: alice.chainPath,
      PRIVATE_KEY: alice.keyPath,
      SSH_HOST: '127.0.0.1',
      SSH_PORT: String(server.port),
      SSH_USER: 'alice',
      SSH_HOST_KEY: server.hostPublicKeyLine,
    },
  });
  const [status, signal] = (await once(child, 'close')) as [number | null, string | null];
  if (status !== 0) throw new Error(`examples/demo.ts exited with ${status ?? signal}`);

  step(5, 'What the server saw');
  const log = await waitForLog(server.log, /^EXEC /m, 2_000);
  for (const line of log.split('\n').filter((l) => l.startsWith('AUTH ') || l.startsWith('EXEC '))) console.log(`    ${line}`);
  console.log('\nDone: an RFC 6187 certificate login from Node, accepted by an independent server.');
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await stop?.();
  rmSync(dir, { recursive: true, force: true });
}
