/**
 * Revocation fixtures made with the openssl CLI (an independent
 * implementation): an index.txt CA database, OCSP responses (offline, or a
 * live `openssl ocsp -port` responder on loopback) and CRLs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { X509Certificate } from '@peculiar/x509';

export interface CaFiles {
  certPath: string;
  keyPath: string;
}

function opensslDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/** A free TCP port on loopback (best effort: the port is released before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** An openssl CA database for one issuing CA. */
export class OpensslRevocation {
  readonly indexPath: string;
  private readonly lines = new Map<string, string>();
  private n = 0;

  constructor(
    readonly dir: string,
    readonly ca: CaFiles,
  ) {
    mkdirSync(dir, { recursive: true });
    this.indexPath = join(dir, 'index.txt');
    writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
    this.flush();
  }

  private flush(): void {
    writeFileSync(this.indexPath, [...this.lines.values()].map((l) => l + '\n').join(''));
  }

  private entry(certPem: string, revokedAt?: Date): void {
    const c = new X509Certificate(certPem);
    const serial = c.serialNumber.toUpperCase();
    const dn = '/' + c.subject.split(', ').join('/');
    const status = revokedAt ? 'R' : 'V';
    this.lines.set(serial, [status, opensslDate(c.notAfter), revokedAt ? opensslDate(revokedAt) : '', serial, 'unknown', dn].join('\t'));
    this.flush();
  }

  /** Records a certificate as valid. */
  valid(certPem: string): void {
    this.entry(certPem);
  }

  /** Records a certificate as revoked (an hour ago). */
  revoke(certPem: string): void {
    this.entry(certPem, new Date(Date.now() - 3600_000));
  }

  /**
   * A DER OCSP response for `certPath` from `openssl ocsp` (signed by the CA, or by `signer`); `nonce` asks
   * for one (a response extension), `nextUpdate: false` leaves nextUpdate out, `extra` is passed to the
   * responder (`-resp_key_id`, `-resp_no_certs`, ...).
   */
  ocspResponse(certPath: string, opts: { signer?: CaFiles; ndays?: number; nmin?: number; nonce?: boolean; nextUpdate?: boolean; extra?: string[] } = {}): Buffer {
    const id = `r${this.n++}`;
    const req = join(this.dir, `${id}.req`);
    const resp = join(this.dir, `${id}.resp`);
    execFileSync('openssl', ['ocsp', '-issuer', this.ca.certPath, '-cert', certPath, ...(opts.nonce ? [] : ['-no_nonce']), '-reqout', req], { stdio: 'pipe' });
    const signer = opts.signer ?? this.ca;
    const validity = opts.nextUpdate === false ? [] : opts.nmin !== undefined ? ['-nmin', String(opts.nmin)] : ['-ndays', String(opts.ndays ?? 1)];
    execFileSync(
      'openssl',
      ['ocsp', '-index', this.indexPath, '-CA', this.ca.certPath, '-rsigner', signer.certPath, '-rkey', signer.keyPath, '-reqin', req, '-respout', resp, ...validity, ...(opts.extra ?? [])],
      { stdio: 'pipe' },
    );
    return readFileSync(resp);
  }

  /** A DER CRL from `openssl ca -gencrl`. */
  crl(opts: { hours?: number } = {}): Buffer {
    const cfg = join(this.dir, 'ca.cnf');
    writeFileSync(
      cfg,
      [
        '[ ca ]',
        'default_ca = test_ca',
        '[ test_ca ]',
        `database = ${this.indexPath}`,
        `crlnumber = ${join(this.dir, 'crlnumber')}`,
        'default_md = sha256',
        `default_crl_hours = ${opts.hours ?? 24}`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(this.dir, 'crlnumber'), '01\n');
    const pem = join(this.dir, 'crl.pem');
    execFileSync('openssl', ['ca', '-gencrl', '-config', cfg, '-keyfile', this.ca.keyPath, '-cert', this.ca.certPath, '-out', pem], { stdio: 'pipe' });
    const der = join(this.dir, 'crl.der');
    execFileSync('openssl', ['crl', '-in', pem, '-outform', 'DER', '-out', der], { stdio: 'pipe' });
    return readFileSync(der);
  }

  /** Starts `openssl ocsp -port` on a free port (it binds all addresses); the URL is on loopback. */
  async startResponder(opts: { nrequest?: number; port?: number } = {}): Promise<{ url: string; port: number; stop: () => Promise<void>; log: () => string }> {
    const port = opts.port ?? (await freePort());
    const args = ['ocsp', '-port', String(port), '-index', this.indexPath, '-CA', this.ca.certPath, '-rsigner', this.ca.certPath, '-rkey', this.ca.keyPath, '-ndays', '1'];
    if (opts.nrequest) args.push('-nrequest', String(opts.nrequest));
    const child: ChildProcess = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    // Wait for its banner; a probe connection would be taken as a (malformed) request.
    const deadline = Date.now() + 10_000;
    while (!log.includes('waiting for OCSP client connections')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`openssl ocsp responder did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      log: () => log,
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    };
  }
}
