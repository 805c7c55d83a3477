#!/usr/bin/python3
"""AsyncSSH (Debian python3-asyncssh 2.10) client that logs in with an X.509
certificate chain (RFC 6187), runs one command and relays its stdout, stderr
and exit status.  On connection or authentication failure it prints
``ERROR <type>: <message>`` on stderr and exits with status 255.

``--ignore-server-sig-algs``: AsyncSSH picks a key's signature algorithm
from those the server lists in ``server-sig-algs`` (RFC 8308) whenever that
extension is present (``SSHClientConnection._choose_signature_alg`` in
asyncssh/connection.py), falling back only to the key's *last* algorithm.
ssh2's server hard-codes ``server-sig-algs`` without any x509v3 name, so an
RSA chain (sig_algorithms ``x509v3-rsa2048-sha256``, ``x509v3-ssh-rsa``) can
then only ever offer ``x509v3-ssh-rsa``.  The option wraps that one method:
an x509v3 algorithm the caller asked for (``--algorithm``) is used whether
or not the server lists it; every other key and algorithm goes through
AsyncSSH's own choice unchanged.  Test use only.
"""

import argparse
import asyncio
import sys
import warnings

warnings.simplefilter('ignore')  # cryptography deprecation noise on import

import asyncssh
from asyncssh.connection import SSHClientConnection


def ignore_server_sig_algs_for_x509():
    """Let an explicitly requested x509v3 signature algorithm through even
    when the server's server-sig-algs does not list it (see the docstring)."""

    original = SSHClientConnection._choose_signature_alg

    def choose(self, keypair):
        for alg in keypair.sig_algorithms:
            if alg.startswith(b'x509v3-') and alg in self._sig_algs:
                keypair.set_sig_algorithm(alg)
                return True
        return original(self, keypair)

    SSHClientConnection._choose_signature_alg = choose


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--username', required=True)
    parser.add_argument('--key', required=True, help='private key PEM')
    parser.add_argument('--chain', required=True,
                        help='certificate chain PEM, leaf first')
    parser.add_argument('--algorithm', required=True,
                        help='e.g. x509v3-ecdsa-sha2-nistp256')
    parser.add_argument('--known-host', help='OpenSSH public key line the '
                        'server host key must match (default: not checked)')
    parser.add_argument('--command', required=True)
    parser.add_argument('--ignore-server-sig-algs', action='store_true',
                        help='offer the requested x509v3 algorithm even when '
                        'the server\'s server-sig-algs does not list it')
    args = parser.parse_args()

    if args.ignore_server_sig_algs:
        ignore_server_sig_algs_for_x509()

    keypair = asyncssh.load_keypairs([(args.key, args.chain)])[0]
    alg = args.algorithm.encode()
    keypair.set_sig_algorithm(alg)

    known_hosts = None
    if args.known_host:
        host_key = asyncssh.import_public_key(args.known_host)
        known_hosts = ([host_key], [], [])

    async with asyncssh.connect(
            args.host, args.port, username=args.username,
            client_keys=[keypair], signature_algs=[args.algorithm],
            known_hosts=known_hosts, agent_path=None, password_auth=False,
            kbdint_auth=False, gss_auth=False, host_based_auth=False,
            config=[], x509_trusted_certs=[],
            x509_trusted_cert_paths=[]) as conn:
        result = await conn.run(args.command, encoding=None, stdin=asyncssh.DEVNULL)
    sys.stdout.buffer.write(result.stdout or b'')
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(result.stderr or b'')
    sys.stderr.buffer.flush()
    status = result.exit_status
    return status if status is not None and status >= 0 else 254


if __name__ == '__main__':
    try:
        sys.exit(asyncio.run(main()))
    except (OSError, asyncssh.Error, ValueError, asyncssh.KeyImportError) as exc:
        print('ERROR %s: %s' % (type(exc).__name__, exc), file=sys.stderr,
              flush=True)
        sys.exit(255)
