"""A43: log lines are JSON with a UTC timestamp, a request id, and for security events the
fields actor, action, object and outcome (docs/security-checks.md).

The lines are read from the app's own configured handler (its stream swapped for a buffer), so
what is checked is what production writes: formatted in the request, by `JsonFormatter`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.auth.models import RoleCode
from app.extensions import db
from app.logging_setup import JsonFormatter, log_event
from tests.auth.test_accounts import link_from

PASSWORD = "correct horse battery staple"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class JsonLog:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far, each parsed (a line that is not JSON fails the test)."""
        raw = self.stream.getvalue().splitlines()
        parsed = [json.loads(line) for line in raw]
        assert all(isinstance(entry, dict) for entry in parsed)
        return parsed

    def events(self, action: str) -> list[dict[str, Any]]:
        return [entry for entry in self.lines() if entry.get("action") == action]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def json_log(app: Flask) -> Iterator[JsonLog]:
    handlers = [h for h in app.logger.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(handlers) == 1, "the app logs through one JsonFormatter handler"
    handler = handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    old_stream = handler.setStream(stream)
    old_level = app.logger.level
    app.logger.setLevel(logging.INFO)
    try:
        yield JsonLog(stream)
    finally:
        handler.setStream(old_stream)
        app.logger.setLevel(old_level)


def only(entries: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(entries) == 1, entries
    return entries[0]


def fields(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["actor"], entry["action"], entry["object"], entry["outcome"]


def assert_utc(entry: dict[str, Any]) -> None:
    assert TS.match(entry["ts"]), entry["ts"]
    when = dt.datetime.fromisoformat(entry["ts"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - when) < dt.timedelta(minutes=5)


def test_password_login_logout_and_reset_carry_the_fields(
    app: Flask, client: Any, user: Any, outbox: Any, json_log: JsonLog
) -> None:
    client.post("/auth/login", data={"email": user.email, "password": "wrong password"})
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    client.post("/auth/logout")
    client.post("/auth/forgot", data={"email": user.email})
    reset = link_from(next(m for m in outbox() if m.kind == "reset_password").body)
    new = "a brand new secret for the log test"
    assert client.post(reset, data={"password": new, "password_confirm": new}).status_code == 302

    failed, ok = json_log.events("auth.login")
    assert fields(failed) == ("guest", "auth.login", "", "failure")
    assert fields(ok) == (f"user:{user.id}", "auth.login", f"user:{user.id}", "success")
    assert failed["method"] == ok["method"] == "password"
    assert failed["msg"] == "login failed method=password"  # the readable message stays
    assert ok["msg"] == f"login ok user={user.id} method=password"
    logout = only(json_log.events("auth.logout"))
    assert fields(logout) == (f"user:{user.id}", "auth.logout", f"user:{user.id}", "success")
    done = only(json_log.events("auth.password_reset"))
    assert fields(done) == ("guest", "auth.password_reset", f"user:{user.id}", "success")
    # the reset token in the URL does not reach the line's path
    token = reset.rsplit("/", 1)[1]
    assert done["path"] == "/auth/reset/[redacted]"
    assert token not in json_log.text()

    lines = json_log.lines()
    for entry in lines:
        assert_utc(entry)
        assert entry["request_id"]
    # one request per line here: every request got its own id
    ids = [entry["request_id"] for entry in (failed, ok, logout, done)]
    assert len(set(ids)) == 4
    # no personal data in any field (A44): the actor is an id, never an email or a name
    for secret in (user.email, user.display_name, PASSWORD, new):
        assert secret not in json_log.text()


def test_all_lines_of_one_request_share_its_id(app: Flask, client: Any, json_log: JsonLog) -> None:
    def two_lines() -> str:
        log_event("test.first", "success", "first")
        app.logger.warning("a plain line in the same request")
        log_event("test.second", "failure", "second", obj="thing:1", detail="x")
        return "ok"

    app.add_url_rule("/_log_fields_probe", "log_fields_probe", two_lines)
    client.get("/_log_fields_probe")
    client.get("/_log_fields_probe")
    lines = json_log.lines()
    assert len(lines) == 6
    first, second = lines[:3], lines[3:]
    assert len({e["request_id"] for e in first}) == 1
    assert len({e["request_id"] for e in second}) == 1
    assert first[0]["request_id"] != second[0]["request_id"]
    assert "action" not in first[1]  # a plain line is no event, but has time and request id
    assert first[1]["path"] == "/_log_fields_probe"
    assert fields(first[2]) == ("guest", "test.second", "thing:1", "failure")
    assert first[2]["detail"] == "x"
    for entry in lines:
        assert_utc(entry)


def test_an_event_field_cannot_hide_the_line_s_own_keys(app: Flask) -> None:
    with app.test_request_context("/"), pytest.raises(ValueError, match="request_id"):
        log_event("test.clash", "success", "clash", request_id="forged")


def test_a_hidden_object_logs_a_denial_a_missing_one_does_not(
    app: Flask, make: Any, user: Any, other_user: Any, login_as: Any, json_log: JsonLog
) -> None:
    entry = make.diary(user, visibility="private")
    client = login_as(other_user)
    assert client.get(f"/diary/{entry.id}").status_code == 404
    assert client.get("/diary/999999").status_code == 404
    denied = only(json_log.events("authz.view"))
    assert fields(denied) == (f"user:{other_user.id}", "authz.view", f"diary:{entry.id}", "denied")
    assert denied["reason"] == "not_visible"
    assert other_user.email not in json_log.text()
    assert other_user.display_name not in json_log.text()


def test_a_missing_role_logs_a_denial(
    app: Flask, user: Any, login_as: Any, json_log: JsonLog
) -> None:
    client = login_as(user)
    assert client.get("/staff/monitors/").status_code == 404
    denied = only(json_log.events("authz.role"))
    assert fields(denied)[1:] == ("authz.role", "endpoint:survey_staff.monitor_list", "denied")
    assert denied["actor"] == f"user:{user.id}"
    assert (denied["role"], denied["reason"]) == (RoleCode.STAFF.value, "missing_role")


def test_a_csrf_failure_is_an_event(
    request: pytest.FixtureRequest, app_config: dict[str, Any]
) -> None:
    app_config.update(WTF_CSRF_ENABLED=True)
    app = request.getfixturevalue("app")
    json_log = request.getfixturevalue("json_log")
    response = app.test_client().post("/auth/login", data={"email": "someone@example.jp"})
    assert response.status_code == 400
    failure = only(json_log.events("security.csrf"))
    assert fields(failure) == ("guest", "security.csrf", "endpoint:auth.login", "failure")
    assert failure["level"] == "WARNING"
    assert failure["msg"] == "csrf failure path=/auth/login"
    assert "someone@example.jp" not in json_log.text()


def test_a_rate_limit_hit_is_an_event(
    request: pytest.FixtureRequest, app_config: dict[str, Any]
) -> None:
    app_config.update(RATELIMIT_ENABLED=True, SNS_REPORT_LIMIT="1 per minute")
    app = request.getfixturevalue("app")
    user = request.getfixturevalue("user")
    client = request.getfixturevalue("login_as")(user)
    json_log = request.getfixturevalue("json_log")
    codes = [client.post("/report/diary/999999", data={}).status_code for _ in range(2)]
    assert codes[1] == 429
    endpoint, _args = app.url_map.bind("localhost").match("/report/diary/999999", method="POST")
    hit = only(json_log.events("security.rate_limit"))
    assert fields(hit) == (
        f"user:{user.id}",
        "security.rate_limit",
        f"endpoint:{endpoint}",
        "denied",
    )
    assert hit["path"] == "/report/diary/999999"


def test_a_moderation_action_is_logged_once_committed(
    app: Flask, make: Any, user: Any, other_user: Any, json_log: JsonLog
) -> None:
    from app.moderation.log import Action, record_action

    record_action(user, Action.HIDE, target_kind="diary", target_id=7, member_id=other_user.id)
    db.session.rollback()
    assert json_log.events("moderation.hide") == []  # rolled back: nothing happened
    record_action(user, Action.HIDE, target_kind="diary", target_id=7, member_id=other_user.id)
    assert json_log.events("moderation.hide") == []  # not yet committed
    db.session.commit()
    hidden = only(json_log.events("moderation.hide"))
    assert fields(hidden) == (f"user:{user.id}", "moderation.hide", "diary:7", "success")
    assert hidden["member"] == f"user:{other_user.id}"
    assert hidden["request_id"]  # outside a request: the app context's own id
    assert_utc(hidden)


def test_a_cli_action_is_logged_as_cli_without_the_address(app: Flask, json_log: JsonLog) -> None:
    result = app.test_cli_runner().invoke(
        args=["admin", "create-invite", "first.admin@example.jp", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    created = only(json_log.events("admin.invite_create"))
    assert created["actor"] == "cli" and created["outcome"] == "success"
    assert re.fullmatch(r"invitation:\d+", created["object"])
    assert created["role"] == "admin" and created["request_id"]
    assert "first.admin@example.jp" not in json_log.text()
