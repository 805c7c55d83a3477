"""AsyncSSH's own verification of captured RFC 6187 logins, timed.

Run by bench/peers.ts with Debian's /usr/bin/python3 and python3-asyncssh.
Reads a JSON file: {"rounds": n, "sets": [{"name", "trust": [PEM paths],
"logins": [{"blob", "data", "sig", "principal"} as hex]}]} and prints one
JSON line {name: [ms per login, ...]}.

Per login it does what AsyncSSH's server does (connection.py,
_validate_x509_certificate_chain and validate_public_key): decode the
public key blob (parsing every certificate), validate_chain against the
trusted certificates (loaded once, as at server start), and verify the
user's signature with the leaf's key. AsyncSSH caches nothing between
logins, so every login is cold.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings('ignore')

import asyncssh  # noqa: E402
from asyncssh.public_key import decode_ssh_certificate  # noqa: E402


def main() -> None:
    with open(sys.argv[1], encoding='utf8') as f:
        spec = json.load(f)
    rounds = spec['rounds']
    # The pause after each login that the Node.js side takes too (bench/peers.ts `each`), outside the timing.
    idle = spec.get('idle_ms', 0) / 1000
    out = {}
    prepared = []
    for s in spec['sets']:
        trusted = []
        for path in s['trust']:
            trusted.extend(asyncssh.read_certificate_list(path))
        logins = [(bytes.fromhex(l['blob']), bytes.fromhex(l['data']), bytes.fromhex(l['sig']), l['principal'])
                  for l in s['logins']]
        prepared.append((s['name'], trusted, logins))
        out[s['name']] = []

    for _ in range(rounds):
        for name, trusted, logins in prepared:
            times = out[name]
            for blob, data, sig, principal in logins:
                t = time.perf_counter()
                cert = decode_ssh_certificate(blob)
                cert.validate_chain(trusted, [], set(), 'secureShellClient', user_principal=principal)
                ok = cert.key.verify(data, sig)
                times.append((time.perf_counter() - t) * 1000)
                if not ok:
                    raise SystemExit('%s: AsyncSSH refused the signature' % name)
                if idle:
                    time.sleep(idle)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
