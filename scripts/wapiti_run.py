#!/usr/bin/python3
"""Run Debian's wapiti (3.0.4) with the one fix it needs on Python 3.11.

Its crawler builds the regular expression for each `-x/--exclude` URL with the inline flags at
the end (`…\\Z(?ms)`), which Python 3.11 refuses, so any exclusion crashes the scan. This
wrapper puts the flags first and then runs wapiti's own entry point with the same arguments.
Run it with the interpreter that has `wapitiCore` (Debian's /usr/bin/python3).
"""

from __future__ import annotations

import re
import sys

from wapitiCore.net import crawler  # type: ignore[import-not-found]


def wildcard_translate(pattern: str) -> re.Pattern[str]:
    """A wildcard URL (`*` matches anything) as a regular expression, flags first."""
    body = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.compile(r"(?ms)" + body + r"\Z")


crawler.wildcard_translate = wildcard_translate

if __name__ == "__main__":
    from wapitiCore.main.wapiti import wapiti_main  # type: ignore[import-not-found]

    sys.argv[0] = "wapiti"
    sys.exit(wapiti_main())
