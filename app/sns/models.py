"""Regional SNS tables: friends, blocks, profiles, images, diaries, comments, introductions,
messages, footprints, notifications and reports.

Visibility rules for these models are registered with `app.permissions` at the bottom.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import UTCDateTime, utcnow
from app.extensions import db
from app.permissions import Rule, Visibility, configure_graph, register_edit_rule, register_rule

LEVEL_VALUES = ", ".join(f"'{level.value}'" for level in Visibility)
LEVEL_CHECK = f"visibility IN ({LEVEL_VALUES})"


def _user_fk(ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey("users.id", ondelete=ondelete)


class Friendship(db.Model):  # type: ignore[name-defined]
    """A mutual friend link, stored once per direction so "my friends" is one indexed lookup."""

    __tablename__ = "sns_friendships"

    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    friend_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("user_id <> friend_id", name="not_self"),
        Index("ix_sns_friendships_friend_id_user_id", "friend_id", "user_id"),
    )


class FriendRequest(db.Model):  # type: ignore[name-defined]
    """A pending request; it is deleted when accepted, declined or cancelled."""

    __tablename__ = "sns_friend_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(_user_fk())
    recipient_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    sender: Mapped[User] = relationship(foreign_keys=[sender_id])
    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id])

    __table_args__ = (UniqueConstraint("sender_id", "recipient_id"),)


class Block(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sns_blocks"

    blocker_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    blocked_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    blocked: Mapped[User] = relationship(foreign_keys=[blocked_id])

    __table_args__ = (Index("ix_sns_blocks_blocked_id_blocker_id", "blocked_id", "blocker_id"),)


class FieldKind(enum.StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    CHOICE = "choice"
    DATE = "date"
    YEAR = "year"
    MONTHDAY = "monthday"
    IMAGE = "image"


class ProfileField(db.Model):  # type: ignore[name-defined]
    """Admin settings of a profile field: defaults and fixed levels for the built-in fields,
    and the whole definition of admin-defined extra fields (key `x_…`)."""

    __tablename__ = "sns_profile_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=FieldKind.TEXT.value)
    label_ja: Mapped[str] = mapped_column(String(60), default="")
    label_en: Mapped[str] = mapped_column(String(60), default="")
    choices: Mapped[str] = mapped_column(Text, default="")  # one choice per line
    default_visibility: Mapped[str] = mapped_column(String(20), default="members")
    fixed_visibility: Mapped[str | None] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer, default=100)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ProfileValue(db.Model):  # type: ignore[name-defined]
    """One profile field of one member, with the visibility the member chose."""

    __tablename__ = "sns_profile_values"

    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    field_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000), default="")
    visibility: Mapped[str] = mapped_column(String(20), default="members")

    __table_args__ = (CheckConstraint(LEVEL_CHECK, name="visibility"),)


class NotificationKind(enum.StrEnum):
    FRIEND_REQUEST = "friend_request"
    FRIEND_ACCEPTED = "friend_accepted"
    COMMENT = "comment"
    REPLY = "reply"
    MESSAGE = "message"
    INTRODUCTION = "introduction"


class MemberSettings(db.Model):  # type: ignore[name-defined]
    """A member's SNS settings and visit markers (created on first use)."""

    __tablename__ = "sns_settings"

    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    friends_visibility: Mapped[str] = mapped_column(String(20), default="members")
    footprints_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    email_kinds: Mapped[str] = mapped_column(String(200), default="friend_request,message")
    email_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    last_digest_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    timeline_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    timeline_visit_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(LEVEL_CHECK.replace("visibility", "friends_visibility"), name="friends"),
    )

    def email_kind_set(self) -> set[str]:
        return {kind for kind in self.email_kinds.split(",") if kind}


class Diary(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sns_diaries"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(_user_fk())
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    body_format: Mapped[str] = mapped_column(String(10), default="plain")  # plain | markdown
    visibility: Mapped[str] = mapped_column(String(20), default="friends")
    allow_comments: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")

    author: Mapped[User] = relationship()
    images: Mapped[list[Image]] = relationship(
        back_populates="diary", order_by="Image.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(LEVEL_CHECK, name="visibility"),
        Index("ix_sns_diaries_author_id_created_at", "author_id", "created_at"),
        Index("ix_sns_diaries_created_at", "created_at"),
    )


class Image(db.Model):  # type: ignore[name-defined]
    """An uploaded, re-encoded image stored under a random name outside the static root."""

    __tablename__ = "sns_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(48), unique=True)
    owner_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    diary_id: Mapped[int | None] = mapped_column(
        ForeignKey("sns_diaries.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    diary: Mapped[Diary | None] = relationship(back_populates="images")


class Comment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sns_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    diary_id: Mapped[int] = mapped_column(ForeignKey("sns_diaries.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    body: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")

    author: Mapped[User] = relationship()
    diary: Mapped[Diary] = relationship()

    __table_args__ = (Index("ix_sns_comments_diary_id_created_at", "diary_id", "created_at"),)


class Introduction(db.Model):  # type: ignore[name-defined]
    """A friend's short introduction (紹介文) of a member; the member may hide it."""

    __tablename__ = "sns_introductions"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(_user_fk())
    subject_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    body: Mapped[str] = mapped_column(String(1000))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    subject: Mapped[User] = relationship(foreign_keys=[subject_id])

    __table_args__ = (UniqueConstraint("author_id", "subject_id"),)


class Message(db.Model):  # type: ignore[name-defined]
    """A private message. Each side can delete it for themselves only."""

    __tablename__ = "sns_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(_user_fk())
    recipient_id: Mapped[int] = mapped_column(_user_fk())
    subject: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(String(5000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sender_deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    recipient_deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    sender: Mapped[User] = relationship(foreign_keys=[sender_id])
    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id])

    __table_args__ = (
        Index("ix_sns_messages_recipient_id_created_at", "recipient_id", "created_at"),
        Index("ix_sns_messages_sender_id_created_at", "sender_id", "created_at"),
    )


class Footprint(db.Model):  # type: ignore[name-defined]
    """The latest visit of `visitor` to `owner`'s profile (あしあと)."""

    __tablename__ = "sns_footprints"

    owner_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    visitor_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    visited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    visitor: Mapped[User] = relationship(foreign_keys=[visitor_id])

    __table_args__ = (Index("ix_sns_footprints_owner_id_visited_at", "owner_id", "visited_at"),)


class Notification(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sns_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk())
    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(_user_fk())
    object_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])

    __table_args__ = (
        Index("ix_sns_notifications_user_id_created_at", "user_id", "created_at"),
        Index("ix_sns_notifications_user_id_read_at", "user_id", "read_at"),
    )


class Report(db.Model):  # type: ignore[name-defined]
    """A member's report for the moderation queue, with a snapshot of what they saw.

    `kind` names a kind of `app.moderation.content`'s registry; a report with reason `held` is
    the word filter's (no reporter)."""

    __tablename__ = "sns_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int | None] = mapped_column(_user_fk("SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(30))
    details: Mapped[str] = mapped_column(String(1000), default="")
    excerpt: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    reporter: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_sns_reports_status_created_at", "status", "created_at"),)


configure_graph(friendships=Friendship.__table__, blocks=Block.__table__)
register_rule(
    Diary, Rule(owner="author_id", level="visibility", hidden="hidden_at", deleted="deleted_at")
)
register_rule(
    Comment,
    Rule(owner="author_id", hidden="hidden_at", deleted="deleted_at", parent=(Diary, "diary_id")),
)
register_rule(ProfileValue, Rule(owner="user_id", level="visibility"))


def _diary_author_may_remove(viewer: object, comment: Comment) -> bool:
    """The diary's author may remove comments on it (but not edit them)."""
    diary = db.session.get(Diary, comment.diary_id)
    return diary is not None and diary.author_id == getattr(viewer, "id", None)


register_edit_rule(Comment, _diary_author_may_remove)
