/**
 * One test file's smartcard setup: a reader pair of the tests' pcscd
 * (test/helpers/pcsc.ts), virtual PIV cards (test/helpers/piv-card.ts) with
 * keys and certificates from the test PKI, and OpenSC's module pointed at
 * those two readers only. Share one setup per file: a card's insertion and
 * OpenSC's first look at it take about a second.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAsyncSshServer, type AsyncSshServer } from './asyncssh.js';
import { claimReaders, OPENSC_MODULE, type ClaimedReaders } from './pcsc.js';
import { startPivCard, type PivCard, type PivSlot } from './piv-card.js';
import { createTestPki, type IssuedCert, type IssueOptions, type TestPki } from './pki.js';

export { OPENSC_MODULE } from './pcsc.js';

/** PKCS#11 CKA_ID that OpenSC's PIV driver gives each slot's key and certificate. */
export const PIV_KEY_ID: Record<PivSlot, string> = { '9A': '01', '9C': '02', '9D': '03', '9E': '04' };

export interface PivKeySpec {
  kind: 'rsa2048' | 'p256' | 'p384';
  /** Certificate name in the PKI (folder) and default CN. */
  name: string;
  cert?: IssueOptions;
}

export interface PivCardSetup {
  pin: string;
  pinTries?: number;
  pinTriesLeft?: number;
  /** 16-byte GUID, hex; default derived from the card's 9A name. */
  guid?: string;
  slots: Partial<Record<PivSlot, PivKeySpec>>;
  /** Reader index 0 or 1 to insert into at setup; null: not inserted. Default: the card's index. */
  reader?: 0 | 1 | null;
}

export interface PivTestCard {
  card: PivCard;
  pin: string;
  /** OpenSC's token label: the 9A certificate's CN. */
  label: string;
  serial: string;
  certs: Partial<Record<PivSlot, IssuedCert & { sha256: string }>>;
}

export interface PivEnv {
  module: string;
  pki: TestPki;
  dir: string;
  readers: ClaimedReaders;
  cards: PivTestCard[];
  /** process.env with OPENSC_CONF set (for the command's processes). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const fingerprint = (der: Buffer) => `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;

/** Claims a reader pair, makes the cards, inserts them. */
export async function setupPiv(cards: PivCardSetup[], options: { pki?: TestPki } = {}): Promise<PivEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-piv-'));
  const readers = await claimReaders();
  const started: PivTestCard[] = [];
  try {
    const pki = options.pki ?? (await createTestPki(join(dir, 'pki')));
    for (const [i, c] of cards.entries()) {
      const certs: PivTestCard['certs'] = {};
      for (const [slot, k] of Object.entries(c.slots) as Array<[PivSlot, PivKeySpec]>) {
        const issued = await pki.issue(k.name, k.kind, k.cert);
        certs[slot] = { ...issued, sha256: fingerprint(issued.certDer) };
      }
      const nameOf9A = c.slots['9A']?.cert?.cn ?? c.slots['9A']?.name ?? `card${i}`;
      const guid = c.guid ?? createHash('sha256').update(`${nameOf9A}-${i}-${process.pid}`).digest('hex').slice(0, 32);
      const slots = Object.fromEntries(Object.entries(certs).map(([s, v]) => [s, { keyPem: v!.keyPem, certDer: v!.certDer }]));
      const reader = c.reader === undefined ? (i as 0 | 1) : c.reader;
      const card = await startPivCard({ pin: c.pin, pinTries: c.pinTries, pinTriesLeft: c.pinTriesLeft, guid, slots });
      started.push({ card, pin: c.pin, label: nameOf9A, serial: card.serial, certs });
      if (reader !== null) await card.insert(readers.readers[reader]);
    }
    return {
      module: OPENSC_MODULE,
      pki,
      dir,
      readers,
      cards: started,
      env: readers.env,
      async stop() {
        await Promise.all(started.map((c) => c.card.stop()));
        await readers.release();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(started.map((c) => c.card.stop()));
    await readers.release();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** {@link setupPiv} with an AsyncSSH server that trusts the PKI's root, and a known_hosts file naming that server. */
export async function setupPivWithServer(cards: PivCardSetup[]): Promise<{ piv: PivEnv; server: AsyncSshServer; knownHosts: string }> {
  const piv = await setupPiv(cards);
  try {
    const server = await startAsyncSshServer({ trust: [piv.pki.root.certPath], dir: join(piv.dir, 'server') });
    const knownHosts = join(piv.dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${server.hostPublicKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
    return { piv, server, knownHosts };
  } catch (e) {
    await piv.stop();
    throw e;
  }
}
