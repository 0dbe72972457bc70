#!/usr/bin/env bash
# `make run`: migrate, build the demo town, insert the emulated My Number Card, serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
host="${HOST:-127.0.0.1}"
port="${PORT:-5000}"
instance="${INSTANCE_DIR:-instance}"
export FLASK_APP=app:create_app
export SERVER_BASE_URL="${SERVER_BASE_URL:-http://$host:$port}"

"$bin/flask" db upgrade
renewed=0
if [ -z "${JPKI_TRUST_DIR:-}" ]; then
  # The test CRLs are valid for one day: renew the test PKI when it is older than 12 hours.
  if [ ! -d "$instance/jpki-test" ] || [ -n "$(find "$instance/jpki-test/crl" -name '*.crl' -mmin +720 2>/dev/null | head -1)" ]; then
    echo "Generating the test PKI for the emulated My Number Card…"
    rm -rf "$instance/jpki-test"
    "$bin/flask" jpki make-test-pki "$instance/jpki-test" >/dev/null
    renewed=1
  fi
fi
"$bin/flask" sample demo --if-empty
if [ "$renewed" = "1" ]; then "$bin/flask" sample demo-card >/dev/null 2>&1 || true; fi

card_pid=""
cleanup() { [ -n "$card_pid" ] && kill "$card_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
if [ -z "${JPKI_TRUST_DIR:-}" ] && pidof pcscd >/dev/null 2>&1; then
  "$bin/flask" jpki virtual-card --pki "$instance/jpki-test" --card taro >"$instance/virtual-card.log" 2>&1 &
  card_pid=$!
  cat <<TEXT

Emulated My Number Card inserted (card "taro", PIN 1234), linked to 鈴木 はるか.
Try it: open http://$host:$port/auth/jpki, press the button, then run
    $bin/sankaku-card login http://$host:$port CODE
TEXT
fi

echo
echo "Sankaku is starting at http://$host:$port  (Ctrl-C stops it)"
"$bin/gunicorn" --workers 1 --threads 4 --bind "$host:$port" --access-logfile - \
  --logger-class app.access_log.RedactingLogger 'app:create_app()'
