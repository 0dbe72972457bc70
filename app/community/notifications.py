"""Community notifications through the SNS notification service: a new topic (to the other
members), a reply (to the topic's followers) and an event reminder (to its participants).

Each kind tells the SNS which of its objects a member may still see, so a member who left a
secret community no longer sees its notifications.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.auth.models import User
from app.community.models import (
    Community,
    CommunityMember,
    Event,
    Topic,
    TopicFollow,
    TopicPost,
)
from app.extensions import db
from app.i18n import _, _l
from app.permissions import can_view, visible_to
from app.sns.services import ExtraNotificationKind, notify, register_notification_kind

NEW_TOPIC = "community_topic"
REPLY = "community_reply"
EVENT_REMINDER = "community_event"


def _visible(model: Any) -> Any:
    def visible(user: User, ids: set[int]) -> set[int]:
        stmt = visible_to(select(model.id).where(model.id.in_(ids)), user, model)
        return {int(i) for i in db.session.execute(stmt).scalars()}

    return visible


# Plain paths, not url_for: mail is also written outside a request (the reminder job).
def _post_path(post_id: int | None) -> str:
    post = db.session.get(TopicPost, post_id) if post_id else None
    if post is None:
        return "/notifications"
    return f"/topics/{post.topic_id}#post-{post.id}"


def register_notification_kinds() -> None:
    register_notification_kind(
        ExtraNotificationKind(
            key=NEW_TOPIC,
            label=_l("New topics in my communities"),
            text=lambda name: _("%(name)s started a new topic in your community.", name=name),
            path=lambda oid: f"/topics/{oid or 0}",
            visible=_visible(Topic),
        )
    )
    register_notification_kind(
        ExtraNotificationKind(
            key=REPLY,
            label=_l("Replies in topics I follow"),
            text=lambda name: _("%(name)s replied in a topic you follow.", name=name),
            path=_post_path,
            visible=_visible(TopicPost),
        )
    )
    register_notification_kind(
        ExtraNotificationKind(
            key=EVENT_REMINDER,
            label=_l("Reminders of events I take part in"),
            text=lambda name: _("Reminder: an event you take part in starts within a day."),
            path=lambda oid: f"/events/{oid or 0}",
            visible=_visible(Event),
        )
    )


def notify_new_topic(topic: Topic, author: User) -> None:
    """Tell the community's other members (who can see the topic) of a new topic."""
    members = db.session.execute(
        select(User)
        .join(CommunityMember, CommunityMember.user_id == User.id)
        .where(CommunityMember.community_id == topic.community_id, User.id != author.id)
    ).scalars()
    for member in members:
        if member.is_active and can_view(member, topic):
            notify(member, NEW_TOPIC, author, topic.id)


def notify_reply(topic: Topic, post: TopicPost, author: User) -> None:
    """Tell the topic's followers (members who can see the reply) of a new reply."""
    followers = db.session.execute(
        select(User)
        .join(TopicFollow, TopicFollow.user_id == User.id)
        .join(
            CommunityMember,
            (CommunityMember.user_id == User.id)
            & (CommunityMember.community_id == topic.community_id),
        )
        .where(TopicFollow.topic_id == topic.id, User.id != author.id)
    ).scalars()
    for member in followers:
        if member.is_active and can_view(member, post):
            notify(member, REPLY, author, post.id)


def notify_event_reminder(user: User, event: Event) -> None:
    community = db.session.get(Community, event.community_id)
    if community is None:
        return
    notify(user, EVENT_REMINDER, None, event.id)
