#!/usr/bin/env bash
# Installs what ssh-x509's demo and tests need on Debian 12 with Node 20:
# the real peers (AsyncSSH, SoftHSM2, OpenSSH, openssl) when missing, and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(softhsm2 opensc python3-asyncssh python3-openssl openssl openssh-server openssh-client tmux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
