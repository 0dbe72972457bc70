"""`flask retention prune`: each kind goes just outside its window and stays just inside it,
unsent mail is never deleted, a dry run deletes nothing and counts the same, a second run finds
nothing, and the command runs without a request (cron)."""

from __future__ import annotations

import contextvars
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_request_context
from sqlalchemy import func, select

from app.auth.models import EmailToken, Invitation, JpkiChallenge, TokenPurpose
from app.db import utcnow
from app.extensions import db
from app.mail.models import MailStatus, OutboxMessage
from app.retention import KINDS, prune
from app.sessions import WebSession, hash_sid
from app.sns.models import Notification

MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)


def _count(model: Any) -> int:
    db.session.rollback()  # a fresh snapshot: see what the command committed
    return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def _ids(model: Any) -> set[Any]:
    db.session.rollback()
    return set(db.session.execute(select(model.id)).scalars())


def _challenge(*, expires_at: dt.datetime, completed_at: dt.datetime | None = None) -> str:
    row = JpkiChallenge(
        id=secrets.token_hex(16),
        code=secrets.token_hex(4),
        nonce=secrets.token_bytes(32),
        origin="http://localhost",
        browser_key=secrets.token_hex(16),
        created_at=expires_at - dt.timedelta(minutes=5),
        expires_at=expires_at,
        verified_at=completed_at,
        completed_at=completed_at,
        cert_serial="0123456789ABCDEF" if completed_at else "",
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def _token(user: Any, *, expires_at: dt.datetime, used_at: dt.datetime | None = None) -> int:
    row = EmailToken(
        token_hash=secrets.token_hex(32),
        purpose=TokenPurpose.RESET_PASSWORD.value,
        user_id=user.id,
        expires_at=expires_at,
        used_at=used_at,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def _invitation(make: Any, inviter: Any, **fields: Any) -> int:
    issued = make.invitation(inviter, email=f"{secrets.token_hex(4)}@example.jp", send=False)
    for name, value in fields.items():
        setattr(issued.invitation, name, value)
    db.session.commit()
    return int(issued.invitation.id)


def _notification(user: Any, *, created_at: dt.datetime, read: bool) -> int:
    row = Notification(
        user_id=user.id,
        kind="comment",
        created_at=created_at,
        read_at=created_at + MINUTE if read else None,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def _session(user: Any, *, expires_at: dt.datetime) -> str:
    key = hash_sid(secrets.token_urlsafe(32))
    db.session.add(
        WebSession(
            id_hash=key,
            user_id=user.id,
            created_at=expires_at - dt.timedelta(hours=12),
            last_seen_at=expires_at - dt.timedelta(hours=12),
            expires_at=expires_at,
        )
    )
    db.session.commit()
    return key


def _sent_mail(*, sent_at: dt.datetime) -> int:
    """A message delivered for real by the file backend, its send time then moved."""
    from app.mail.services import deliver_pending, queue_mail

    row = queue_mail("someone@example.jp", "件名", "本文 https://localhost/reset/secret")
    db.session.commit()
    assert deliver_pending().sent == 1
    row = db.session.get(OutboxMessage, row.id)
    assert row.status == MailStatus.SENT.value
    row.sent_at = sent_at
    db.session.commit()
    return row.id


def _unsent_mail(*, created_at: dt.datetime, status: MailStatus) -> int:
    row = OutboxMessage(
        to_addr="waiting@example.jp",
        subject="s",
        body="b",
        status=status.value,
        created_at=created_at,
        next_attempt_at=utcnow() + DAY,
        attempts=8 if status == MailStatus.FAILED else 0,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def _eml_files(app: Flask) -> list[Path]:
    return sorted(Path(app.config["MAIL_OUTBOX_DIR"]).glob("*.eml"))


def _lines(output: str) -> dict[str, int]:
    counts = {}
    for line in output.splitlines():
        kind, sep, n = line.partition(": ")
        if sep and kind in KINDS:
            counts[kind] = int(n)
    return counts


# --- each window -------------------------------------------------------------------------------


def test_challenges_go_24_hours_after_expiry_or_use(app: Flask) -> None:
    now = utcnow()
    cutoff = now - dt.timedelta(hours=24)
    stale = _challenge(expires_at=cutoff - MINUTE)
    used = _challenge(expires_at=cutoff + dt.timedelta(hours=2), completed_at=cutoff - MINUTE)
    recent = _challenge(expires_at=cutoff + MINUTE)
    recently_used = _challenge(expires_at=cutoff + MINUTE, completed_at=cutoff + MINUTE)
    live = _challenge(expires_at=now + dt.timedelta(minutes=5))

    counts = prune(now=now)

    assert counts["jpki_challenges"] == 2
    assert _ids(JpkiChallenge) == {recent, recently_used, live}
    assert stale not in _ids(JpkiChallenge) and used not in _ids(JpkiChallenge)


def test_challenge_window_is_the_setting(app: Flask) -> None:
    now = utcnow()
    app.config["RETENTION_CHALLENGE_HOURS"] = 2
    gone = _challenge(expires_at=now - dt.timedelta(hours=2) - MINUTE)
    kept = _challenge(expires_at=now - dt.timedelta(hours=2) + MINUTE)
    assert prune(now=now)["jpki_challenges"] == 1
    assert _ids(JpkiChallenge) == {kept}
    assert gone not in _ids(JpkiChallenge)


def test_email_tokens_go_a_day_after_use_or_expiry(app: Flask, user: Any) -> None:
    now = utcnow()
    cutoff = now - DAY
    expired = _token(user, expires_at=cutoff - MINUTE)
    used = _token(user, expires_at=now + DAY, used_at=cutoff - MINUTE)
    just_expired = _token(user, expires_at=cutoff + MINUTE)
    just_used = _token(user, expires_at=now + DAY, used_at=cutoff + MINUTE)
    valid = _token(user, expires_at=now + DAY)

    assert prune(now=now)["email_tokens"] == 2
    assert _ids(EmailToken) == {just_expired, just_used, valid}
    assert not {expired, used} & _ids(EmailToken)


def test_invitations_go_after_the_invitation_window(app: Flask, make: Any, user: Any) -> None:
    now = utcnow()
    cutoff = now - dt.timedelta(days=30)
    expired = _invitation(make, None, expires_at=cutoff - MINUTE)
    accepted = _invitation(make, None, accepted_at=cutoff - MINUTE)
    revoked = _invitation(make, None, revoked_at=cutoff - MINUTE)
    just_expired = _invitation(make, None, expires_at=cutoff + MINUTE)
    just_accepted = _invitation(make, None, accepted_at=cutoff + MINUTE)
    open_one = _invitation(make, None)

    assert prune(now=now)["invitations"] == 3
    assert _ids(Invitation) == {just_expired, just_accepted, open_one}
    assert not {expired, accepted, revoked} & _ids(Invitation)

    app.config["RETENTION_INVITATION_DAYS"] = 10
    assert prune(now=now)["invitations"] == 2
    assert _ids(Invitation) == {open_one}


def test_pruning_invitations_gives_no_quota_back(app: Flask, make: Any, user: Any) -> None:
    """A member's quota counts every invitation they sent that was not revoked; deleting old
    rows must not hand invitations back."""
    from app.auth.services import invitations_left

    old = utcnow() - dt.timedelta(days=60)
    _invitation(make, user, accepted_at=old)
    _invitation(make, user, expires_at=old)
    _invitation(make, user, revoked_at=old)  # revoked: never counted, no quota to keep
    _invitation(make, user)
    left = invitations_left(user)
    quota = user.invite_quota
    assert left == quota - 3

    assert prune()["invitations"] == 3

    db.session.rollback()
    assert _count(Invitation) == 1
    assert invitations_left(user) == left
    assert user.invite_quota == quota - 2


def test_sent_mail_and_its_file_go_unsent_mail_stays(app: Flask) -> None:
    now = utcnow()
    cutoff = now - dt.timedelta(days=30)
    old_sent = _sent_mail(sent_at=cutoff - MINUTE)
    old_file = _eml_files(app)
    recent_sent = _sent_mail(sent_at=cutoff + MINUTE)
    assert len(_eml_files(app)) == 2
    pending = _unsent_mail(created_at=cutoff - dt.timedelta(days=100), status=MailStatus.PENDING)
    failed = _unsent_mail(created_at=cutoff - dt.timedelta(days=100), status=MailStatus.FAILED)

    counts = prune(now=now)

    assert (counts["outbox"], counts["outbox_files"]) == (1, 1)
    assert _ids(OutboxMessage) == {recent_sent, pending, failed}
    assert old_sent not in _ids(OutboxMessage)
    remaining = _eml_files(app)
    assert len(remaining) == 1 and remaining != old_file and not old_file[0].exists()


def test_mail_without_files_is_pruned_too(app: Flask) -> None:
    """SMTP delivery keeps no files: the rows still go, and no file is counted."""
    _sent_mail(sent_at=utcnow() - dt.timedelta(days=31))
    for path in _eml_files(app):
        path.unlink()
    counts = prune()
    assert (counts["outbox"], counts["outbox_files"]) == (1, 0)
    assert _count(OutboxMessage) == 0


def test_read_notifications_go_after_90_days_unread_stay(app: Flask, user: Any) -> None:
    now = utcnow()
    cutoff = now - dt.timedelta(days=90)
    old_read = _notification(user, created_at=cutoff - MINUTE, read=True)
    old_unread = _notification(user, created_at=cutoff - dt.timedelta(days=300), read=False)
    recent_read = _notification(user, created_at=cutoff + MINUTE, read=True)

    assert prune(now=now)["notifications"] == 1
    assert _ids(Notification) == {old_unread, recent_read}
    assert old_read not in _ids(Notification)


def test_expired_sessions_go_live_ones_stay(app: Flask, user: Any) -> None:
    now = utcnow()
    _session(user, expires_at=now - MINUTE)
    live = _session(user, expires_at=now + dt.timedelta(minutes=10))
    assert prune()["web_sessions"] == 1
    db.session.rollback()
    assert set(db.session.execute(select(WebSession.id_hash)).scalars()) == {live}


def test_batches_delete_everything_past_the_window(app: Flask, user: Any) -> None:
    app.config["RETENTION_BATCH_SIZE"] = 2
    old = utcnow() - dt.timedelta(days=200)
    for _ in range(5):
        _notification(user, created_at=old, read=True)
    kept = _notification(user, created_at=utcnow(), read=True)
    assert prune()["notifications"] == 5
    assert _ids(Notification) == {kept}


# --- the command -------------------------------------------------------------------------------


def _one_of_each(app: Flask, make: Any, user: Any) -> None:
    """One row of every kind past its window, and one just inside it."""
    now = utcnow()
    hour = dt.timedelta(hours=1)
    _challenge(expires_at=now - dt.timedelta(hours=24) - hour)
    _challenge(expires_at=now - dt.timedelta(hours=24) + hour)
    _token(user, expires_at=now - DAY - hour)
    _token(user, expires_at=now - DAY + hour)
    _invitation(make, None, expires_at=now - dt.timedelta(days=30) - hour)
    _invitation(make, None, expires_at=now - dt.timedelta(days=30) + hour)
    _sent_mail(sent_at=now - dt.timedelta(days=30) - hour)
    _sent_mail(sent_at=now - dt.timedelta(days=30) + hour)
    _unsent_mail(created_at=now - dt.timedelta(days=365), status=MailStatus.PENDING)
    _notification(user, created_at=now - dt.timedelta(days=90) - hour, read=True)
    _notification(user, created_at=now - dt.timedelta(days=90) + hour, read=True)
    _session(user, expires_at=now - hour)
    _session(user, expires_at=now + hour)


def _totals(app: Flask) -> dict[str, int]:
    return {
        "jpki_challenges": _count(JpkiChallenge),
        "email_tokens": _count(EmailToken),
        "invitations": _count(Invitation),
        "outbox": _count(OutboxMessage),
        "outbox_files": len(_eml_files(app)),
        "notifications": _count(Notification),
        "web_sessions": _count(WebSession),
    }


ONE_EACH = dict.fromkeys(KINDS, 1)


def test_dry_run_deletes_nothing_and_counts_the_same(app: Flask, make: Any, user: Any) -> None:
    _one_of_each(app, make, user)
    before = _totals(app)
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["retention", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert _lines(dry.output) == ONE_EACH
    assert "dry run: nothing was deleted" in dry.output
    assert _totals(app) == before

    real = runner.invoke(args=["retention", "prune"])
    assert real.exit_code == 0, real.output
    assert _lines(real.output) == _lines(dry.output)
    assert "dry run" not in real.output
    assert _totals(app) == {kind: n - 1 for kind, n in before.items()}


def test_a_second_run_deletes_nothing(app: Flask, make: Any, user: Any) -> None:
    _one_of_each(app, make, user)
    runner = app.test_cli_runner()
    assert _lines(runner.invoke(args=["retention", "prune"]).output) == ONE_EACH
    after = _totals(app)
    second = runner.invoke(args=["retention", "prune"])
    assert second.exit_code == 0
    assert _lines(second.output) == dict.fromkeys(KINDS, 0)
    assert _totals(app) == after
    assert after["outbox"] == 2  # the recent sent message and the unsent one


def test_the_command_runs_without_a_request(app: Flask, make: Any, user: Any) -> None:
    """As from cron: a fresh context with only an app context, no request."""
    _one_of_each(app, make, user)

    def run() -> Any:
        with app.app_context():
            assert not has_request_context()
            return app.test_cli_runner().invoke(args=["retention", "prune"])

    result = contextvars.Context().run(run)
    assert result.exit_code == 0, result.output
    assert _lines(result.output) == ONE_EACH


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETENTION_OUTBOX_DAYS", "thirty"), ("RETENTION_CHALLENGE_HOURS", -1)],
)
def test_a_bad_setting_stops_with_its_name(app: Flask, user: Any, name: str, value: Any) -> None:
    _notification(user, created_at=utcnow() - dt.timedelta(days=200), read=True)
    app.config[name] = value
    result = app.test_cli_runner().invoke(args=["retention", "prune"])
    assert result.exit_code == 1
    assert name in result.output
    assert _count(Notification) == 1


def test_batch_size_below_one_is_refused(app: Flask) -> None:
    from app.retention import RetentionError

    app.config["RETENTION_BATCH_SIZE"] = 0
    with pytest.raises(RetentionError, match="RETENTION_BATCH_SIZE"):
        prune()
