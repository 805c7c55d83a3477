/**
 * A profiling driver (not part of `npm run bench`): counts and times every
 * PKCS#11 call (pkcs11js's methods, wrapped) that Pkcs11Signer.open + sign +
 * close and a logged-in sign() make on the virtual PIV card through
 * OpenSC + pcscd + vpcd, beside pkcs11-tool's and bare graphene's share.
 *
 *   node --import tsx bench/profile-pkcs11.ts [n]
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Pkcs11Signer } from '../src/pkcs11.js';
import { ensurePcscd } from '../test/helpers/pcsc.js';
import { setupPiv } from '../test/helpers/piv.js';

const n = Number(process.argv[2] ?? 20);
const pkcs11js = createRequire(import.meta.url)('pkcs11js') as { PKCS11: { prototype: Record<string, unknown> } };
const calls = new Map<string, { count: number; ms: number }>();
// The native methods sit on the parent of the JS class's prototype.
const proto = Object.getPrototypeOf(pkcs11js.PKCS11.prototype) as Record<string, unknown>;
for (const name of Object.getOwnPropertyNames(proto)) {
  const fn = proto[name];
  if (!name.startsWith('C_') || typeof fn !== 'function') continue;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return (fn as (...a: unknown[]) => unknown).apply(this, args);
    } finally {
      const c = calls.get(name) ?? { count: 0, ms: 0 };
      c.count++;
      c.ms += performance.now() - t0;
      calls.set(name, c);
    }
  };
}
const report = (what: string, runs: number, total: number) => {
  console.log(`\n${what}: ${(total / runs).toFixed(3)} ms per run`);
  for (const [k, v] of [...calls].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${k.padEnd(22)} ${(v.count / runs).toFixed(2).padStart(6)} calls ${(v.ms / runs).toFixed(3).padStart(8)} ms (sync part)`);
  calls.clear();
};

const stop = await ensurePcscd();
const piv = await setupPiv([
  { pin: '123456', slots: { '9A': { kind: 'p256', name: 'prof-p256' } } },
  { pin: '123456', slots: { '9A': { kind: 'rsa2048', name: 'prof-rsa' } } },
]);
try {
  const data = createHash('sha256').update('bench').digest();
  for (const card of piv.cards) {
    const open = () => Pkcs11Signer.open({ module: piv.module, uri: `pkcs11:serial=${card.serial};id=%01`, pin: async () => card.pin, pollIntervalMs: 0 });
    await (await open()).close();
    calls.clear();
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const s = await open();
      await s.sign(data, 'sha256');
      await s.close();
    }
    report(`${card.label}: open + sign + close`, n, performance.now() - t0);
    const s = await open();
    await s.sign(data, 'sha256');
    calls.clear();
    t0 = performance.now();
    for (let i = 0; i < n * 20; i++) await s.sign(data, 'sha256');
    report(`${card.label}: sign (logged in)`, n * 20, performance.now() - t0);
    await s.close();
  }
} finally {
  await piv.stop();
  await stop();
}
