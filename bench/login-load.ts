/**
 * The load generator of the logins section of `npm run bench` (bench/logins.ts): one process,
 * `concurrency` ssh2 clients each logging in with its own certificate over and over (connect, key
 * exchange, RFC 6187 publickey authentication, disconnect) for `seconds` after a warm-up, and
 * prints one JSON line: { logins, all, failures, seconds, firstError } (`all` counts the warm-up's too; `cpuMs`: the generator's own CPU time over `all`).
 * usage: node --import tsx bench/login-load.ts <port> <concurrency> <warmup s> <seconds> <identities.json>
 *   identities.json: [{ "user", "chain", "key", "algorithm" }, ...] (one per client, cycled)
 */
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { SoftwareSigner, x509AuthHandler } from '../src/index.js';

const [port, concurrency, warmup, seconds, file] = process.argv.slice(2);
const ids = JSON.parse(readFileSync(file!, 'utf8')) as Array<{ user: string; chain: string; key: string; algorithm: string }>;
const signers = await Promise.all(ids.map((i) => SoftwareSigner.fromFiles({ certificateFile: i.chain, keyFile: i.key })));

function login(n: number): Promise<void> {
  const id = ids[n % ids.length]!;
  return new Promise((resolve, reject) => {
    const client = new Client();
    let ok = false;
    client.once('ready', () => {
      ok = true;
      client.end();
    });
    client.on('error', (e) => reject(e));
    client.once('close', () => (ok ? resolve() : reject(new Error('closed before login'))));
    client.connect({ host: '127.0.0.1', port: Number(port), username: id.user, readyTimeout: 30_000, authHandler: x509AuthHandler(id.user, { signer: signers[n % signers.length]!, algorithms: [id.algorithm] }) });
    client.setNoDelay(true);
  });
}

const cpuStart = process.cpuUsage();
const start = performance.now();
const measureFrom = start + Number(warmup) * 1000;
const end = measureFrom + Number(seconds) * 1000;
let logins = 0;
let all = 0;
let failures = 0;
let firstError: string | undefined;
await Promise.all(
  Array.from({ length: Number(concurrency) }, async (_, w) => {
    while (performance.now() < end) {
      try {
        await login(w);
        all++;
        if (performance.now() >= measureFrom && performance.now() < end) logins++;
      } catch (e) {
        failures++;
        firstError ??= (e as Error).message;
      }
    }
  }),
);
const cpu = process.cpuUsage(cpuStart);
process.stdout.write(JSON.stringify({ logins, all, cpuMs: (cpu.user + cpu.system) / 1000, failures, seconds: Number(seconds), firstError }) + '\n');
