"""District of a monitor from the postal code and address, through a configurable table.

Sources, in order: SURVEY_POSTAL_DISTRICTS (postal-code prefix → district), the CSV file
SURVEY_DISTRICTS_FILE (rows `key,district`; a key of digits and hyphens is a postal-code prefix,
any other key a part of the address), then the DISTRICTS names themselves found in the address.
The longest matching postal prefix wins; an address outside every district gives "".
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from pathlib import Path
from typing import Any

from flask import current_app


@functools.lru_cache(maxsize=8)
def _read_file(path: str, mtime: float) -> tuple[tuple[str, str], ...]:
    rows = []
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 2 and row[0].strip() and not row[0].startswith("#"):
                rows.append((row[0].strip(), row[1].strip()))
    return tuple(rows)


def _table(config: Any) -> tuple[dict[str, str], list[tuple[str, str]]]:
    postal: dict[str, str] = {}
    address: list[tuple[str, str]] = []
    for key, district in dict(config.get("SURVEY_POSTAL_DISTRICTS") or {}).items():
        postal[str(key).replace("-", "")] = str(district)
    path = config.get("SURVEY_DISTRICTS_FILE")
    if path:
        for key, district in _read_file(str(path), Path(path).stat().st_mtime):
            compact = key.replace("-", "")
            if compact.isdigit():
                postal[compact] = district
            else:
                address.append((unicodedata.normalize("NFKC", key), district))
    for name in config.get("DISTRICTS") or ():
        address.append((unicodedata.normalize("NFKC", name), name))
    return postal, address


def district_for(postal_code: str, address: str) -> str:
    """The district for a postal code (123-4567) and an address, or "" when none matches."""
    postal, by_address = _table(current_app.config)
    digits = postal_code.replace("-", "")
    for length in range(len(digits), 0, -1):
        hit = postal.get(digits[:length])
        if hit:
            return hit
    text = unicodedata.normalize("NFKC", address)
    for fragment, district in sorted(by_address, key=lambda item: -len(item[0])):
        if fragment and fragment in text:
            return district
    return ""
