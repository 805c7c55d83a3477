/**
 * The server half of RFC 6187 in an ssh2 `Server` (`x509Server`), against
 * the AsyncSSH client: it verifies the X.509 host certificate (path to its
 * trust anchor, purpose secureShellServer) under each x509v3 host key
 * algorithm and logs in; with another trust anchor it refuses. A plain
 * ssh2 Server and Client in the same process negotiate exactly as before.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ssh2 from 'ssh2';
import { generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { decodePublicKeyBlob, decodeSignatureBlob, ErrorCodes, getAlgorithm, installSsh2Compat, sshPublicKeyBlob, wrapSignature, SoftwareSigner, SshX509Error, type TraceEvent, x509Authentication, x509Server, X509Verifier, type Signer, type VerifyResult } from '../src/index.js';
import { runAsyncSshClient } from './helpers/asyncssh.js';
import { createTestPki, HOST_CERT, type IssuedCert, type KeyKind, type TestPki, X509_ALGORITHM_CASES } from './helpers/pki.js';
import { probeKexReply } from './helpers/kex-probe.js';
import { OpensslRevocation } from './helpers/revocation.js';

const HOST_CASES = X509_ALGORITHM_CASES;

let dir: string;
let pki: TestPki;
let otherPki: TestPki;
let alice: IssuedCert;
let rsauser: IssuedCert;
const hostSigners = new Map<KeyKind, Signer>();
let stapled: Buffer;

/** An ssh2 Server answering exec with the account; `x509` decides whether it goes through x509Server. */
async function startServer(opts: { x509?: Parameters<typeof x509Server>[1]; hostKeys?: Array<string | Buffer> }, verifier: X509Verifier) {
  const server = new ssh2.Server({ hostKeys: opts.hostKeys ?? [] }, (client) => {
    let accepted: VerifyResult | undefined;
    client.on('authentication', x509Authentication(verifier, { onAccept: (r) => (accepted = r) }));
    client.on('ready', () =>
      client.on('session', (acceptSession) =>
        acceptSession().on('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.write(`authenticated ${accepted?.account} via ${accepted?.algorithm}\n`);
          stream.exit(0);
          stream.end();
        }),
      ),
    );
    client.on('error', () => undefined);
  });
  if (opts.x509) x509Server(server, opts.x509);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let verifier: X509Verifier;
let x509: Awaited<ReturnType<typeof startServer>>;
let plain: Awaited<ReturnType<typeof startServer>>;
let plainHostKey: Buffer;

/** What OpenSSH's client (ssh -vvv) saw of a server: its host key algorithms (KEXINIT) and its server-sig-algs (EXT_INFO). */
async function opensshView(port: number): Promise<{ hostKeyAlgorithms: string; serverSigAlgs: string }> {
  // Asynchronously: the servers run in this process.
  const child = spawn('ssh', ['-vvv', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityFile=/dev/null', '-p', String(port), 'nobody@127.0.0.1', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  await new Promise((resolve) => child.once('close', resolve));
  const peer = log.slice(log.indexOf('peer server KEXINIT proposal'));
  return {
    hostKeyAlgorithms: /debug2: host key algorithms: (\S+)/.exec(peer)?.[1] ?? `(none in: ${log.slice(-400)})`,
    serverSigAlgs: /kex_input_ext_info: server-sig-algs=<([^>]*)>/.exec(log)?.[1] ?? `(none in: ${log.slice(-400)})`,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-hostkeys-'));
  pki = await createTestPki(join(dir, 'pki'));
  otherPki = await createTestPki(join(dir, 'other'));
  alice = await pki.issue('alice', 'p256');
  rsauser = await pki.issue('rsauser', 'rsa2048');
  for (const kind of new Set(HOST_CASES.map((c) => c[1]))) {
    const host = await pki.issue(`host-${kind}`, kind, HOST_CERT);
    hostSigners.set(kind, await SoftwareSigner.fromFiles({ certificateFile: host.chainPath, keyFile: host.keyPath }));
    if (kind === 'p256') {
      const rev = new OpensslRevocation(join(dir, 'ca'), pki.intermediate);
      rev.valid(host.certPem);
      stapled = rev.ocspResponse(host.certPath);
    }
  }
  const plainKeyPath = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plainKeyPath]);
  plainHostKey = readFileSync(plainKeyPath);
  verifier = await X509Verifier.create({ trustAnchors: [pki.root.certPath], account: { map: 'upn-local' }, revocation: { mode: 'off' } });
  x509 = await startServer(
    {
      x509: {
        hostKeys: [
          { signer: hostSigners.get('rsa2048')!, algorithms: ['x509v3-rsa2048-sha256', 'x509v3-ssh-rsa'] },
          { signer: hostSigners.get('p256')!, ocspResponses: () => [stapled] },
          hostSigners.get('p384')!,
          hostSigners.get('p521')!,
          hostSigners.get('ed25519')!,
        ],
        verifier,
      },
      hostKeys: [plainHostKey],
    },
    verifier,
  );
  plain = await startServer({ hostKeys: [plainHostKey] }, verifier);
}, 120_000);

afterAll(async () => {
  await x509?.close();
  await plain?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('x509Server: X.509 host keys, verified by AsyncSSH', () => {
  /** AsyncSSH logs in as alice, checking the host certificate against `hostTrust` under `hostKeyAlgorithm` only. */
  const aliceLogin = (hostTrust: string, hostKeyAlgorithm: string) =>
    runAsyncSshClient({ port: x509.port, username: 'alice', keyPath: alice.keyPath, chainPath: alice.chainPath, algorithm: 'x509v3-ecdsa-sha2-nistp256', command: 'id', hostTrust, hostKeyAlgorithm });

  it.concurrent.each(HOST_CASES)('AsyncSSH verifies the %s host certificate (%s key) and logs in', async (hostKeyAlgorithm) => {
    const r = await aliceLogin(pki.root.certPath, hostKeyAlgorithm);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('authenticated alice via x509v3-ecdsa-sha2-nistp256\n');
    expect(r.exitCode).toBe(0);
  });

  it('control: AsyncSSH with another trust anchor refuses the host certificate', async () => {
    const r = await aliceLogin(otherPki.root.certPath, 'x509v3-ecdsa-sha2-nistp256');
    expect(r.exitCode).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ERROR HostKeyNotVerifiable/);
  });
});

/** ssh2 1.17's own server-sig-algs string (lib/protocol/Protocol.js sendExtInfo), comma missing after nistp521. */
const SSH2_OWN = 'ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-dss';

describe('the KEX reply on the wire (an independent probe computes H)', () => {
  it.each(HOST_CASES)('%s: K_S is the RFC 6187 blob, and H is signed under the RFC 6187 section 3 format name', async (algorithm, kind) => {
    const alg = getAlgorithm(algorithm);
    const reply = await probeKexReply(x509.port, algorithm);
    const blob = decodePublicKeyBlob(reply.hostKeyBlob);
    const chain = hostSigners.get(kind)!.chain;
    expect(blob.algorithm).toBe(algorithm);
    expect(blob.certificates.map((c) => Buffer.from(c))).toEqual(chain.der.map((c) => Buffer.from(c)));
    expect(blob.ocspResponses.map((o) => Buffer.from(o))).toEqual(kind === 'p256' ? [stapled] : []);
    // Strict decoding: the format name must be the RFC 6187 one (ecdsa-sha2-nistp256, rsa2048-sha256, ssh-rsa, ssh-ed25519).
    const sig = decodeSignatureBlob(reply.signatureBlob, alg);
    expect(sig.format).toBe(alg.signatureFormat);
    expect(sig.format.startsWith('x509v3-')).toBe(false);
    const ok = cryptoVerify(alg.hash, reply.exchangeHash, { key: chain.publicKey, ...(alg.keyType === 'ec' ? { dsaEncoding: 'ieee-p1363' as const } : {}) }, sig.primitive);
    expect(ok).toBe(true);
  });
});

describe('what the servers advertise, as OpenSSH\'s client sees it', () => {
  it('x509Server: x509v3 host key algorithms first, then the plain key; server-sig-algs with the verifier\'s names first, comma-separated', async () => {
    const v = await opensshView(x509.port);
    expect(v.hostKeyAlgorithms).toBe('x509v3-rsa2048-sha256,x509v3-ssh-rsa,x509v3-ecdsa-sha2-nistp256,x509v3-ecdsa-sha2-nistp384,x509v3-ecdsa-sha2-nistp521,x509v3-ssh-ed25519,ssh-ed25519');
    const names = v.serverSigAlgs.split(',');
    // The verifier's policy (SHA-1 off): the five non-SHA-1 x509v3 names, first, in the table's order.
    expect(names.slice(0, 5)).toEqual([...verifier.acceptedAlgorithms]);
    expect(new Set(names.slice(0, 5))).toEqual(new Set(['x509v3-ecdsa-sha2-nistp256', 'x509v3-ecdsa-sha2-nistp384', 'x509v3-ecdsa-sha2-nistp521', 'x509v3-rsa2048-sha256', 'x509v3-ssh-ed25519']));
    expect(names.slice(5).join(',')).toBe('ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-dss');
  });

  it('a plain ssh2 Server in the same process sends exactly what ssh2 sends', async () => {
    const v = await opensshView(plain.port);
    expect(v.hostKeyAlgorithms).toBe('ssh-ed25519');
    expect(v.serverSigAlgs).toBe(SSH2_OWN);
  });
});

describe('server-sig-algs and the AsyncSSH client (it offers only what the server lists)', () => {
  const rsaLogin = (port: number) =>
    runAsyncSshClient({ port, username: 'rsauser', keyPath: rsauser.keyPath, chainPath: rsauser.chainPath, algorithm: 'x509v3-rsa2048-sha256', command: 'id' });

  it('x509v3-rsa2048-sha256 logs in to an x509Server, with no override in the client', async () => {
    const r = await rsaLogin(x509.port);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('authenticated rsauser via x509v3-rsa2048-sha256\n');
  });

  it('control: the same verifier in a Server without x509Server (ssh2\'s own server-sig-algs) gets no x509v3-rsa2048-sha256 login', async () => {
    const r = await rsaLogin(plain.port);
    expect(r.exitCode).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ERROR PermissionDenied/);
  });
});

describe('a plain ssh2 pair in the same process', () => {
  /** Connects a plain ssh2 Client to a plain ssh2 Server and returns what both sides negotiated. */
  const NEGOTIATE = `
    module.exports = (ssh2, hostKey) => new Promise((resolve, reject) => {
      const out = {};
      const server = new ssh2.Server({ hostKeys: [hostKey] }, (c) => {
        c.on('handshake', (n) => (out.server = n));
        c.on('authentication', (ctx) => ctx.accept());
        c.on('ready', () => c.end());
        c.on('error', () => undefined);
      });
      server.listen(0, '127.0.0.1', () => {
        const client = new ssh2.Client();
        client.on('handshake', (n) => (out.client = n));
        client.on('ready', () => { client.end(); server.close(); resolve(out); });
        client.on('error', reject);
        client.connect({ host: '127.0.0.1', port: server.address().port, username: 'u', password: 'p' });
      });
    });`;

  it('negotiates exactly what it negotiates in a process where ssh-x509 was never loaded', async () => {
    const helper = join(dir, 'negotiate.cjs');
    writeFileSync(helper, NEGOTIATE);
    const fresh = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(helper)})(require('ssh2'), require('fs').readFileSync(${JSON.stringify(join(dir, 'host_ed25519'))})).then((o) => process.stdout.write(JSON.stringify(o)))`], {
      encoding: 'utf8',
      cwd: process.cwd(),
    });
    const here = await (createRequire(import.meta.url)(helper) as (s: typeof ssh2, k: Buffer) => Promise<unknown>)(ssh2, plainHostKey);
    expect(JSON.parse(JSON.stringify(here))).toEqual(JSON.parse(fresh));
    expect(JSON.parse(fresh)).toMatchObject({ server: { serverHostKey: 'ssh-ed25519' }, client: { serverHostKey: 'ssh-ed25519' } });
  });
});

/** The P-256 host signer, answering after `ms` (as a token may); `onSign` is told when it has signed. */
function slowSigner(ms: number, onSign: () => void): Signer {
  const good = hostSigners.get('p256')!;
  return {
    chain: good.chain,
    label: 'slow',
    sign: async (data, hash) => {
      await new Promise((r) => setTimeout(r, ms));
      onSign();
      return good.sign(data, hash);
    },
  };
}

describe('x509Server edges', () => {
  it('a slow signer (300 ms, as a token may be): AsyncSSH waits for the reply and logs in', async () => {
    let signs = 0;
    const slow = slowSigner(300, () => signs++);
    const s = await startServer({ x509: { hostKeys: [slow], verifier } }, verifier);
    try {
      const r = await runAsyncSshClient({ port: s.port, username: 'alice', keyPath: alice.keyPath, chainPath: alice.chainPath, algorithm: 'x509v3-ecdsa-sha2-nistp256', command: 'id', hostTrust: pki.root.certPath, hostKeyAlgorithm: 'x509v3-ecdsa-sha2-nistp256' });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('authenticated alice via x509v3-ecdsa-sha2-nistp256\n');
      expect(signs).toBe(1);
    } finally {
      await s.close();
    }
  });

  it('the held reply under strict kex and a rekey in the encrypted transport (ssh2 Client; the compat hook with a plain key name)', async () => {
    // AsyncSSH 2.10 cannot rekey with ssh2 1.17 at all (it sends SSH_MSG_IGNORE inside the key
    // exchange, which ssh2 refuses: "Received unexpected packet type 2"), and ssh2's Client knows
    // no x509v3 host key; so the same asynchronous reply path is driven under a plain name here.
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const blob = sshPublicKeyBlob(publicKey);
    let signs = 0;
    const server = new ssh2.Server({ hostKeys: [] }, (c) => {
      c.on('authentication', (ctx) => ctx.accept());
      c.on('ready', () => c.on('session', (accept) => accept().on('exec', (acceptExec) => {
        const stream = acceptExec();
        // Server-initiated rekey (ssh2's Connection.rekey), answered once it has completed.
        c.rekey(() => {
          stream.exit(0);
          stream.end('after rekey\n');
        });
      })));
      c.on('error', () => undefined);
    });
    installSsh2Compat().attachServer(server, {
      hostKeys: [{
        algorithm: 'ssh-ed25519',
        publicKeyBlob: () => blob,
        signExchangeHash: async (h) => {
          signs++;
          await new Promise((r) => setTimeout(r, 100));
          return wrapSignature('ssh-ed25519', cryptoSign(null, h, privateKey));
        },
      }],
      serverSigAlgs: [],
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = new ssh2.Client();
    const negotiated: Array<{ kex: string }> = [];
    try {
      const out = await new Promise<string>((resolve, reject) => {
        client.on('error', reject);
        client.on('handshake', (n) => negotiated.push(n));
        client.on('ready', () =>
          client.exec('x', (e, stream) => {
            if (e) return reject(e);
            let data = '';
            stream.on('data', (d: Buffer) => (data += d)).on('close', () => resolve(data));
          }),
        );
        // chacha20-poly1305 puts the sequence number in its nonce, so a wrong one after NEWKEYS (strict kex resets it) breaks the stream.
        client.connect({ host: '127.0.0.1', port, username: 'u', password: 'p', hostVerifier: (key: Buffer) => key.equals(blob), algorithms: { cipher: ['chacha20-poly1305@openssh.com'] } });
      });
      expect(out).toBe('after rekey\n');
      expect(signs).toBe(2);
      expect(negotiated).toHaveLength(2);
    } finally {
      client.end();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a client that goes away while the signer works: the late signature is dropped, and the server serves the next one', async () => {
    let answered = 0;
    const slow = slowSigner(400, () => answered++);
    const s = await startServer({ x509: { hostKeys: [slow] } }, verifier);
    try {
      await expect(probeKexReply(s.port, 'x509v3-ecdsa-sha2-nistp256', 150)).rejects.toThrow(/timed out/);
      await new Promise((r) => setTimeout(r, 600));
      expect(answered).toBe(1);
      const next = await probeKexReply(s.port, 'x509v3-ecdsa-sha2-nistp256');
      expect(decodeSignatureBlob(next.signatureBlob, 'x509v3-ecdsa-sha2-nistp256').format).toBe('ecdsa-sha2-nistp256');
    } finally {
      await s.close();
    }
  });

  it('a host key that fails to sign ends that key exchange (KEY_EXCHANGE_FAILED), with the failure in the trace and no key material', async () => {
    const good = hostSigners.get('p256')!;
    const failing: Signer = { chain: good.chain, label: 'pulled card', sign: () => Promise.reject(new SshX509Error(ErrorCodes.SIGN_FAILED, 'the card was removed')) };
    const events: TraceEvent[] = [];
    const s = await startServer({ x509: { hostKeys: [failing], logger: (e: TraceEvent) => events.push(e) } }, verifier);
    try {
      // SSH_DISCONNECT_KEY_EXCHANGE_FAILED (RFC 4250 section 4.2.2).
      await expect(probeKexReply(s.port, 'x509v3-ecdsa-sha2-nistp256')).rejects.toThrow(/disconnected \(reason 3\)/);
      expect(events.map((e) => e.message)).toContain('host key signature failed: the card was removed');
      expect(events[0]!.fields).toMatchObject({ algorithm: 'x509v3-ecdsa-sha2-nistp256', code: 'ERR_SIGN_FAILED' });
    } finally {
      await s.close();
    }
  });

  it('is idempotent per server: a second call replaces the host keys for later connections', async () => {
    const s = await startServer({ x509: { hostKeys: [hostSigners.get('p256')!] } }, verifier);
    try {
      x509Server(s.server, { hostKeys: [hostSigners.get('p384')!] });
      const blob = decodePublicKeyBlob((await probeKexReply(s.port, 'x509v3-ecdsa-sha2-nistp384')).hostKeyBlob);
      expect(Buffer.from(blob.certificates[0]!)).toEqual(Buffer.from(hostSigners.get('p384')!.chain.der[0]!));
      await expect(probeKexReply(s.port, 'x509v3-ecdsa-sha2-nistp256')).rejects.toThrow(/disconnected \(reason 3\)/);
    } finally {
      await s.close();
    }
  });

  it('refuses what is not an ssh2 Server with ERR_SSH2_UNSUPPORTED, and a key that does not fit a requested algorithm', () => {
    expect(() => x509Server({}, {})).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED' }));
    const server = new ssh2.Server({ hostKeys: [] });
    expect(() => x509Server(server, { hostKeys: [{ signer: hostSigners.get('p256')!, algorithms: ['x509v3-ssh-ed25519'] }] })).toThrow(expect.objectContaining({ code: 'ERR_KEY_ALGORITHM_MISMATCH' }));
  });
});
