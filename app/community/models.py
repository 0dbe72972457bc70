"""Communities (コミュニティ), their members, topics (トピック) with posts, and events (イベント).

Visibility: a community is seen by signed-in members, except a `secret` one, which only its
members see (a membership gate in `app.permissions`). Topics, posts and events inherit it
through their parent. A community awaiting moderator approval is held like moderator-hidden
content: only its admin and moderators see it.
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
    Select,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import UTCDateTime, utcnow
from app.extensions import db
from app.permissions import (
    MembershipGate,
    Rule,
    Visibility,
    register_edit_rule,
    register_rule,
)
from app.sessions import register_role_source


class CommunityKind(enum.StrEnum):
    OPEN = "open"  # anyone joins
    APPROVAL = "approval"  # the admin approves joins
    SECRET = "secret"  # noqa: S105 - a kind, not a password; invisible to non-members


class CommunityRole(enum.StrEnum):
    ADMIN = "admin"
    SUBADMIN = "subadmin"
    MEMBER = "member"


class CommunityStatus(enum.StrEnum):
    APPROVED = "approved"
    PENDING = "pending"  # waiting for a moderator
    REJECTED = "rejected"


def _user_fk(ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey("users.id", ondelete=ondelete)


def _community_fk() -> ForeignKey:
    return ForeignKey("communities.id", ondelete="CASCADE")


KIND_CHECK = "kind IN ('open', 'approval', 'secret')"
ROLE_CHECK = "role IN ('admin', 'subadmin', 'member')"
STATUS_CHECK = "status IN ('approved', 'pending', 'rejected')"


class Community(db.Model):  # type: ignore[name-defined]
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(30), default="")
    kind: Mapped[str] = mapped_column(String(10), default=CommunityKind.OPEN.value)
    official: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_id: Mapped[int] = mapped_column(_user_fk("RESTRICT"), index=True)
    image_token: Mapped[str | None] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(10), default=CommunityStatus.APPROVED.value)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")

    admin: Mapped[User] = relationship()

    __table_args__ = (
        CheckConstraint(KIND_CHECK, name="kind"),
        CheckConstraint(STATUS_CHECK, name="status"),
        Index("ix_communities_status_created_at", "status", "created_at"),
    )

    @property
    def is_secret(self) -> bool:
        return self.kind == CommunityKind.SECRET.value


class CommunityMember(db.Model):  # type: ignore[name-defined]
    """A member of a community. The primary key makes a second join impossible."""

    __tablename__ = "community_members"

    community_id: Mapped[int] = mapped_column(_community_fk(), primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), default=CommunityRole.MEMBER.value)
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
    community: Mapped[Community] = relationship()

    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        Index("ix_community_members_user_id_community_id", "user_id", "community_id"),
    )


class JoinRequest(db.Model):  # type: ignore[name-defined]
    """A request to join an approval community, waiting for its admins."""

    __tablename__ = "community_join_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(_community_fk())
    user_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("community_id", "user_id"),)


class CommunityInvitation(db.Model):  # type: ignore[name-defined]
    """An admin's invitation of a member (the only way into a secret community)."""

    __tablename__ = "community_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(_community_fk())
    user_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    inviter_id: Mapped[int | None] = mapped_column(_user_fk("SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()
    inviter: Mapped[User | None] = relationship(foreign_keys=[inviter_id])

    __table_args__ = (UniqueConstraint("community_id", "user_id"),)


class CommunityBan(db.Model):  # type: ignore[name-defined]
    __tablename__ = "community_bans"

    community_id: Mapped[int] = mapped_column(_community_fk(), primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    banned_by_id: Mapped[int | None] = mapped_column(_user_fk("SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class CommunitySettings(db.Model):  # type: ignore[name-defined]
    """Site-wide community settings (one row, id 1), changed by moderators."""

    __tablename__ = "community_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    require_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Topic(db.Model):  # type: ignore[name-defined]
    __tablename__ = "community_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(_community_fk())
    author_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_post_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")

    author: Mapped[User] = relationship()
    community: Mapped[Community] = relationship()

    __table_args__ = (
        Index("ix_community_topics_community_id_last_post_at", "community_id", "last_post_at"),
        Index("ix_community_topics_created_at", "created_at"),
    )


class TopicPost(db.Model):  # type: ignore[name-defined]
    """A reply in a topic; `quote_id` names the post it quotes."""

    __tablename__ = "community_topic_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("community_topics.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    body: Mapped[str] = mapped_column(String(5000))
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("community_topic_posts.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")

    author: Mapped[User] = relationship()
    topic: Mapped[Topic] = relationship()

    __table_args__ = (
        Index("ix_community_topic_posts_topic_id_created_at", "topic_id", "created_at"),
    )


class TopicFollow(db.Model):  # type: ignore[name-defined]
    """A member who follows a topic and is notified of its replies."""

    __tablename__ = "community_topic_follows"

    topic_id: Mapped[int] = mapped_column(
        ForeignKey("community_topics.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)


class CommunityImage(db.Model):  # type: ignore[name-defined]
    """An image of a community, topic or post, re-encoded by `app.sns.images`."""

    __tablename__ = "community_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(48), unique=True)
    owner_id: Mapped[int] = mapped_column(_user_fk())
    community_id: Mapped[int] = mapped_column(_community_fk(), index=True)
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("community_topics.id", ondelete="CASCADE"), index=True
    )
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("community_topic_posts.id", ondelete="CASCADE"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(db.Model):  # type: ignore[name-defined]
    __tablename__ = "community_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(_community_fk())
    author_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    capacity: Mapped[int | None] = mapped_column(Integer)
    participant_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")

    author: Mapped[User] = relationship()
    community: Mapped[Community] = relationship()

    __table_args__ = (
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity"),
        Index("ix_community_events_community_id_starts_at", "community_id", "starts_at"),
        Index("ix_community_events_starts_at", "starts_at"),
    )


class EventParticipant(db.Model):  # type: ignore[name-defined]
    """A member taking part in an event; the primary key makes a second join impossible."""

    __tablename__ = "community_event_participants"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("community_events.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


SECRET_GATE = MembershipGate(
    flag="kind",
    gated_value=CommunityKind.SECRET.value,
    membership=CommunityMember,
    group_column="community_id",
    user_column="user_id",
)

register_rule(
    Community,
    Rule(
        owner="admin_id",
        fixed_level=Visibility.MEMBERS,
        hidden="hidden_at",
        gate=SECRET_GATE,
        social=False,
    ),
)
register_rule(
    Topic,
    Rule(
        owner="author_id",
        fixed_level=Visibility.MEMBERS,
        hidden="hidden_at",
        deleted="deleted_at",
        parent=(Community, "community_id"),
    ),
)
register_rule(
    TopicPost,
    Rule(
        owner="author_id",
        fixed_level=Visibility.MEMBERS,
        hidden="hidden_at",
        deleted="deleted_at",
        parent=(Topic, "topic_id"),
    ),
)
register_rule(
    Event,
    Rule(
        owner="author_id",
        fixed_level=Visibility.MEMBERS,
        hidden="hidden_at",
        deleted="deleted_at",
        parent=(Community, "community_id"),
    ),
)


def community_role(community_id: int, user_id: int | None) -> str | None:
    """The member's role in the community, or None for a non-member."""
    if user_id is None:
        return None
    row = db.session.get(CommunityMember, (community_id, user_id))
    return row.role if row is not None else None


def is_community_manager(community_id: int, user_id: int | None) -> bool:
    """The admin or a sub-admin."""
    return community_role(community_id, user_id) in (
        CommunityRole.ADMIN.value,
        CommunityRole.SUBADMIN.value,
    )


def _manager_may_edit(viewer: object, obj: Topic | TopicPost | Event) -> bool:
    """The community's admin and sub-admins may remove (and pin/close) its content."""
    if isinstance(obj, TopicPost):
        topic = db.session.get(Topic, obj.topic_id)
        if topic is None:
            return False
        community_id = topic.community_id
    else:
        community_id = obj.community_id
    return is_community_manager(community_id, getattr(viewer, "id", None))


def _community_manager(viewer: object, community: Community) -> bool:
    return is_community_manager(community.id, getattr(viewer, "id", None))


register_edit_rule(Topic, _manager_may_edit)
register_edit_rule(TopicPost, _manager_may_edit)
register_edit_rule(Event, _manager_may_edit)
register_edit_rule(Community, _community_manager)


def _community_roles(user_id: int) -> Select[int, str]:
    """The communities a member runs, as admin or sub-admin. A plain membership is no role: it
    lets a member read and post in the community, the same standing as any other member there,
    and is checked against this table on every request; roles give power over other members
    and their posts (A16)."""
    return select(CommunityMember.community_id, CommunityMember.role).where(
        CommunityMember.user_id == user_id,
        CommunityMember.role != CommunityRole.MEMBER.value,
    )


register_role_source("community", _community_roles)
