#!/usr/bin/env bash
# Quick start, part 2: the whole test suite against real peers on loopback.
# Installs what is missing, builds (the examples import the package by name), then runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
npm run build >/dev/null
exec npm test
