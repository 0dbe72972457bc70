"""Queue mail in the caller's transaction; deliver it later through a backend."""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from flask import current_app, g, render_template
from flask_babel import force_locale
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.mail.models import MailStatus, OutboxMessage

log = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=6)


class MailHeaderError(ValueError):
    """A header value contained a line break (header injection, A36)."""


def _check_header(value: str, field: str) -> str:
    if "\r" in value or "\n" in value:
        raise MailHeaderError(f"line break in mail {field}")
    return value


def queue_mail(to: str, subject: str, body: str, *, kind: str = "") -> OutboxMessage:
    """Add an email to the outbox in the current transaction; it is sent only if that commits."""
    msg = OutboxMessage(
        to_addr=_check_header(to.strip(), "recipient"),
        subject=_check_header(subject.strip(), "subject")[:200],
        body=body,
        kind=kind,
    )
    db.session.add(msg)
    g.mail_queued = True
    return msg


def queue_template_mail(to: str, template: str, locale: str, *, kind: str, **context: Any) -> None:
    """Render `mail/<template>.txt` in the recipient's language and queue it.

    The template's first line is the subject; the rest is the body.
    """
    with force_locale(locale):
        text = render_template(f"mail/{template}.txt", **context)
    subject, _, body = text.strip("\n").partition("\n")
    queue_mail(to, subject.strip(), body.lstrip("\n"), kind=kind)


def build_message(row: OutboxMessage, sender: str) -> EmailMessage:
    """An RFC 5322 message: UTF-8 body, encoded headers, Date and Message-ID."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = row.message_id or make_msgid(domain=sender_domain(sender))
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body, charset="utf-8", cte="base64")
    return msg


def sender_domain(sender: str) -> str:
    addr = sender.rsplit("<", 1)[-1].rstrip(">")
    return addr.rsplit("@", 1)[-1] or "sankaku.invalid"


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass
class FileBackend:
    """Writes each message as an `.eml` file (the embedded default, for development and demos)."""

    directory: Path

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.as_bytes())
        mid = str(message["Message-ID"]).strip("<>").split("@")[0]
        os.replace(tmp, self.directory / f"{stamp}-{mid}.eml")


@dataclass
class SmtpBackend:
    """Delivers through an SMTP server (STARTTLS or implicit TLS when configured)."""

    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    use_ssl: bool
    timeout: float

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.use_tls and not self.use_ssl:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def backend_from_config(config: Any) -> MailBackend:
    """The backend the configuration names (`MAIL_BACKEND`: file or smtp)."""
    if config["MAIL_BACKEND"] == "smtp":
        return SmtpBackend(
            host=config["MAIL_SERVER"],
            port=int(config["MAIL_PORT"]),
            username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"),
            use_tls=bool(config["MAIL_USE_TLS"]),
            use_ssl=bool(config["MAIL_USE_SSL"]),
            timeout=float(config["MAIL_TIMEOUT"]),
        )
    return FileBackend(Path(config["MAIL_OUTBOX_DIR"]))


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """Exponential backoff: 1, 2, 4 … minutes, at most six hours."""
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_pending(limit: int = 100, backend: MailBackend | None = None) -> DeliveryReport:
    """Send due outbox rows, one transaction each, so several workers never send one twice.

    On PostgreSQL rows are claimed with FOR UPDATE SKIP LOCKED; SQLite serialises writers.
    A failed attempt is retried with backoff until MAIL_MAX_ATTEMPTS, then marked failed.
    """
    config = current_app.config
    backend = backend or backend_from_config(config)
    sender = config["MAIL_DEFAULT_SENDER"]
    max_attempts = int(config["MAIL_MAX_ATTEMPTS"])
    report = DeliveryReport()
    for _ in range(limit):
        now = utcnow()
        row = db.session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == MailStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if row is None:
            db.session.rollback()
            break
        if not row.message_id:
            row.message_id = make_msgid(domain=sender_domain(sender))
        try:
            backend.send(build_message(row, sender))
        except (OSError, smtplib.SMTPException) as exc:
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if row.attempts >= max_attempts:
                row.status = MailStatus.FAILED.value
                report.failed += 1
            else:
                row.next_attempt_at = now + backoff(row.attempts)
                report.retried += 1
            log.warning("mail delivery failed for outbox id %s: %s", row.id, type(exc).__name__)
        else:
            row.attempts += 1
            row.status = MailStatus.SENT.value
            row.sent_at = utcnow()
            report.sent += 1
        db.session.commit()
    return report
