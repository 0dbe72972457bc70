"""Where communities plug into the rest of the site: moderation kinds, notifications, search,
the SNS timeline, sample data and template helpers. Called from `register(app)`."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from sqlalchemy import ColumnElement, select

from app.auth.models import User
from app.community.models import Community, CommunityMember, Event, Topic, TopicPost
from app.i18n import _l
from app.permissions import is_moderator


def _timeline_source(user: User) -> ColumnElement[bool]:
    """Diaries of the people who share a community with the member (each diary still goes
    through its own visibility; membership alone never widens what a diary reaches)."""
    from app.sns.models import Diary

    mine = select(CommunityMember.community_id).where(CommunityMember.user_id == user.id)
    fellows = select(CommunityMember.user_id).where(CommunityMember.community_id.in_(mine))
    return Diary.author_id.in_(fellows)


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
    from app.sns.services import register_timeline_source

    register_content_kinds()
    register_notification_kinds()
    register_search_kinds()
    register_timeline_source(_timeline_source)
    register_sample_hooks()
    app.jinja_env.globals.update(
        community_mine=_mine, community_news=_news, is_moderator=is_moderator
    )
