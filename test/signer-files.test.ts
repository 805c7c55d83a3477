/**
 * A software signer as `connect` makes and offers it, with less work before
 * logging in (issue 11), and the same results:
 *
 * - SoftwareSigner.fromFiles reads the key file beside the certificate files
 *   (one wait for the disk instead of two before `connect` loads ssh2): which
 *   error comes first is unchanged (a certificate file's, then the key
 *   file's), and a bad key file after good certificates is still its own
 *   typed error;
 * - a raw key (`x509AuthMethod` with `rawKey`) is given to ssh2 with the
 *   signer's label as its comment, as the OpenSSH line `<type> <blob> <label>`
 *   reads in ssh2, but the label (by default the leaf's subject, which loads
 *   the X.509 library) is read only when the comment is (connect-start.test.ts
 *   checks the loading end to end).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509AuthMethod } from '../src/adapters/ssh2/client.js';
import { openSshPublicKeyLine } from '../src/keys/ssh-public-key.js';
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

/** The keys the raw-key agent gives ssh2. */
function rawKeys(signer: SoftwareSigner): Promise<{ comment: string; getPublicSSH(): Buffer }[]> {
  const method = x509AuthMethod('u', { signer, rawKey: true }) as unknown as { agent: { getIdentities(cb: (err: Error | null, keys?: object[]) => void): void } };
  return new Promise((resolve, reject) => method.agent.getIdentities((err, keys) => (err ? reject(err) : resolve(keys as never))));
}

describe('raw key comment', () => {
  it('is the label (the leaf subject by default), as ssh2 reads it from the OpenSSH line with the label', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath });
    const [key] = await rawKeys(signer);
    const fromLine = utils.parseKey(openSshPublicKeyLine(signer.chain.publicKey, signer.label)) as { comment: string; getPublicSSH(): Buffer };
    expect(key!.comment).toBe(fromLine.comment);
    expect(key!.comment).toBe(signer.label);
    expect(key!.comment).toContain('CN=alice');
    expect(key!.getPublicSSH().equals(fromLine.getPublicSSH())).toBe(true);
    expect(Object.keys(key!)).toContain('comment');
  });

  it('a label given to the signer is the comment', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: alice.chainPath, keyFile: alice.keyPath, label: 'my card key' });
    const [key] = await rawKeys(signer);
    expect(key!.comment).toBe('my card key');
  });
});
