"""Where communities plug into the rest of the site: moderation kinds, notifications, search,
the SNS timeline, sample data and template helpers. Called from `register(app)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, url_for
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import lazyload

from app.auth.models import RoleCode, User
from app.community.models import Community, CommunityMember, Event, Topic, TopicPost
from app.extensions import db
from app.i18n import _l
from app.permissions import visible_to

if TYPE_CHECKING:
    from app.sns.services import TimelineCursor, TimelineEntry

ENTRY_TEMPLATE = "community/_timeline_entry.html"


def _timeline_source(user: User) -> ColumnElement[bool]:
    """Diaries of the people who share a community with the member (each diary still goes
    through its own visibility; membership alone never widens what a diary reaches)."""
    from app.sns.models import Diary

    mine = select(CommunityMember.community_id).where(CommunityMember.user_id == user.id)
    fellows = select(CommunityMember.user_id).where(CommunityMember.community_id.in_(mine))
    return Diary.author_id.in_(fellows)


def _timeline_entries(user: User, after: TimelineCursor | None, limit: int) -> list[TimelineEntry]:
    """New topics and replies in the member's communities that the member may see (secret
    communities only for their members; hidden, held, deleted and blocked content left out by
    the visibility rules), newest first after the cursor: two queries for any page."""
    from app.sns.services import TimelineEntry, timeline_before

    mine = select(CommunityMember.community_id).where(CommunityMember.user_id == user.id)
    topics = visible_to(
        select(Topic, Community.name, User)
        .join(Community, Community.id == Topic.community_id)
        .join(User, User.id == Topic.author_id)
        .where(Topic.community_id.in_(mine))
        .where(timeline_before(Topic.created_at, Topic.id, "topic", after))
        .options(lazyload(User.roles), lazyload(Topic.author), lazyload(Topic.community)),
        user,
        Topic,
    ).order_by(Topic.created_at.desc(), Topic.id.desc())
    entries = [
        TimelineEntry(
            kind="topic",
            id=topic.id,
            created_at=topic.created_at,
            author=author,
            template=ENTRY_TEMPLATE,
            data={
                "community_id": topic.community_id,
                "community": name,
                "topic_id": topic.id,
                "title": topic.title,
                "body": topic.body,
            },
        )
        for topic, name, author in db.session.execute(topics.limit(limit)).all()
    ]
    posts = visible_to(
        select(TopicPost, Topic.title, Topic.community_id, Community.name, User)
        .join(Topic, Topic.id == TopicPost.topic_id)
        .join(Community, Community.id == Topic.community_id)
        .join(User, User.id == TopicPost.author_id)
        .where(Topic.community_id.in_(mine))
        .where(timeline_before(TopicPost.created_at, TopicPost.id, "topic_post", after))
        .options(lazyload(User.roles), lazyload(TopicPost.author), lazyload(TopicPost.topic)),
        user,
        TopicPost,
    ).order_by(TopicPost.created_at.desc(), TopicPost.id.desc())
    entries += [
        TimelineEntry(
            kind="topic_post",
            id=post.id,
            created_at=post.created_at,
            author=author,
            template=ENTRY_TEMPLATE,
            data={
                "community_id": community_id,
                "community": name,
                "topic_id": post.topic_id,
                "title": title,
                "body": post.body,
            },
        )
        for post, title, community_id, name, author in db.session.execute(posts.limit(limit)).all()
    ]
    return entries


def register_content_kinds() -> None:
    from app.moderation.content import ContentKind, register_content_kind

    register_content_kind(
        ContentKind(
            key="community",
            model=Community,
            author_attr="admin_id",
            label=_l("Community"),
            snapshot=lambda c: f"{c.name}\n{c.description}",
            url=lambda c: url_for("community.community", community_id=c.id),
        )
    )
    register_content_kind(
        ContentKind(
            key="topic",
            model=Topic,
            author_attr="author_id",
            label=_l("Topic"),
            snapshot=lambda t: f"{t.title}\n{t.body}",
            url=lambda t: url_for("community.topic", topic_id=t.id),
        )
    )
    register_content_kind(
        ContentKind(
            key="topic_post",
            model=TopicPost,
            author_attr="author_id",
            label=_l("Reply in a topic"),
            snapshot=lambda p: p.body,
            url=lambda p: url_for("community.topic", topic_id=p.topic_id, _anchor=f"post-{p.id}"),
        )
    )
    register_content_kind(
        ContentKind(
            key="event",
            model=Event,
            author_attr="author_id",
            label=_l("Event"),
            snapshot=lambda e: f"{e.title}\n{e.place}\n{e.body}",
            url=lambda e: url_for("community.event", event_id=e.id),
        )
    )


def _mine(user: Any) -> list[Community]:
    from app.community.services import my_communities

    return my_communities(user, limit=20)


def _news(user: Any) -> list[Topic]:
    from app.community.services import recent_topics_for_member

    return recent_topics_for_member(user, limit=5)


def register_all(app: Flask) -> None:
    from app.community.notifications import register_notification_kinds
    from app.community.sample import register_sample_hooks
    from app.community.search import register_search_kinds
    from app.sns.services import register_timeline_entries, register_timeline_source

    register_content_kinds()
    register_notification_kinds()
    register_search_kinds()
    register_timeline_source(_timeline_source)
    register_timeline_entries(_timeline_entries)
    register_sample_hooks()
    app.jinja_env.globals.update(
        community_mine=_mine, community_news=_news, holds_moderator_role=_holds_moderator_role
    )


def _holds_moderator_role(user: Any) -> bool:
    """For the menu: the approvals page is shown to the role's holders, who pass the second
    factor on the page itself (their sight in member pages waits for it, `is_moderator`)."""
    return bool(getattr(user, "is_authenticated", False) and user.has_role(RoleCode.MODERATOR))
