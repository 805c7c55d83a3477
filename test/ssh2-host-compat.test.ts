/**
 * The client key-exchange part of the ssh2 compatibility module: explicit,
 * idempotent, a no-op for key exchanges that do not negotiate an x509v3
 * host key, and refusing with ERR_SSH2_UNSUPPORTED on an ssh2 it does not
 * recognise (by module shape at install time, and by key exchange object
 * shape when it meets one).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALGORITHMS, installSsh2HostKeyCompat } from '../src/index.js';

const req = createRequire(import.meta.url);
const Protocol = req('ssh2/lib/protocol/Protocol.js') as { prototype: object };
const constants = req('ssh2/lib/protocol/constants.js') as { SUPPORTED_SERVER_HOST_KEY: string[]; DEFAULT_SERVER_HOST_KEY: string[] };
const dir = mkdtempSync(join(tmpdir(), 'ssh-x509-hostcompat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const X509_NAMES = ALGORITHMS.filter((a) => !a.legacy).map((a) => a.name);

/** A client-side Protocol object as far as the accessor and the hook look at it, with a key exchange `kex`. */
function fakeProtocol(kex: Record<string, unknown>) {
  const errors: Error[] = [];
  const p = Object.create(Protocol.prototype) as Record<string, unknown>;
  Object.assign(p, {
    _server: false,
    disconnect() {},
    _destruct() {},
    _onError: (e: Error) => errors.push(e),
  });
  p._hostVerifier = () => undefined;
  kex._protocol = p;
  p._kex = kex;
  return { p, errors };
}

describe('ssh2 host-key compatibility', () => {
  it('is idempotent: the x509v3 names are added once, the accessor installed once, the default offer untouched', () => {
    const defaults = [...constants.DEFAULT_SERVER_HOST_KEY];
    installSsh2HostKeyCompat();
    const descriptor = Object.getOwnPropertyDescriptor(Protocol.prototype, '_hostVerifier');
    installSsh2HostKeyCompat();
    expect(Object.getOwnPropertyDescriptor(Protocol.prototype, '_hostVerifier')!.get).toBe(descriptor!.get);
    for (const n of X509_NAMES) expect(constants.SUPPORTED_SERVER_HOST_KEY.filter((x) => x === n)).toHaveLength(1);
    expect(constants.DEFAULT_SERVER_HOST_KEY).toEqual(defaults);
    expect(constants.DEFAULT_SERVER_HOST_KEY.some((n) => n.startsWith('x509v3-'))).toBe(false);
  });

  it('keeps each Protocol its own hostVerifier, and leaves a key exchange of a plain host key alone', () => {
    installSsh2HostKeyCompat();
    const finish = () => 'ssh2';
    const { p } = fakeProtocol({ negotiated: { serverHostKey: 'ssh-ed25519' }, finish });
    const mine = () => undefined;
    p._hostVerifier = mine;
    expect(p._hostVerifier).toBe(mine);
    expect((p._kex as { finish: unknown }).finish).toBe(finish);
    const other = fakeProtocol({ negotiated: { serverHostKey: 'ssh-ed25519' }, finish }).p;
    expect(other._hostVerifier).not.toBe(mine);
  });

  it('refuses a key exchange object of an unknown shape with ERR_SSH2_UNSUPPORTED (fails closed)', () => {
    installSsh2HostKeyCompat();
    const kex: Record<string, unknown> = { negotiated: { serverHostKey: 'x509v3-ecdsa-sha2-nistp256' }, finish: () => 'ssh2 finish' };
    const { p, errors } = fakeProtocol(kex);
    void p._hostVerifier; // what ssh2 reads when K_S has arrived
    expect(kex.finish).not.toBe(undefined);
    const r = (kex.finish as () => unknown)();
    expect(r).not.toBe('ssh2 finish');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('key exchange object has an unknown shape') });
  });

  it('refuses an ssh2 whose constants or Protocol do not look as expected', () => {
    const fake = (name: string, constantsJs: string, protocolJs = 'module.exports = class { authPK(a, b, c, d) {} requestSuccess() {} openssh_hostKeysProve(keys) {} };') => {
      const root = join(dir, name);
      mkdirSync(join(root, 'lib', 'protocol'), { recursive: true });
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'ssh2', version: '1.17.0', main: 'lib/index.js' }));
      writeFileSync(join(root, 'lib', 'index.js'), 'module.exports = { BaseAgent: class {}, utils: { parseKey() {} }, Client: class { connect(cfg) {} } };');
      writeFileSync(join(root, 'lib', 'protocol', 'Protocol.js'), protocolJs);
      writeFileSync(join(root, 'lib', 'protocol', 'utils.js'), 'module.exports = { sendPacket() {}, doFatalError() {} };');
      writeFileSync(join(root, 'lib', 'protocol', 'constants.js'), constantsJs);
      return join(root, 'lib', 'index.js');
    };
    const ok = `module.exports = { MESSAGE: { USERAUTH_REQUEST: 50 }, DISCONNECT_REASON: { KEY_EXCHANGE_FAILED: 3 }, SUPPORTED_SERVER_HOST_KEY: ['ssh-ed25519'], DEFAULT_SERVER_HOST_KEY: ['ssh-ed25519'] };`;
    expect(() => installSsh2HostKeyCompat({ ssh2Entry: fake('no-list', 'module.exports = { MESSAGE: { USERAUTH_REQUEST: 50 } };') })).toThrow(
      expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('SUPPORTED_SERVER_HOST_KEY') }),
    );
    expect(() =>
      installSsh2HostKeyCompat({ ssh2Entry: fake('own-verifier', ok, 'module.exports = class { authPK(a, b, c, d) {} }; Object.defineProperty(module.exports.prototype, "_hostVerifier", { get() {} });') }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('_hostVerifier') }));
    // ssh2 answers host key announcements elsewhere than the bridge knows: refused.
    expect(() => installSsh2HostKeyCompat({ ssh2Entry: fake('no-prove', ok, 'module.exports = class { authPK(a, b, c, d) {} requestSuccess() {} };') })).toThrow(
      expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('openssh_hostKeysProve') }),
    );
    // The same shape as ssh2 1.17: accepted.
    expect(() => installSsh2HostKeyCompat({ ssh2Entry: fake('good', ok) })).not.toThrow();
  });
});
