/**
 * A minimal ssh2 Server that lets users in with X.509 certificates
 * (RFC 6187), binding each certificate to the account named by its UPN's
 * local part, and answers any exec request with the account name.
 *
 *   npx tsx examples/ssh2-server.ts <host-key> <trusted-root.pem> [port]
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { x509Authentication, x509Server, X509Verifier, type TraceEvent, type VerifyResult } from 'ssh-x509';

/** Starts the example server; resolves with its port and a `close` function. */
export async function startExampleServer(hostKeyPath: string, rootPath: string, port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const verifier = await X509Verifier.create({
    trustAnchors: [rootPath],
    account: { map: 'upn-local' },
    revocation: { mode: 'prefer' },
  });
  const server = new ssh2.Server({ hostKeys: [readFileSync(hostKeyPath)] }, (client) => {
    let who: VerifyResult | undefined;
    client.on('authentication', x509Authentication(verifier, { logger: (e: TraceEvent) => console.error(e.message), onAccept: (r) => (who = r) }));
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.write(`hello ${who?.account ?? '?'}\n`);
          stream.exit(0);
          stream.end();
        });
      });
    });
    client.on('error', () => undefined);
  });
  // server-sig-algs names the x509v3 algorithms the verifier accepts (clients such as AsyncSSH
  // and PKIX-SSH offer only those); give `hostKeys` here to offer an X.509 host certificate too.
  x509Server(server, { verifier });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [hostKey, root, port] = process.argv.slice(2);
  if (!hostKey || !root) {
    console.error('usage: examples/ssh2-server.ts <host-key> <trusted-root.pem> [port]');
    process.exit(2);
  }
  const s = await startExampleServer(hostKey, root, Number(port ?? 2222));
  console.log(`listening on 127.0.0.1:${s.port}`);
}
