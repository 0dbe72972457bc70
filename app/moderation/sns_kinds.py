"""The SNS's moderatable content: profiles, diaries, comments and messages."""

from __future__ import annotations

from typing import Any

from flask import url_for

from app.auth.models import User
from app.extensions import db
from app.i18n import _, _l
from app.moderation.content import ContentKind, register_content_kind
from app.permissions import Viewer, Visibility, viewer_id
from app.sns.models import Comment, Diary, Message, ProfileValue
from app.sns.services import ExtraNotificationKind, register_notification_kind


def _profile_snapshot(member: User) -> str:
    text = member.display_name
    intro = db.session.get(ProfileValue, (member.id, "self_intro"))
    # Only what any member could read: the snapshot is shown to moderators.
    if intro is not None and intro.visibility in (Visibility.MEMBERS, Visibility.PUBLIC):
        text += "\n" + intro.value
    return text


def _message_reportable(viewer: Viewer, msg: Message) -> bool:
    """Only the recipient reports a message, while it is in their inbox."""
    return msg.recipient_id == viewer_id(viewer) and msg.recipient_deleted_at is None


def _message_url(msg: Message) -> str:
    sender = db.session.get(User, msg.sender_id)
    return url_for("sns.thread", handle=sender.handle) if sender else ""


def _comment_url(comment: Comment) -> Any:
    return url_for("sns.diary", diary_id=comment.diary_id, _anchor=f"comment-{comment.id}")


def register_sns_kinds() -> None:
    register_content_kind(
        ContentKind(
            key="profile",
            model=User,
            author_attr="id",
            label=_l("Profile"),
            snapshot=_profile_snapshot,
            url=lambda m: url_for("sns.profile", handle=m.handle),
            hideable=False,
        )
    )
    register_content_kind(
        ContentKind(
            key="diary",
            model=Diary,
            author_attr="author_id",
            label=_l("Diary entry"),
            snapshot=lambda d: f"{d.title}\n{d.body}",
            url=lambda d: url_for("sns.diary", diary_id=d.id),
        )
    )
    register_content_kind(
        ContentKind(
            key="comment",
            model=Comment,
            author_attr="author_id",
            label=_l("Comment"),
            snapshot=lambda c: c.body,
            url=_comment_url,
        )
    )
    register_content_kind(
        ContentKind(
            key="message",
            model=Message,
            author_attr="sender_id",
            label=_l("Message"),
            snapshot=lambda m: f"{m.subject}\n{m.body}",
            url=_message_url,
            hideable=False,
            may_report=_message_reportable,
        )
    )


def _own_actions(member: User, ids: set[int]) -> set[int]:
    from app.moderation.services import own_action_ids

    return own_action_ids(member, ids)


def register_notification() -> None:
    """The notification a member gets when a moderator acts on their content or account."""
    from app.moderation.services import NOTIFICATION_KIND

    register_notification_kind(
        ExtraNotificationKind(
            key=NOTIFICATION_KIND,
            label=_l("Moderators' actions on my posts"),
            text=lambda _name: _(
                "A moderator took an action on your post or account. See why, and reply if you "
                "wish."
            ),
            # A plain path: mail may be written outside a request.
            path=lambda oid: f"/moderation/my-actions#action-{oid or 0}",
            visible=_own_actions,
        )
    )
