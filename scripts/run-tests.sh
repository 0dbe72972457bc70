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

# Two pytest-xdist workers (one per core; TEST_WORKERS overrides, 0 runs in one process), whole
# test files to a worker so module fixtures are built once. The tests that drive the emulated
# card share vpcd's single test slot, so they run afterwards in one process.
workers="${TEST_WORKERS:-2}"
parallel=()
[ "$workers" != "0" ] && parallel=(-n "$workers" --dist loadfile)

run_suite() {
  "$bin/python" -m pytest "${parallel[@]}" -m "not card" "$@"
  local rc=0
  "$bin/python" -m pytest -m card "$@" || rc=$?
  [ "$rc" = "0" ] || [ "$rc" = "5" ]  # 5: the selection holds no card test
}

echo "== pytest on SQLite"
(unset TEST_DATABASE_URL; run_suite "$@")

if [ "$run_pg" = "1" ]; then
  echo "== pytest on PostgreSQL"
  TEST_DATABASE_URL="$pg_url" run_suite "$@"
fi
