#!/usr/bin/env bash
# Installs what ssh-x509's demo and tests need on Debian 12 with Node 20:
# the real peers (AsyncSSH, SoftHSM2, OpenSSH, openssl, the smartcard middleware: pcscd, vpcd, OpenSC)
# when missing, iproute2 for the virtual card's quickack route (test/helpers/pcsc.ts), and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(softhsm2 python3-asyncssh python3-openssl openssl openssh-server openssh-client tmux iproute2)
# Without their recommends: vsmartcard-vpcd's pull in vsmartcard-vpicc, pcscd's pcsc-tools and GTK.
bare_pkgs=(opensc pcscd vsmartcard-vpcd)
missing_of() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}
mapfile -t missing < <(missing_of "${pkgs[@]}")
mapfile -t missing_bare < <(missing_of "${bare_pkgs[@]}")
if [ "${#missing[@]}" -gt 0 ] || [ "${#missing_bare[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]} ${missing_bare[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ "${#missing_bare[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_bare[@]}" >/dev/null
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
