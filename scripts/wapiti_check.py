#!/usr/bin/env python3
"""Fail on any wapiti finding that the reviewed allowlist does not cover.

Usage: scripts/wapiti_check.py ALLOWLIST.toml REPORT.json [REPORT.json …]

wapiti exits 0 even when it finds something, so this reads its JSON reports: every entry under
"vulnerabilities" and "anomalies" (500 errors, timeouts) must match an allowlist entry, which
names the category, a regular expression over the finding's info text, optionally ones over the
path and over the raw HTTP request wapiti sent, and the reason it is accepted. Prints the
unlisted findings and exits 1 if there are any.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

SECTIONS = ("vulnerabilities", "anomalies")


def load_allowlist(path: Path) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = tomllib.loads(path.read_text(encoding="utf-8"))["allowed"]
    for entry in entries:
        unknown = set(entry) - {"category", "info", "path", "request", "reason"}
        if unknown or not {"category", "info", "reason"} <= set(entry):
            raise ValueError(f"allowlist entry needs category, info, reason: {entry}")
        if len(entry["reason"].split()) < 8:
            raise ValueError(f"allowlist entry without a real reason: {entry}")
    return entries


def findings(report: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for section in SECTIONS:
        for category, items in (report.get(section) or {}).items():
            for item in items:
                out.append(
                    {
                        "section": section,
                        "category": category,
                        "method": str(item.get("method", "")),
                        "path": str(item.get("path", "")),
                        "parameter": str(item.get("parameter", "")),
                        "info": str(item.get("info", "")),
                        "request": str(item.get("http_request", "")),
                    }
                )
    return out


def allowed(finding: dict[str, str], entries: list[dict[str, str]]) -> bool:
    for entry in entries:
        if entry["category"] != finding["category"]:
            continue
        if not re.search(entry["info"], finding["info"]):
            continue
        if "path" in entry and not re.fullmatch(entry["path"], finding["path"]):
            continue
        if "request" in entry and not re.search(entry["request"], finding["request"]):
            continue
        return True
    return False


def unlisted(allowlist: Path, reports: list[Path]) -> list[dict[str, str]]:
    entries = load_allowlist(allowlist)
    found = []
    for report in reports:
        data = json.loads(report.read_text(encoding="utf-8"))
        found += [f for f in findings(data) if not allowed(f, entries)]
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    bad = unlisted(Path(argv[1]), [Path(p) for p in argv[2:]])
    for f in bad:
        print(
            f"{f['section']}: {f['category']}: {f['method']} {f['path']} "
            f"[{f['parameter']}] {f['info']}"
        )
    if bad:
        print(f"{len(bad)} wapiti finding(s) not in the reviewed allowlist", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
