"""Retention: `flask retention prune` deletes data that has outlived its purpose (A48).

Run it daily from cron (docs/operations.md). Each kind is deleted in batches of
`RETENTION_BATCH_SIZE` rows, one short transaction per batch, so the command never holds a long
lock on a busy table. Windows (docs/data-classification.md):

- `jpki_challenges`: `RETENTION_CHALLENGE_HOURS` after the challenge expired or was used;
- `email_tokens`: a day after the token was used or expired (a late click still reads
  "expired" rather than "not valid" for that day);
- `invitations`: `RETENTION_INVITATION_DAYS` after it was accepted, revoked or expired;
- `outbox`: sent messages `RETENTION_OUTBOX_DAYS` after sending, with their `.eml` files
  (`outbox_files`) in `MAIL_OUTBOX_DIR`; pending and failed messages are never deleted;
- `notifications`: read notifications created more than `RETENTION_NOTIFICATION_DAYS` ago;
- `web_sessions`: sessions past their absolute expiry (`app.sessions.purge_expired_sessions`).

Survey data, the vault, the audit and moderation logs and backups have rules of their own and
are not touched here.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import ColumnElement, case, delete, func, or_, select, update

from app.db import utcnow
from app.extensions import db
from app.logging_setup import log_event

KINDS = (
    "jpki_challenges",
    "email_tokens",
    "invitations",
    "outbox",
    "outbox_files",
    "notifications",
    "web_sessions",
)

EMAIL_TOKEN_GRACE = dt.timedelta(days=1)

SETTINGS = (
    "RETENTION_CHALLENGE_HOURS",
    "RETENTION_INVITATION_DAYS",
    "RETENTION_OUTBOX_DAYS",
    "RETENTION_NOTIFICATION_DAYS",
)


class RetentionError(ValueError):
    """A retention setting is not a usable number; the message names it."""


@dataclass(frozen=True)
class Windows:
    challenge: dt.timedelta
    invitation: dt.timedelta
    outbox: dt.timedelta
    notification: dt.timedelta
    batch_size: int


def windows_from_config(config: Mapping[str, Any]) -> Windows:
    """The retention windows from the settings; RetentionError for a negative or non-number."""
    values: dict[str, int] = {}
    for name in (*SETTINGS, "RETENTION_BATCH_SIZE"):
        raw = config.get(name)
        try:
            value = -1 if isinstance(raw, bool) or raw is None else int(raw)
        except (TypeError, ValueError):
            value = -1
        lowest = 1 if name == "RETENTION_BATCH_SIZE" else 0
        if value < lowest:
            raise RetentionError(f"{name} must be a whole number of at least {lowest}, not {raw!r}")
        values[name] = value
    return Windows(
        challenge=dt.timedelta(hours=values["RETENTION_CHALLENGE_HOURS"]),
        invitation=dt.timedelta(days=values["RETENTION_INVITATION_DAYS"]),
        outbox=dt.timedelta(days=values["RETENTION_OUTBOX_DAYS"]),
        notification=dt.timedelta(days=values["RETENTION_NOTIFICATION_DAYS"]),
        batch_size=values["RETENTION_BATCH_SIZE"],
    )


def prune(*, dry_run: bool = False, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete every kind past its window; return the count per kind (`KINDS`).

    With `dry_run` nothing is deleted and the counts are what a real run would delete. Commits
    after each batch; needs an app context, no request. Raises RetentionError for bad settings.
    """
    from app.auth.models import EmailToken, Invitation, JpkiChallenge
    from app.mail.models import MailStatus, OutboxMessage
    from app.sns.models import Notification

    windows = windows_from_config(current_app.config)
    now = now or utcnow()
    batch = windows.batch_size
    counts: dict[str, int] = {}

    cutoff = now - windows.challenge
    counts["jpki_challenges"] = _prune_rows(
        JpkiChallenge.id,
        [
            or_(
                JpkiChallenge.expires_at < cutoff,
                JpkiChallenge.verified_at < cutoff,
                JpkiChallenge.completed_at < cutoff,
            )
        ],
        dry_run=dry_run,
        batch=batch,
    )

    cutoff = now - EMAIL_TOKEN_GRACE
    counts["email_tokens"] = _prune_rows(
        EmailToken.id,
        [or_(EmailToken.expires_at < cutoff, EmailToken.used_at < cutoff)],
        dry_run=dry_run,
        batch=batch,
    )

    cutoff = now - windows.invitation
    counts["invitations"] = _prune_rows(
        Invitation.id,
        [
            or_(
                Invitation.expires_at < cutoff,
                Invitation.accepted_at < cutoff,
                Invitation.revoked_at < cutoff,
            )
        ],
        dry_run=dry_run,
        batch=batch,
        before_delete=_keep_invitation_quota,
    )

    cutoff = now - windows.outbox
    sent = [
        OutboxMessage.status == MailStatus.SENT.value,
        OutboxMessage.sent_at.is_not(None),
        OutboxMessage.sent_at < cutoff,
    ]
    files = _OutboxFiles(_outbox_dir())
    if dry_run:
        ids = db.session.execute(select(OutboxMessage.message_id).where(*sent)).scalars()
        counts["outbox_files"] = len(files.paths(ids))
    counts["outbox"] = _prune_rows(
        OutboxMessage.id, sent, dry_run=dry_run, batch=batch, before_delete=files.remove_for
    )
    if not dry_run:
        counts["outbox_files"] = files.removed

    cutoff = now - windows.notification
    counts["notifications"] = _prune_rows(
        Notification.id,
        [Notification.read_at.is_not(None), Notification.created_at < cutoff],
        dry_run=dry_run,
        batch=batch,
    )

    counts["web_sessions"] = _prune_sessions(dry_run=dry_run)
    db.session.commit()
    log_event(
        "retention.prune",
        "success",
        "retention prune dry_run=%s %s",
        "yes" if dry_run else "no",
        " ".join(f"{kind}={counts[kind]}" for kind in KINDS),
        dry_run=dry_run,
        jpki_challenges=counts["jpki_challenges"],
        email_tokens=counts["email_tokens"],
        invitations=counts["invitations"],
        outbox=counts["outbox"],
        outbox_files=counts["outbox_files"],
        notifications=counts["notifications"],
        web_sessions=counts["web_sessions"],
    )
    return {kind: counts[kind] for kind in KINDS}


def _prune_rows(
    id_column: Any,
    where: list[ColumnElement[bool]],
    *,
    dry_run: bool,
    batch: int,
    before_delete: Callable[[list[Any]], None] | None = None,
) -> int:
    """Delete the rows of `id_column`'s table matching `where`, `batch` at a time, committing
    each batch; or, with `dry_run`, count them."""
    table = id_column.class_
    if dry_run:
        stmt = select(func.count()).select_from(table).where(*where)
        return int(db.session.execute(stmt).scalar_one())
    total = 0
    while True:
        ids = list(
            db.session.execute(select(id_column).where(*where).order_by(id_column).limit(batch))
            .scalars()
            .all()
        )
        if not ids:
            break
        if before_delete is not None:
            before_delete(ids)
        # The condition again: a row changed since it was selected stays.
        result = db.session.execute(
            delete(table).where(id_column.in_(ids), *where),
            execution_options={"synchronize_session": False},
        )
        total += int(getattr(result, "rowcount", 0) or 0)
        db.session.commit()
        if len(ids) < batch:
            break
    return total


def _keep_invitation_quota(ids: list[int]) -> None:
    """Pruning gives no invitation back: a member's quota counts every invitation they sent
    that was not revoked (`app.auth.services.invitations_left`), so the inviter's
    `invite_quota` is lowered by the pruned ones that counted (never below zero)."""
    from app.auth.models import Invitation, User

    counted = db.session.execute(
        select(Invitation.inviter_id, func.count(Invitation.id))
        .where(
            Invitation.id.in_(ids),
            Invitation.inviter_id.is_not(None),
            Invitation.revoked_at.is_(None),
        )
        .group_by(Invitation.inviter_id)
    ).all()
    for inviter_id, n in counted:
        db.session.execute(
            update(User)
            .where(User.id == inviter_id)
            .values(
                invite_quota=case(
                    (User.invite_quota > n, User.invite_quota - n),
                    else_=0,
                )
            ),
            execution_options={"synchronize_session": False},
        )


def _outbox_dir() -> Path | None:
    """Where the file backend writes `.eml` files (kept even after a switch to SMTP)."""
    folder = current_app.config.get("MAIL_OUTBOX_DIR")
    return Path(folder) if folder else None


class _OutboxFiles:
    """The `.eml` files of outbox rows. `app.mail.services.FileBackend` names each
    `<UTC stamp>-<Message-ID local part>.eml`; the stamp holds no hyphen."""

    def __init__(self, folder: Path | None) -> None:
        self.removed = 0
        self._by_key: dict[str, list[Path]] = {}
        if folder is None or not folder.is_dir():
            return
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not name.endswith(".eml") or "-" not in name:
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                key = name.split("-", 1)[1].removesuffix(".eml")
                self._by_key.setdefault(key, []).append(Path(entry.path))

    @staticmethod
    def key(message_id: str) -> str:
        """The file name part FileBackend derives from a Message-ID."""
        return message_id.strip("<>").split("@")[0]

    def paths(self, message_ids: Iterable[str]) -> list[Path]:
        return [path for mid in message_ids if mid for path in self._by_key.get(self.key(mid), [])]

    def remove_for(self, ids: list[int]) -> None:
        """Delete the files of these outbox rows before the rows go (a file whose removal
        fails stops the command with its row still there, so a later run retries it)."""
        from app.mail.models import OutboxMessage

        if not self._by_key:
            return
        mids = list(
            db.session.execute(
                select(OutboxMessage.message_id).where(OutboxMessage.id.in_(ids))
            ).scalars()
        )
        for path in self.paths(mids):
            try:
                path.unlink()
            except FileNotFoundError:  # removed meanwhile: nothing left to delete
                continue
            self.removed += 1
        for mid in mids:
            if mid:
                self._by_key.pop(self.key(mid), None)


def _prune_sessions(*, dry_run: bool) -> int:
    """Expired sessions, through the session store's own purge (`app.sessions`)."""
    from app.sessions import WebSession, purge_expired_sessions

    if dry_run:
        stmt = select(func.count()).select_from(WebSession).where(WebSession.expires_at < utcnow())
        return int(db.session.execute(stmt).scalar_one())
    count = purge_expired_sessions()
    db.session.commit()
    return int(count)


retention_cli = AppGroup("retention", help="Deleting data past its retention period.")


@retention_cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
def prune_command(dry_run: bool) -> None:
    """Delete expired challenges, tokens, invitations, sent mail, read notifications and
    sessions past their retention period (run daily; see docs/operations.md)."""
    try:
        counts = prune(dry_run=dry_run)
    except RetentionError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    for kind in KINDS:
        click.echo(f"{kind}: {counts[kind]}")
    if dry_run:
        click.echo("dry run: nothing was deleted")
