/**
 * A key-exchange probe for tests: a TCP client that speaks the cleartext
 * part of SSH (RFC 4253: identification, KEXINIT, then
 * curve25519-sha256 per RFC 8731) up to the server's KEX reply, and hands
 * back what the server sent (K_S and the exchange-hash signature blob)
 * with the exchange hash H computed independently with node:crypto, so a
 * test can check the RFC 6187 bytes of a server's host key directly.
 * It never sends NEWKEYS: the server then sees a client that went away.
 */
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { connect } from 'node:net';
import { SshReader, SshWriter } from '../../src/index.js';

export interface KexReply {
  /** K_S as the server sent it. */
  readonly hostKeyBlob: Buffer;
  /** The signature of H as the server sent it (`string name, string signature`). */
  readonly signatureBlob: Buffer;
  /** H, computed by the probe. */
  readonly exchangeHash: Buffer;
}

/** Runs the probe against 127.0.0.1:`port`, asking for host key algorithm `hostKeyAlgorithm` only. */
export function probeKexReply(port: number, hostKeyAlgorithm: string, timeoutMs = 10_000): Promise<KexReply> {
  const V_C = 'SSH-2.0-ssh-x509-kex-probe';
  const kexinit = new SshWriter()
    .byte(20)
    .raw(Buffer.alloc(16, 7))
    .string('curve25519-sha256')
    .string(hostKeyAlgorithm)
    .string('aes128-ctr')
    .string('aes128-ctr')
    .string('hmac-sha2-256')
    .string('hmac-sha2-256')
    .string('none')
    .string('none')
    .string('')
    .string('')
    .boolean(false)
    .uint32(0)
    .toBuffer();
  const ephemeral = generateKeyPairSync('x25519');
  const Q_C = Buffer.from(ephemeral.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const packet = (payload: Buffer) => {
    let pad = 8 - ((5 + payload.length) % 8);
    if (pad < 4) pad += 8;
    return new SshWriter().uint32(1 + payload.length + pad).byte(pad).raw(payload).raw(Buffer.alloc(pad)).toBuffer();
  };

  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => fail(new Error(`kex probe timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    let buf = Buffer.alloc(0);
    let V_S: string | undefined;
    let I_S: Buffer | undefined;
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the server closed the connection before its KEX reply')));
    socket.write(`${V_C}\r\n`);
    socket.write(packet(kexinit));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (V_S === undefined) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.subarray(0, eol).toString('latin1');
        buf = buf.subarray(eol + 2);
        if (line.startsWith('SSH-')) V_S = line;
      }
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) return;
        const payload = buf.subarray(5, 4 + len - buf[4]!);
        buf = buf.subarray(4 + len);
        if (payload[0] === 20) {
          I_S = Buffer.from(payload);
          socket.write(packet(new SshWriter().byte(30).string(Q_C).toBuffer()));
        } else if (payload[0] === 31) {
          const r = new SshReader(payload.subarray(1), 1 << 20);
          const K_S = Buffer.from(r.readString('K_S'));
          const Q_S = Buffer.from(r.readString('Q_S'));
          const sig = Buffer.from(r.readString('signature'));
          const K = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Q_S.toString('base64url') }, format: 'jwk' }) });
          const H = createHash('sha256')
            .update(new SshWriter().string(V_C).string(V_S).string(kexinit).string(I_S!).string(K_S).string(Q_C).string(Q_S).mpintUnsigned(K).toBuffer())
            .digest();
          clearTimeout(timer);
          socket.removeAllListeners('close');
          socket.destroy();
          resolve({ hostKeyBlob: K_S, signatureBlob: sig, exchangeHash: H });
          return;
        } else if (payload[0] === 1) {
          return fail(new Error(`the server disconnected (reason ${payload.readUInt32BE(1)}) ${new SshReader(payload.subarray(5)).readUtf8('description', 1024)}`));
        }
      }
    });
  });
}
