"""L02: kill -9 of a gunicorn worker in the middle of a write loop. Every write the client got a
success answer for is present afterwards, the database passes its integrity check, and no
answer set is partial (security.md L02)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from sqlalchemy import func, select, text

from app.extensions import db
from app.sns.models import Diary
from app.survey import answering
from app.survey.surveys_models import Draft, Participation, Response
from tests.reliability.conftest import (
    Gunicorn,
    answer_over_http,
    http_session,
    monitor_cookies,
    session_cookie,
)
from tests.survey.surveys_helpers import open_survey

MONITORS = 16


class WriteLoop:
    """Client threads writing until stopped; they keep what the server acknowledged."""

    def __init__(self, url: str, member: tuple[str, str], monitors: list[tuple[str, str]]) -> None:
        self.url = url
        self.member = member
        self.monitors = list(monitors)
        self.diaries: list[int] = []
        self.receipts: list[str] = []
        self.failures = 0
        self.server_errors: list[int] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def diaries_loop(self) -> None:
        s = http_session(self.member)
        n = 0
        while not self.stop.is_set():
            n += 1
            data = {"title": f"書き込み {n}", "body": "停電に負けない", "visibility": "public",
                    "body_format": "plain", "allow_comments": "y"}  # fmt: skip
            try:
                r = s.post(f"{self.url}/diary/new", data=data, allow_redirects=False, timeout=20)
            except requests.RequestException:
                self.failures += 1  # the worker died under us: not acknowledged
                continue
            if r.status_code >= 500:
                self.server_errors.append(r.status_code)
            match = re.search(r"/diary/(\d+)$", r.headers.get("Location", ""))
            if r.status_code == 302 and match:
                with self.lock:
                    self.diaries.append(int(match.group(1)))

    def answers_loop(self, survey_key: str) -> None:
        base = f"{self.url}/monitors/surveys/{survey_key}"
        while not self.stop.is_set():
            with self.lock:
                if not self.monitors:
                    return
                cookie = self.monitors.pop()
            try:
                status, receipt = answer_over_http(http_session(cookie), base)
            except requests.RequestException:
                self.failures += 1
                continue
            if status >= 500:
                self.server_errors.append(status)
            if status == 200 and receipt:
                with self.lock:
                    self.receipts.append(receipt)


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _integrity(app: Flask) -> None:
    db.session.remove()
    for engine in db.engines.values():
        if engine.dialect.name == "sqlite":
            engine.dispose()
            path = engine.url.database
            assert path
            con = sqlite3.connect(path)
            try:
                assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                assert con.execute("PRAGMA foreign_key_check").fetchall() == []
            finally:
                con.close()
        else:
            with engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
                indexes = conn.execute(
                    text(
                        "SELECT c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                        "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE a.amname = 'btree' "
                        "AND n.nspname = 'public'"
                    )
                ).scalars()
                for oid in list(indexes):
                    # heapallindexed: every heap row is in the index as well
                    conn.execute(text("SELECT bt_index_check(:oid, true)"), {"oid": oid})


def test_kill_minus_nine_mid_write_loop(
    app: Flask, client: Any, make: Any, user: Any, login_as: Any, gunicorn: Any
) -> None:
    survey = open_survey()
    login_as(user)
    member = session_cookie(app, client)
    monitors = monitor_cookies(app, make, MONITORS)
    server: Gunicorn = gunicorn(workers=2, threads=2)
    loop = WriteLoop(server.url, member, monitors)
    threads = [
        threading.Thread(target=loop.diaries_loop),
        threading.Thread(target=loop.diaries_loop),
        threading.Thread(target=loop.answers_loop, args=(survey.key,)),
        threading.Thread(target=loop.answers_loop, args=(survey.key,)),
    ]
    for t in threads:
        t.start()
    try:
        killed = 0
        for goal in (5, 15):
            _wait_for(lambda goal=goal: len(loop.diaries) >= goal)
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            killed += 1
            # the master starts a new worker; writes go on meanwhile
            _wait_for(
                lambda v=victim: v not in server.worker_pids() and len(server.worker_pids()) == 2
            )
        _wait_for(lambda: len(loop.diaries) >= 25 and not loop.monitors, timeout=60)
    finally:
        loop.stop.set()
        for t in threads:
            t.join(timeout=60)
    server.stop()
    assert killed == 2
    assert loop.server_errors == []

    _integrity(app)
    present = set(db.session.execute(select(Diary.id)).scalars())
    assert set(loop.diaries) <= present, set(loop.diaries) - present
    assert len(loop.receipts) >= MONITORS // 2, loop.receipts
    for code in loop.receipts:
        assert answering.receipt_counted(survey, code) is not None, code
    # No partial answer set: each submitted participation has exactly one complete response,
    # and no response exists without its participation having been flipped.
    submitted = db.session.execute(
        select(func.count()).select_from(Participation).where(Participation.status == "submitted")
    ).scalar_one()
    responses = list(db.session.execute(select(Response)).scalars())
    assert submitted == len(responses) >= len(loop.receipts)
    assert len({bytes(r.codes) for r in responses}) == 1  # every response holds all answers
    drafts_of_submitted = db.session.execute(
        select(func.count())
        .select_from(Draft)
        .join(Participation, Participation.id == Draft.participation_id)
        .where(Participation.status == "submitted")
    ).scalar_one()
    assert drafts_of_submitted == 0


def test_integrity_check_notices_a_damaged_sqlite_file(tmp_path: Path) -> None:
    """The check used above is not a formality: it fails on a file with a damaged page."""
    path = tmp_path / "damaged.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    con.execute("CREATE INDEX ix_t_v ON t (v)")
    con.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i:05d}" * 8,) for i in range(3000)])
    con.commit()
    con.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 2, page * 5):  # pages 3 to 5: table and index pages
        data[offset] = 0x55
    path.write_bytes(bytes(data))
    con = sqlite3.connect(path)
    try:
        result = con.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError:
        result = [("malformed",)]
    finally:
        con.close()
    assert result != [("ok",)]
