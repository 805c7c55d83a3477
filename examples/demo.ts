/**
 * A certificate login through an ssh2 Client with ssh-x509, printed step by
 * step: load a certificate chain and its key into a software Signer, log in
 * with x509v3-ecdsa-sha2-nistp256 (or whatever fits the key), run a command.
 *
 *   CERT_CHAIN=alice-chain.pem PRIVATE_KEY=alice.key SSH_HOST=127.0.0.1 SSH_PORT=22 SSH_USER=alice \
 *   SSH_HOST_KEY='ssh-ed25519 AAAA...' node --import tsx examples/demo.ts
 *
 * `bash scripts/demo.sh` makes a throwaway PKI and a local AsyncSSH server
 * and runs this against them. SSH_HOST_KEY is the server's host key as an
 * OpenSSH public key line: the connection is refused if the server presents
 * another one.
 */
import { Client } from 'ssh2';
import { SoftwareSigner, x509AuthHandler, formatTrace, type TraceEvent } from 'ssh-x509';

const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);
const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
};

try {
  step(3, 'Loading the certificate and key into a software Signer');
  const signer = await SoftwareSigner.fromFiles({ certificateFile: need('CERT_CHAIN'), keyFile: need('PRIVATE_KEY') });
  console.log(`    subject: ${signer.chain.leaf.subject}`);
  console.log(`    issuer:  ${signer.chain.leaf.issuer}`);
  console.log(`    sha256:  ${signer.chain.fingerprints.sha256}`);
  console.log(`    can use: ${signer.chain.algorithms().map((a) => a.name).join(', ')}`);

  const username = need('SSH_USER');
  const expectedHostKey = Buffer.from(need('SSH_HOST_KEY').split(/\s+/)[1] ?? '', 'base64');
  step(4, `Logging in as ${username} with ssh2 + ssh-x509 (${signer.chain.algorithms()[0]?.name}) and running a command`);
  const output = await new Promise<string>((resolve, reject) => {
    const client = new Client();
    client
      .on('ready', () => {
        client.exec('echo "logged in as $USER"', (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('close', () => {
            client.end();
            resolve(out);
          });
        });
      })
      .on('error', reject)
      .connect({
        host: need('SSH_HOST'),
        port: Number(process.env.SSH_PORT ?? 22),
        username,
        hostVerifier: (key: Buffer) => key.equals(expectedHostKey),
        authHandler: x509AuthHandler(username, { signer, logger: (e: TraceEvent) => console.log(`    trace: ${formatTrace(e)}`) }),
      });
  });
  console.log(`    remote output: ${output.trim()}`);
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
}
