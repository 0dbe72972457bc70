"""Moderation tables: the append-only action log, warnings, appeals and the word filter.

Reports themselves stay in `sns_reports` (`app.sns.models.Report`), where members file them.
The log keeps plain member ids rather than foreign keys: a foreign key with ON DELETE SET NULL
would have to update log rows, and the log refuses every update.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import UTCDateTime, utcnow
from app.extensions import db


class ModerationAction(db.Model):  # type: ignore[name-defined]
    """One entry of the moderation log: who did what to which content or member, and why.

    Append-only: the service layer refuses updates and deletes, and a database trigger refuses
    UPDATE and DELETE on the table.
    """

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # None: the system (word filter)
    action: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[int | None] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(2000), default="")

    __table_args__ = (
        Index("ix_moderation_actions_member_id_created_at", "member_id", "created_at"),
        Index("ix_moderation_actions_target_kind_target_id", "target_kind", "target_id"),
        Index("ix_moderation_actions_created_at", "created_at"),
    )


class MemberWarning(db.Model):  # type: ignore[name-defined]
    """A moderator's warning; the member must acknowledge it before using the site again."""

    __tablename__ = "moderation_warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action_id: Mapped[int] = mapped_column(ForeignKey("moderation_actions.id"), unique=True)
    message: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_moderation_warnings_member_id_acknowledged_at", "member_id", "acknowledged_at"),
    )


class Appeal(db.Model):  # type: ignore[name-defined]
    """A member's one reply to an action taken on their content or account."""

    __tablename__ = "moderation_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("moderation_actions.id"), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    member: Mapped[User] = relationship()
    action: Mapped[ModerationAction] = relationship()

    __table_args__ = (Index("ix_moderation_appeals_closed_at", "closed_at"),)


class FilterEntry(db.Model):  # type: ignore[name-defined]
    """One word-filter entry: a word, a regular expression, or a switched-off preset.

    Presets (phone numbers, email addresses) live in code and are on unless a row of kind
    `preset` with `active=False` switches one off.
    """

    __tablename__ = "moderation_filter_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # word | pattern | preset
    value: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "value"),)
