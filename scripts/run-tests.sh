#!/usr/bin/env bash
# `make test`: lint, type-check, then the whole pytest suite on SQLite and on PostgreSQL.
# With REQUIRE_POSTGRES=1 an unreachable PostgreSQL is an error, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

echo "== ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .
echo "== mypy"
"$bin/mypy"

pg_url="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/sankaku_test}"
run_pg=0
if scripts/ensure-postgres.sh; then
  run_pg=1
elif [ "${REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "error: PostgreSQL at ${pg_url} is not reachable and REQUIRE_POSTGRES=1" >&2
  exit 1
else
  echo "note: PostgreSQL is not reachable; running on SQLite only"
fi

scripts/ensure-redis.sh

echo "== pytest on SQLite"
env -u TEST_DATABASE_URL "$bin/python" -m pytest "$@"

if [ "$run_pg" = "1" ]; then
  echo "== pytest on PostgreSQL"
  TEST_DATABASE_URL="$pg_url" "$bin/python" -m pytest "$@"
fi
