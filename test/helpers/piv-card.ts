/**
 * A virtual PIV card (NIST SP 800-73-4, the part OpenSC 0.23's PIV driver
 * uses) for tests, plugged into a vsmartcard vpcd reader of the tests' pcscd
 * (test/helpers/pcsc.ts). The card runs in its own process: graphene-pk11's
 * calls block the test process's event loop, which could then never answer
 * the APDUs the same call waits for.
 *
 * {@link startPivCard} forks this file; the child connects to vpcd's port
 * as the card (insertion) and closes the socket on removal. What the card
 * enforces, as a real one does: the PIN's retry counter and blocked state
 * (69 83), PIN verification forgotten on power off and reset, and the 9C
 * key's "PIN always": a 9C signature needs a successful VERIFY since the
 * previous 9C signature (one VERIFY, one signature), else 69 82.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, privateDecrypt, constants, type KeyObject } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The four PIV key slots the tests use. */
export type PivSlot = '9A' | '9C' | '9D' | '9E';

/** What goes on a card; plain data, sent to the card's process. */
export interface PivCardSpec {
  /** PIN, 6-8 characters (PIV pads it to 8 with FF). */
  pin: string;
  /** Tries before the PIN blocks; default 3. */
  pinTries?: number;
  /** Tries left at insertion; default pinTries. */
  pinTriesLeft?: number;
  /** 16-byte card GUID in hex (CHUID tag 34); OpenSC's token serial is its last 8 bytes. Default random. */
  guid?: string;
  /** Keys and certificates by slot: PKCS#8 PEM private key and DER certificate (base64 or Buffer). */
  slots: Partial<Record<PivSlot, { keyPem: string; certDer: Buffer | string }>>;
}

/** The vpcd reader a card goes into: the tests' pcscd config gives each reader a TCP port. */
export interface CardReader {
  host: string;
  port: number;
}

// ---------------------------------------------------------------------------
// The card: APDUs in, responses out. No I/O here.

const PIV_AID = Buffer.from('a000000308000010000100', 'hex');
/** Data objects' tags (SP 800-73-4 table 3) of the slots' certificates. */
const CERT_TAG: Record<PivSlot, number> = { '9A': 0x5fc105, '9C': 0x5fc10a, '9D': 0x5fc10b, '9E': 0x5fc101 };
/** GENERAL AUTHENTICATE algorithm identifiers (SP 800-78-4 table 6-2). */
const ALG = { rsa2048: 0x07, p256: 0x11, p384: 0x14 } as const;
const CURVE_ORDER: Record<string, bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384': 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};

const SW = {
  ok: Buffer.from([0x90, 0x00]),
  notFound: Buffer.from([0x6a, 0x82]),
  insNotSupported: Buffer.from([0x6d, 0x00]),
  claNotSupported: Buffer.from([0x6e, 0x00]),
  securityNotSatisfied: Buffer.from([0x69, 0x82]),
  blocked: Buffer.from([0x69, 0x83]),
  wrongData: Buffer.from([0x6a, 0x80]),
  wrongP1P2: Buffer.from([0x6a, 0x86]),
};

/** BER-TLV with a one- to three-byte tag (given as a number) and definite length. */
export function tlv(tag: number, ...value: Buffer[]): Buffer {
  const v = Buffer.concat(value);
  const t = tag > 0xffff ? [tag >> 16, (tag >> 8) & 0xff, tag & 0xff] : tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
  const n = v.length;
  const l = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from(t), Buffer.from(l), v]);
}

/** Parses a BER-TLV sequence into [tag, value] pairs (tags as numbers). */
function parseTlvs(b: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let i = 0;
  while (i < b.length) {
    let tag = b[i++]!;
    if ((tag & 0x1f) === 0x1f) do tag = (tag << 8) | b[i]!; while (b[i++]! & 0x80);
    let len = b[i++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = (len << 8) | b[i++]!;
    }
    out.push([tag, b.subarray(i, i + len)]);
    i += len;
  }
  return out;
}

interface Command {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data: Buffer;
  /** Expected response length; 0 (absent, or short Le 00) means up to 256; an extended Le 0000 is 65536. */
  le: number;
}

/** Parses a short or extended command APDU (ISO 7816-4 cases 1-4). */
function parseApdu(a: Buffer): Command {
  const [cla, ins, p1, p2] = [a[0]!, a[1]!, a[2]!, a[3]!];
  const b = a.subarray(4);
  let data: Buffer = Buffer.alloc(0);
  let le = 0;
  if (b.length === 1) le = b[0]!;
  else if (b.length === 3 && b[0] === 0) le = b.readUInt16BE(1) || 65536;
  else if (b.length > 3 && b[0] === 0) {
    const lc = b.readUInt16BE(1);
    data = b.subarray(3, 3 + lc);
    if (b.length >= 5 + lc) le = b.readUInt16BE(3 + lc) || 65536;
  } else if (b.length > 1) {
    const lc = b[0]!;
    data = b.subarray(1, 1 + lc);
    if (b.length >= 2 + lc) le = b[1 + lc]!;
  }
  return { cla, ins, p1, p2, data, le };
}

interface CardKey {
  key: KeyObject;
  alg: number;
  curve?: string;
  certDer: Buffer;
}

/** An ECDSA signature of a digest (SP 800-73-4 hands the card the hash), DER-encoded. */
function ecdsaSignDigest(key: KeyObject, curve: string, digest: Buffer): Buffer {
  // node:crypto signs only messages it hashes itself; the digest is signed here from the
  // definition, with the nonce k and kG taken from a fresh key pair that node:crypto makes.
  const n = CURVE_ORDER[curve]!;
  const size = curve === 'P-256' ? 32 : 48;
  const big = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);
  const d = big(Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url'));
  const z = big(digest.subarray(0, size));
  const mod = (a: bigint) => ((a % n) + n) % n;
  const pow = (b: bigint, e: bigint) => {
    let r = 1n;
    for (b = mod(b); e > 0n; e >>= 1n, b = (b * b) % n) if (e & 1n) r = (r * b) % n;
    return r;
  };
  for (;;) {
    const eph = generateKeyPairSync('ec', { namedCurve: curve }).privateKey.export({ format: 'jwk' });
    const k = big(Buffer.from(eph.d!, 'base64url'));
    const r = mod(big(Buffer.from(eph.x!, 'base64url')));
    const s = mod(pow(k, n - 2n) * (z + r * d));
    if (r === 0n || s === 0n) continue;
    const int = (v: bigint) => {
      let h = v.toString(16);
      if (h.length % 2) h = `0${h}`;
      const b = Buffer.from(h, 'hex');
      return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    };
    return tlv(0x30, int(r), int(s));
  }
}

/** The PIV application's state machine. */
export class PivApplet {
  readonly atr: Buffer;
  private readonly pin: Buffer;
  private readonly maxTries: number;
  private triesLeft: number;
  private readonly guid: Buffer;
  private readonly keys = new Map<number, CardKey>();
  private readonly objects = new Map<number, Buffer>();
  private selected = false;
  private verified = false;
  /** One successful VERIFY buys one 9C signature ("PIN always"). */
  private alwaysAuthCredit = false;
  private chained: Buffer[] = [];
  private pending: Buffer = Buffer.alloc(0);
  /** How many 9C signatures were refused for want of a VERIFY since the last one (tests read it). */
  refusedAlwaysAuth = 0;
  signatures = 0;

  /** PIN tries left. */
  get pinTriesLeft(): number {
    return this.triesLeft;
  }

  constructor(spec: PivCardSpec) {
    // T=1 ATR with 8 historical bytes: OpenSC then types it a generic PIV card by SELECT.
    const hist = Buffer.from('sshx509c', 'latin1');
    const body = Buffer.concat([Buffer.from([0x88, 0x80, 0x01]), hist]);
    this.atr = Buffer.concat([Buffer.from([0x3b]), body, Buffer.from([body.reduce((a, b) => a ^ b, 0)])]);
    if (!/^[\x20-\x7e]{6,8}$/.test(spec.pin)) throw new Error('a PIV PIN has 6 to 8 printable characters');
    this.pin = Buffer.concat([Buffer.from(spec.pin, 'latin1'), Buffer.alloc(8 - spec.pin.length, 0xff)]);
    this.maxTries = spec.pinTries ?? 3;
    this.triesLeft = spec.pinTriesLeft ?? this.maxTries;
    this.guid = spec.guid ? Buffer.from(spec.guid, 'hex') : createHash('sha256').update(String(Math.random())).digest().subarray(0, 16);
    if (this.guid.length !== 16) throw new Error('the card GUID is 16 bytes');

    for (const [slot, s] of Object.entries(spec.slots) as Array<[PivSlot, { keyPem: string; certDer: Buffer | string }]>) {
      const key = createPrivateKey(s.keyPem);
      const certDer = Buffer.isBuffer(s.certDer) ? s.certDer : Buffer.from(s.certDer, 'base64');
      let alg: number;
      let curve: string | undefined;
      if (key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails?.modulusLength === 2048) alg = ALG.rsa2048;
      else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') [alg, curve] = [ALG.p256, 'P-256'];
      else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1') [alg, curve] = [ALG.p384, 'P-384'];
      else throw new Error(`slot ${slot}: a PIV card holds RSA-2048, P-256 or P-384 keys`);
      this.keys.set(parseInt(slot, 16), { key, alg, curve, certDer });
      this.objects.set(CERT_TAG[slot], tlv(0x53, tlv(0x70, certDer), tlv(0x71, Buffer.from([0])), tlv(0xfe)));
    }
    const cardId = Buffer.concat([Buffer.from([0xa0, 0x00, 0x00, 0x01, 0x16, 0xff, 0x02]), this.guid.subarray(0, 14)]);
    this.objects.set(
      0x5fc107,
      tlv(0x53, tlv(0xf0, cardId), tlv(0xf1, Buffer.from([0x21])), tlv(0xf2, Buffer.from([0x21])), tlv(0xf3), tlv(0xf4, Buffer.from([0])),
        tlv(0xf5, Buffer.from([0x10])), tlv(0xf6), tlv(0xf7), tlv(0xfa), tlv(0xfb), tlv(0xfc), tlv(0xfd), tlv(0xfe)),
    );
    // FASC-N of an all-nines test card; the GUID (tag 34) is what OpenSC takes the serial from.
    const fascn = Buffer.from('d4e739da739ced39ce739d836858210842108421c84210c3eb', 'hex');
    this.objects.set(0x5fc102, tlv(0x53, tlv(0x30, fascn), tlv(0x34, this.guid), tlv(0x35, Buffer.from('20991231', 'latin1')), tlv(0x3e), tlv(0xfe)));
    this.objects.set(0x7e, tlv(0x7e, tlv(0x4f, PIV_AID), tlv(0x5f2f, Buffer.from([0x40, 0x00]))));
  }

  /** The token serial OpenSC shows: the GUID's last 8 bytes in hex. */
  get serial(): string {
    return this.guid.subarray(8).toString('hex');
  }

  /** Power off, power on or reset: a real card forgets its PIN verification. */
  power(): void {
    this.selected = false;
    this.verified = false;
    this.alwaysAuthCredit = false;
    this.chained = [];
    this.pending = Buffer.alloc(0);
  }

  /** One command APDU in, its response (data + SW1 SW2) out. */
  process(apdu: Buffer): Buffer {
    if (apdu.length < 4) return SW.wrongData;
    const c = parseApdu(apdu);
    if (c.ins !== 0xc0) this.pending = Buffer.alloc(0);
    if (c.cla & 0x10) {
      // Command chaining: keep the parts; the last one (CLA without 0x10) carries the command.
      this.chained.push(c.data);
      return SW.ok;
    }
    if (this.chained.length) {
      c.data = Buffer.concat([...this.chained, c.data]);
      this.chained = [];
    }
    if (c.cla !== 0x00) return SW.claNotSupported;
    switch (c.ins) {
      case 0xa4:
        return this.select(c);
      case 0xc0:
        return this.respond(this.pending, c.le);
      case 0xcb:
        return this.getData(c);
      case 0x20:
        return this.verify(c);
      case 0x87:
        return this.generalAuthenticate(c);
      default:
        return SW.insNotSupported;
    }
  }

  /** Sends at most Le bytes; the rest waits for GET RESPONSE (61 xx). */
  private respond(data: Buffer, le: number): Buffer {
    const max = le === 0 ? 256 : le;
    if (data.length <= max) {
      this.pending = Buffer.alloc(0);
      return Buffer.concat([data, SW.ok]);
    }
    this.pending = data.subarray(max);
    return Buffer.concat([data.subarray(0, max), Buffer.from([0x61, Math.min(this.pending.length, 256) & 0xff])]);
  }

  private select(c: Command): Buffer {
    if (c.p1 !== 0x04 || c.data.length < 5 || !PIV_AID.subarray(0, c.data.length).equals(c.data)) {
      return SW.notFound;
    }
    this.selected = true;
    const apt = tlv(
      0x61,
      tlv(0x4f, PIV_AID.subarray(5, 11)),
      tlv(0x79, tlv(0x4f, PIV_AID.subarray(0, 5))),
      tlv(0x50, Buffer.from('ssh-x509 test PIV', 'latin1')),
      tlv(0xac, tlv(0x80, Buffer.from([ALG.rsa2048])), tlv(0x80, Buffer.from([ALG.p256])), tlv(0x80, Buffer.from([ALG.p384])), tlv(0x06)),
    );
    return this.respond(apt, c.le);
  }

  private getData(c: Command): Buffer {
    if (!this.selected) return SW.insNotSupported;
    if (c.p1 !== 0x3f || c.p2 !== 0xff) return SW.wrongP1P2;
    const [tag] = parseTlvs(c.data);
    if (!tag || tag[0] !== 0x5c) return SW.wrongData;
    const id = tag[1].reduce((a, b) => (a << 8) | b, 0);
    const obj = this.objects.get(id);
    return obj ? this.respond(obj, c.le) : SW.notFound;
  }

  private verify(c: Command): Buffer {
    if (!this.selected) return SW.insNotSupported;
    if (c.p2 !== 0x80) return SW.notFound;
    if (c.p1 === 0xff) {
      this.verified = false;
      this.alwaysAuthCredit = false;
      return SW.ok;
    }
    if (this.triesLeft === 0) return SW.blocked;
    if (c.data.length === 0) return this.verified ? SW.ok : Buffer.from([0x63, 0xc0 | this.triesLeft]);
    if (c.data.length !== 8) return SW.wrongData;
    if (c.data.equals(this.pin)) {
      this.triesLeft = this.maxTries;
      this.verified = true;
      this.alwaysAuthCredit = true;
      return SW.ok;
    }
    this.triesLeft--;
    this.verified = false;
    this.alwaysAuthCredit = false;
    return this.triesLeft === 0 ? SW.blocked : Buffer.from([0x63, 0xc0 | this.triesLeft]);
  }

  private generalAuthenticate(c: Command): Buffer {
    if (!this.selected) return SW.insNotSupported;
    const key = this.keys.get(c.p2);
    if (!key) return SW.notFound;
    if (key.alg !== c.p1) return SW.wrongP1P2;
    // 9E (card authentication) needs no PIN; 9C needs one VERIFY per signature.
    if (c.p2 === 0x9c) {
      if (!this.alwaysAuthCredit) {
        this.refusedAlwaysAuth++;
        return SW.securityNotSatisfied;
      }
    } else if (c.p2 !== 0x9e && !this.verified) return SW.securityNotSatisfied;
    const [dyn] = parseTlvs(c.data);
    if (!dyn || dyn[0] !== 0x7c) return SW.wrongData;
    const fields = new Map(parseTlvs(dyn[1]));
    const challenge = fields.get(0x81);
    if (!challenge || !fields.has(0x82)) return SW.wrongData;
    let signature: Buffer;
    if (key.alg === ALG.rsa2048) {
      if (challenge.length !== 256) return SW.wrongData;
      signature = privateDecrypt({ key: key.key, padding: constants.RSA_NO_PADDING }, challenge);
    } else {
      signature = ecdsaSignDigest(key.key, key.curve!, challenge);
    }
    if (c.p2 === 0x9c) this.alwaysAuthCredit = false;
    this.signatures++;
    return this.respond(tlv(0x7c, tlv(0x82, signature)), c.le);
  }
}

// ---------------------------------------------------------------------------
// The card's process: vpcd's socket protocol (2-byte length, then payload).

type ToCard = { op: 'insert'; reader: CardReader } | { op: 'remove' } | { op: 'stats' };
type FromCard =
  | { ev: 'ready'; serial: string }
  | { ev: 'inserted' }
  | { ev: 'seen' }
  | { ev: 'removed' }
  | { ev: 'stats'; signatures: number; refusedAlwaysAuth: number; pinTriesLeft: number; apdus: number }
  | { ev: 'error'; message: string };

function cardProcess(spec: PivCardSpec): void {
  const send = (m: FromCard) => process.send!(m);
  const card = new PivApplet(spec);
  let socket: Socket | undefined;
  let apdus = 0;

  const insert = (reader: CardReader) => {
    if (socket) return;
    let buf: Buffer = Buffer.alloc(0);
    let seen = false;
    const s = connect({ host: reader.host, port: reader.port, noDelay: true }, () => send({ ev: 'inserted' }));
    socket = s;
    card.power();
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        let reply: Buffer | undefined;
        if (n === 1) {
          if (msg[0] === 4) reply = card.atr;
          else card.power();
          if (!seen) {
            seen = true;
            send({ ev: 'seen' });
          }
        } else {
          apdus++;
          reply = card.process(Buffer.from(msg));
        }
        if (reply) {
          const frame = Buffer.alloc(2 + reply.length);
          frame.writeUInt16BE(reply.length, 0);
          reply.copy(frame, 2);
          s.write(frame);
        }
      }
    });
    s.on('error', (e) => send({ ev: 'error', message: e.message }));
    s.on('close', () => {
      if (socket === s) socket = undefined;
      send({ ev: 'removed' });
    });
  };

  process.on('message', (m: ToCard) => {
    if (m.op === 'insert') insert(m.reader);
    else if (m.op === 'remove') {
      if (socket) socket.destroy();
      else send({ ev: 'removed' });
    } else send({ ev: 'stats', signatures: card.signatures, refusedAlwaysAuth: card.refusedAlwaysAuth, pinTriesLeft: card.pinTriesLeft, apdus });
  });
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'ready', serial: card.serial });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  cardProcess(JSON.parse(process.env.PIV_CARD_SPEC!) as PivCardSpec);
}

// ---------------------------------------------------------------------------
// The test's side.

/** What a card did so far. */
export interface CardStats {
  /** Signatures made (GENERAL AUTHENTICATE answered). */
  signatures: number;
  /** 9C signatures refused for want of a VERIFY since the previous one. */
  refusedAlwaysAuth: number;
  pinTriesLeft: number;
  /** Command APDUs received. */
  apdus: number;
}

/** A virtual card in its own process, inserted into and pulled from a vpcd reader by the test. */
export interface PivCard {
  /** The token serial OpenSC shows (last 8 bytes of the CHUID's GUID, hex). */
  serial: string;
  /** Puts the card into the reader; resolves once pcscd has powered it (OpenSC sees it from then on). */
  insert(reader?: CardReader): Promise<void>;
  /** Pulls the card out (closes its socket); resolves once the socket is closed. */
  remove(): Promise<void>;
  /** What the card did so far. */
  stats(): Promise<CardStats>;
  /** Pulls the card and ends its process. */
  stop(): Promise<void>;
}

/**
 * Starts a card process with `spec`; with `reader`, inserts it there at once.
 */
export async function startPivCard(spec: PivCardSpec, reader?: CardReader): Promise<PivCard> {
  const plain = {
    ...spec,
    slots: Object.fromEntries(
      Object.entries(spec.slots).map(([k, v]) => [k, { keyPem: v.keyPem, certDer: Buffer.isBuffer(v.certDer) ? v.certDer.toString('base64') : v.certDer }]),
    ),
  };
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, PIV_CARD_SPEC: JSON.stringify(plain) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters: Array<{ ev: FromCard['ev']; resolve: (m: FromCard) => void }> = [];
  const errors: string[] = [];
  let lastReader = reader;
  child.on('message', (m: FromCard) => {
    if (m.ev === 'error') errors.push(m.message);
    const i = waiters.findIndex((w) => w.ev === m.ev);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  const next = <E extends FromCard['ev']>(ev: E, what: string, timeoutMs = 20_000) =>
    new Promise<Extract<FromCard, { ev: E }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`virtual PIV card: ${what} timed out${errors.length ? ` (${errors.join('; ')})` : ''}`)), timeoutMs);
      waiters.push({ ev, resolve: (m) => (clearTimeout(timer), resolve(m as Extract<FromCard, { ev: E }>)) });
    });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await Promise.race([next('ready', 'start'), exited.then(() => Promise.reject(new Error('virtual PIV card: its process exited at start')))]);

  const card: PivCard = {
    serial: ready.serial,
    async insert(r?: CardReader) {
      lastReader = r ?? lastReader;
      if (!lastReader) throw new Error('virtual PIV card: no reader to insert into');
      const seen = next('seen', `insertion into port ${lastReader.port} (pcscd never asked for the ATR)`);
      child.send({ op: 'insert', reader: lastReader } satisfies ToCard);
      await seen;
    },
    async remove() {
      const removed = next('removed', 'removal');
      child.send({ op: 'remove' } satisfies ToCard);
      await removed;
    },
    async stats() {
      const s = next('stats', 'stats');
      child.send({ op: 'stats' } satisfies ToCard);
      const { signatures, refusedAlwaysAuth, pinTriesLeft, apdus } = await s;
      return { signatures, refusedAlwaysAuth, pinTriesLeft, apdus };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (reader) await card.insert(reader);
  return card;
}
