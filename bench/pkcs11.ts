/**
 * PKCS#11 signer overhead, in one run on one SoftHSM token and one P-256
 * key generated on it: a signature through {@link Pkcs11Signer} (queue,
 * mechanism choice, SHA-256, C_SignInit + asynchronous C_Sign) against what a
 * caller of bare pkcs11js must do for the same signature (SHA-256, then
 * C_SignInit + asynchronous C_Sign), as a ratio of median latencies over
 * interleaved single operations (target <= 1.05); and the time to open the
 * module, log in and sign the first time.
 *
 *   node --import tsx bench/pkcs11.ts
 */
import type { BenchRow } from './stats.js';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Pkcs11Signer } from '../src/pkcs11.js';
import { median } from './stats.js';
import { createSoftHsm } from '../test/helpers/softhsm.js';

/** One result row, as bench/run.ts prints them. */
export type Pkcs11BenchRow = BenchRow;

type Pkcs11Js = typeof import('pkcs11js');

/** Measures the PKCS#11 signer against bare pkcs11js on SoftHSM (P-256). */
export async function benchPkcs11(options: { pairs?: number } = {}): Promise<Pkcs11BenchRow[]> {
  const pairs = options.pairs ?? 4000;
  const hsm = await createSoftHsm([{ label: 'bench', pin: '1234', keys: [{ name: 'bench-p256', kind: 'p256', id: '01', source: 'generate' }] }]);
  const rows: Pkcs11BenchRow[] = [];
  try {
    const open = () => Pkcs11Signer.open({ module: hsm.module, uri: 'pkcs11:token=bench;id=%01', pin: async () => '1234', pollIntervalMs: 0 });
    const data = createHash('sha256').update('bench').digest();

    // Cold: C_Initialize, token and object search, C_Login, first C_Sign; then C_Finalize on close.
    const cold: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      const s = await open();
      await s.sign(data, 'sha256');
      cold.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await s.close();
    }
    rows.push({ name: 'pkcs11: open module + login + first P-256 signature (SoftHSM)', ms: median(cold) });

    const signer = await open();
    try {
      // The bare baseline: pkcs11js on the same (already initialised) module, same key, same logged-in token.
      const pkcs11js = createRequire(import.meta.url)('pkcs11js') as Pkcs11Js;
      const lib = new pkcs11js.PKCS11();
      lib.load(hsm.module);
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === 'bench')!;
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from([1]) },
      ]);
      const key = lib.C_FindObjects(session, 1)[0]!;
      lib.C_FindObjectsFinal(session);
      const out = Buffer.alloc(1024);
      // What a caller of pkcs11js must do for an SSH signature: hash the data, then CKM_ECDSA.
      const bare = () =>
        new Promise<Buffer>((resolve, reject) => {
          const digest = createHash('sha256').update(data).digest();
          lib.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, key);
          lib.C_Sign(session, digest, out, (err, sig) => (err ? reject(err) : resolve(sig)));
        });
      const viaSigner = () => signer.sign(data, 'sha256');

      // Interleave single operations (alternating which goes first) and compare median
      // latencies: on a shared, noisy machine this is far steadier than timing long rounds.
      const lat = async (fn: () => Promise<unknown>): Promise<number> => {
        const t0 = process.hrtime.bigint();
        await fn();
        return Number(process.hrtime.bigint() - t0);
      };
      for (let i = 0; i < 300; i++) {
        await bare();
        await viaSigner();
      }
      const b: number[] = [];
      const v: number[] = [];
      for (let i = 0; i < pairs; i++) {
        if (i % 2) {
          b.push(await lat(bare));
          v.push(await lat(viaSigner));
        } else {
          v.push(await lat(viaSigner));
          b.push(await lat(bare));
        }
      }
      const bareNs = median(b);
      const signerNs = median(v);
      rows.push({ name: 'pkcs11: bare SHA-256 + C_SignInit + C_Sign (pkcs11js, P-256, async)', opsPerSec: 1e9 / bareNs });
      rows.push({
        name: 'pkcs11: Pkcs11Signer.sign (P-256: SHA-256 + CKM_ECDSA)',
        opsPerSec: 1e9 / signerNs,
        ratio: signerNs / bareNs,
        baseline: 'bare SHA-256 + C_SignInit + C_Sign (median latency ratio)',
        target: 1.05,
      });
      lib.C_CloseSession(session);
    } finally {
      await signer.close();
    }
  } finally {
    hsm.cleanup();
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchPkcs11()) {
    const parts = [r.opsPerSec !== undefined ? `${r.opsPerSec.toFixed(0)} ops/s` : '', r.ms !== undefined ? `${r.ms.toFixed(1)} ms` : '', r.ratio !== undefined ? `ratio ${r.ratio.toFixed(3)} vs ${r.baseline}` : ''];
    console.log(`${r.name}: ${parts.filter(Boolean).join(', ')}`);
  }
}
