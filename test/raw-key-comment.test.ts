/**
 * A raw key's comment (issue 11): `x509AuthMethod` with `rawKey` gives ssh2
 * the key with the signer's label as its comment, as the OpenSSH line
 * `<type> <blob> <label>` reads in ssh2, but reads the label (by default the
 * leaf's subject, which loads the X.509 library) only when the comment is
 * read. The loading itself is checked end to end in connect-start.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509AuthMethod } from '../src/adapters/ssh2/client.js';
import { openSshPublicKeyLine } from '../src/keys/ssh-public-key.js';
import { SoftwareSigner } from '../src/signers/software.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';

let dir: string;
let leaf: IssuedCert;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-raw-comment-'));
  leaf = await (await createTestPki(join(dir, 'pki'))).issue('raw-comment', 'p256');
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The keys the raw-key agent gives ssh2. */
function rawKeys(signer: SoftwareSigner): Promise<{ comment: string; getPublicSSH(): Buffer }[]> {
  const method = x509AuthMethod('u', { signer, rawKey: true }) as unknown as { agent: { getIdentities(cb: (err: Error | null, keys?: object[]) => void): void } };
  return new Promise((resolve, reject) => method.agent.getIdentities((err, keys) => (err ? reject(err) : resolve(keys as never))));
}

describe('raw key comment', () => {
  it('is the label (the leaf subject by default), as ssh2 reads it from the OpenSSH line with the label', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const [key] = await rawKeys(signer);
    const fromLine = utils.parseKey(openSshPublicKeyLine(signer.chain.publicKey, signer.label)) as { comment: string; getPublicSSH(): Buffer };
    expect(key!.comment).toBe(fromLine.comment);
    expect(key!.comment).toBe(signer.label);
    expect(key!.comment).toContain('CN=raw-comment');
    expect(key!.getPublicSSH().equals(fromLine.getPublicSSH())).toBe(true);
    expect(Object.keys(key!)).toContain('comment');
  });

  it('a label given to the signer is the comment', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath, label: 'my card key' });
    const [key] = await rawKeys(signer);
    expect(key!.comment).toBe('my card key');
  });
});
