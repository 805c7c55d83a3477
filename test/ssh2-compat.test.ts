/**
 * The ssh2 compatibility module: proves the inner-name fix matters (plain
 * ssh2 is refused by AsyncSSH), that it is idempotent, that it leaves other
 * keys alone, and that it refuses an ssh2 it does not recognise.
 *
 * This file installs the fix itself, after the first test: it must run in
 * its own process (vitest's forks pool does that per file).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ssh2 from 'ssh2';
import { encodePublicKeyBlob, getAlgorithm, installSsh2Compat, SUPPORTED_SSH2_RANGE, primitiveToSsh, SoftwareSigner, x509AuthHandler } from '../src/index.js';
import { SshWriter } from '../src/wire/writer.js';
import { DEFAULT_AUTHORIZED_KEYS, startAsyncSshServer, type AsyncSshServer } from './helpers/asyncssh.js';
import { createTestPki, type IssuedCert } from './helpers/pki.js';
import { ssh2Exec } from './helpers/ssh2-run.js';
import { waitForLog } from './helpers/wait.js';

let dir: string;
let server: AsyncSshServer;
let leaf: IssuedCert;
let plainKeyPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssh-x509-compat-'));
  const pki = await createTestPki(join(dir, 'pki'));
  leaf = await pki.issue('alice', 'p256');
  plainKeyPath = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plainKeyPath]);
  const plainPub = readFileSync(`${plainKeyPath}.pub`, 'utf8').trim();
  server = await startAsyncSshServer({ trust: [pki.root.certPath], dir: join(dir, 'server'), authorizedKeysLines: [...DEFAULT_AUTHORIZED_KEYS, plainPub] });
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const connect = (username: string, authHandler: ssh2.AuthHandlerMiddleware | ssh2.AnyAuthMethod[]) => ssh2Exec({ host: '127.0.0.1', port: server.port, username, authHandler }, 'echo in');

describe('ssh2 compatibility module', () => {
  it('is needed: the request as plain ssh2 signs it (x509v3 name inside the signature) is refused by AsyncSSH', async () => {
    // Built from ssh2's public API only, before the fix is installed: an agent
    // key whose type is the x509v3 name, signed correctly, wrapped by ssh2 itself.
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const alg = getAlgorithm('x509v3-ecdsa-sha2-nistp256');
    const base = ssh2.utils.parseKey(`ssh-ed25519 ${new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(1)).toBuffer().toString('base64')}`);
    const blob = encodePublicKeyBlob({ algorithm: alg.name, certificates: signer.chain.der, ocspResponses: [] });
    const key = Object.create(base as object, { type: { value: alg.name }, getPublicSSH: { value: () => blob } });
    class PlainAgent extends ssh2.BaseAgent {
      override getIdentities(cb: (err: Error | null, keys?: ssh2.ParsedKey[]) => void) {
        cb(null, [key as ssh2.ParsedKey]);
      }
      override sign(_k: unknown, data: Buffer, _o: unknown, cb?: (err: Error | null, sig?: Buffer) => void) {
        void signer.sign(data, alg.hash).then((p) => cb!(null, Buffer.from(primitiveToSsh(p, alg))));
      }
    }
    const logBefore = server.log().length;
    await expect(connect('alice', [{ type: 'agent', username: 'alice', agent: new PlainAgent() }])).rejects.toMatchObject({ level: 'client-authentication' });
    const log = await waitForLog(() => server.log().slice(logBefore), 'phase=sign');
    expect(log).toContain('phase=sign sig=x509v3-ecdsa-sha2-nistp256 result=fail');
  });

  it('with the fix, the same certificate logs in and the signature carries the RFC 6187 name', async () => {
    const signer = await SoftwareSigner.fromFiles({ certificateFile: leaf.chainPath, keyFile: leaf.keyPath });
    const logBefore = server.log().length;
    const r = await connect('alice', x509AuthHandler('alice', { signer }));
    expect(r.stdout).toBe('in\n');
    expect(await waitForLog(() => server.log().slice(logBefore), 'phase=sign')).toContain('alg=x509v3-ecdsa-sha2-nistp256 phase=sign sig=ecdsa-sha2-nistp256 result=ok');
  });

  it('is idempotent: installing again neither re-wraps ssh2 nor changes what it returns', () => {
    const Protocol = createRequire(import.meta.url)('ssh2/lib/protocol/Protocol.js') as { prototype: { authPK: unknown } };
    const a = installSsh2Compat();
    const wrapped = Protocol.prototype.authPK;
    expect(wrapped).toBeTypeOf('function');
    expect(Function.prototype.toString.call(wrapped)).toContain('original.call');
    const b = installSsh2Compat();
    expect(b).toBe(a);
    expect(Protocol.prototype.authPK).toBe(wrapped);
  });

  it('leaves keys that are not ours to ssh2: a plain ssh-ed25519 key still logs in', async () => {
    installSsh2Compat();
    const r = await connect('alice', [{ type: 'publickey', username: 'alice', key: readFileSync(plainKeyPath) }]);
    expect(r.stdout).toBe('in\n');
    expect(await waitForLog(server.log, 'alg=ssh-ed25519 phase=sign')).toMatch(/AUTH user=alice alg=ssh-ed25519 phase=sign sig=ssh-ed25519 result=ok/);
  });

  it('refuses an ssh2 whose version or internals it does not recognise', () => {
    const fake = (version: string, withProtocol: boolean) => {
      const root = join(dir, `fake-ssh2-${version}-${withProtocol}`);
      mkdirSync(join(root, 'lib', 'protocol'), { recursive: true });
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'ssh2', version, main: 'lib/index.js' }));
      writeFileSync(join(root, 'lib', 'index.js'), 'module.exports = { BaseAgent: class {}, utils: { parseKey() {} } };');
      writeFileSync(join(root, 'lib', 'protocol', 'Protocol.js'), withProtocol ? 'module.exports = class { authPK(a) {} };' : 'module.exports = class {};');
      writeFileSync(join(root, 'lib', 'protocol', 'utils.js'), 'module.exports = { sendPacket() {} };');
      writeFileSync(join(root, 'lib', 'protocol', 'constants.js'), 'module.exports = { MESSAGE: { USERAUTH_REQUEST: 50 } };');
      return join(root, 'lib', 'index.js');
    };
    expect(() => installSsh2Compat({ ssh2Entry: fake('2.0.0', true) })).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('"2.0.0"') }));
    // The range in the message is the one the check applies: just below it and at its bottom.
    expect(() => installSsh2Compat({ ssh2Entry: fake('1.14.9', true) })).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining(`"1.14.9". Supported: ssh2 ${SUPPORTED_SSH2_RANGE}`) }));
    expect(() => installSsh2Compat({ ssh2Entry: fake('1.15.0', false) })).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('authPK') }));
    expect(() => installSsh2Compat({ ssh2Entry: fake('1.17.0', false) })).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED', message: expect.stringContaining('authPK') }));
    expect(() => installSsh2Compat({ ssh2Entry: fake('1.17.0', true) })).toThrow(expect.objectContaining({ code: 'ERR_SSH2_UNSUPPORTED' }));
  });
});
