"""No personal data or secret in any log record (A44, A14, A19).

Canary values are planted in flows that log: login (right and wrong password), password reset,
a CSRF failure, monitor registration and a staff reading of the record,
the export, a JPKI answer with a bad certificate, and the card client's PIN check. Every record
of every logger is captured at DEBUG level (the handle method of all loggers is wrapped, so
loggers that do not propagate are caught too), formatted the way the app writes them, and
searched for the canaries: the monitor's name, address, phone and email, passwords, the PIN,
the session id, CSRF and reset tokens, and the vault keys.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flask import Flask

from app.auth.models import RoleCode
from app.logging_setup import JsonFormatter

NAME = "鳥籠カナリア"
ADDRESS = "みどり市カナリア町9丁目8番7号"
PHONE = "0258-77-6543"
EMAIL = "canary.monitor.x7q@example.jp"
MEMBER_EMAIL = "canary.member.k2v@example.jp"
PASSWORD = "canary-Password-9f3kd"
WRONG_PASSWORD = "canary-Wrong-Passw0rd-p4z"
NEW_PASSWORD = "canary-New-Password-m8w"
PIN = "1234"  # the test card's PIN; checked in the card client's records only


class Captured:
    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self.formatter = JsonFormatter()

    def lines(self) -> list[str]:
        out = []
        for record in self.records:
            try:
                out.append(self.formatter.format(record))
            except Exception:  # a record outside a request context: format plainly
                out.append(logging.Formatter().format(record))
            out.append(repr(record.args))
        return out

    def find(self, secret: str, loggers: tuple[str, ...] = ()) -> list[str]:
        lines = [
            line
            for record, line in zip(self.records, self.lines()[::2], strict=True)
            if not loggers or record.name.startswith(loggers)
        ]
        variants = {secret, secret.encode().hex(), secret.encode().hex().upper()}
        return [line for line in lines for v in variants if v in line]


@pytest.fixture
def logs(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    captured = Captured()
    original = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        captured.records.append(record)
        original(self, record)

    monkeypatch.setattr(logging.Logger, "handle", handle)
    names = ["", "app", "werkzeug", "gunicorn.error", "gunicorn.access", app.logger.name]
    for name in names:
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "level", logging.DEBUG)
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("app."):
            monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    logging.getLogger().manager._clear_cache()
    yield captured
    logging.getLogger().manager._clear_cache()


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token"
    return found.group(1)


def secrets_of_the_instance(app: Flask) -> list[str]:
    """The vault and audit keys as stored (files under the keys folder) and in the config."""
    found = []
    folder = Path(app.config.get("PRIVACY_KEYS_DIR") or Path(app.config["INSTANCE_DIR"]) / "keys")
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        raw = path.read_bytes()
        text = raw.decode("ascii", "ignore").strip()
        if len(text) >= 16:
            found.append(text[:64])
            found.extend(line for line in text.splitlines() if len(line) >= 40 and "-" not in line)
        found.append(base64.b64encode(raw).decode()[:40])
    for key in ("PRIVACY_MASTER_KEY", "PRIVACY_AUDIT_KEY", "PRIVACY_INDEX_KEY", "SECRET_KEY"):
        value = app.config.get(key)
        if isinstance(value, str) and len(value) >= 16:
            found.append(value)
    return found


def test_no_personal_data_or_secret_reaches_a_log(
    app: Flask, client: Any, make: Any, login_as: Any, outbox: Any, logs: Captured
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    make.user(handle="canary_member", email=MEMBER_EMAIL, password=PASSWORD)
    staff = make.user(handle="canary_staff", role=RoleCode.STAFF, password=PASSWORD)

    # Login: a wrong password, then the right one.
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    wrong = client.post(
        "/auth/login", data={"csrf_token": token, "email": MEMBER_EMAIL, "password": WRONG_PASSWORD}
    )
    assert wrong.status_code in (200, 401)
    assert client.post("/auth/login", data={"email": MEMBER_EMAIL}).status_code == 400  # no CSRF
    right = client.post(
        "/auth/login", data={"csrf_token": token, "email": MEMBER_EMAIL, "password": PASSWORD}
    )
    assert right.status_code == 302
    session_id = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    page_token = csrf_token(client.get("/auth/settings/password").get_data(as_text=True))
    client.post("/auth/logout", data={"csrf_token": page_token})

    # Password reset: the token travels by mail and comes back in the URL.
    token = csrf_token(client.get("/auth/forgot").get_data(as_text=True))
    client.post("/auth/forgot", data={"csrf_token": token, "email": MEMBER_EMAIL})
    mail = outbox()[-1]
    link = re.search(r"/auth/reset/([A-Za-z0-9_\-.]+)", mail.body)
    assert link, mail.body
    reset_token = link.group(1)
    page = client.get(f"/auth/reset/{reset_token}").get_data(as_text=True)
    reset = client.post(
        f"/auth/reset/{reset_token}",
        data={
            "csrf_token": csrf_token(page),
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )

    assert reset.status_code == 302
    # A monitor with canary personal data; staff open the record and export.
    monitor = make.monitor(name=NAME, address=ADDRESS, phone=PHONE, email=EMAIL)
    staff_client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    login_as(staff, password=PASSWORD, the_client=staff_client)
    opened = staff_client.post(
        f"/staff/monitors/{monitor.pseudonym}",
        data={"purpose": "reader_shipping", "reason": "発送"},
    )
    assert NAME in opened.get_data(as_text=True)
    staff_client.post(
        "/staff/monitors/export",
        data={"purpose": "reader_shipping", "recipient": "vendor_shipping", "reason": "発送"},
    )

    # A JPKI answer with a bogus certificate; a missing page with canaries in the URL.
    client.post(
        "/auth/jpki/response",
        json={"challenge_id": reset_token, "certificate": "AAAA", "signature": "AAAA"},
    )
    client.get(f"/members/{NAME}?email={EMAIL}&password={PASSWORD}")

    messages = " ".join(record.getMessage() for record in logs.records)
    for logged in ("login failed", "login ok", "csrf failure", "jpki refused"):
        assert logged in messages, f"the flow did not log {logged!r}: the test proves nothing"
    planted = {
        "monitor name": NAME,
        "monitor address": ADDRESS,
        "monitor phone": PHONE,
        "monitor email": EMAIL,
        "member email": MEMBER_EMAIL,
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "new password": NEW_PASSWORD,
        "session id": session_id,
        "csrf token": token,
        "reset token": reset_token,
    }
    for i, secret in enumerate(secrets_of_the_instance(app)):
        planted[f"instance secret {i}"] = secret
    leaks = {label: logs.find(value) for label, value in planted.items()}
    assert {label: found for label, found in leaks.items() if found} == {}


def test_the_capture_sees_a_leak(app: Flask, logs: Captured) -> None:
    """The check can fail: a record naming a canary, even from a logger that does not
    propagate and with the value in its arguments, is found."""
    quiet = logging.getLogger("app.some.module")
    quiet.propagate = False
    try:
        quiet.debug("filed monitor %s", {"phone": PHONE})
        app.logger.info("password=%s", PASSWORD)
    finally:
        quiet.propagate = True
    assert logs.find(PHONE) and logs.find(PASSWORD)


def test_the_card_client_never_logs_the_pin(logs: Captured) -> None:
    from app.auth.jpki.apdu import ResponseApdu
    from app.auth.jpki.card import JpkiClient

    class Card:
        def __init__(self) -> None:
            self.seen: list[bytes] = []

        def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
            self.seen.append(apdu)
            answer = ResponseApdu.parse(b"\x90\x00")
            return answer.data, answer.sw1, answer.sw2

    card = Card()
    JpkiClient(card).verify_pin(PIN)
    verify = next(apdu for apdu in card.seen if apdu[1] == 0x20)
    assert PIN.encode() in verify  # the PIN did go to the card …
    assert any(r.name == "app.auth.jpki.card" for r in logs.records)  # … it was logged …
    card_lines = logs.find(PIN, ("app.auth.jpki",))
    assert card_lines == [], card_lines  # … but never the PIN, in digits or in hex
    assert verify.hex() not in " ".join(logs.lines())


def access_line(logger_class: type, logs: Captured, path: str, referer: str) -> str:
    """The line gunicorn writes to its access log for one request, as configured."""
    import datetime as dt

    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path.split("?")[0],
        "QUERY_STRING": path.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "test",
    }

    class Answer:
        status = "200 OK"
        sent = 10
        headers: ClassVar[list[tuple[str, str]]] = []

    before = len(logs.records)
    logger.access(Answer(), environ, environ, dt.timedelta(microseconds=5))
    records = [r for r in logs.records[before:] if r.name == "gunicorn.access"]
    assert len(records) == 1
    return records[0].getMessage()


def test_the_access_log_drops_tokens_from_urls(app: Flask, logs: Captured) -> None:
    from gunicorn.glogging import Logger

    from app.access_log import RedactingLogger, redact

    secret = "SeCrEtToKeN0123456789abcdef"
    # Every route whose argument is a token is covered, now and when one is added.
    adapter = app.url_map.bind("localhost")
    # Image tokens only name files: each request is checked against the viewer's visibility.
    not_secret = {"sns.image", "community.image"}
    token_rules = [
        r
        for r in app.url_map.iter_rules()
        if "token" in r.arguments and r.endpoint not in not_secret
    ]
    assert len(token_rules) >= 5
    for rule in token_rules:
        values = {name: secret if name == "token" else "x" for name in rule.arguments}
        path = adapter.build(rule.endpoint, values)
        assert secret not in redact(path), rule.rule

    path = f"/auth/reset/{secret}?next=/me"
    referer = f"http://localhost/monitors/r/{secret}"
    plain = access_line(Logger, logs, path, referer)
    assert secret in plain  # gunicorn's own logger would keep it …
    line = access_line(RedactingLogger, logs, path, referer)
    assert secret not in line and "/auth/reset/[redacted]?next=/me" in line  # … ours does not
    assert "/monitors/r/[redacted]" in line
    run_demo = (Path(__file__).parents[2] / "scripts" / "run-demo.sh").read_text()
    assert "--logger-class app.access_log.RedactingLogger" in run_demo
