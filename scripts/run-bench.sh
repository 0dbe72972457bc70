#!/usr/bin/env bash
# `make bench`: every benchmark, on demand (never part of the tests). Loopback only.
# Pass --quick to run the small versions.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)

run() { echo; echo "== $*"; "$py" "$@"; }

[ -f bench/jpki_bench.py ] && run bench/jpki_bench.py
if [ -f bench/sns_bench.py ]; then
  run bench/sns_bench.py --db sqlite "${quick[@]}"
  if scripts/ensure-postgres.sh; then run bench/sns_bench.py --db postgresql "${quick[@]}"; fi
fi
[ -f bench/search_bench.py ] && run bench/search_bench.py "${quick[@]}"
[ -f bench/survey_bench.py ] && run bench/survey_bench.py "${quick[@]}"
# The soak: 10 minutes (--quick: 1) of mixed traffic from Locust against 2 gunicorn workers on
# PostgreSQL. It needs the bench extra and PostgreSQL.
if [ -f bench/soak.py ] && scripts/ensure-postgres.sh; then
  "$py" -c "import locust" 2>/dev/null ||
    "$py" -m pip install -q --require-hashes -r requirements/bench-lock.txt
  run bench/soak.py "${quick[@]}"
fi
exit 0
