/**
 * The publickey USERAUTH_REQUEST and its signed data (RFC 4252 section 7),
 * as src/rfc6187 builds them, read back field by field with the wire reader.
 */
import { describe, expect, it } from 'vitest';
import { encodePublickeyRequest, publickeySignedData, SSH_MSG_USERAUTH_REQUEST, SshReader, wrapSignature } from '../src/index.js';

const req = { username: 'alice', algorithm: 'x509v3-ecdsa-sha2-nistp256', publicKeyBlob: Buffer.from('the blob') };

function readHead(r: SshReader) {
  return {
    msg: r.readByte('msg'),
    user: r.readUtf8('user', 64),
    service: r.readUtf8('service', 64),
    method: r.readUtf8('method', 64),
    signed: r.readBoolean('signed'),
    algorithm: r.readUtf8('algorithm', 64),
    blob: Buffer.from(r.readString('blob')).toString(),
  };
}

describe('publickey USERAUTH_REQUEST', () => {
  it('the query form has FALSE and no signature', () => {
    const r = new SshReader(encodePublickeyRequest(req));
    expect(readHead(r)).toEqual({ msg: SSH_MSG_USERAUTH_REQUEST, user: 'alice', service: 'ssh-connection', method: 'publickey', signed: false, algorithm: req.algorithm, blob: 'the blob' });
    r.expectEnd('request');
  });

  it('the signed form carries the signature blob with its own format name, and the signed data is session id + the request without it', () => {
    const sig = wrapSignature('ecdsa-sha2-nistp256', Buffer.from('sig'));
    const full = encodePublickeyRequest(req, sig);
    const r = new SshReader(full);
    expect(readHead(r)).toMatchObject({ signed: true });
    const blob = new SshReader(r.readString('signature'));
    expect(blob.readUtf8('format', 64)).toBe('ecdsa-sha2-nistp256');
    expect(Buffer.from(blob.readString('sig')).toString()).toBe('sig');
    r.expectEnd('request');
    const signed = publickeySignedData(Buffer.from('SID'), req);
    const s = new SshReader(signed);
    expect(Buffer.from(s.readString('session id')).toString()).toBe('SID');
    expect(Buffer.from(signed.subarray(4 + 3))).toEqual(full.subarray(0, full.length - 4 - sig.length));
  });
});
