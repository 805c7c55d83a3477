/**
 * RFC 6187 server authentication in the client: the ssh2 adapter and
 * `ssh-x509 connect` against AsyncSSH serving X.509 host certificates, for
 * every algorithm; the refusals of the negative matrix, each with its reason
 * code; and a plain ssh2 connection in the same process negotiating exactly
 * as before.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type ConnectConfig } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SoftwareSigner,
  encodePublicKeyBlob,
  x509AuthHandler,
  x509HostKeyAlgorithms,
  x509HostVerifier,
  type HostKeyCheck,
  type X509HostVerifierOptions,
} from '../src/index.js';
import { startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { OID_SECURE_SHELL_CLIENT, OID_SECURE_SHELL_SERVER, createTestPki, type IssueOptions, type IssuedCert, type KeyKind, type TestPki, X509_ALGORITHM_CASES } from './helpers/pki.js';
import { OpensslRevocation } from './helpers/revocation.js';
import { runCommand, ssh2Exec } from './helpers/ssh2-run.js';
import { startServe, type ServeProcess } from './helpers/serve.js';

const CASES = X509_ALGORITHM_CASES;

const constants = () => createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as { DEFAULT_SERVER_HOST_KEY: string[] };
const HOST_CERT: IssueOptions = { dns: ['host.example'], ip: ['127.0.0.1'], eku: [OID_SECURE_SHELL_SERVER], email: null, upn: [] };

let dir: string;
let pki: TestPki;
let user: IssuedCert;
let signer: SoftwareSigner;
let server: AsyncSshServer;
const servers: AsyncSshServer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-hostcert-'));
  pki = await createTestPki(join(dir, 'pki'));
  user = await pki.issue('alice', 'p256');
  signer = await SoftwareSigner.fromFiles({ certificateFile: user.chainPath, keyFile: user.keyPath });
  const hostKeys = [];
  for (const kind of new Set(CASES.map((c) => c[1]))) {
    const h = await pki.issue(`host-${kind}`, kind, HOST_CERT);
    hostKeys.push({ keyPath: h.keyPath, chainPath: h.chainPath });
  }
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server'), hostX509: hostKeys });
  servers.push(server);
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function auth(): Pick<ConnectConfig, 'username' | 'authHandler'> {
  return { username: 'alice', authHandler: x509AuthHandler('alice', { signer }) };
}

/** Connects with host checking by `x509HostVerifier`; resolves with the decisions and how the connection ended. */
async function connectChecked(
  s: AsyncSshServer,
  algorithm: string,
  options: Partial<X509HostVerifierOptions> = {},
): Promise<{ ok: boolean; error?: Error; decisions: HostKeyCheck[]; verifier: ReturnType<typeof x509HostVerifier>; stdout?: string }> {
  const decisions: HostKeyCheck[] = [];
  const verifier = x509HostVerifier({
    host: '127.0.0.1',
    port: s.port,
    hostTrustAnchors: [pki.root.certPath],
    allowSha1Algorithms: algorithm === 'x509v3-ssh-rsa',
    revocation: { mode: 'off' },
    onDecision: (d) => decisions.push(d),
    ...options,
  });
  try {
    const r = await ssh2Exec(
      {
        host: '127.0.0.1',
        port: s.port,
        ...auth(),
        hostVerifier: verifier,
        algorithms: { serverHostKey: x509HostKeyAlgorithms({ algorithms: [algorithm], allowSha1Algorithms: true, x509Only: true }) },
      },
      'echo "$USER" logged-in',
    );
    return { ok: true, decisions, verifier, stdout: r.stdout };
  } catch (e) {
    return { ok: false, error: e as Error, decisions, verifier };
  }
}

describe('X.509 host certificates: the ssh2 adapter against AsyncSSH', () => {
  // One after another: AsyncSSH's server keeps the signature algorithm on its shared RSA host key pair,
  // so two logins at once with x509v3-ssh-rsa and x509v3-rsa2048-sha256 can get each other's K_S name.
  it.each(CASES)('verifies the %s host certificate (%s key) and logs in', async (algorithm) => {
    const r = await connectChecked(server, algorithm);
    expect(r.error).toBeUndefined();
    expect(r.stdout?.trim()).toBe('alice logged-in');
    expect(r.decisions).toHaveLength(1);
    const d = r.decisions[0]!;
    expect(d).toMatchObject({ accepted: true, via: 'certificate', keyType: algorithm });
    expect(d.certificate).toMatchObject({ ok: true, algorithm, anchor: 'O=ssh-x509 Test, CN=ssh-x509 Test Root CA' });
    expect(d.certificate?.subject).toContain(`CN=host-`);
    expect(d.certificate?.sha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  // The hook computes the exchange hash itself (then ssh2 checks it again): every key exchange family.
  it.concurrent.each(['curve25519-sha256', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp521', 'diffie-hellman-group14-sha256', 'diffie-hellman-group16-sha512', 'diffie-hellman-group-exchange-sha256'])(
    'verifies the host certificate with key exchange %s',
    async (kex) => {
      const decisions: HostKeyCheck[] = [];
      const debug: string[] = [];
      const r = await ssh2Exec(
        {
          host: '127.0.0.1',
          port: server.port,
          ...auth(),
          hostVerifier: x509HostVerifier({ host: '127.0.0.1', port: server.port, hostTrustAnchors: [pki.root.certPath], revocation: { mode: 'off' }, onDecision: (d) => decisions.push(d) }),
          algorithms: { kex: [kex as never], serverHostKey: x509HostKeyAlgorithms({ algorithms: ['x509v3-ssh-ed25519'], x509Only: true }) },
          debug: (m) => debug.push(m),
        },
        'echo kex-ok',
      );
      expect(r.stdout.trim()).toBe('kex-ok');
      expect(debug).toContain(`Handshake: KEX algorithm: ${kex}`);
      expect(debug).toContain('ssh-x509: verified the x509v3-ssh-ed25519 host signature of the exchange hash');
      expect(decisions[0]?.accepted).toBe(true);
    },
  );

  it('control: host checking on and no trust anchor refuses the X.509 host key', async () => {
    const r = await connectChecked(server, 'x509v3-ecdsa-sha2-nistp256', { hostTrustAnchors: [], knownHosts: [join(dir, 'empty_known_hosts')] });
    expect(r.ok).toBe(false);
    expect(r.error?.message).toMatch(/Host denied/);
    expect(r.verifier.refusal?.reason).toBe('unknownHost');
    expect(r.decisions[0]).toMatchObject({ accepted: false, via: 'known-hosts' });
  });

  it('in a fresh process, a plain ssh2 connection negotiates the same before and after the host-key compatibility is installed', async () => {
    const script = `
      import { Client } from 'ssh2';
      import { installSsh2HostKeyCompat } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
      const plain = () => new Promise((resolve, reject) => {
        const lines = [];
        const c = new Client();
        c.on('handshake', (negotiated) => { resolve({ negotiated, kexinit: lines.filter((l) => l.startsWith('Handshake: (local)')) }); c.end(); });
        c.on('error', reject);
        c.connect({ host: '127.0.0.1', port: ${server.port}, username: 'nobody', debug: (m) => lines.push(m) });
      });
      const before = await plain();
      installSsh2HostKeyCompat();
      const after = await plain();
      process.stdout.write(JSON.stringify({ before, after }));
    `;
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    const { before, after } = JSON.parse(out) as { before: { negotiated: unknown; kexinit: string[] }; after: { negotiated: unknown; kexinit: string[] } };
    expect(before.kexinit).toContain(`Handshake: (local) Host key format: ${constants().DEFAULT_SERVER_HOST_KEY.join(',')}`);
    expect((before.negotiated as { serverHostKey?: string }).serverHostKey).toBe('ssh-ed25519');
    expect(after).toEqual(before);
  });

  it('a plain ssh2 connection in the same process negotiates exactly as before', async () => {
    const plain = async (): Promise<{ offer: string; negotiated: unknown }> => {
      const lines: string[] = [];
      let negotiated: unknown;
      await new Promise<void>((resolve, reject) => {
        const c = new Client();
        c.on('handshake', (n) => (negotiated = n));
        c.on('ready', () => {
          c.end();
          resolve();
        });
        c.on('error', reject);
        c.connect({ host: '127.0.0.1', port: server.port, ...auth(), debug: (m) => lines.push(m), readyTimeout: 20_000 });
      });
      return { offer: lines.find((l) => l.startsWith('Handshake: (local) Host key format:'))!, negotiated };
    };
    // This file has installed the host-key compatibility already (the cases above); compare with ssh2's own default list.
    const { DEFAULT_SERVER_HOST_KEY } = constants();
    const r = await plain();
    expect(r.offer).toBe(`Handshake: (local) Host key format: ${DEFAULT_SERVER_HOST_KEY.join(',')}`);
    expect(r.offer).not.toContain('x509v3');
    expect((r.negotiated as { serverHostKey: string }).serverHostKey).toBe('ssh-ed25519');
  });
});

describe('X.509 host certificates: the negative matrix', () => {
  async function serverWith(cert: IssuedCert, extra: { badHostSignature?: boolean; hostOcspPath?: string } = {}): Promise<AsyncSshServer> {
    const s = await startAsyncSshServer({
      trust: [pki.root.certPath],
      dir: join(dir, `server-${cert.name}`),
      hostX509: { keyPath: cert.keyPath, chainPath: cert.chainPath },
      ...extra,
    });
    servers.push(s);
    return s;
  }

  const HOUR = 3600_000;
  const MATRIX: Array<[what: string, reason: string, make: () => Promise<{ cert: IssuedCert; options?: Partial<X509HostVerifierOptions>; badHostSignature?: boolean; hostOcspPath?: string }>]> = [
    ['untrusted root', 'untrusted', async () => {
      const other = await createTestPki(join(dir, 'other-pki'));
      return { cert: await other.issue('host-untrusted', 'p256', HOST_CERT) };
    }],
    ['expired', 'expired', async () => ({ cert: await pki.issue('host-expired', 'p256', { ...HOST_CERT, notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - 24 * HOUR) }) })],
    ['not yet valid', 'notYetValid', async () => ({ cert: await pki.issue('host-future', 'p256', { ...HOST_CERT, notBefore: new Date(Date.now() + 24 * HOUR) }) })],
    ['wrong host name', 'hostNameMismatch', async () => ({ cert: await pki.issue('host-name', 'p256', HOST_CERT), options: { host: 'other.example' } })],
    ['IP address not in the certificate', 'hostNameMismatch', async () => ({ cert: await pki.issue('host-noip', 'p256', { ...HOST_CERT, ip: [] }) })],
    ['EKU secureShellClient only', 'ekuMismatch', async () => ({ cert: await pki.issue('host-eku', 'p256', { ...HOST_CERT, eku: [OID_SECURE_SHELL_CLIENT] }) })],
    ['keyUsage without digitalSignature', 'keyUsage', async () => ({ cert: await pki.issue('host-ku', 'p256', { ...HOST_CERT, keyUsage: 'keyEncipherment' }) })],
    ['a CA certificate as the leaf', 'caAsLeaf', async () => ({ cert: await pki.issue('host-ca', 'p256', { ...HOST_CERT, isCA: true }) })],
    ['an exchange-hash signature that does not verify', 'badSignature', async () => ({ cert: await pki.issue('host-badsig', 'p256', HOST_CERT), badHostSignature: true })],
    ['revoked by the OCSP response stapled in K_S', 'revoked', async () => {
      const cert = await pki.issue('host-stapled', 'p256', HOST_CERT);
      const db = new OpensslRevocation(join(dir, 'stapled-db'), { certPath: pki.intermediate.certPath, keyPath: join(pki.dir, 'intermediate', 'key.pem') });
      db.revoke(cert.certPem);
      const ocspPath = join(dir, 'stapled-db', 'host.ocsp');
      writeFileSync(ocspPath, db.ocspResponse(cert.certPath));
      return { cert, hostOcspPath: ocspPath, options: { revocation: { mode: 'require', fetch: false } } };
    }],
    ['revoked by CRL', 'revoked', async () => {
      const cert = await pki.issue('host-crl', 'p256', HOST_CERT);
      const db = new OpensslRevocation(join(dir, 'crl-db'), { certPath: pki.intermediate.certPath, keyPath: join(pki.dir, 'intermediate', 'key.pem') });
      db.revoke(cert.certPem);
      const crlPath = join(dir, 'crl-db', 'host.crl');
      writeFileSync(crlPath, db.crl());
      return { cert, options: { revocation: { mode: 'require', crls: [crlPath], fetch: false } } };
    }],
  ];

  it.concurrent.each(MATRIX)('refuses %s (%s)', async (_what, reason, make) => {
    const { cert, options, badHostSignature, hostOcspPath } = await make();
    const s = await serverWith(cert, { badHostSignature, hostOcspPath });
    const r = await connectChecked(s, 'x509v3-ecdsa-sha2-nistp256', options);
    expect(r.ok).toBe(false);
    expect(r.stdout).toBeUndefined();
    expect(r.verifier.refusal?.reason).toBe(reason);
    expect(r.verifier.refusal?.code).toBe('ERR_HOST_KEY_REJECTED');
    await s.stop();
  });

  it('a signature with the x509v3 name inside is refused (badSignature), and accepted only with laxAcceptX509SignatureName', async () => {
    const cert = await pki.issue('host-x509name', 'p256', HOST_CERT);
    const s = await startAsyncSshServer({
      trust: [pki.root.certPath],
      dir: join(dir, 'server-x509name'),
      hostX509: { keyPath: cert.keyPath, chainPath: cert.chainPath },
      x509NameInHostSignature: true,
    });
    servers.push(s);
    const strict = await connectChecked(s, 'x509v3-ecdsa-sha2-nistp256');
    expect(strict.ok).toBe(false);
    expect(strict.verifier.refusal?.reason).toBe('badSignature');
    const lax = await connectChecked(s, 'x509v3-ecdsa-sha2-nistp256', { laxAcceptX509SignatureName: true });
    expect(lax.error).toBeUndefined();
    expect(lax.stdout?.trim()).toBe('alice logged-in');
    await s.stop();
  });

  it('accepts a host certificate with a good OCSP response stapled in K_S, revocation from the staple (require, no fetching)', async () => {
    const cert = await pki.issue('host-stapled-good', 'p256', HOST_CERT);
    const db = new OpensslRevocation(join(dir, 'stapled-good-db'), { certPath: pki.intermediate.certPath, keyPath: join(pki.dir, 'intermediate', 'key.pem') });
    db.valid(cert.certPem);
    const ocspPath = join(dir, 'stapled-good-db', 'host.ocsp');
    writeFileSync(ocspPath, db.ocspResponse(cert.certPath));
    const s = await serverWith(cert, { hostOcspPath: ocspPath });
    const r = await connectChecked(s, 'x509v3-ecdsa-sha2-nistp256', { revocation: { mode: 'require', fetch: false } });
    expect(r.error).toBeUndefined();
    expect(r.decisions[0]?.certificate).toMatchObject({ ok: true, revocationSource: 'ocsp-stapled' });
    await s.stop();
  });

  /** The verifier's answer for a K_S built here (what no real server would send). */
  async function decide(ks: Buffer, options: Partial<X509HostVerifierOptions> = {}): Promise<{ accepted: boolean; reason?: string }> {
    const v = x509HostVerifier({ host: '127.0.0.1', hostTrustAnchors: [pki.root.certPath], revocation: { mode: 'off' }, ...options });
    const accepted = await new Promise<boolean>((resolve) => v(ks, resolve));
    return { accepted, reason: v.refusal?.reason };
  }

  it('refuses a key type that does not match the algorithm (keyAlgorithmMismatch)', async () => {
    const cert = await pki.issue('host-mismatch', 'p256', HOST_CERT);
    const ks = encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp384', certificates: [cert.certDer, pki.intermediate.certDer], ocspResponses: [] });
    expect(await decide(ks)).toEqual({ accepted: false, reason: 'keyAlgorithmMismatch' });
    const good = encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [cert.certDer, pki.intermediate.certDer], ocspResponses: [] });
    expect(await decide(good)).toEqual({ accepted: true, reason: undefined });
  });

  it('refuses a host certificate revoked by the OCSP response stapled in K_S (revoked)', async () => {
    const cert = await pki.issue('host-ocsp', 'p256', HOST_CERT);
    const db = new OpensslRevocation(join(dir, 'ocsp-db'), { certPath: pki.intermediate.certPath, keyPath: join(pki.dir, 'intermediate', 'key.pem') });
    const blob = (ocsp: Buffer) => encodePublicKeyBlob({ algorithm: 'x509v3-ecdsa-sha2-nistp256', certificates: [cert.certDer, pki.intermediate.certDer], ocspResponses: [ocsp] });
    db.valid(cert.certPem);
    const good = db.ocspResponse(cert.certPath);
    db.revoke(cert.certPem);
    const revoked = db.ocspResponse(cert.certPath);
    const require = { revocation: { mode: 'require' as const, fetch: false } };
    expect(await decide(blob(good), require)).toEqual({ accepted: true, reason: undefined });
    expect(await decide(blob(revoked), require)).toEqual({ accepted: false, reason: 'revoked' });
  });
});

describe('X.509 host certificates: ssh-x509 connect', () => {
  const cli = (algorithm: string, extra: string[] = []) =>
    runCommand(
      [
        'connect', '-p', String(server.port), '--cert', user.chainPath, '--key', user.keyPath,
        '--known-hosts', join(dir, 'cli_known_hosts'), '--host-key-algorithms', algorithm, ...extra,
        'alice@127.0.0.1', 'echo', 'cli-ok',
      ],
      { timeoutMs: 60_000 },
    );

  // One after another (AsyncSSH's shared RSA host key pair, as above).
  it.each(CASES)('verifies the %s host certificate with --host-trust and logs in', async (algorithm) => {
    const r = await cli(algorithm, ['--host-trust', pki.root.certPath, '--trace']);
    expect(r.stderr).not.toMatch(/refused/);
    expect(r.stdout.trim()).toBe('cli-ok');
    expect(r.code).toBe(0);
    // The trace names the host certificate, its issuer, fingerprints, the anchor, and the revocation source.
    expect(r.stderr).toMatch(/host key accepted: .*verified via/);
    expect(r.stderr).toContain('CN=ssh-x509 Test Intermediate CA');
    expect(r.stderr).toContain('CN=ssh-x509 Test Root CA');
    expect(r.stderr).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(r.stderr).toMatch(/revocation/);
  });

  it('control: no --host-trust refuses the X.509 host key with one line and its reason code, exit 255', async () => {
    const r = await cli('x509v3-ecdsa-sha2-nistp256');
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ssh-x509: host key verification failed \(unknownHost\): /);
  });

  it('--host-trust with a CA that did not issue the host certificate: one line with the reason code saying so, naming both CAs, exit 255', async () => {
    // A CA of another name (the issuer is found nowhere) and one of the same name with another key (its signature fails).
    const other = join(dir, 'other-ca');
    mkdirSync(other, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(other, 'ca.key'), '-out', join(other, 'ca.pem'), '-subj', '/O=Elsewhere/CN=Wrong CA', '-days', '5'], { stdio: 'ignore' });
    const twin = await createTestPki(join(dir, 'twin-pki'));
    for (const [ca, name] of [[join(other, 'ca.pem'), 'O=Elsewhere, CN=Wrong CA'], [twin.root.certPath, 'O=ssh-x509 Test, CN=ssh-x509 Test Root CA']] as const) {
      const r = await cli('x509v3-ecdsa-sha2-nistp256', ['--host-trust', ca]);
      expect(r.code).toBe(255);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `ssh-x509: host key verification failed (untrusted): the host certificate of 127.0.0.1 ("O=ssh-x509 Test, CN=host-p256", issued by "O=ssh-x509 Test, CN=ssh-x509 Test Intermediate CA") ` +
          `is not issued by the CA given with --host-trust / CACertificateFile ("${name}"): give the CA that issued it, or check that 127.0.0.1 is the host you meant\n`,
      );
      expect(r.stderr).not.toContain('missingIntermediate');
    }
  });

  it('a bad exchange-hash signature: one line with badSignature, exit 255', async () => {
    const cert = await pki.issue('host-cli-badsig', 'p256', HOST_CERT);
    const bad = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server-cli-badsig'), hostX509: { keyPath: cert.keyPath, chainPath: cert.chainPath }, badHostSignature: true });
    servers.push(bad);
    const r = await runCommand(
      ['connect', '-p', String(bad.port), '--cert', user.chainPath, '--key', user.keyPath, '--known-hosts', join(dir, 'cli_known_hosts'), '--host-trust', pki.root.certPath, 'alice@127.0.0.1', 'echo', 'nope'],
      { timeoutMs: 60_000 },
    );
    await bad.stop();
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ssh-x509: host key verification failed \(badSignature\): .*signature/);
  });

  it('--host-key-algorithms reads +, - and ^ as OpenSSH does', async () => {
    const { hostKeyAlgorithmList } = await import('../src/cli/host-check.js');
    const known = ['a', 'b', 'c', 'd'];
    expect(hostKeyAlgorithmList('c,a', ['a', 'b'], known)).toEqual(['c', 'a']);
    expect(hostKeyAlgorithmList('+c,a', ['a', 'b'], known)).toEqual(['a', 'b', 'c']);
    expect(hostKeyAlgorithmList('-a', ['a', 'b'], known)).toEqual(['b']);
    expect(hostKeyAlgorithmList('^c,b', ['a', 'b'], known)).toEqual(['c', 'b', 'a']);
    expect(() => hostKeyAlgorithmList('+', ['a'], known)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    // With host trust the default is x509v3 first; ^ brings one to the front, which the server then uses.
    const r = await runCommand(
      ['connect', '-p', String(server.port), '--cert', user.chainPath, '--key', user.keyPath, '--known-hosts', join(dir, 'cli_known_hosts'), '--host-trust', pki.root.certPath, '--host-key-algorithms', '^x509v3-ssh-ed25519', '--trace', 'alice@127.0.0.1', 'echo', 'caret-ok'],
      { timeoutMs: 60_000 },
    );
    expect(r.stdout.trim()).toBe('caret-ok');
    expect(r.stderr).toMatch(/host key accepted: .*verified via x509v3-ssh-ed25519/);
  });

  it('a --host-trust path that does not exist, or holds no certificate, is one clear line before connecting', async () => {
    const missing = await cli('x509v3-ecdsa-sha2-nistp256', ['--host-trust', join(dir, 'no-such-ca.pem')]);
    expect(missing.code).toBe(255);
    expect(missing.stderr.trim()).toBe(`ssh-x509: cannot read --host-trust file ${join(dir, 'no-such-ca.pem')}: no such file (ENOENT)`);
    const empty = join(dir, 'empty-ca-dir');
    mkdirSync(empty, { recursive: true });
    const none = await cli('x509v3-ecdsa-sha2-nistp256', ['--host-trust', empty]);
    expect(none.code).toBe(255);
    expect(none.stderr.trim()).toBe(`ssh-x509: --host-trust ${empty}: no certificate found there`);
  });

  it('an unknown --host-key-algorithms name is a usage error (exit 2) that lists the known ones', async () => {
    const r = await cli('x509v3-ecdsa-sha2-nistp256,ssh-foo');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host-key-algorithms \/ HostKeyAlgorithms: unknown host key algorithm ssh-foo; known: .*x509v3-ecdsa-sha2-nistp256/);
  });

  it('the config file covers host trust (paths relative to the file) and the host key algorithms', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ default: { 'host-trust': ['pki/root/cert.pem'] }, hosts: { '127.0.0.1': { 'host-key-algorithms': 'x509v3-ssh-ed25519' } } }));
    const r = await runCommand(
      ['connect', '--config', config, '-p', String(server.port), '--cert', user.chainPath, '--key', user.keyPath, '--known-hosts', join(dir, 'cfg_known_hosts'), '--trace', 'alice@127.0.0.1', 'echo', 'cfg-ok'],
      { timeoutMs: 60_000 },
    );
    expect(r.stdout.trim()).toBe('cfg-ok');
    expect(r.stderr).toMatch(/host key accepted: .*verified via x509v3-ssh-ed25519/);
    expect(r.code).toBe(0);
  });
});

describe('X.509 host certificates: ssh-x509 connect against ssh-x509 serve (both halves of RFC 6187)', () => {
  let serve: ServeProcess;
  let ocspFile: string;
  beforeAll(async () => {
    const plainKey = join(dir, 'serve_plain_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plainKey]);
    const args = ['--host-key', plainKey];
    for (const kind of new Set(CASES.map((c) => c[1]))) {
      const h = await pki.issue(`serve-host-${kind}`, kind, HOST_CERT);
      args.push('--host-key', h.keyPath, '--host-cert', h.chainPath);
      if (kind === 'p384') {
        const db = new OpensslRevocation(join(dir, 'serve-ocsp'), { certPath: pki.intermediate.certPath, keyPath: join(pki.dir, 'intermediate', 'key.pem') });
        db.valid(h.certPem);
        ocspFile = join(dir, 'serve-host-p384.ocsp');
        writeFileSync(ocspFile, db.ocspResponse(h.certPath));
      }
    }
    serve = await startServe([...args, '--host-ocsp', ocspFile, '--trust', pki.root.certPath, '--map', 'upn-local', '--allow-sha1', '--revocation', 'off']);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
  });

  it.concurrent.each(CASES)('verifies serve\'s %s host certificate and logs in', async (algorithm) => {
    const r = await runCommand(
      [
        'connect', '-p', String(serve.port), '--cert', user.chainPath, '--key', user.keyPath, '--known-hosts', join(dir, 'serve_known_hosts'),
        '--host-trust', pki.root.certPath, '--host-key-algorithms', algorithm, '--trace', 'alice@127.0.0.1', 'id',
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.stdout).toMatch(/^authenticated alice via x509v3-ecdsa-sha2-nistp256 /);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`host key accepted: .*verified via ${algorithm} `));
    // The host certificate with an OCSP response stapled in K_S: the client's revocation answer comes from it.
    if (algorithm === 'x509v3-ecdsa-sha2-nistp384') expect(r.stderr).toMatch(/revocation ocsp-stapled/);
  });
});
