#!/usr/bin/env bash
# Install the Debian packages Sankaku needs when they are missing, and start pcscd.
# Usage: scripts/ensure-system.sh run|test|bench
set -euo pipefail

mode="${1:-run}"
packages=(python3-venv python3-dev gcc pcscd libpcsclite-dev swig vsmartcard-vpcd)
if [ "$mode" = "test" ]; then
  # nginx runs the shipped proxy configuration in tests/security/test_proxy_config.py.
  packages+=(chromium fonts-noto-cjk postgresql-client wapiti nginx)
  # npm fetches axe-core for the accessibility tests (tests/a11y/package-lock.json).
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi
if [ "$mode" = "bench" ]; then
  packages+=(wrk postgresql-client)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else
    echo "error: need root (or sudo) to run: $*" >&2
    exit 1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# pcscd talks to the virtual reader (vpcd) the emulated My Number Card plugs into.
if ! pidof pcscd >/dev/null 2>&1; then
  as_root pcscd
  for _ in $(seq 1 50); do
    [ -S /run/pcscd/pcscd.comm ] && break
    sleep 0.1
  done
fi
