"""docs/security-checks.md cannot rot: every id of the security checks, each proof real.

The ids are those the security checks define (A01–A75, R01–R21, L01–L05, in that order). When the
source document is at hand (SECURITY_MD, or the shared docs folder beside the checkout), its ids
are read from it and must be exactly these.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "docs" / "security-checks.md"

EXPECTED_IDS = (
    [f"A{n:02d}" for n in range(1, 76)]
    + [f"R{n:02d}" for n in range(1, 22)]
    + [f"L{n:02d}" for n in range(1, 6)]
)
STATUSES = {"passed", "not applicable", "gap"}
ROW = re.compile(r"^\| ([ARL]\d\d) \| (.+?) \| (passed|not applicable|gap|[^|]+?) \| (.*) \|$")
PROOF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
DEFINED = re.compile(r"^\s*- \*\*([ARL]\d\d)\*\*", re.MULTILINE)


@dataclass(frozen=True)
class Row:
    id: str
    check: str
    status: str
    proof: str


def parse(text: str) -> list[Row]:
    return [Row(*m.groups()) for line in text.splitlines() if (m := ROW.match(line))]


def source_document() -> Path | None:
    for candidate in (os.environ.get("SECURITY_MD"), ROOT.parent / "shared/docs/security.md"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@cache
def function_names(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def problems(rows: list[Row]) -> list[str]:
    """Everything wrong with the checklist rows, empty when it is complete and true."""
    found: list[str] = []
    ids = [row.id for row in rows]
    missing = [i for i in EXPECTED_IDS if i not in ids]
    if missing:
        found.append(f"missing ids: {', '.join(missing)}")
    extra = sorted({i for i in ids if i not in EXPECTED_IDS} | {i for i in ids if ids.count(i) > 1})
    if extra:
        found.append(f"unknown or repeated ids: {', '.join(extra)}")
    if not missing and not extra and ids != EXPECTED_IDS:
        found.append("ids are not in the order of the security checks")
    for row in rows:
        if row.status not in STATUSES:
            found.append(f"{row.id}: unknown status {row.status!r}")
        proofs = PROOF.findall(row.proof)
        if row.status == "passed" and not proofs:
            found.append(f"{row.id}: passed without a cited test")
        if row.status != "passed" and len(re.sub(r"`[^`]*`", "", row.proof).split()) < 5:
            found.append(f"{row.id}: {row.status} needs a reason in words")
        for path, name in proofs:
            if not (ROOT / path).is_file():
                found.append(f"{row.id}: {path} does not exist")
            elif name not in function_names(path):
                found.append(f"{row.id}: {path} has no test function {name}")
    return found


def test_every_check_is_listed_with_a_real_proof():
    rows = parse(CHECKS.read_text(encoding="utf-8"))
    assert problems(rows) == []


def test_the_ids_are_those_security_md_defines():
    document = source_document()
    if document is None:
        pytest.skip("security.md is not beside this checkout; EXPECTED_IDS are checked above")
    assert DEFINED.findall(document.read_text(encoding="utf-8")) == EXPECTED_IDS


def test_the_totals_line_matches_the_rows():
    text = CHECKS.read_text(encoding="utf-8")
    rows = parse(text)
    counts = {s: sum(row.status == s for row in rows) for s in STATUSES}
    line = (
        f"Totals: {counts['passed']} passed, {counts['not applicable']} not applicable, "
        f"{counts['gap']} gaps."
    )
    assert line in text


def test_the_check_can_fail():
    """The oracle can fail: a dropped id, a made-up test, a bare pass, a reasonless gap."""
    good = parse(CHECKS.read_text(encoding="utf-8"))
    assert problems(good[1:]) == ["missing ids: A01"]
    assert problems([good[1], good[0], *good[2:]]) == [
        "ids are not in the order of the security checks"
    ]
    made_up = Row("A01", "x", "passed", "`tests/test_app.py::test_that_does_not_exist`")
    assert problems([made_up, *good[1:]]) == [
        "A01: tests/test_app.py has no test function test_that_does_not_exist"
    ]
    no_file = Row("A01", "x", "passed", "`tests/security/test_nothing_here.py::test_x`")
    assert problems([no_file, *good[1:]]) == [
        "A01: tests/security/test_nothing_here.py does not exist"
    ]
    assert problems([Row("A01", "x", "passed", "looks right"), *good[1:]]) == [
        "A01: passed without a cited test"
    ]
    assert problems([Row("A01", "x", "gap", "todo"), *good[1:]]) == [
        "A01: gap needs a reason in words"
    ]
    assert problems([Row("A01", "x", "fine", "it is fine really, trust me"), *good[1:]]) == [
        "A01: unknown status 'fine'"
    ]
