"""The mail outbox: atomic with its cause, delivered by file or by a real SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import socket
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.mail.models import MailStatus, OutboxMessage
from app.mail.services import MailHeaderError, deliver_pending, queue_mail


class Recorder:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def test_rolled_back_transaction_leaves_no_mail(app):
    queue_mail("a@example.jp", "件名", "本文")
    db.session.rollback()
    assert db.session.execute(select(OutboxMessage)).first() is None


def test_failed_request_leaves_no_mail(app, client, user):
    # Password change queues a notice only when the whole change commits; a wrong current
    # password changes nothing and queues nothing.
    client.post(
        "/auth/login", data={"email": user.email, "password": "correct horse battery staple"}
    )
    client.post(
        "/auth/settings/password",
        data={
            "current_password": "wrong",
            "password": "new secret 12",
            "password_confirm": "new secret 12",
        },
    )
    db.session.rollback()
    assert db.session.execute(select(OutboxMessage)).first() is None


def test_header_injection_refused(app):
    with pytest.raises(MailHeaderError):
        queue_mail("a@example.jp", "hello\r\nBcc: victim@example.jp", "body")
    with pytest.raises(MailHeaderError):
        queue_mail("a@example.jp\nBcc: x@example.jp", "subject", "body")


def test_file_backend_writes_rfc5322_utf8_message(app):
    queue_mail(
        "長岡 <nagaoka@example.jp>",
        "ご招待：参画みどり市",
        "こんにちは。\n参加をお待ちしています。",
    )
    db.session.commit()
    report = deliver_pending()
    assert report.sent == 1
    files = list(Path(app.config["MAIL_OUTBOX_DIR"]).glob("*.eml"))
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert raw.isascii()  # headers and body are encoded for transport
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "ご招待：参画みどり市"
    assert "=?utf-8?" in raw.decode().split("\n\n", 1)[0].lower()
    assert msg["Message-ID"] and msg["Date"]
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().startswith("こんにちは。")
    row = db.session.execute(select(OutboxMessage)).scalar_one()
    assert row.status == MailStatus.SENT.value and row.sent_at is not None


def test_smtp_backend_delivers_to_real_server(app, smtp_server):
    controller, recorder = smtp_server
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    queue_mail("resident@example.jp", "アンケートのお願い", "ご協力をお願いします。")
    queue_mail("second@example.jp", "二通目", "本文")
    db.session.commit()
    report = deliver_pending()
    assert report.sent == 2
    assert [rcpt for _from, rcpt in recorder.envelopes] == [
        ["resident@example.jp"],
        ["second@example.jp"],
    ]
    assert recorder.messages[0]["Subject"] == "アンケートのお願い"
    assert recorder.messages[0].get_content().strip() == "ご協力をお願いします。"
    assert deliver_pending().sent == 0  # nothing is sent twice


def test_smtp_down_retries_with_backoff_then_fails(app):
    app.config.update(
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),
        MAIL_TIMEOUT=2,
        MAIL_MAX_ATTEMPTS=3,
    )
    queue_mail("a@example.jp", "件名", "本文")
    db.session.commit()
    report = deliver_pending()
    assert report.retried == 1
    row = db.session.execute(select(OutboxMessage)).scalar_one()
    assert row.status == MailStatus.PENDING.value
    assert row.attempts == 1
    assert row.next_attempt_at > utcnow()
    assert "ConnectionRefused" in row.last_error
    assert deliver_pending().retried == 0  # not due yet
    for _ in range(2):
        row.next_attempt_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
        deliver_pending()
    db.session.rollback()
    row = db.session.execute(select(OutboxMessage)).scalar_one()
    assert row.status == MailStatus.FAILED.value
    assert row.attempts == 3


def test_mail_deliver_command(app, smtp_server):
    controller, recorder = smtp_server
    app.config.update(MAIL_BACKEND="smtp", MAIL_PORT=controller.port)
    queue_mail("a@example.jp", "件名", "本文")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["mail", "deliver"])
    assert result.exit_code == 0, result.output
    assert '"sent": 1' in result.output
    assert len(recorder.messages) == 1


def test_invitation_mail_is_in_the_recipients_language(app, make, user):
    from app.mail.models import OutboxMessage

    make.invitation(user, "guest@example.jp", locale="en")
    make.invitation(user, "guest2@example.jp", locale="ja")
    rows = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
    assert rows[0].subject.startswith("Invitation to Sankaku")
    assert "/auth/invite/" in rows[0].body
    assert rows[1].subject.startswith("参画")
