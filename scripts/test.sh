#!/usr/bin/env bash
# Quick start, part 2: the whole test suite against real peers on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec npm test
