#!/usr/bin/env bash
# `make lock`: regenerate the hash-pinned dependency locks from pyproject.toml with uv, which is
# installed (hash-checked, from requirements/uv.txt) into a temporary venv and removed afterwards.
#   requirements/uv.txt            uv itself, at the version requirements/uv.in names
#   requirements/lock.txt          runtime + test extra + pip + the build backend (make venv)
#   requirements/bench-lock.txt    the same versions plus the bench extra (make bench)
#   requirements/runtime-lock.txt  the same versions, runtime only (a production venv)
# Pins already in the locks are kept unless asked: --upgrade (everything) or
# --upgrade-package NAME (one package). Resolved for CPython 3.11 on x86_64 Linux.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --require-hashes -r requirements/uv.txt

compile() {
  "$tmp/venv/bin/uv" pip compile -q --generate-hashes --python-version 3.11 \
    --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" "$@"
}
compile -o requirements/uv.txt requirements/uv.in
compile "$@" --extra test -o requirements/lock.txt pyproject.toml requirements/build.in
compile "$@" --extra test --extra bench -c requirements/lock.txt \
  -o requirements/bench-lock.txt pyproject.toml requirements/build.in
compile "$@" -c requirements/lock.txt -o requirements/runtime-lock.txt pyproject.toml
echo "wrote requirements/lock.txt, bench-lock.txt and runtime-lock.txt"
