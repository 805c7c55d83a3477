/**
 * known_hosts files read ahead (what `ssh-x509 connect` does while ssh2
 * loads, src/verify/known-hosts.ts `readKnownHostsAhead`): the next check of
 * a file decides from what was read, with the same answers and errors as a
 * check that reads it itself, and only the next one (a later check reads the
 * file again).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshWriter } from '../src/wire/writer.js';
import { checkHostKey, readKnownHostsAhead } from '../src/verify/known-hosts.js';

let dir: string;
const ed = (fill: number) => new SshWriter().string('ssh-ed25519').string(Buffer.alloc(32, fill)).toBuffer();
const KEY = ed(7);
const OTHER = ed(9);
const line = (name: string, blob: Buffer) => `${name} ssh-ed25519 ${blob.toString('base64')}\n`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-kh-ahead-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('known_hosts read ahead', () => {
  it('the next check decides from the text read ahead (the file changed since); a later check reads the file again', async () => {
    const f = join(dir, 'known_hosts');
    writeFileSync(f, line('h1', KEY));
    await readKnownHostsAhead([f]);
    // Changed after the read: the check that the read was for still sees the key it read.
    writeFileSync(f, line('h1', OTHER));
    expect(await checkHostKey(f, 'h1', 22, KEY, 'yes')).toMatchObject({ accepted: true, status: 'known' });
    // The read is used once: this check reads the file as it is now, where h1 has another key.
    expect(await checkHostKey(f, 'h1', 22, KEY, 'yes')).toMatchObject({ accepted: false, status: 'changed' });
  });

  it('control: without reading ahead, the check reads the file as it is when it runs', async () => {
    const f = join(dir, 'known_hosts_control');
    writeFileSync(f, line('h1', KEY));
    writeFileSync(f, line('h1', OTHER));
    expect(await checkHostKey(f, 'h1', 22, KEY, 'yes')).toMatchObject({ accepted: false, status: 'changed' });
  });

  it('a missing file read ahead is an unknown host, as without; an unreadable one is the same typed error', async () => {
    const missing = join(dir, 'no-such-known-hosts');
    await readKnownHostsAhead([missing]);
    const ahead = await checkHostKey(missing, 'h1', 22, KEY, 'yes');
    expect(ahead).toEqual(await checkHostKey(missing, 'h1', 22, KEY, 'yes'));
    expect(ahead).toMatchObject({ accepted: false, status: 'unknown' });

    const unreadable = join(dir, 'a-directory');
    mkdirSync(unreadable);
    await readKnownHostsAhead([unreadable]);
    const error = await checkHostKey(unreadable, 'h1', 22, KEY, 'yes').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_FILE_UNREADABLE', message: `cannot read known_hosts file ${unreadable}: EISDIR` });
    expect(await checkHostKey(unreadable, 'h1', 22, KEY, 'yes').catch((e: unknown) => e)).toMatchObject({ code: 'ERR_FILE_UNREADABLE', message: (error as Error).message });
  });

  it('accept-new after a read ahead adds the key, and the next check (reading again) finds it', async () => {
    const f = join(dir, 'known_hosts_new');
    writeFileSync(f, line('other', OTHER));
    await readKnownHostsAhead([f]);
    expect(await checkHostKey(f, 'h2', 22, KEY, 'accept-new')).toMatchObject({ accepted: true, status: 'added' });
    expect(await checkHostKey(f, 'h2', 22, KEY, 'yes')).toMatchObject({ accepted: true, status: 'known' });
  });
});
