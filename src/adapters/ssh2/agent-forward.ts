/**
 * Agent forwarding with a {@link Signer}: an ssh-agent (draft-miller-ssh-agent)
 * served over ssh2's forwarded `auth-agent@openssh.com` channels, so that on
 * the remote host `ssh-add -L` lists the key and a plain OpenSSH `ssh` logs
 * in with it, while the private key stays with the signer (a smartcard's
 * stays on the card) and any PIN is asked locally.
 *
 * The agent answers only "list identities" and "sign"; every other request
 * (add, remove, lock, extensions) gets SSH_AGENT_FAILURE.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { ErrorCodes, SshX509Error } from '../../errors.js';
import type { HashName } from '../../algorithms.js';
import { sshPublicKeyBlob } from '../../keys/ssh-public-key.js';
import { primitiveToSsh } from '../../rfc6187/signature.js';
import { SshReader, SshWriter } from '../../wire/index.js';
import type { Signer } from '../../signers/signer.js';
import { describeIdentity, emitTrace, type TraceLogger } from '../trace.js';

/** Options of {@link x509ForwardAgent}. */
export interface ForwardAgentOptions {
  /** Told of each listing and each signing request from the remote side (with the key's fingerprints), and of refusals. */
  readonly logger?: TraceLogger;
}

// draft-miller-ssh-agent message numbers.
const SSH_AGENT_FAILURE = 5;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENTC_SIGN_REQUEST = 13;
const SSH_AGENT_SIGN_RESPONSE = 14;
const SSH_AGENT_RSA_SHA2_256 = 2;
const SSH_AGENT_RSA_SHA2_512 = 4;
/** Requests longer than this are refused (OpenSSH's agent allows 256 KiB). */
const MAX_MESSAGE = 256 * 1024;

const frame = (body: Buffer) => new SshWriter().string(body).toBuffer();

/**
 * An agent for ssh2's `agent` option with `agentForward: true`: each
 * forwarded agent channel the server opens is answered from `signers`,
 * each offered as its plain SSH public key (what OpenSSH's tools parse).
 *
 * @example
 * ```ts
 * client.connect({ host, username, authHandler, agent: x509ForwardAgent([signer]), agentForward: true });
 * ```
 */
export function x509ForwardAgent(signers: Signer | readonly Signer[], options: ForwardAgentOptions = {}): object {
  const list = Array.isArray(signers) ? (signers as readonly Signer[]) : [signers as Signer];
  if (list.length === 0) throw new SshX509Error(ErrorCodes.INVALID_ARGUMENT, 'no signer given');
  const ssh2 = createRequire(import.meta.url)('ssh2') as { BaseAgent: new () => object };
  const keys = list.map((signer) => {
    const row = signer.chain.algorithms({ allowSha1: true })[0];
    if (!row) throw new SshX509Error(ErrorCodes.KEY_ALGORITHM_MISMATCH, `the key of ${signer.chain.leaf.subject} has no plain SSH key type`);
    const blob = Buffer.from(sshPublicKeyBlob(signer.chain.publicKey));
    return { signer, row, blob, type: new SshReader(blob).readUtf8('key type'), comment: signer.chain.leaf.subject };
  });
  const { logger } = options;

  /** The answer to one request: the identities, a signature, or SSH_AGENT_FAILURE for anything else. */
  const answer = async (msg: Buffer): Promise<Buffer> => {
    const failure = Buffer.from([SSH_AGENT_FAILURE]);
    if (msg[0] === SSH_AGENTC_REQUEST_IDENTITIES) {
      emitTrace(logger, 'info', 'agent: the remote side listed the keys', { keys: String(keys.length) });
      const w = new SshWriter().byte(SSH_AGENT_IDENTITIES_ANSWER).uint32(keys.length);
      for (const k of keys) w.string(k.blob).string(k.comment);
      return w.toBuffer();
    }
    if (msg[0] !== SSH_AGENTC_SIGN_REQUEST) {
      emitTrace(logger, 'debug', 'agent: refused a request other than list and sign', { type: String(msg[0]) });
      return failure;
    }
    let blob: Buffer, data: Buffer, flags: number;
    try {
      const r = new SshReader(msg.subarray(1));
      blob = Buffer.from(r.readString('key blob'));
      data = Buffer.from(r.readString('data'));
      flags = r.readUint32('flags');
    } catch {
      return failure;
    }
    const k = keys.find((x) => x.blob.equals(blob));
    if (!k) {
      emitTrace(logger, 'warn', 'agent: refused a signing request for a key it does not hold');
      return failure;
    }
    // RSA: the hash the request's flags ask for (SHA-1 for plain ssh-rsa); the others: the key's own.
    let format = k.type;
    let hash: HashName | null = k.row.hash;
    if (k.row.keyType === 'rsa') {
      [format, hash] = flags & SSH_AGENT_RSA_SHA2_512 ? ['rsa-sha2-512', 'sha512'] : flags & SSH_AGENT_RSA_SHA2_256 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    }
    emitTrace(logger, 'info', 'agent: signing request from the remote side', { ...describeIdentity(k.signer.chain, format), bytes: String(data.length) });
    try {
      const primitive = await k.signer.sign(data, hash);
      const signature = new SshWriter().string(format).string(primitiveToSsh(primitive, k.row)).toBuffer();
      return new SshWriter().byte(SSH_AGENT_SIGN_RESPONSE).string(signature).toBuffer();
    } catch (e) {
      emitTrace(logger, 'error', `agent: signing failed: ${(e as Error).message}`);
      return failure;
    }
  };

  class ForwardAgent extends ssh2.BaseAgent {
    /** ssh2 calls this for each forwarded agent channel: one agent conversation, requests answered in order. */
    getStream(cb: (err: Error | null, stream?: Duplex) => void): void {
      let buf = Buffer.alloc(0);
      let queue = Promise.resolve();
      const stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, done) {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 4) {
            const len = buf.readUInt32BE(0);
            if (len === 0 || len > MAX_MESSAGE) {
              stream.destroy();
              return done();
            }
            if (buf.length < 4 + len) break;
            const msg = buf.subarray(4, 4 + len);
            buf = buf.subarray(4 + len);
            queue = queue.then(async () => void stream.push(frame(await answer(msg))));
          }
          done();
        },
        final(done) {
          void queue.then(() => stream.push(null));
          done();
        },
      });
      cb(null, stream);
    }
  }
  return new ForwardAgent();
}
