"""Reliability fixtures: gunicorn on a free loopback port against the test's own databases, and
client processes that fire requests at the same instant.

The server runs the `testing` configuration (CSRF and rate limits off) with the same database
URLs, instance folder and secret key as the test's app, so a session made with the test client
is valid on the server and every row the server writes is visible to the test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVER_SETTINGS = ("DATABASE_URL", "PII_DATABASE_URL", "INSTANCE_DIR", "SEARCH_DIR")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """`gunicorn -w N --threads T` serving `create_app("testing")` with the test app's settings."""

    def __init__(self, app: Flask, workers: int = 2, threads: int = 4, **extra: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATABASE_"))}
        for name in SERVER_SETTINGS:
            env[name] = str(app.config[name] if name != "DATABASE_URL" else _main_url(app))
        env["PII_DATABASE_URL"] = str(app.config["SQLALCHEMY_BINDS"]["pii"])
        env["APP_MAIL_OUTBOX_DIR"] = str(app.config["MAIL_OUTBOX_DIR"])
        env["APP_SERVER_BASE_URL"] = self.url
        for key, value in extra.items():
            env[f"APP_{key}"] = json.dumps(value) if not isinstance(value, str) else value
        self.log = Path(app.config["INSTANCE_DIR"]) / f"gunicorn-{self.port}.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                *("--workers", str(workers), "--threads", str(threads)),
                *("--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5"),
                *("--no-control-socket", "--chdir", str(ROOT)),
                # Clients open their connections before a burst; with gthread's 2-s default an
                # idle connection could be closed just as the burst is sent on it.
                *("--keep-alive", "30"),
                'app:create_app("testing")',
            ],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.workers = workers

    def wait_ready(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text(errors='replace')}")
            try:
                answered = requests.get(self.url + "/healthz", timeout=2).status_code
            except requests.RequestException:
                answered = 0
            if answered in (200, 503) and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer: {self.log.read_text(errors='replace')}")

    def worker_pids(self) -> list[int]:
        """The master's live worker processes (read from /proc)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                pids.append(int(entry.name))
        return sorted(pids)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # quick shutdown: the test has its answers
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()

    def errors_logged(self) -> list[str]:
        """Log lines of unhandled errors (the app logs JSON lines; gunicorn its own)."""
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if "unhandled error" in line]


def _main_url(app: Flask) -> str:
    return str(app.config["SQLALCHEMY_DATABASE_URI"])


@pytest.fixture
def gunicorn(app: Flask) -> Iterator[Callable[..., Gunicorn]]:
    """`gunicorn(**settings)` starts a server (stopped at the end) and waits until it answers."""
    started: list[Gunicorn] = []

    def _start(workers: int = 2, threads: int = 4, **extra: Any) -> Gunicorn:
        server = Gunicorn(app, workers=workers, threads=threads, **extra)
        started.append(server)
        server.wait_ready()
        return server

    yield _start
    for server in started:
        server.stop()


def session_cookie(app: Flask, client: Any) -> tuple[str, str]:
    """The name and value of the test client's session cookie (valid on the server too)."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None, "the client has no session"
    return name, cookie.value


def fire(
    url: str,
    *,
    cookie: tuple[str, str] | None,
    data: dict[str, str],
    processes: int = 2,
    threads: int = 10,
) -> list[int]:
    """POST `data` to `url` from `processes` client processes × `threads` threads at one instant;
    return every status code (a transport failure counts as 0)."""
    start_at = time.time() + 3.0  # the client processes start and connect meanwhile
    spec = json.dumps(
        {"url": url, "cookie": cookie, "data": data, "threads": threads, "start_at": start_at}
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("hammer.py")), spec],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    codes: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode(errors="replace")
        codes.extend(json.loads(out))
    return codes


# --- survey answering over HTTP (the survey of tests/survey/surveys_helpers.py) ----------------

PAGE1 = {"q_q1": "はい", "q_q2": "図書館", "q_q3": "4", "q_q4": "よい"}
PAGE2 = {"q_q5": "A", "q_q6": "3", "q_q7__0": "4", "q_q7__1": "2", "q_q8__0": "2",
         "q_q8__1": "1", "q_q8__2": "3", "q_q9": "2026-01-05"}  # fmt: skip
RECEIPT = re.compile(r'<strong lang="en">([0-9A-Z-]+)</strong>')
DRAFT = re.compile(r'name="draft" value="([^"]+)"')


def monitor_cookies(app: Flask, make: Any, n: int) -> list[tuple[str, str]]:
    """Session cookies of `n` JPKI-verified monitors (as the card login leaves them)."""
    from app.db import utcnow
    from app.extensions import db
    from app.survey import identity

    cookies = []
    for _ in range(n):
        monitor = make.monitor()
        c = app.test_client()
        with c.session_transaction() as sess:
            sess[identity.SESSION_MONITOR] = monitor.pseudonym
            sess[identity.SESSION_AT] = utcnow().isoformat()
        db.session.commit()  # the session row is written in the test's transaction
        cookies.append(session_cookie(app, c))
    return cookies


def http_session(cookie: tuple[str, str] | None) -> requests.Session:
    s = requests.Session()
    if cookie:
        s.cookies.set(*cookie)  # in the jar: the server may rotate the session id
    return s


def answer_over_http(s: requests.Session, base: str) -> tuple[int, str | None]:
    """Consent, both pages and submit at `base` (…/monitors/surveys/KEY): the submit's status
    and the receipt code shown. Raises requests.RequestException when the server drops us."""
    r = s.post(f"{base}/start", data={"consent": "yes"}, timeout=30)
    token = DRAFT.search(r.text)
    if token is None:
        return r.status_code, None
    s.post(f"{base}/page/1", data={**PAGE1, "draft": token.group(1)}, timeout=30)
    s.post(f"{base}/page/2", data={**PAGE2, "draft": token.group(1)}, timeout=30)
    done = s.post(f"{base}/submit", data={"draft": token.group(1)}, timeout=30)
    receipt = RECEIPT.search(done.text)
    return done.status_code, receipt.group(1) if receipt else None
