/**
 * `x509v3-sign-rsa`, PKIX-SSH's pre-RFC name (ssh-xkalg.c: "x509v3-sign-rsa,rsa-sha1", no chain): the public key
 * blob is the leaf's bare DER (no string(name), no count, no intermediates) and the signature blob is
 * string("x509v3-sign-rsa") string(RSASSA-PKCS1-v1_5 SHA-1). The verifier reads such requests when SHA-1 is
 * allowed, finding the intermediates in its pool; `connect --algorithm x509v3-sign-rsa` logs in to `serve
 * --allow-sha1 --intermediates`.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePublicKeyBlob } from '../src/rfc6187/publickey-blob.js';
import { X509Verifier, type X509VerifierOptions } from '../src/verify/verifier.js';
import { SshWriter } from '../src/wire/writer.js';
import { createTestPki, type IssuedCert, type TestPki } from './helpers/pki.js';
import { startServe, type ServeProcess } from './helpers/serve.js';
import { runCommand } from './helpers/ssh2-run.js';
import { execFileSync } from 'node:child_process';

const DATA = Buffer.from('session id and userauth request fields');
let dir: string;
let pki: TestPki;
let rsa: IssuedCert;
let p256: IssuedCert;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-sign-rsa-'));
  pki = await createTestPki(join(dir, 'pki'));
  rsa = await pki.issue('rsauser', 'rsa2048');
  p256 = await pki.issue('ecuser', 'p256');
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What PKIX-SSH signs with for x509v3-sign-rsa: the algorithm name as the signature format, RSA with SHA-1. */
function pkixSshSignature(issued: IssuedCert, data: Uint8Array = DATA, format = 'x509v3-sign-rsa'): Buffer {
  return new SshWriter().string(format).string(sign('sha1', data, createPrivateKey(issued.keyPem))).toBuffer();
}

function verifier(extra: Partial<X509VerifierOptions> = {}): Promise<X509Verifier> {
  return X509Verifier.create({
    trustAnchors: [pki.root.certPem],
    intermediates: [pki.intermediate.certPem],
    account: { map: 'upn-local' },
    revocation: { mode: 'off' },
    allowSha1Algorithms: true,
    ...extra,
  });
}

describe('the verifier reads x509v3-sign-rsa requests (PKIX-SSH legacy blobs)', () => {
  it('accepts the bare DER leaf with a PKIX-SSH signature, the intermediate from its pool', async () => {
    const v = await verifier();
    const r = await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: rsa.certDer, signedData: DATA, signature: pkixSshSignature(rsa) });
    expect(r).toMatchObject({ ok: true, account: 'rsauser', algorithm: 'x509v3-sign-rsa' });
    // The query form (PK_OK) too, and the same answer again (from the cache).
    expect((await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: rsa.certDer })).ok).toBe(true);
    expect((await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: rsa.certDer, signedData: DATA, signature: pkixSshSignature(rsa) })).ok).toBe(true);
  });

  it('without SHA-1 allowed, refuses it as algorithmNotAllowed', async () => {
    const v = await verifier({ allowSha1Algorithms: false });
    const r = await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: rsa.certDer, signedData: DATA, signature: pkixSshSignature(rsa) });
    expect(r).toMatchObject({ ok: false, reason: 'algorithmNotAllowed' });
  });

  it('refuses a signature over other data (badSignature), and one under another format name', async () => {
    const v = await verifier();
    const other = await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: rsa.certDer, signedData: DATA, signature: pkixSshSignature(rsa, Buffer.from('else')) });
    expect(other).toMatchObject({ ok: false, reason: 'badSignature' });
    const named = await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: rsa.certDer, signedData: DATA, signature: pkixSshSignature(rsa, DATA, 'ssh-rsa') });
    expect(named).toMatchObject({ ok: false, reason: 'badSignature' });
  });

  it('refuses an RFC 6187 blob under the legacy name, and a legacy blob under an RFC 6187 name (malformedBlob)', async () => {
    const v = await verifier();
    const framed = encodePublicKeyBlob({ algorithm: 'x509v3-ssh-rsa', certificates: [rsa.certDer, pki.intermediate.certDer], ocspResponses: [] });
    const a = await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: framed, signedData: DATA, signature: pkixSshSignature(rsa) });
    expect(a).toMatchObject({ ok: false, reason: 'malformedBlob' });
    const b = await v.verify({ username: 'rsauser', algorithm: 'x509v3-ssh-rsa', publicKey: rsa.certDer, signedData: DATA, signature: pkixSshSignature(rsa, DATA, 'ssh-rsa') });
    expect(b).toMatchObject({ ok: false, reason: 'malformedBlob' });
  });

  it('refuses a non-RSA leaf under x509v3-sign-rsa (keyAlgorithmMismatch), and bytes that are no certificate', async () => {
    const v = await verifier();
    const ec = await v.verify({ username: 'ecuser', algorithm: 'x509v3-sign-rsa', publicKey: p256.certDer, signedData: DATA, signature: pkixSshSignature(rsa) });
    expect(ec).toMatchObject({ ok: false, reason: 'keyAlgorithmMismatch' });
    const junk = await v.verify({ username: 'rsauser', algorithm: 'x509v3-sign-rsa', publicKey: Buffer.from('not a certificate'), signedData: DATA, signature: pkixSshSignature(rsa) });
    expect(junk).toMatchObject({ ok: false, reason: 'malformedBlob' });
  });
});

describe('connect --algorithm x509v3-sign-rsa to serve --allow-sha1 --intermediates', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    const hostKey = join(dir, 'host_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    server = await startServe(['--host-key', hostKey, '--trust', pki.root.certPath, '--intermediates', pki.intermediate.certPath, '--map', 'upn-local', '--allow-sha1', '--revocation', 'off']);
  }, 60_000);
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('logs in, and serve names the algorithm', async () => {
    const r = await runCommand(
      ['connect', '-p', String(server.port), '--algorithm', 'x509v3-sign-rsa', '--cert', rsa.chainPath, '--key', rsa.keyPath, '-o', 'StrictHostKeyChecking=no', '--known-hosts', join(dir, 'known_hosts'), 'rsauser@127.0.0.1', 'whoami'],
      { timeoutMs: 60_000 },
    );
    expect(r.stderr).not.toMatch(/refused|failed/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^authenticated rsauser via x509v3-sign-rsa subject=O=ssh-x509 Test, CN=rsauser /);
  });
});
