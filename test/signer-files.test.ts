/**
 * SoftwareSigner.fromFiles reads the key file beside the certificate files
 * (issue 11: one wait for the disk instead of two before `connect` loads
 * ssh2): which error comes first is unchanged (a certificate file's, then
 * the key file's), and a bad key file after good certificates is still its
 * own typed error.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareSigner } from '../src/signers/software.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';

let dir: string;
let alice: IssuedCert;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-signer-files-'));
  alice = await (await createTestPki(join(dir, 'pki'))).issue('alice', 'p256');
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SoftwareSigner.fromFiles', () => {
  it('both files missing: the certificate file is named, as before (its error comes first)', async () => {
    const cert = join(dir, 'no-cert.pem');
    const key = join(dir, 'no-key.pem');
    await expect(SoftwareSigner.fromFiles({ certificateFile: cert, keyFile: key })).rejects.toMatchObject({
      code: 'ERR_FILE_UNREADABLE',
      message: `cannot read certificate file ${cert}: no such file (ENOENT)`,
    });
  });

  it('a certificate file that is not a certificate, with a missing key: the certificate error', async () => {
    const notCert = join(dir, 'not-a-cert.pem');
    writeFileSync(notCert, 'hello\n');
    await expect(SoftwareSigner.fromFiles({ certificateFile: notCert, keyFile: join(dir, 'no-key.pem') })).rejects.toMatchObject({ code: 'ERR_CERT_INVALID' });
  });

  it('good certificates and a key file that is a directory: the key file is named', async () => {
    const folder = join(dir, 'key-folder');
    mkdirSync(folder);
    await expect(SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: folder })).rejects.toMatchObject({
      code: 'ERR_FILE_UNREADABLE',
      message: `cannot read key file ${folder}: it is a directory, not a file (EISDIR)`,
    });
  });

  it('control: both files good make a signer for the leaf', async () => {
    const s = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
    expect(s.chain.leaf.subject).toContain('CN=alice');
  });
});
