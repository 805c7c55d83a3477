#!/usr/bin/python3
"""AsyncSSH (Debian python3-asyncssh 2.10) client that logs in with an X.509
certificate chain (RFC 6187), runs one command and relays its stdout, stderr
and exit status.  On connection or authentication failure it prints
``ERROR <type>: <message>`` on stderr and exits with status 255.

``--host-trust <pem>`` with ``--host-key-alg <name>``: the server must
present an X.509 host certificate under that host key algorithm that chains
to the given trust anchor with purpose secureShellServer (RFC 6187); no
other host key is accepted and nothing is pinned.  Without them the host
key is not checked (or matched against ``--known-host``).
"""

import argparse
import asyncio
import sys
import warnings

warnings.simplefilter('ignore')  # cryptography deprecation noise on import

import asyncssh


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
    parser.add_argument('--host-trust', help='trust anchor PEM for the '
                        'server\'s X.509 host certificate')
    parser.add_argument('--host-key-alg', help='the one host key algorithm '
                        'to accept, e.g. x509v3-ecdsa-sha2-nistp256')
    args = parser.parse_args()

    keypair = asyncssh.load_keypairs([(args.key, args.chain)])[0]
    alg = args.algorithm.encode()
    keypair.set_sig_algorithm(alg)

    known_hosts = None
    host_options = {'x509_trusted_certs': []}
    if args.known_host:
        host_key = asyncssh.import_public_key(args.known_host)
        known_hosts = ([host_key], [], [])
    if args.host_trust:
        known_hosts = ([], [], [], [], [], [], [])
        host_options = dict(x509_trusted_certs=[args.host_trust],
                            x509_purposes='secureShellServer',
                            server_host_key_algs=[args.host_key_alg])

    async with asyncssh.connect(
            args.host, args.port, username=args.username,
            client_keys=[keypair], signature_algs=[args.algorithm],
            known_hosts=known_hosts, agent_path=None, password_auth=False,
            kbdint_auth=False, gss_auth=False, host_based_auth=False,
            config=[], x509_trusted_cert_paths=[], **host_options) as conn:
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
