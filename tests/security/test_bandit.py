"""bandit on app/ at medium severity and above, against a reviewed baseline (security.md §3).

Every finding must be listed in bandit_baseline.toml with the reason it is accepted; a new
finding fails, and so does a baseline entry that matches nothing any more.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("bandit_baseline.toml")

# Checks for Django's QuerySet.extra() and RawSQL: they fire on any callable named `extra`
# (visibility rule hooks, timeline sources). Sankaku has no Django (checked below).
DJANGO_ONLY = ("B610", "B611")
SKIP = ("--skip", ",".join(DJANGO_ONLY))

pytest.importorskip("bandit", reason="bandit is a test dependency (pip install -e .[test])")


def load_baseline() -> list[dict[str, str]]:
    entries = tomllib.loads(BASELINE.read_text(encoding="utf-8"))["accepted"]
    for entry in entries:
        assert set(entry) == {"test_id", "file", "line_contains", "reason"}, entry
        assert len(entry["reason"].split()) >= 8, f"give a real reason: {entry}"
    return entries


def run_bandit(target: Path = ROOT / "app", cwd: Path = ROOT) -> list[dict[str, Any]]:
    relative = str(target.relative_to(cwd))
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", relative, "-ll", "-f", "json", "-q", *SKIP],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["errors"] == [], report["errors"]
    assert result.returncode in (0, 1), result.stderr
    return report["results"]


def flagged_line(finding: dict[str, Any], root: Path = ROOT) -> str:
    lines = (root / finding["filename"]).read_text(encoding="utf-8").splitlines()
    return lines[finding["line_number"] - 1]


def matches(entry: dict[str, str], finding: dict[str, Any], root: Path = ROOT) -> bool:
    return (
        entry["test_id"] == finding["test_id"]
        and entry["file"] == finding["filename"]
        and entry["line_contains"] in flagged_line(finding, root)
    )


def test_bandit_finds_nothing_beyond_the_reviewed_baseline() -> None:
    baseline = load_baseline()
    findings = run_bandit()
    assert all(f["issue_severity"] in ("MEDIUM", "HIGH") for f in findings)
    new = [
        f"{f['test_id']} {f['filename']}:{f['line_number']} {f['issue_text']}"
        for f in findings
        if not any(matches(entry, f) for entry in baseline)
    ]
    assert new == [], "new bandit findings (fix them, or review and add to the baseline)"
    stale = [e for e in baseline if not any(matches(e, f) for f in findings)]
    assert stale == [], "baseline entries that match no finding any more: remove them"


def test_the_skipped_django_checks_have_nothing_to_check() -> None:
    for path in (ROOT / "app").rglob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+django\b", path.read_text(), re.M), path


def test_a_new_finding_is_not_covered_by_the_baseline(tmp_path: Path) -> None:
    """The check can fail: string-built SQL and pickle in a copy of a baselined file are
    reported and match no entry, while the baselined line still does."""
    target = tmp_path / "app" / "sns"
    target.mkdir(parents=True)
    source = (ROOT / "app/sns/text.py").read_text(encoding="utf-8")
    source += (
        "\n\ndef find(db, name):\n"
        "    return db.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)\n"
        "\n\ndef load(blob):\n"
        "    import pickle\n\n    return pickle.loads(blob)\n"
    )
    (target / "text.py").write_text(source, encoding="utf-8")
    findings = run_bandit(tmp_path / "app", cwd=tmp_path)
    baseline = load_baseline()
    uncovered = {
        f["test_id"] for f in findings if not any(matches(e, f, tmp_path) for e in baseline)
    }
    assert {"B608", "B301"} <= uncovered
    assert any(f["test_id"] == "B704" for f in findings)
    assert all(
        any(matches(e, f, tmp_path) for e in baseline) for f in findings if f["test_id"] == "B704"
    )
