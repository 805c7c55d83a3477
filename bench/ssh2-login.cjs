// The floor for any Node.js SSH client, for `npm run bench`: ssh2 alone logs in with a plain key
// (no X.509, no ssh_config, no known_hosts parser: the host key is compared as bytes), runs
// `true` and exits with its status. Nagle's algorithm off, as `ssh-x509 connect` has it.
// Plain CommonJS, run by plain node: no loader, no TypeScript.
// usage: node bench/ssh2-login.cjs <port> <private key file> <host public key line file> <user>
'use strict';
const { readFileSync } = require('node:fs');
const { Client } = require('ssh2');

const [port, keyFile, hostKeyFile, username] = process.argv.slice(2);
const hostKey = Buffer.from(readFileSync(hostKeyFile, 'utf8').trim().split(/\s+/)[1], 'base64');
const client = new Client();
client.on('ready', () => {
  client.exec('true', (err, stream) => {
    if (err) throw err;
    let status = 255;
    stream.on('exit', (code) => (status = code));
    stream.on('close', () => {
      process.exitCode = status;
      client.end();
    });
    stream.resume();
    stream.stderr.resume();
  });
});
client.on('error', (e) => {
  process.stderr.write(`ssh2-login: ${e.message}\n`);
  process.exitCode = 255;
});
client.connect({ host: '127.0.0.1', port: Number(port), username, privateKey: readFileSync(keyFile), hostVerifier: (key) => key.equals(hostKey) });
client.setNoDelay(true);
