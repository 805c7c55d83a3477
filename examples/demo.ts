/**
 * The quick-start demo: a throwaway PKI, a local RFC 6187 server (AsyncSSH,
 * independent of this library), and a certificate login through an ssh2
 * Client with ssh-x509, printed step by step.
 *
 *   bash scripts/demo.sh          (installs what it needs, then runs this)
 *   node --import tsx examples/demo.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { SoftwareSigner, x509AuthHandler, formatTrace, type TraceEvent } from '../src/index.js';
import { startAsyncSshServer } from '../test/helpers/asyncssh.js';
import { createTestPki } from '../test/helpers/pki.js';

const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);

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

  step(3, 'Loading the certificate and key into a software Signer');
  const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
  console.log(`    subject: ${signer.chain.leaf.subject}`);
  console.log(`    issuer:  ${signer.chain.leaf.issuer}`);
  console.log(`    sha256:  ${signer.chain.fingerprints.sha256}`);
  console.log(`    can use: ${signer.chain.algorithms().map((a) => a.name).join(', ')}`);

  step(4, 'Logging in as alice with ssh2 + ssh-x509 (x509v3-ecdsa-sha2-nistp256) and running a command');
  const output = await new Promise<string>((resolve, reject) => {
    const client = new Client();
    client
      .on('ready', () => {
        client.exec('echo "logged in as $USER"', (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('close', () => {
            client.end();
            resolve(out);
          });
        });
      })
      .on('error', reject)
      .connect({
        host: '127.0.0.1',
        port: server.port,
        username: 'alice',
        authHandler: x509AuthHandler('alice', { signer, logger: (e: TraceEvent) => console.log(`    trace: ${formatTrace(e)}`) }) as never,
      });
  });
  console.log(`    remote output: ${output.trim()}`);

  step(5, 'What the server saw');
  for (const line of server.log().split('\n').filter((l) => l.startsWith('AUTH ') || l.startsWith('EXEC '))) console.log(`    ${line}`);
  console.log('\nDone: an RFC 6187 certificate login from Node, accepted by an independent server.');
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await stop?.();
  rmSync(dir, { recursive: true, force: true });
}
