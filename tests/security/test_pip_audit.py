"""Dependency audit with no false pass (security.md §0.3, A58).

`pip-audit --strict` audits the project's environment (the project itself, installed editable, is
left out). It passes only on "no known vulnerabilities" with every dependency looked up. Without
`--strict`, pip-audit marks a package it cannot look up as skipped and still exits 0 with
"No known vulnerabilities found": that is the false pass this test refuses.

When the strict run fails, a second run in JSON says why:
- a known vulnerability → the test fails and names it;
- some dependencies could not be looked up while others could → the test fails (a package the
  advisory service does not know cannot be called safe);
- the advisory service answered for no dependency at all (offline build machine, no route to the
  service, a mirror without the JSON API) → the result is "not checked": the test is skipped with
  exactly that reason, never reported as passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_CHECKED = "not checked: the vulnerability advisory service could not be reached"

pytest.importorskip("pip_audit", reason="pip-audit is a test dependency (pip install -e .[test])")


@dataclass
class Verdict:
    vulnerable: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    audited: int = 0

    @property
    def unreachable(self) -> bool:
        """The service looked up nothing: every non-editable dependency was skipped."""
        return self.audited == 0 and bool(self.unaudited)


def classify(report: dict[str, Any]) -> Verdict:
    """Read a pip-audit JSON report (format `json`)."""
    verdict = Verdict()
    for dep in report["dependencies"]:
        reason = dep.get("skip_reason")
        if reason:
            if "editable" not in reason:
                verdict.unaudited.append(f"{dep['name']}: {reason}")
            continue
        verdict.audited += 1
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            verdict.vulnerable.append(f"{dep['name']} {dep['version']}: {vuln['id']} ({fixes})")
    return verdict


def pip_audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_dependencies_have_no_known_vulnerabilities(tmp_path):
    strict = pip_audit("--strict")
    if strict.returncode == 0:
        assert "No known vulnerabilities found" in strict.stdout + strict.stderr
        return
    out = tmp_path / "audit.json"
    pip_audit("--format", "json", "--output", str(out))
    if not out.exists():
        pytest.fail(f"pip-audit --strict failed and wrote no report:\n{strict.stderr[-2000:]}")
    verdict = classify(json.loads(out.read_text(encoding="utf-8")))
    assert not verdict.vulnerable, "known vulnerabilities:\n" + "\n".join(verdict.vulnerable)
    if verdict.unreachable:
        pytest.skip(NOT_CHECKED)
    assert not verdict.unaudited, "could not be audited:\n" + "\n".join(verdict.unaudited)
    pytest.fail(f"pip-audit --strict failed for another reason:\n{strict.stderr[-2000:]}")


def _dep(name: str, *, skip: str = "", vulns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    if skip:
        return {"name": name, "skip_reason": skip}
    return {"name": name, "version": "1.0", "vulns": vulns or []}


NOT_FOUND = "Dependency not found on PyPI and could not be audited: x (1.0)"


def test_the_verdict_cannot_pass_falsely():
    """The oracle can fail: each way a report is not "no known vulnerabilities" is caught."""
    clean = classify({"dependencies": [_dep("flask"), _dep("sankaku", skip="editable")]})
    assert clean == Verdict(audited=1)
    assert not clean.unreachable

    vuln = {"id": "PYSEC-0000-1", "fix_versions": ["1.1"]}
    assert classify({"dependencies": [_dep("flask", vulns=[vuln])]}).vulnerable == [
        "flask 1.0: PYSEC-0000-1 (1.1)"
    ]

    partial = classify({"dependencies": [_dep("flask"), _dep("pyscard", skip=NOT_FOUND)]})
    assert partial.unaudited and not partial.unreachable  # a failure, not "not checked"

    offline = classify(
        {"dependencies": [_dep("flask", skip=NOT_FOUND), _dep("sankaku", skip="editable")]}
    )
    assert offline.unreachable  # "not checked", never a pass
