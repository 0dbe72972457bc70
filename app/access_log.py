"""gunicorn's access log without the secrets that travel in URLs (A44, A19).

Email confirmation, invitation, password-reset and survey links carry a one-time token in
their path; gunicorn's default access line logs the request line and the Referer (a page
opened from such a link sends it), so the token would sit in every access log. Serve with
`gunicorn --logger-class app.access_log.RedactingLogger` (scripts/run-demo.sh does).
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# The routes whose <token> argument is a secret (tests/security/test_logs.py checks that every
# route with a `token` argument is covered).
SECRET_PATH = re.compile(
    r"(/(?:auth/(?:confirm|email/confirm|invite|reset)|monitors/(?:r|unsubscribe))/)[^/?#\s\"]+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` (a request line, path or URL) with the secret path segments replaced."""
    return SECRET_PATH.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingLogger(Logger):
    """gunicorn's logger with the request line, path and referrer atoms redacted."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{referer}i"):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
