/**
 * A smartcard with no PIV application (nor any other a driver knows): it
 * answers the ATR and refuses every command (SW 6A 82, file or application
 * not found), as a blank JavaCard does. For "card present but not
 * recognized" through pcscd + vpcd + OpenSC. It runs in its own process, as
 * the PIV card does: the test's PKCS#11 calls block this process's event loop.
 */
import { spawn } from 'node:child_process';
import type { CardReader } from './piv-card.js';

// vpcd's protocol: 2-byte big-endian length, then the payload; a 1-byte payload is a control message (4: get ATR).
const SCRIPT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
// T=1, historical bytes of no known card.
const atr = Buffer.from('3b8880010000000000000000' + '00', 'hex');
atr[atr.length - 1] = atr.subarray(1, -1).reduce((a, b) => a ^ b, 0);
let buf = Buffer.alloc(0);
const s = net.connect({ host, port: Number(port), noDelay: true });
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
    const n = buf.readUInt16BE(0);
    const msg = buf.subarray(2, 2 + n);
    buf = buf.subarray(2 + n);
    let reply;
    if (n === 1) {
      if (msg[0] === 4) { reply = atr; process.stdout.write('seen\\n'); }
    } else reply = Buffer.from([0x6a, 0x82]);
    if (reply) { const f = Buffer.alloc(2 + reply.length); f.writeUInt16BE(reply.length, 0); reply.copy(f, 2); s.write(f); }
  }
});
s.on('close', () => process.exit(0));
s.on('error', () => process.exit(1));
`;

/** A blank card in a reader; `remove()` pulls it (ends its process). */
export interface BlankCard {
  remove(): Promise<void>;
}

/** Inserts a blank card into `reader`; resolves once pcscd has asked it for its ATR. */
export async function insertBlankCard(reader: CardReader): Promise<BlankCard> {
  const child = spawn(process.execPath, ['-e', SCRIPT, reader.host, String(reader.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`blank card: pcscd never asked for the ATR on port ${reader.port}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('seen')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error('blank card: its process exited at start'));
    });
  });
  return {
    async remove() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}
