#!/usr/bin/env bash
# Quick start, part 1: a throwaway PKI, a local RFC 6187 server, a certificate login.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
npm run build --silent >/dev/null
exec node --import tsx scripts/demo.ts
