#!/usr/bin/env bash
# Succeed when the test PostgreSQL answers; try to start a local cluster once if it does not.
# Prints nothing on success. Exit 1 when it cannot be reached.
set -uo pipefail
host="${PGHOST:-127.0.0.1}"
port="${PGPORT:-5432}"

ready() { pg_isready -q -h "$host" -p "$port" -U postgres -t 3 >/dev/null 2>&1; }

ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 30); do ready && exit 0; sleep 0.5; done
fi
exit 1
