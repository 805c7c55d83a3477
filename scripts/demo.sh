#!/usr/bin/env bash
# Quick start, part 1: a throwaway PKI, a local RFC 6187 server, a certificate login from the library
# and from the command.
#   bash scripts/demo.sh          the demo; everything is removed at the end
#   bash scripts/demo.sh --keep   the same, then the PKI, the server and an ssh_config stay in lab/ to try things
#   bash scripts/demo.sh --stop   stop the kept lab's server and remove lab/
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stop" ]]; then
  exec node --import tsx scripts/demo.ts --stop
fi
bash scripts/bootstrap.sh
npm run build --silent >/dev/null
exec node --import tsx scripts/demo.ts "$@"
