#!/usr/bin/python3
"""AsyncSSH (Debian python3-asyncssh 2.10) SSH + SFTP server used as an
RFC 6187 peer by the ssh-x509 tests.  Loopback only.

Prints ``LISTENING <port>`` on stdout once ready; logs one ``AUTH ...`` line
per publickey attempt on stderr; exits cleanly on SIGTERM/SIGINT.

User mapping (documented policy of this test peer, applied by patching
AsyncSSH's X.509 principal check): AsyncSSH 2.10 only accepts username U when
U is one of the leaf's principals (its rfc822Name SANs, or its CNs when there
is no SAN).  Here U is also accepted when a principal's local part equals U,
i.e. user ``alice`` may log in with a certificate carrying
``alice@example.com``.  Which certificates are accepted at all is decided by
the ``--authorized-keys`` file, e.g. ``x509v3-sign-rsa subject=O=Org,CN=alice``
(RDNs in DER order; any x509v3-* first word; ``subject=O=Org,*`` matches a
prefix) plus chain validation against ``--trust`` roots with the
secureShellClient purpose.
"""

import argparse
import asyncio
import os
import signal
import sys
import warnings

warnings.simplefilter('ignore')  # cryptography deprecation noise on import

import asyncssh
from asyncssh import connection as _conn
from asyncssh.crypto import x509 as _x509
from asyncssh.packet import SSHPacket

DEFAULT_ALGS = [
    'x509v3-ssh-rsa', 'x509v3-rsa2048-sha256',
    'x509v3-ecdsa-sha2-nistp256', 'x509v3-ecdsa-sha2-nistp384',
    'x509v3-ecdsa-sha2-nistp521', 'x509v3-ssh-ed25519',
    'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521', 'ssh-rsa', 'rsa-sha2-256', 'rsa-sha2-512',
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def name_of(blob):
    """First SSH string of a key or signature blob, or '?'."""
    try:
        return SSHPacket(blob).get_string().decode('ascii', 'replace')
    except Exception:  # pylint: disable=broad-except
        return '?'


# --- principal mapping: accept U for principal U or U@<any domain> ---------

_orig_validate = _x509.X509Certificate.validate


def _validate(self, trust_store, purposes, user_principal, host_principal):
    if user_principal:
        for principal in self.user_principals:
            if principal == user_principal or \
                    principal.split('@', 1)[0] == user_principal:
                user_principal = principal
                break
    try:
        _orig_validate(self, trust_store, purposes, user_principal,
                       host_principal)
    except ValueError as exc:
        log('CHAIN-INVALID subject=%s principals=%s error=%s' %
            (self.subject, ','.join(self.user_principals), exc))
        raise


_x509.X509Certificate.validate = _validate


# --- per-attempt logging and algorithm restriction ------------------------

ALLOWED = set(DEFAULT_ALGS)


async def _validate_public_key(self, username, key_data, msg, signature):
    alg = name_of(key_data)
    sig_fmt = name_of(signature) if msg else '-'
    phase = 'sign' if msg else 'query'

    def done(ok, why=''):
        log('AUTH user=%s alg=%s phase=%s sig=%s result=%s%s' %
            (username, alg, phase, sig_fmt, 'ok' if ok else 'fail',
             ' reason=' + why if why else ''))
        return ok

    if alg not in ALLOWED:
        return done(False, 'algorithm-not-allowed')

    key = (await self._validate_client_certificate(username, key_data)) or \
        (await self._validate_client_public_key(username, key_data))
    if key is None:
        return done(False, 'key-not-authorized')
    if not msg:
        return done(True)

    if sig_fmt not in {a.decode() for a in key.all_sig_algorithms}:
        return done(False, 'bad-signature-format(%s)' % sig_fmt)
    if not key.verify(_conn.String(self._session_id) + msg, signature):
        return done(False, 'bad-signature')
    return done(True)


_conn.SSHServerConnection.validate_public_key = _validate_public_key


# --- exec handling ---------------------------------------------------------

async def handle_process(process):
    command = process.command
    if command is None:
        process.stderr.write(b'interactive shells are not supported\n')
        process.exit(1)
        return

    username = process.get_extra_info('username')
    env = dict(os.environ, USER=username, LOGNAME=username)
    env.update(process.env or {})
    proc = await asyncio.create_subprocess_exec(
        '/bin/sh', '-c', command, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env)

    async def pump_in():
        try:
            while True:
                data = await process.stdin.read(65536)
                if not data:
                    break
                proc.stdin.write(data)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError,
                asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
            pass
        finally:
            proc.stdin.close()

    async def pump_out(src, dst):
        while True:
            data = await src.read(65536)
            if not data:
                break
            dst.write(data)
            await dst.drain()

    stdin_task = asyncio.ensure_future(pump_in())
    try:
        await asyncio.gather(pump_out(proc.stdout, process.stdout),
                             pump_out(proc.stderr, process.stderr))
        code = await proc.wait()
    finally:
        stdin_task.cancel()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log('EXEC user=%s command=%r exit=%d' % (username, command, code))
    process.exit(code if code >= 0 else 128 - code)


# --- main ------------------------------------------------------------------

def load_host_key(path):
    if path and os.path.exists(path):
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key('ssh-ed25519')
    if path:
        key.write_private_key(path)
        key.write_public_key(path + '.pub')
    return key


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--host-key', help='ssh-ed25519 host key; created '
                        '(with <path>.pub) if missing')
    parser.add_argument('--host-x509', nargs=2, metavar=('KEY', 'CHAIN'),
                        action='append', default=[],
                        help='also offer an X.509 host key (key + chain PEM; '
                        'repeatable, one per key type)')
    parser.add_argument('--host-ocsp', metavar='DER',
                        help='staple this DER OCSP response (for the leaf) '
                        'into the X.509 host keys (K_S)')
    parser.add_argument('--x509-name-in-host-signature', action='store_true',
                        help='test only: write the x509v3 algorithm name as '
                        'the signature name of the exchange hash (what an '
                        'unpatched ssh2 server sends)')
    parser.add_argument('--bad-host-signature', action='store_true',
                        help='test only: sign something other than the '
                        'exchange hash with the host keys')
    parser.add_argument('--allow-tcp-forwarding', action='store_true',
                        help='accept direct-tcpip channels (to act as a '
                        'jump host)')
    parser.add_argument('--trust', action='append', default=[],
                        help='trusted root CA PEM (repeatable)')
    parser.add_argument('--authorized-keys', required=True)
    parser.add_argument('--algorithms', help='comma-separated publickey '
                        'algorithms to accept (default: %s)' %
                        ','.join(DEFAULT_ALGS))
    args = parser.parse_args()

    if args.algorithms:
        ALLOWED.clear()
        ALLOWED.update(a.strip() for a in args.algorithms.split(',')
                       if a.strip())

    host_keys = [load_host_key(args.host_key)]
    for pair in args.host_x509:
        keypair = asyncssh.load_keypairs([tuple(pair)])[0]
        if args.host_ocsp:
            with open(args.host_ocsp, 'rb') as f:
                # pylint: disable=protected-access
                keypair._cert._ocsp_responses = [f.read()]
            # AsyncSSH recomputes the blob only when the algorithm changes.
            keypair.set_sig_algorithm(keypair.algorithm)
        host_keys.append(keypair)
    if args.x509_name_in_host_signature:
        _rfc_sign = asyncssh.public_key.SSHLocalKeyPair.sign

        def _x509_name_sign(self, data):
            sig = SSHPacket(_rfc_sign(self, data))
            name, rest = sig.get_string(), sig.get_remaining_payload()
            alg = self.sig_algorithm if self.sig_algorithm.startswith(b'x509v3-') else name
            return _conn.String(alg) + rest

        asyncssh.public_key.SSHLocalKeyPair.sign = _x509_name_sign
    if args.bad_host_signature:
        _orig_sign = asyncssh.public_key.SSHLocalKeyPair.sign
        asyncssh.public_key.SSHLocalKeyPair.sign = \
            lambda self, data: _orig_sign(self, b'not the exchange hash' + data)

    class Forwarding(asyncssh.SSHServer):
        def connection_requested(self, dest_host, dest_port, orig_host,
                                 orig_port):
            log('FORWARD to %s port %d' % (dest_host, dest_port))
            return True

    server = await asyncssh.listen(
        '127.0.0.1', args.port,
        server_factory=Forwarding if args.allow_tcp_forwarding else None,
        server_host_keys=host_keys,
        x509_trusted_certs=args.trust,
        x509_purposes='secureShellClient',
        authorized_client_keys=args.authorized_keys,
        signature_algs=[a for a in DEFAULT_ALGS if a in ALLOWED] or (),
        password_auth=False, kbdint_auth=False,
        process_factory=handle_process, encoding=None,
        sftp_factory=True, allow_scp=True)

    port = server.sockets[0].getsockname()[1]
    print('LISTENING %d' % port, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    log('STOPPED')


if __name__ == '__main__':
    try:
        asyncio.run(main())
    except (OSError, asyncssh.Error, ValueError) as exc:
        log('FATAL %s: %s' % (type(exc).__name__, exc))
        sys.exit(2)
