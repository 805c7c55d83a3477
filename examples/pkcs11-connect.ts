/**
 * Logs in to an SSH server with a certificate whose private key stays on a
 * PKCS#11 token, and runs one command.
 *
 *   SOFTHSM2_CONF=... PKCS11_MODULE=... PKCS11_URI='pkcs11:token=...;id=%01' PIN=1234 \
 *   SSH_HOST=127.0.0.1 SSH_PORT=22 SSH_USER=alice SSH_HOST_KEY='ssh-ed25519 AAAA...' \
 *   [INTERMEDIATES=intermediate.pem] node --import tsx examples/pkcs11-connect.ts
 *
 * SSH_HOST_KEY is the server's host key as an OpenSSH public key line: the
 * connection is refused if the server presents another one.
 */
import { Client } from 'ssh2';
import { x509AuthHandler } from 'ssh-x509';
import { Pkcs11Signer } from 'ssh-x509/pkcs11';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
};

const signer = await Pkcs11Signer.open({
  module: process.env.PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so',
  uri: need('PKCS11_URI'),
  pin: async () => need('PIN'),
  ...(process.env.INTERMEDIATES ? { intermediatesFile: process.env.INTERMEDIATES } : {}),
});
signer.onRemoved(() => console.error('the token was removed'));
console.log(`certificate: ${signer.chain.leaf.subject} (${signer.chain.fingerprints.sha256}) on token "${signer.location.tokenLabel}"`);

const expectedHostKey = Buffer.from(need('SSH_HOST_KEY').split(/\s+/)[1] ?? '', 'base64');
const username = need('SSH_USER');
try {
  const output = await new Promise<string>((resolve, reject) => {
    const client = new Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.exec(process.env.SSH_COMMAND ?? 'echo logged in as $USER', (err, stream) => {
        if (err) return reject(err);
        let out = '';
        stream.on('data', (d: Buffer) => (out += d.toString()));
        stream.on('close', () => {
          client.end();
          resolve(out);
        });
      });
    });
    client.connect({
      host: need('SSH_HOST'),
      port: Number(process.env.SSH_PORT ?? 22),
      username,
      hostVerifier: (key: Buffer) => key.equals(expectedHostKey),
      authHandler: x509AuthHandler(username, { signer }),
    });
  });
  console.log(`remote output: ${output.trim()}`);
} finally {
  await signer.close();
}
