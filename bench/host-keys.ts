/**
 * The server's host key signature through ssh-x509's asynchronous path (the
 * KEX reply held until the Signer answers, as for an X.509 host key on a
 * token) versus ssh2 signing the same Ed25519 key itself, measured as a whole
 * ssh2 connection (handshake, auth, exec) in one process. The async path is
 * driven under the plain name so that ssh2's own Client can connect.
 */
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { installSsh2Compat, plainHostKey, sshPublicKeyBlob, wrapSignature } from '../src/index.js';
import { ssh2Exec } from '../test/helpers/ssh2-run.js';
import { median, timed, type BenchRow } from './stats.js';

async function listen(server: import('ssh2').Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function execServer(hostKeys: unknown[]): import('ssh2').Server {
  return new ssh2.Server({ hostKeys: hostKeys as never[] }, (c) => {
    c.on('authentication', (ctx) => ctx.accept());
    c.on('ready', () => c.on('session', (accept) => accept().on('exec', (acceptExec) => {
      const s = acceptExec();
      s.exit(0);
      s.end();
    })));
    c.on('error', () => undefined);
  });
}

/** Runs the comparison; rows for bench/run.ts. */
export async function benchHostKeys(): Promise<BenchRow[]> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const blob = sshPublicKeyBlob(publicKey);
  // Baseline: ssh2 signs the exchange hash itself, synchronously (the key object ssh2 calls sign() on).
  const sync = execServer([plainHostKey(privateKey)]);
  // The held, asynchronous reply: the same key and the same node:crypto call, answered from a Promise.
  const held = execServer([]);
  installSsh2Compat().attachServer(held, {
    hostKeys: [{ algorithm: 'ssh-ed25519', publicKeyBlob: () => blob, signExchangeHash: async (h) => wrapSignature('ssh-ed25519', cryptoSign(null, h, privateKey)) }],
    serverSigAlgs: [],
  });
  const ports = { sync: await listen(sync), held: await listen(held) };
  const run = (port: number) => ssh2Exec({ host: '127.0.0.1', port, username: 'u', password: 'p', hostVerifier: (k: Buffer) => k.equals(blob) } as never, 'true');
  try {
    for (let i = 0; i < 5; i++) {
      await run(ports.sync);
      await run(ports.held);
    }
    const ts: number[] = [];
    const th: number[] = [];
    for (let i = 0; i < 40; i++) {
      ts.push(await timed(() => run(ports.sync)));
      th.push(await timed(() => run(ports.held)));
    }
    const ms = median(ts);
    const mh = median(th);
    return [
      { name: 'ssh2 connect+auth+exec, Ed25519 host key signed by ssh2 (median of 40)', ms },
      { name: 'the same, KEX reply held for the asynchronous Signer (median of 40)', ms: mh, ratio: mh / ms, baseline: 'signed by ssh2' },
    ];
  } finally {
    sync.close();
    held.close();
  }
}
