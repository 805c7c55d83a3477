/**
 * `npm run bench`: side by side in one run, as ratios against a baseline.
 * Not a test: these machines are shared and noisy, so results are printed,
 * never asserted. Interleaved runs and medians keep the ratios meaningful.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import type { PublicKeyAuthMethod } from 'ssh2';
import { decodePublicKeyBlob, encodePublicKeyBlob, parseX509PublicKey, SoftwareSigner, x509AuthHandler } from '../src/index.js';
import { openSshPublicKeyLine } from '../src/keys/ssh-public-key.js';
import { DEFAULT_AUTHORIZED_KEYS, startAsyncSshServer } from '../test/helpers/asyncssh.js';
import { createTestPki } from '../test/helpers/pki.js';
import { ssh2Exec } from '../test/helpers/ssh2-run.js';
import { median, opsPerSecond, timed, type BenchRow } from './stats.js';

async function benchFoundation(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-bench-'));
  try {
    const pki = await createTestPki(join(dir, 'pki'));
    const leaf = await pki.issue('bench', 'p256');
    const rows: BenchRow[] = [];

    const blobInput = { algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [leaf.certDer, pki.intermediate.certDer], ocspResponses: [] };
    const blob = encodePublicKeyBlob(blobInput);
    const enc = opsPerSecond(() => encodePublicKeyBlob(blobInput));
    const dec = opsPerSecond(() => decodePublicKeyBlob(blob));
    const parse = opsPerSecond(() => parseX509PublicKey(blob));
    rows.push({ name: 'blob encode (leaf+intermediate)', opsPerSec: enc, ms: 1000 / enc });
    rows.push({ name: 'blob decode (structure only)', opsPerSec: dec, ms: 1000 / dec });
    rows.push({ name: 'blob decode + parse certificates + key check', opsPerSec: parse, ms: 1000 / parse, ratio: dec / parse, baseline: 'blob decode (structure only)' });

    // The same P-256 key as a certificate and as a plain SSH key, to one server.
    const key = createPrivateKey(leaf.keyPem);
    const server = await startAsyncSshServer({
      trust: [pki.root.certPath],
      dir: join(dir, 'server'),
      authorizedKeysLines: [...DEFAULT_AUTHORIZED_KEYS, openSshPublicKeyLine(key)],
    });
    try {
      const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
      const base = { host: '127.0.0.1', port: server.port, username: 'bench' };
      const x509 = () => ssh2Exec({ ...base, authHandler: x509AuthHandler('bench', { signer, algorithms: ['x509v3-ecdsa-sha2-nistp256'] }) }, 'true');
      const plainPem = key.export({ format: 'pem', type: 'sec1' });
      const plainAuth: PublicKeyAuthMethod = { type: 'publickey', username: 'bench', key: plainPem };
      const plain = () => ssh2Exec({ ...base, authHandler: [plainAuth] }, 'true');
      for (let i = 0; i < 3; i++) {
        await x509();
        await plain();
      }
      const tx: number[] = [];
      const tp: number[] = [];
      for (let i = 0; i < 25; i++) {
        tx.push(await timed(x509));
        tp.push(await timed(plain));
      }
      const mx = median(tx);
      const mp = median(tp);
      rows.push({ name: 'connect+auth+exec, plain ecdsa-sha2-nistp256 key (median of 25)', ms: mp });
      rows.push({ name: 'connect+auth+exec, x509v3-ecdsa-sha2-nistp256 (median of 25)', ms: mx, ratio: mx / mp, baseline: 'plain ecdsa-sha2-nistp256', target: 1.1 });
    } finally {
      await server.stop();
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(title: string, rows: BenchRow[]): void {
  console.log(`\n${title}`);
  const fmt = (n: number | undefined, d = 3) => (n === undefined ? '' : n >= 1000 ? n.toFixed(0) : n.toPrecision(d + 1));
  const w = Math.max(...rows.map((r) => r.name.length));
  const b = Math.max(8, ...rows.map((r) => (r.baseline ?? '').length));
  console.log(`${'what'.padEnd(w)}  ${'ops/s'.padStart(10)}  ${'ms'.padStart(10)}  ${'ratio'.padStart(7)}  ${'baseline'.padEnd(b)}  ${'target'.padStart(7)}  met`);
  for (const r of rows) {
    const target = r.target === undefined ? '' : `<= ${r.target}`;
    const met = r.target === undefined || r.ratio === undefined ? '' : r.ratio <= r.target ? 'met' : 'NOT MET';
    console.log(
      `${r.name.padEnd(w)}  ${(r.value ? `${fmt(r.value.amount)} ${r.value.unit}` : fmt(r.opsPerSec)).padStart(10)}  ${fmt(r.ms).padStart(10)}  ${r.ratio === undefined ? ''.padStart(7) : r.ratio.toFixed(3).padStart(7)}  ${(r.baseline ?? '').padEnd(b)}  ${target.padStart(7)}  ${met}`,
    );
  }
}

const sections: Array<[string, () => Promise<BenchRow[]>]> = [
  ['RFC 6187 encoding and the ssh2 client (AsyncSSH server on loopback)', benchFoundation],
  ['PKCS#11 signer on SoftHSM (P-256) versus bare pkcs11js C_Sign', async () => (await import('./pkcs11.js')).benchPkcs11()],
  ['Smartcard: a PIV card through OpenSC + pcscd + vpcd versus pkcs11-tool and bare graphene-pk11; connect with the card versus a key file (medians)', async () => (await import('./smartcard.js')).benchSmartcard()],
  ['Server-side verifier versus the bare signature verifications it must do', async () => (await import('./verify.js')).benchVerify()],
  ['Host key signature: the held asynchronous KEX reply versus ssh2 signing itself', async () => (await import('./host-keys.js')).benchHostKeys()],
  ['Server-side verifier versus AsyncSSH 2.10 verifying the same logins (revocation off; medians)', async () => (await import('./peers.js')).benchVerifyVsAsyncSsh()],
  ['Server logins: serve versus AsyncSSH at 30 concurrent clients, and memory per idle connection (server-logins)', async () => (await import('./logins.js')).benchLogins()],
  ['The command versus OpenSSH ssh and bare node (process start to exit, alternated run by run; medians)', async () => (await import('./peers.js')).benchCommand()],
];

// `npm run bench -- peers command` runs only the sections whose title or key matches.
const only = process.argv.slice(2).map((a) => a.toLowerCase());

for (const [title, run] of sections) {
  if (only.length && !only.some((o) => title.toLowerCase().includes(o))) continue;
  try {
    print(title, await run());
  } catch (e) {
    console.log(`\n${title}\n  failed: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
