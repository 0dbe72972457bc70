"""A minimal HTTP server speaking the card client's protocol, built on the library's own
challenge layer: what the web login does, without Flask or a database, so the card client can
be tested end to end against the real PC/SC stack.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.auth.jpki.login import (
    Challenge,
    challenge_json,
    decode_login_response,
    new_challenge,
    normalize_code,
    verify_login_response,
)
from app.auth.jpki.reasons import reason_text
from app.auth.jpki.settings import JpkiSettings


class FakeSite:
    """Challenges in memory; consumption under a lock (the database does this for real)."""

    def __init__(self, settings: JpkiSettings) -> None:
        self.settings = settings
        self.origin = ""
        self.origin_override: str | None = None
        self.challenges: dict[str, Challenge] = {}
        self.logins: list[str] = []
        self.lock = threading.Lock()

    def issue(self) -> Challenge:
        challenge = new_challenge(self.origin_override or self.origin)
        with self.lock:
            self.challenges[challenge.challenge_id] = challenge
        return challenge

    def by_code(self, code: str) -> Challenge | None:
        wanted = normalize_code(code)
        return next((c for c in self.challenges.values() if c.code == wanted), None)

    def answer(self, body: object) -> tuple[int, dict[str, Any]]:
        try:
            challenge_id, certificate, signature = decode_login_response(body)
        except ValueError:
            return 400, {"ok": False, "reason": "malformed", "message": "bad request"}
        with self.lock:
            challenge = self.challenges.get(challenge_id)
            result = verify_login_response(challenge, certificate, signature, self.settings)
            if result.ok and challenge is not None:
                self.challenges[challenge_id] = replace(challenge, used_at=datetime.now(UTC))
                self.logins.append(result.serial)
        if result.ok:
            return 200, {"ok": True}
        reason = result.reason or "malformed"
        return 403, {"ok": False, "reason": reason, "message": reason_text(reason).en}


def _handler(site: FakeSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            prefix = "/auth/jpki/challenge/"
            challenge = self.path.startswith(prefix) and site.by_code(self.path[len(prefix) :])
            if not challenge:
                self._send(404, {"ok": False, "reason": "challenge_unknown", "message": "?"})
                return
            self._send(200, challenge_json(challenge))

        def do_POST(self) -> None:
            if self.path != "/auth/jpki/response":
                self._send(404, {"ok": False})
                return
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                body = None
            self._send(*site.answer(body))

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@contextmanager
def running_site(settings: JpkiSettings) -> Iterator[FakeSite]:
    """Serve a FakeSite on 127.0.0.1 (random port) for the duration of the block."""
    site = FakeSite(settings)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    site.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
