/**
 * A PIV smartcard through the real stack: graphene-pk11 -> OpenSC 0.23 ->
 * pcscd -> vpcd -> the tests' virtual PIV card (test/helpers/piv-card.ts),
 * one card with a P-256 9A key and one with an RSA-2048 9A key:
 *
 * - a signature as `pkcs11-tool --sign` makes it (process start to exit:
 *   C_Initialize, which has OpenSC read the card, login, one C_Sign) beside
 *   the same through the project (Pkcs11Signer.open, one sign(), close, in
 *   this process), alternated run by run (target <= 1.10);
 * - one more signature on an open, logged-in signer beside bare graphene-pk11
 *   C_SignInit + C_Sign on a session of the same module (target <= 1.10),
 *   with the bare call timed a second time in the same alternation as a
 *   control (the card answers from another process on a shared machine);
 * - `ssh-x509 connect` end to end with the card beside the same login with
 *   the same key in a file, alternated run by run.
 *
 * Starts (or joins) the tests' pcscd as the test run does (test/helpers/pcsc.ts).
 *
 *   node --import tsx bench/smartcard.ts
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pkcs11Signer } from '../src/pkcs11.js';
import { startAsyncSshServer } from '../test/helpers/asyncssh.js';
import { ensurePcscd } from '../test/helpers/pcsc.js';
import { setupPiv } from '../test/helpers/piv.js';
import { alternate, timed, timeProcess, type BenchRow, type Run } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');

/** Measures the PIV card rows (see the file's comment). */
export async function benchSmartcard(options: { rounds?: number; pairs?: number } = {}): Promise<BenchRow[]> {
  const rounds = options.rounds ?? 15;
  const pairs = options.pairs ?? 200;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const stopPcscd = await ensurePcscd();
  const rows: BenchRow[] = [];
  try {
    const piv = await setupPiv([
      { pin: '123456', slots: { '9A': { kind: 'p256', name: 'bench-p256' } } },
      { pin: '123456', slots: { '9A': { kind: 'rsa2048', name: 'bench-rsa' } } },
    ]);
    try {
      const dataFile = join(piv.dir, 'data');
      const data = createHash('sha256').update('bench').digest();
      writeFileSync(dataFile, data);
      const kinds = [
        { card: piv.cards[0]!, what: 'P-256', mechanism: 'ECDSA-SHA256', graphene: 'ECDSA', hashFirst: true },
        { card: piv.cards[1]!, what: 'RSA-2048', mechanism: 'SHA256-RSA-PKCS', graphene: 'SHA256_RSA_PKCS', hashFirst: false },
      ];
      for (const k of kinds) {
        const uri = `pkcs11:serial=${k.card.serial};id=%01`;
        const open = () => Pkcs11Signer.open({ module: piv.module, uri, pin: async () => k.card.pin, pollIntervalMs: 0 });
        const tool: Run = {
          cmd: 'pkcs11-tool',
          args: ['--module', piv.module, '--token-label', k.card.label, '--login', '--pin', k.card.pin, '--sign', '--id', '01', '-m', k.mechanism, '-i', dataFile, '-o', '/dev/null'],
          env: piv.env,
        };
        const [theirs, ours] = await alternate(
          [
            () => timeProcess(tool),
            () =>
              timed(async () => {
                const s = await open();
                await s.sign(data, 'sha256');
                await s.close();
              }),
          ],
          rounds,
        );
        rows.push({ name: `card ${k.what}: pkcs11-tool --login --sign (process start to exit)`, ms: theirs });
        rows.push({ name: `card ${k.what}: Pkcs11Signer.open + sign + close (in process)`, ms: ours, ratio: ours! / theirs!, baseline: 'pkcs11-tool --sign', target: 1.1 });

        // Warm: one more signature on a logged-in token, beside bare graphene-pk11 on a session of the same module.
        const signer = await open();
        try {
          await signer.sign(data, 'sha256');
          const graphene = createRequire(import.meta.url)('graphene-pk11') as typeof import('graphene-pk11');
          const mod = graphene.Module.load(piv.module);
          const slots = mod.getSlots(true);
          let slot;
          for (let i = 0; i < slots.length; i++) if (slots.items(i).getToken().serialNumber.trim() === k.card.serial) slot = slots.items(i);
          const session = slot!.open(graphene.SessionFlag.SERIAL_SESSION);
          const key = session.find({ class: graphene.ObjectClass.PRIVATE_KEY, id: Buffer.from([1]) }).items(0).toType<import('graphene-pk11').PrivateKey>();
          const bare = () =>
            timed(
              () =>
                new Promise<Buffer>((resolve, reject) => {
                  const input = k.hashFirst ? createHash('sha256').update(data).digest() : data;
                  session.createSign(k.graphene, key).once(input, (err, sig) => (err ? reject(err) : resolve(sig)));
                }),
            );
          // The bare call twice in the same alternation: their ratio is this machine's noise floor for the row.
          const [b, v, b2] = await alternate([bare, () => timed(() => signer.sign(data, 'sha256')), bare], pairs);
          rows.push({ name: `card ${k.what}: bare graphene-pk11 C_SignInit + C_Sign (logged in)`, ms: b });
          rows.push({ name: `card ${k.what}: Pkcs11Signer.sign (logged in)`, ms: v, ratio: v! / b!, baseline: 'bare graphene-pk11 C_Sign', target: 1.1 });
          rows.push({ name: `  control: the bare call again, same alternation`, ms: b2, ratio: b2! / b!, baseline: 'bare graphene-pk11 C_Sign' });
          session.close();
        } finally {
          await signer.close();
        }
      }

      // connect end to end: the card's P-256 key beside the same key in a file.
      const server = await startAsyncSshServer({ trust: [piv.pki.root.certPath], dir: join(piv.dir, 'server') });
      try {
        const knownHosts = join(piv.dir, 'known_hosts');
        writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine}\n`);
        const c = piv.cards[0]!;
        const cert = c.certs['9A']!;
        const base = [CLI, 'connect', '-p', String(server.port), '--known-hosts', knownHosts, '--algorithm', 'x509v3-ecdsa-sha2-nistp256', 'bench-p256@127.0.0.1', 'true'];
        const withCard: Run = { cmd: process.execPath, args: [...base.slice(0, 2), '--pkcs11-module', piv.module, '--pkcs11-uri', `pkcs11:serial=${c.serial};id=%01`, '--intermediates', piv.pki.intermediate.certPath, '--pin-env', 'PIN', ...base.slice(2)], env: { ...piv.env, PIN: c.pin } };
        const withFile: Run = { cmd: process.execPath, args: [...base.slice(0, 2), '--cert', cert.chainPath, '--key', cert.keyPath, ...base.slice(2)] };
        const [file, card] = await alternate([() => timeProcess(withFile), () => timeProcess(withCard)], rounds);
        rows.push({ name: 'ssh-x509 connect, P-256 key in a file (AsyncSSH server)', ms: file });
        rows.push({ name: 'ssh-x509 connect, the same key on the PIV card', ms: card, ratio: card! / file!, baseline: 'key in a file' });
      } finally {
        await server.stop();
      }
    } finally {
      await piv.stop();
    }
  } finally {
    await stopPcscd();
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchSmartcard()) {
    const parts = [r.ms !== undefined ? `${r.ms.toFixed(2)} ms` : '', r.ratio !== undefined ? `ratio ${r.ratio.toFixed(3)} vs ${r.baseline}` : ''];
    console.log(`${r.name}: ${parts.filter(Boolean).join(', ')}`);
  }
}
