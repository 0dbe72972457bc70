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
exit 0
