"""Community rules: create and approve communities, membership and roles, topics and posts,
events with participants, reminders and iCalendar files.

Services take explicit arguments (never `request` or `current_user`), raise `CommunityError`
with a message for the member or `NotVisible` (views answer 404), and never commit. Listings go
through `app.permissions.visible_to`, single objects through `can_view`.

Joining a community or an event is safe under concurrency: the membership and participant rows
have composite primary keys, the insert is INSERT … ON CONFLICT DO NOTHING and a duplicate
returns the row that won; an event's capacity is enforced by one conditional UPDATE of its
participant count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import lazyload, selectinload

from app.auth.models import User
from app.community.models import (
    Community,
    CommunityBan,
    CommunityImage,
    CommunityInvitation,
    CommunityKind,
    CommunityMember,
    CommunityRole,
    CommunitySettings,
    CommunityStatus,
    Event,
    EventParticipant,
    JoinRequest,
    Topic,
    TopicFollow,
    TopicPost,
    community_role,
    is_community_manager,
)
from app.db import utcnow
from app.extensions import db
from app.i18n import _, _l
from app.logging_setup import log_event_after_commit
from app.permissions import Viewer, can_edit, can_view, is_moderator, viewer_id, visible_to
from app.sns import images

JST = ZoneInfo("Asia/Tokyo")
NAME_MAX = 80
DESCRIPTION_MAX = 5000
TITLE_MAX = 100
TOPIC_BODY_MAX = 10_000
POST_MAX = 5000
EVENT_BODY_MAX = 5000
PLACE_MAX = 200
MESSAGE_MAX = 500
MAX_IMAGES = 3
TOPICS_PAGE = 20
POSTS_PAGE = 20
MEMBERS_SHOWN = 30
REMIND_WINDOW = dt.timedelta(hours=24)

KIND_LABELS: dict[str, Any] = {
    CommunityKind.OPEN.value: _l("Open: anyone can join"),
    CommunityKind.APPROVAL.value: _l("Approval: the admins approve each join"),
    CommunityKind.SECRET.value: _l("Secret: invisible to non-members, by invitation only"),
}
ROLE_LABELS: dict[str, Any] = {
    CommunityRole.ADMIN.value: _l("Admin"),
    CommunityRole.SUBADMIN.value: _l("Sub-admin"),
    CommunityRole.MEMBER.value: _l("Member"),
}


class CommunityError(Exception):
    """A rule refused the action; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotVisible(CommunityError):  # noqa: N818 - named like werkzeug NotFound
    """The target is missing or not visible to the actor: views answer 404."""

    def __init__(self) -> None:
        super().__init__("not found")


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _insert_once(model: Any, **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call created the row.

    Two simultaneous joins meet at the primary key or unique constraint and one of them inserts
    nothing, without an error and without a savepoint (on PostgreSQL the loser waits for the
    winner's commit, then skips).
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(model.__table__).values(**values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(model.__table__).values(**values).on_conflict_do_nothing()
    # RETURNING rather than rowcount, which psycopg leaves at -1 for this statement.
    key = next(iter(model.__table__.primary_key.columns))
    return db.session.execute(stmt.returning(key)).first() is not None


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if required and not text:
        raise CommunityError(_("This field is required."), name)
    if len(text) > limit:
        raise CommunityError(_("Please use at most %(n)d characters.", n=limit), name)
    return text


# --- settings ---------------------------------------------------------------------------------


def categories() -> list[str]:
    """The configured category list (COMMUNITY_CATEGORIES, comma-separated)."""
    raw = str(current_app.config.get("COMMUNITY_CATEGORIES", ""))
    return [part.strip() for part in raw.split(",") if part.strip()]


def site_settings() -> CommunitySettings:
    row = db.session.get(CommunitySettings, 1)
    if row is None:
        row = CommunitySettings(id=1, require_approval=False)
        db.session.add(row)
    return row


def set_require_approval(moderator: User, value: bool) -> None:
    if not is_moderator(moderator):
        raise NotVisible()
    row = site_settings()
    row.require_approval = bool(value)
    row.updated_at = utcnow()


# --- moderation hooks -------------------------------------------------------------------------


def _screen(kind_key: str, obj: Any, text: str) -> bool:
    """Hand new or edited content to the word filter (flushed first, so its id is known)."""
    from app.moderation.wordfilter import screen

    db.session.flush()  # the filter needs the id
    return screen(kind_key, obj, text)


def _log(actor: User, action: str, community: Community, reason: str = "", **kw: Any) -> None:
    from app.moderation.log import record_action

    record_action(
        actor, action, target_kind="community", target_id=community.id, reason=reason, **kw
    )


# --- communities ------------------------------------------------------------------------------


def _check_fields(
    name: Any, description: Any, category: Any, kind: Any
) -> tuple[str, str, str, str]:
    name = _text(name, "name", NAME_MAX)
    description = _text(description, "description", DESCRIPTION_MAX, required=False)
    if category not in categories():
        raise CommunityError(_("Please choose a category from the list."), "category")
    if kind not in KIND_LABELS:
        raise CommunityError(_("Please choose a kind from the list."), "kind")
    return name, description, str(category), str(kind)


def create_community(
    creator: User,
    *,
    name: str,
    description: str = "",
    category: str,
    kind: str = CommunityKind.OPEN.value,
    image: bytes | None = None,
    official: bool = False,
) -> Community:
    """Create a community with `creator` as its admin.

    When the site setting asks for approval (and the creator is no moderator) it is held,
    visible only to its admin and moderators, until a moderator approves it. Only moderators
    may mark a community official (公認).
    """
    name, description, category, kind = _check_fields(name, description, category, kind)
    moderator = is_moderator(creator)
    if official and not moderator:
        raise CommunityError(_("Only moderators can mark a community as official."), "official")
    community = Community(
        name=name,
        description=description,
        category=category,
        kind=kind,
        official=bool(official),
        admin_id=creator.id,
        member_count=1,
    )
    if site_settings().require_approval and not moderator:
        community.status = CommunityStatus.PENDING.value
        community.hidden_at = utcnow()
        community.hidden_reason = _("Waiting for a moderator's approval.")
    db.session.add(community)
    db.session.flush()  # the id, for the membership row and the image
    db.session.add(
        CommunityMember(
            community_id=community.id, user_id=creator.id, role=CommunityRole.ADMIN.value
        )
    )
    if image:
        set_community_image(community, creator, image)
    return community


def update_community(
    community: Community,
    actor: User,
    *,
    name: str,
    description: str,
    category: str,
    image: bytes | None = None,
) -> None:
    """The admin or a sub-admin edits name, description, category and image (not the kind)."""
    if not is_community_manager(community.id, actor.id):
        raise CommunityError(_("Only the community's admins can do this."))
    name, description, category, _kind = _check_fields(name, description, category, community.kind)
    community.name = name
    community.description = description
    community.category = category
    community.updated_at = utcnow()
    if image:
        set_community_image(community, actor, image)


def _store_image(owner: User, raw: bytes, field: str, **where: Any) -> CommunityImage:
    max_px = int(current_app.config.get("COMMUNITY_IMAGE_PX", 1024))
    try:
        processed = images.process_image(raw, max_px)
    except images.ImageError as err:
        raise CommunityError(str(err), field) from err
    token = images.new_token()
    images.store(token, processed.data)
    row = CommunityImage(
        token=token,
        owner_id=owner.id,
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
        size=len(processed.data),
        **where,
    )
    db.session.add(row)
    return row


def set_community_image(community: Community, actor: User, raw: bytes) -> None:
    row = _store_image(actor, raw, "image", community_id=community.id)
    community.image_token = row.token


def image_visible(viewer: Viewer, image: CommunityImage) -> bool:
    """An image is seen with what it belongs to: the post, the topic or the community."""
    if image.post_id is not None:
        return can_view(viewer, db.session.get(TopicPost, image.post_id))
    if image.topic_id is not None:
        return can_view(viewer, db.session.get(Topic, image.topic_id))
    return can_view(viewer, db.session.get(Community, image.community_id))


def approve_community(moderator: User, community: Community) -> None:
    """A moderator lets a held community appear."""
    from app.moderation.log import Action

    if not is_moderator(moderator):
        raise NotVisible()
    if community.status == CommunityStatus.APPROVED.value:
        raise CommunityError(_("This community is already approved."))
    community.status = CommunityStatus.APPROVED.value
    community.hidden_at = None
    community.hidden_reason = ""
    _log(moderator, Action.COMMUNITY_APPROVE, community, member_id=community.admin_id)


def reject_community(moderator: User, community: Community, reason: str) -> None:
    """A moderator refuses a held community; it stays hidden, with the reason for its admin."""
    from app.moderation.log import Action

    if not is_moderator(moderator):
        raise NotVisible()
    if community.status != CommunityStatus.PENDING.value:
        raise CommunityError(_("Only a community waiting for approval can be rejected."))
    reason = _text(reason, "reason", 500)
    community.status = CommunityStatus.REJECTED.value
    community.hidden_at = community.hidden_at or utcnow()
    community.hidden_reason = reason
    _log(moderator, Action.COMMUNITY_REJECT, community, reason, member_id=community.admin_id)


def resubmit_community(actor: User, community: Community) -> None:
    """The admin of a rejected community, having changed it, asks for approval again.

    Only after an edit made since the last rejection, so the queue does not fill with the same
    community unchanged; the rejection stays in the moderation log.
    """
    from app.moderation.log import Action
    from app.moderation.models import ModerationAction

    if community.admin_id != actor.id:
        raise CommunityError(_("Only the community's admin can ask for approval again."))
    if community.status != CommunityStatus.REJECTED.value:
        raise CommunityError(_("Only a rejected community can be sent for approval again."))
    rejected_at = db.session.execute(
        select(func.max(ModerationAction.created_at)).where(
            ModerationAction.action == Action.COMMUNITY_REJECT,
            ModerationAction.target_kind == "community",
            ModerationAction.target_id == community.id,
        )
    ).scalar_one_or_none()
    if rejected_at is not None and (
        community.updated_at is None or community.updated_at <= rejected_at
    ):
        raise CommunityError(
            _("Please change the community to answer the moderator's reason first.")
        )
    community.status = CommunityStatus.PENDING.value
    community.hidden_at = community.hidden_at or utcnow()
    community.hidden_reason = _("Waiting for a moderator's approval.")
    log_event_after_commit(
        db.session(),
        "community.resubmit",
        "success",
        "community resubmitted community=%s",
        community.id,
        obj=f"community:{community.id}",
    )


def moderator_edit_community(
    moderator: User,
    community: Community,
    *,
    kind: str,
    admin: User | None,
    official: bool,
    reason: str = "",
) -> list[str]:
    """A moderator changes a community's kind, admin or official mark; each change is logged."""
    from app.moderation.log import Action

    if not is_moderator(moderator):
        raise NotVisible()
    if kind not in KIND_LABELS:
        raise CommunityError(_("Please choose a kind from the list."), "kind")
    reason = _text(reason, "reason", 500, required=False)
    changed: list[str] = []
    if kind != community.kind:
        community.kind = kind
        _log(moderator, Action.COMMUNITY_EDIT_KIND, community, reason or kind)
        changed.append("kind")
    if admin is not None and admin.id != community.admin_id:
        _make_admin(community, admin)
        _log(moderator, Action.COMMUNITY_EDIT_ADMIN, community, reason, member_id=admin.id)
        changed.append("admin")
    if bool(official) != community.official:
        community.official = bool(official)
        _log(moderator, Action.COMMUNITY_EDIT, community, reason or f"official={official}")
        changed.append("official")
    if changed:
        community.updated_at = utcnow()
    return changed


def pending_communities() -> list[Community]:
    stmt = (
        select(Community)
        .where(Community.status == CommunityStatus.PENDING.value)
        .options(selectinload(Community.admin).lazyload(User.roles))
        .order_by(Community.created_at)
    )
    return list(db.session.execute(stmt).scalars())


def all_communities_for_moderators(limit: int = 200) -> list[Community]:
    stmt = (
        select(Community)
        .options(selectinload(Community.admin).lazyload(User.roles))
        .order_by(Community.name, Community.id)
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


# --- membership -------------------------------------------------------------------------------


def membership(community: Community, user: Viewer) -> CommunityMember | None:
    vid = viewer_id(user)
    if vid is None:
        return None
    return db.session.get(CommunityMember, (community.id, vid))


def is_banned(community: Community, user_id: int) -> bool:
    return db.session.get(CommunityBan, (community.id, user_id)) is not None


def invitation_for(community_id: int, user_id: int | None) -> CommunityInvitation | None:
    if user_id is None:
        return None
    return db.session.execute(
        select(CommunityInvitation).where(
            CommunityInvitation.community_id == community_id,
            CommunityInvitation.user_id == user_id,
        )
    ).scalar_one_or_none()


def load_for_join(user: Viewer, community_id: Any) -> Community:
    """The community a member may see or was invited to; NotVisible otherwise."""
    try:
        key = int(community_id)
    except (TypeError, ValueError):
        raise NotVisible() from None
    if not 0 < key < 2**63:
        raise NotVisible()
    community = db.session.get(Community, key)
    if community is None:
        raise NotVisible()
    if can_view(user, community):
        return community
    invited = invitation_for(community.id, viewer_id(user))
    if invited is not None and community.status == CommunityStatus.APPROVED.value:
        return community
    raise NotVisible()


def _insert_member(community: Community, user: User, role: str) -> tuple[CommunityMember, bool]:
    """Insert a membership once; (row, True) when this call created it."""
    created = _insert_once(
        CommunityMember,
        community_id=community.id,
        user_id=user.id,
        role=role,
        joined_at=utcnow(),
    )
    row = db.session.get(CommunityMember, (community.id, user.id), populate_existing=True)
    if row is None:  # the community went away meanwhile
        raise NotVisible()
    if created:
        db.session.execute(
            update(Community)
            .where(Community.id == community.id)
            .values(member_count=Community.member_count + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(community, ["member_count"])
    return row, created


def join_community(user: User, community: Community) -> CommunityMember | JoinRequest:
    """Join an open community (or one the user was invited to), or ask to join an approval one.

    Returns the membership (also when it already existed) or the pending join request.
    Raises NotVisible for a community the user can neither see nor was invited to (a secret
    one), CommunityError when banned. Safe when called twice at once: one row results.
    """
    existing = db.session.get(CommunityMember, (community.id, user.id))
    if existing is not None:
        return existing
    invitation = invitation_for(community.id, user.id)
    if not can_view(user, community) and (
        invitation is None or community.status != CommunityStatus.APPROVED.value
    ):
        raise NotVisible()
    if community.status != CommunityStatus.APPROVED.value:
        raise CommunityError(_("This community is waiting for a moderator's approval."))
    if is_banned(community, user.id):
        raise CommunityError(_("You cannot join this community."))
    if invitation is None and community.kind == CommunityKind.SECRET.value:
        raise NotVisible()
    if invitation is None and community.kind == CommunityKind.APPROVAL.value:
        return _request_join(community, user)
    row, created = _insert_member(community, user, CommunityRole.MEMBER.value)
    if invitation is not None:
        db.session.execute(
            delete(CommunityInvitation).where(CommunityInvitation.id == invitation.id)
        )
    if created:
        db.session.execute(
            delete(JoinRequest).where(
                JoinRequest.community_id == community.id, JoinRequest.user_id == user.id
            )
        )
    return row


def _request_join(community: Community, user: User, message: str = "") -> JoinRequest:
    found = db.session.execute(
        select(JoinRequest).where(
            JoinRequest.community_id == community.id, JoinRequest.user_id == user.id
        )
    ).scalar_one_or_none()
    if found is not None:
        return found
    _insert_once(
        JoinRequest,
        community_id=community.id,
        user_id=user.id,
        message=message,
        created_at=utcnow(),
    )
    return db.session.execute(
        select(JoinRequest).where(
            JoinRequest.community_id == community.id, JoinRequest.user_id == user.id
        )
    ).scalar_one()


def _require_manager(community: Community, actor: User) -> str:
    role = community_role(community.id, actor.id)
    if role not in (CommunityRole.ADMIN.value, CommunityRole.SUBADMIN.value):
        raise CommunityError(_("Only the community's admins can do this."))
    return str(role)


def join_requests(community: Community) -> list[JoinRequest]:
    stmt = (
        select(JoinRequest)
        .where(JoinRequest.community_id == community.id)
        .options(selectinload(JoinRequest.user).lazyload(User.roles))
        .order_by(JoinRequest.created_at)
    )
    return list(db.session.execute(stmt).scalars())


def _request_of(community: Community, request_id: Any) -> JoinRequest:
    try:
        key = int(request_id)
    except (TypeError, ValueError):
        raise NotVisible() from None
    row = db.session.get(JoinRequest, key) if 0 < key < 2**63 else None
    if row is None or row.community_id != community.id:
        raise NotVisible()
    return row


def approve_request(actor: User, community: Community, request_id: Any) -> CommunityMember:
    _require_manager(community, actor)
    row = _request_of(community, request_id)
    user = db.session.get(User, row.user_id)
    db.session.delete(row)
    if user is None or is_banned(community, row.user_id):
        raise CommunityError(_("This member cannot join."))
    member, _created = _insert_member(community, user, CommunityRole.MEMBER.value)
    return member


def decline_request(actor: User, community: Community, request_id: Any) -> None:
    _require_manager(community, actor)
    db.session.delete(_request_of(community, request_id))


def invite(actor: User, community: Community, target: User | None) -> CommunityInvitation:
    """An admin or sub-admin invites a member (the way into a secret community)."""
    _require_manager(community, actor)
    if target is None or not target.is_active:
        raise CommunityError(_("There is no member with this handle."), "handle")
    if membership(community, target) is not None:
        raise CommunityError(_("This member already belongs to the community."), "handle")
    if is_banned(community, target.id):
        raise CommunityError(_("This member is banned from the community."), "handle")
    found = invitation_for(community.id, target.id)
    if found is not None:
        return found
    _insert_once(
        CommunityInvitation,
        community_id=community.id,
        user_id=target.id,
        inviter_id=actor.id,
        created_at=utcnow(),
    )
    found = invitation_for(community.id, target.id)
    if found is None:
        raise NotVisible()
    return found


def my_invitations(user: User) -> list[CommunityInvitation]:
    stmt = (
        select(CommunityInvitation)
        .join(Community, Community.id == CommunityInvitation.community_id)
        .where(
            CommunityInvitation.user_id == user.id,
            Community.status == CommunityStatus.APPROVED.value,
        )
        .options(selectinload(CommunityInvitation.community))
        .options(selectinload(CommunityInvitation.inviter).lazyload(User.roles))
        .order_by(CommunityInvitation.created_at.desc())
    )
    return list(db.session.execute(stmt).scalars())


def decline_invitation(user: User, community: Community) -> None:
    row = invitation_for(community.id, user.id)
    if row is None:
        raise NotVisible()
    db.session.delete(row)


def _remove_membership(community: Community, user_id: int) -> bool:
    gone = _rowcount(
        db.session.execute(
            delete(CommunityMember).where(
                CommunityMember.community_id == community.id, CommunityMember.user_id == user_id
            )
        )
    )
    if gone:
        db.session.execute(
            update(Community)
            .where(Community.id == community.id)
            .values(member_count=Community.member_count - 1)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(community, ["member_count"])
        topic_ids = select(Topic.id).where(Topic.community_id == community.id)
        db.session.execute(
            delete(TopicFollow).where(
                TopicFollow.user_id == user_id, TopicFollow.topic_id.in_(topic_ids)
            )
        )
    return bool(gone)


def leave_community(user: User, community: Community) -> None:
    """Leave; the admin must hand the community to someone else first."""
    role = community_role(community.id, user.id)
    if role is None:
        raise CommunityError(_("You are not a member of this community."))
    if role == CommunityRole.ADMIN.value:
        raise CommunityError(
            _("The admin cannot leave. Please make another member the admin first.")
        )
    _remove_membership(community, user.id)


def _check_power_over(community: Community, actor: User, target_id: int) -> None:
    """The admin acts on anyone but themselves; a sub-admin only on plain members."""
    actor_role = _require_manager(community, actor)
    target_role = community_role(community.id, target_id)
    if target_role is None:
        raise CommunityError(_("This member does not belong to the community."))
    if target_id == actor.id or target_role == CommunityRole.ADMIN.value:
        raise CommunityError(_("You cannot do this to the community's admin or yourself."))
    if actor_role == CommunityRole.SUBADMIN.value and target_role != CommunityRole.MEMBER.value:
        raise CommunityError(_("Only the admin can do this to a sub-admin."))


def remove_member(actor: User, community: Community, target: User) -> None:
    _check_power_over(community, actor, target.id)
    _remove_membership(community, target.id)


def ban_member(actor: User, community: Community, target: User) -> None:
    """Remove a member and keep them from joining again (requests and invitations too)."""
    _check_power_over(community, actor, target.id)
    _remove_membership(community, target.id)
    for model in (JoinRequest, CommunityInvitation):
        db.session.execute(
            delete(model).where(model.community_id == community.id, model.user_id == target.id)
        )
    db.session.add(
        CommunityBan(community_id=community.id, user_id=target.id, banned_by_id=actor.id)
    )


def unban_member(actor: User, community: Community, target: User) -> None:
    _require_manager(community, actor)
    row = db.session.get(CommunityBan, (community.id, target.id))
    if row is None:
        raise CommunityError(_("This member is not banned."))
    db.session.delete(row)


def banned_members(community: Community) -> list[CommunityBan]:
    stmt = (
        select(CommunityBan)
        .where(CommunityBan.community_id == community.id)
        .options(selectinload(CommunityBan.user).lazyload(User.roles))
        .order_by(CommunityBan.created_at)
    )
    return list(db.session.execute(stmt).scalars())


def set_role(actor: User, community: Community, target: User, role: str) -> None:
    """The admin makes a member a sub-admin or back; nobody else changes roles."""
    if role not in (CommunityRole.SUBADMIN.value, CommunityRole.MEMBER.value):
        raise CommunityError(_("Please choose a role from the list."), "role")
    if community_role(community.id, actor.id) != CommunityRole.ADMIN.value:
        raise CommunityError(_("Only the community's admin can change roles."))
    row = db.session.get(CommunityMember, (community.id, target.id))
    if row is None:
        raise CommunityError(_("This member does not belong to the community."))
    if row.role == CommunityRole.ADMIN.value:
        raise CommunityError(_("You cannot do this to the community's admin or yourself."))
    row.role = role


def _make_admin(community: Community, new_admin: User) -> None:
    old = db.session.get(CommunityMember, (community.id, community.admin_id))
    if old is not None:
        old.role = CommunityRole.SUBADMIN.value
    row = db.session.get(CommunityMember, (community.id, new_admin.id))
    if row is None:
        row, _created = _insert_member(community, new_admin, CommunityRole.ADMIN.value)
    row.role = CommunityRole.ADMIN.value
    db.session.execute(
        delete(CommunityBan).where(
            CommunityBan.community_id == community.id, CommunityBan.user_id == new_admin.id
        )
    )
    community.admin_id = new_admin.id


def transfer_admin(actor: User, community: Community, target: User) -> None:
    """The admin hands the community to another member and becomes a sub-admin."""
    if community.admin_id != actor.id:
        raise CommunityError(_("Only the community's admin can change roles."))
    if community_role(community.id, target.id) is None or target.id == actor.id:
        raise CommunityError(_("Please choose another member of the community."), "handle")
    if not target.is_active:
        raise CommunityError(_("This member cannot become the admin now."), "handle")
    _make_admin(community, target)


@dataclass
class MemberLists:
    admins: list[CommunityMember]
    members: list[CommunityMember]
    total: int
    shown: bool  # False: the viewer may not see the list


def member_lists(community: Community, viewer: Viewer, limit: int = MEMBERS_SHOWN) -> MemberLists:
    """Admins, sub-admins and (the first) members. Who may see them depends on the kind:
    open communities show members to any signed-in member; approval and secret ones only to
    their own members. The admins are always named."""
    vid = viewer_id(viewer)
    is_member = membership(community, viewer) is not None
    shown = vid is not None and (community.kind == CommunityKind.OPEN.value or is_member)
    stmt = (
        select(CommunityMember)
        .join(User, User.id == CommunityMember.user_id)
        .where(CommunityMember.community_id == community.id)
        .options(selectinload(CommunityMember.user).lazyload(User.roles))
        .order_by(CommunityMember.role == CommunityRole.MEMBER.value, CommunityMember.joined_at)
    )
    if vid is not None:
        stmt = visible_to(stmt, viewer, User)
    if not shown:
        stmt = stmt.where(CommunityMember.role != CommunityRole.MEMBER.value)
    rows = list(db.session.execute(stmt.limit(limit)).scalars())
    admins = [r for r in rows if r.role != CommunityRole.MEMBER.value]
    members = [r for r in rows if r.role == CommunityRole.MEMBER.value]
    return MemberLists(admins, members, community.member_count, shown)


def all_members(community: Community, viewer: Viewer) -> list[CommunityMember]:
    """Every member, for the members page (same visibility as `member_lists`)."""
    return (
        member_lists(community, viewer, limit=5000).admins
        + member_lists(community, viewer, limit=5000).members
    )


# --- listings ---------------------------------------------------------------------------------


def community_list(
    viewer: Viewer, *, category: str = "", query: str = "", limit: int = 50, offset: int = 0
) -> list[Community]:
    stmt = select(Community).where(Community.status == CommunityStatus.APPROVED.value)
    if category:
        stmt = stmt.where(Community.category == category)
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Community.name.like(pattern, escape="\\"),
                Community.description.like(pattern, escape="\\"),
            )
        )
    stmt = visible_to(stmt, viewer, Community)
    stmt = stmt.order_by(Community.official.desc(), Community.member_count.desc(), Community.id)
    return list(db.session.execute(stmt.limit(limit).offset(offset)).scalars())


def my_communities(user: Viewer, limit: int = 50) -> list[Community]:
    """The communities the member belongs to (held ones included for their admin)."""
    vid = viewer_id(user)
    if vid is None:
        return []
    stmt = (
        select(Community)
        .join(CommunityMember, CommunityMember.community_id == Community.id)
        .where(CommunityMember.user_id == vid)
    )
    stmt = visible_to(stmt, user, Community).order_by(Community.name, Community.id)
    return list(db.session.execute(stmt.limit(limit)).scalars())


def _topic_select(with_community: bool = False) -> Any:
    return select(Topic).options(
        selectinload(Topic.author).lazyload(User.roles),
        selectinload(Topic.community) if with_community else lazyload(Topic.community),
    )


def community_topics(
    community: Community, viewer: Viewer, page: int = 1, per_page: int = TOPICS_PAGE
) -> tuple[list[Topic], int]:
    """Topics of a community, pinned first, then by latest post; and how many pages."""
    total = int(
        db.session.execute(
            visible_to(
                select(func.count(Topic.id)).where(Topic.community_id == community.id),
                viewer,
                Topic,
            )
        ).scalar_one()
    )
    stmt = visible_to(_topic_select().where(Topic.community_id == community.id), viewer, Topic)
    stmt = stmt.order_by(Topic.pinned.desc(), Topic.last_post_at.desc(), Topic.id.desc())
    page = max(1, page)
    rows = list(db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars())
    return rows, max(1, (total + per_page - 1) // per_page)


def upcoming_events(community: Community | None, viewer: Viewer, limit: int = 5) -> list[Event]:
    now = utcnow()
    stmt = select(Event).where(Event.starts_at >= now - dt.timedelta(hours=12))
    if community is not None:
        stmt = stmt.where(Event.community_id == community.id)
    stmt = visible_to(
        stmt.options(selectinload(Event.author).lazyload(User.roles), lazyload(Event.community)),
        viewer,
        Event,
    ).order_by(Event.starts_at, Event.id)
    return list(db.session.execute(stmt.limit(limit)).scalars())


def recent_topics_for_member(user: Viewer, limit: int = 10) -> list[Topic]:
    """Newest topics of the member's communities (the home page's community news)."""
    vid = viewer_id(user)
    if vid is None:
        return []
    mine = select(CommunityMember.community_id).where(CommunityMember.user_id == vid)
    stmt = visible_to(
        _topic_select(with_community=True).where(Topic.community_id.in_(mine)),
        user,
        Topic,
    ).order_by(Topic.last_post_at.desc(), Topic.id.desc())
    return list(db.session.execute(stmt.limit(limit)).scalars())


# --- topics -----------------------------------------------------------------------------------


def _require_member(community: Community, user: User) -> None:
    if not can_view(user, community):
        raise NotVisible()
    if membership(community, user) is None:
        raise CommunityError(_("Please join the community first."))


def _add_images(
    owner: User, community: Community, files: list[bytes], **where: Any
) -> list[CommunityImage]:
    files = [raw for raw in files if raw]
    if len(files) > MAX_IMAGES:
        raise CommunityError(_("Please attach at most %(n)d photos.", n=MAX_IMAGES), "images")
    return [_store_image(owner, raw, "images", community_id=community.id, **where) for raw in files]


def _follow(topic: Topic, user_id: int) -> None:
    if db.session.get(TopicFollow, (topic.id, user_id)) is not None:
        return
    _insert_once(TopicFollow, topic_id=topic.id, user_id=user_id)


def create_topic(
    community: Community, author: User, *, title: str, body: str, files: list[bytes] | None = None
) -> Topic:
    """A member starts a topic; the other members are notified, the author follows it."""
    _require_member(community, author)
    title = _text(title, "title", TITLE_MAX)
    body = _text(body, "body", TOPIC_BODY_MAX)
    topic = Topic(community_id=community.id, author_id=author.id, title=title, body=body)
    db.session.add(topic)
    db.session.flush()  # the id, for images, follows and the word filter
    _add_images(author, community, files or [], topic_id=topic.id)
    _follow(topic, author.id)
    held = _screen("topic", topic, f"{title}\n{body}")
    if not held:
        from app.community.notifications import notify_new_topic

        notify_new_topic(topic, author)
    return topic


def _edit_images(
    owner: User,
    community_id: int,
    files: list[bytes],
    remove_tokens: Any,
    **where: int,
) -> None:
    """Remove the chosen photos of a topic or reply and add new ones, at most MAX_IMAGES in
    all; a removed photo's file goes once the change is committed."""
    stmt = select(CommunityImage).where(
        *(getattr(CommunityImage, column) == value for column, value in where.items())
    )
    current = list(db.session.execute(stmt).scalars())
    removing = {str(token) for token in remove_tokens or ()}
    keep = [img for img in current if img.token not in removing]
    files = [raw for raw in files if raw]
    if len(keep) + len(files) > MAX_IMAGES:
        raise CommunityError(_("Please attach at most %(n)d photos.", n=MAX_IMAGES), "images")
    for raw in files:
        _store_image(owner, raw, "images", community_id=community_id, **where)
    for img in current:
        if img.token in removing:
            _remove_file_after_commit(img.token)
            db.session.delete(img)


def _remove_file_after_commit(token: str) -> None:
    from sqlalchemy import event

    event.listen(db.session(), "after_commit", lambda _s: images.remove(token), once=True)


def edit_topic(
    topic: Topic,
    actor: User,
    *,
    title: str,
    body: str,
    files: list[bytes] | None = None,
    remove_tokens: Any = (),
) -> None:
    """The author edits the title and text, removes photos and adds new ones."""
    if topic.author_id != actor.id:
        raise CommunityError(_("Only the author can edit this."))
    topic.title = _text(title, "title", TITLE_MAX)
    topic.body = _text(body, "body", TOPIC_BODY_MAX)
    _edit_images(actor, topic.community_id, files or [], remove_tokens, topic_id=topic.id)
    topic.updated_at = utcnow()
    _screen("topic", topic, f"{topic.title}\n{topic.body}")


def delete_topic(topic: Topic, actor: User) -> None:
    if not can_edit(actor, topic):
        raise CommunityError(_("Only the author or the community's admins can delete this."))
    topic.deleted_at = utcnow()


def set_topic_flags(
    topic: Topic, actor: User, *, pinned: bool | None = None, closed: bool | None = None
) -> None:
    """Admins and sub-admins pin and close topics."""
    if not is_community_manager(topic.community_id, actor.id):
        raise CommunityError(_("Only the community's admins can do this."))
    if pinned is not None:
        topic.pinned = pinned
    if closed is not None:
        topic.closed = closed


def topic_posts(
    topic: Topic, viewer: Viewer, page: int = 1, per_page: int = POSTS_PAGE
) -> tuple[list[TopicPost], int]:
    """Visible replies, oldest first, one page; and how many pages there are."""
    total = int(
        db.session.execute(
            visible_to(
                select(func.count(TopicPost.id)).where(TopicPost.topic_id == topic.id),
                viewer,
                TopicPost,
            )
        ).scalar_one()
    )
    pages = max(1, (total + per_page - 1) // per_page)
    page = min(max(1, page), pages)
    stmt = visible_to(
        select(TopicPost)
        .where(TopicPost.topic_id == topic.id)
        .options(selectinload(TopicPost.author).lazyload(User.roles), lazyload(TopicPost.topic)),
        viewer,
        TopicPost,
    ).order_by(TopicPost.created_at, TopicPost.id)
    rows = list(db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars())
    return rows, pages


def page_of_post(topic: Topic, viewer: Viewer, post_id: int) -> int | None:
    """The page of `topic_posts` that shows the post; None if it is not a visible reply here."""
    if not 0 < post_id < 2**31:  # beyond the id column's range: no such post
        return None
    post = db.session.get(TopicPost, post_id)
    if post is None or post.topic_id != topic.id or not can_view(viewer, post):
        return None
    before = visible_to(
        select(func.count(TopicPost.id)).where(
            TopicPost.topic_id == topic.id,
            or_(
                TopicPost.created_at < post.created_at,
                and_(TopicPost.created_at == post.created_at, TopicPost.id < post.id),
            ),
        ),
        viewer,
        TopicPost,
    )
    return int(db.session.execute(before).scalar_one()) // POSTS_PAGE + 1


def visible_posts_by_id(viewer: Viewer, ids: set[int]) -> dict[int, TopicPost]:
    """Posts (for quotes) the viewer may see, in one query."""
    if not ids:
        return {}
    stmt = visible_to(
        select(TopicPost)
        .where(TopicPost.id.in_(ids))
        .options(selectinload(TopicPost.author).lazyload(User.roles), lazyload(TopicPost.topic)),
        viewer,
        TopicPost,
    )
    return {p.id: p for p in db.session.execute(stmt).scalars()}


def images_for(topic_id: int, post_ids: list[int]) -> dict[int | None, list[str]]:
    """Image tokens of a topic (key None) and of its posts, in one query."""
    stmt = select(CommunityImage.topic_id, CommunityImage.post_id, CommunityImage.token).where(
        or_(CommunityImage.topic_id == topic_id, CommunityImage.post_id.in_(post_ids or [0]))
    )
    out: dict[int | None, list[str]] = {}
    for t_id, p_id, token in db.session.execute(stmt.order_by(CommunityImage.id)).all():
        del t_id
        out.setdefault(p_id, []).append(token)
    return out


def add_post(
    topic: Topic,
    author: User,
    body: str,
    *,
    quote_id: Any = None,
    files: list[bytes] | None = None,
) -> TopicPost:
    """A member replies; followers are notified and the author follows the topic.

    Refused for a closed topic, a non-member, an over-long body, or a quote of a post that is
    not in this topic or not visible.
    """
    if not can_view(author, topic):
        raise NotVisible()
    community = db.session.get(Community, topic.community_id)
    assert community is not None  # noqa: S101 - the topic is visible, so its community exists
    _require_member(community, author)
    if topic.closed:
        raise CommunityError(_("This topic is closed and takes no more replies."))
    if topic.hidden_at is not None:
        raise CommunityError(_("This topic was hidden by a moderator and takes no replies."))
    body = _text(body, "body", POST_MAX)
    quote: int | None = None
    if quote_id not in (None, ""):
        try:
            quoted = db.session.get(TopicPost, int(quote_id))
        except (TypeError, ValueError):
            quoted = None
        if quoted is None or quoted.topic_id != topic.id or not can_view(author, quoted):
            raise CommunityError(_("The quoted post is not available."), "quote_id")
        quote = quoted.id
    post = TopicPost(topic_id=topic.id, author_id=author.id, body=body, quote_id=quote)
    db.session.add(post)
    db.session.flush()  # the id, for images and the word filter
    _add_images(author, community, files or [], post_id=post.id)
    db.session.execute(
        update(Topic)
        .where(Topic.id == topic.id)
        .values(post_count=Topic.post_count + 1, last_post_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.expire(topic, ["post_count", "last_post_at"])
    held = _screen("topic_post", post, body)
    if not held:
        from app.community.notifications import notify_reply

        notify_reply(topic, post, author)
    _follow(topic, author.id)
    return post


def edit_post(
    post: TopicPost,
    actor: User,
    body: str,
    *,
    files: list[bytes] | None = None,
    remove_tokens: Any = (),
) -> None:
    """The author edits a reply's text, removes photos and adds new ones."""
    if post.author_id != actor.id:
        raise CommunityError(_("Only the author can edit this."))
    topic = db.session.get(Topic, post.topic_id)
    if topic is not None and topic.closed:
        raise CommunityError(_("This topic is closed and takes no more replies."))
    post.body = _text(body, "body", POST_MAX)
    if topic is not None:
        _edit_images(actor, topic.community_id, files or [], remove_tokens, post_id=post.id)
    post.updated_at = utcnow()
    _screen("topic_post", post, post.body)


def delete_post(post: TopicPost, actor: User) -> None:
    if not can_edit(actor, post):
        raise CommunityError(_("Only the author or the community's admins can delete this."))
    post.deleted_at = utcnow()


def is_following(topic: Topic, user: Viewer) -> bool:
    vid = viewer_id(user)
    return vid is not None and db.session.get(TopicFollow, (topic.id, vid)) is not None


def set_following(topic: Topic, user: User, follow: bool) -> None:
    if follow:
        community = db.session.get(Community, topic.community_id)
        assert community is not None  # noqa: S101
        _require_member(community, user)
        _follow(topic, user.id)
    else:
        db.session.execute(
            delete(TopicFollow).where(
                TopicFollow.topic_id == topic.id, TopicFollow.user_id == user.id
            )
        )


# --- events -----------------------------------------------------------------------------------


def _check_event(
    title: Any,
    body: Any,
    place: Any,
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None,
    deadline_at: dt.datetime | None,
    capacity: Any,
    *,
    now: dt.datetime,
) -> dict[str, Any]:
    if starts_at is None:
        raise CommunityError(_("This field is required."), "starts_at")
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=JST)
    if starts_at <= now:
        raise CommunityError(_("The event must start in the future."), "starts_at")
    if ends_at is not None:
        if ends_at.tzinfo is None:
            ends_at = ends_at.replace(tzinfo=JST)
        if ends_at <= starts_at:
            raise CommunityError(_("The end must come after the start."), "ends_at")
    if deadline_at is not None:
        if deadline_at.tzinfo is None:
            deadline_at = deadline_at.replace(tzinfo=JST)
        if deadline_at > starts_at:
            raise CommunityError(_("The deadline must not be after the start."), "deadline_at")
    if capacity in ("", None):
        cap = None
    else:
        try:
            cap = int(capacity)
        except (TypeError, ValueError):
            raise CommunityError(_("Please enter a whole number."), "capacity") from None
        if not 0 < cap <= 100_000:
            raise CommunityError(_("Please enter a number from 1 to 100000."), "capacity")
    return {
        "title": _text(title, "title", TITLE_MAX),
        "body": _text(body, "body", EVENT_BODY_MAX, required=False),
        "place": _text(place, "place", PLACE_MAX, required=False),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "deadline_at": deadline_at,
        "capacity": cap,
    }


def create_event(
    community: Community,
    author: User,
    *,
    title: str,
    starts_at: dt.datetime | None,
    body: str = "",
    place: str = "",
    ends_at: dt.datetime | None = None,
    deadline_at: dt.datetime | None = None,
    capacity: Any = None,
    now: dt.datetime | None = None,
) -> Event:
    """A member announces an event; the author takes part in it."""
    _require_member(community, author)
    fields = _check_event(
        title, body, place, starts_at, ends_at, deadline_at, capacity, now=now or utcnow()
    )
    event = Event(community_id=community.id, author_id=author.id, **fields)
    db.session.add(event)
    db.session.flush()  # the id, for the participant row and the word filter
    _screen("event", event, "\n".join([event.title, event.body, event.place]))
    return event


def edit_event(event: Event, actor: User, **values: Any) -> None:
    if event.author_id != actor.id:
        raise CommunityError(_("Only the author can edit this."))
    now = values.pop("now", None) or utcnow()
    fields = _check_event(
        values.get("title"),
        values.get("body"),
        values.get("place"),
        values.get("starts_at"),
        values.get("ends_at"),
        values.get("deadline_at"),
        values.get("capacity"),
        now=now,
    )
    if fields["capacity"] is not None and fields["capacity"] < event.participant_count:
        raise CommunityError(
            _("More members already take part than this capacity allows."), "capacity"
        )
    for key, value in fields.items():
        setattr(event, key, value)
    event.updated_at = utcnow()
    _screen("event", event, "\n".join([event.title, event.body, event.place]))


def delete_event(event: Event, actor: User) -> None:
    if not can_edit(actor, event):
        raise CommunityError(_("Only the author or the community's admins can delete this."))
    event.deleted_at = utcnow()


def event_deadline(event: Event) -> dt.datetime:
    return event.deadline_at or event.starts_at


def is_participant(event: Event, user: Viewer) -> bool:
    vid = viewer_id(user)
    return vid is not None and db.session.get(EventParticipant, (event.id, vid)) is not None


def join_event(user: User, event: Event, now: dt.datetime | None = None) -> EventParticipant:
    """Take part in an event of a community the user belongs to.

    Refused past the deadline (or the start) and when full. Safe when called twice at once:
    one row results; the capacity holds under concurrency (one conditional UPDATE).
    """
    if not can_view(user, event):
        raise NotVisible()
    community = db.session.get(Community, event.community_id)
    assert community is not None  # noqa: S101 - the event is visible, so its community exists
    _require_member(community, user)
    existing = db.session.get(EventParticipant, (event.id, user.id))
    if existing is not None:
        return existing
    if (now or utcnow()) >= event_deadline(event):
        raise CommunityError(_("The deadline for this event has passed."))
    created = _insert_once(EventParticipant, event_id=event.id, user_id=user.id, joined_at=utcnow())
    if created:
        taken = db.session.execute(
            update(Event)
            .where(
                Event.id == event.id,
                or_(Event.capacity.is_(None), Event.participant_count < Event.capacity),
            )
            .values(participant_count=Event.participant_count + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(event, ["participant_count"])
        if _rowcount(taken) == 0:
            db.session.execute(
                delete(EventParticipant).where(
                    EventParticipant.event_id == event.id, EventParticipant.user_id == user.id
                )
            )
            raise CommunityError(_("This event is full."))
    row = db.session.get(EventParticipant, (event.id, user.id), populate_existing=True)
    if row is None:
        raise NotVisible()
    return row


def cancel_event(user: User, event: Event, now: dt.datetime | None = None) -> None:
    """Stop taking part (before the event starts)."""
    if (now or utcnow()) >= event.starts_at:
        raise CommunityError(_("The event has already started."))
    gone = _rowcount(
        db.session.execute(
            delete(EventParticipant).where(
                EventParticipant.event_id == event.id, EventParticipant.user_id == user.id
            )
        )
    )
    if not gone:
        raise CommunityError(_("You are not taking part in this event."))
    db.session.execute(
        update(Event)
        .where(Event.id == event.id)
        .values(participant_count=Event.participant_count - 1)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(event, ["participant_count"])


def participants(event: Event, viewer: Viewer) -> list[EventParticipant]:
    stmt = (
        select(EventParticipant)
        .join(User, User.id == EventParticipant.user_id)
        .where(EventParticipant.event_id == event.id)
        .options(selectinload(EventParticipant.user).lazyload(User.roles))
        .order_by(EventParticipant.joined_at, EventParticipant.user_id)
    )
    return list(db.session.execute(visible_to(stmt, viewer, User)).scalars())


def remind_events(now: dt.datetime | None = None) -> int:
    """Notify participants of events starting within the next 24 hours, once each.

    Safe to run repeatedly and from two places at once: a participant is claimed by a
    conditional UPDATE of `reminded_at` before the notification is written.
    """
    from app.community.notifications import notify_event_reminder

    now = now or utcnow()
    rows = db.session.execute(
        select(EventParticipant.event_id, EventParticipant.user_id)
        .join(Event, Event.id == EventParticipant.event_id)
        .where(
            EventParticipant.reminded_at.is_(None),
            Event.deleted_at.is_(None),
            Event.starts_at > now,
            Event.starts_at <= now + REMIND_WINDOW,
        )
        .order_by(EventParticipant.event_id, EventParticipant.user_id)
    ).all()
    sent = 0
    for event_id, user_id in rows:
        claimed = db.session.execute(
            update(EventParticipant)
            .where(
                EventParticipant.event_id == event_id,
                EventParticipant.user_id == user_id,
                EventParticipant.reminded_at.is_(None),
            )
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(claimed) != 1:
            continue
        event = db.session.get(Event, event_id)
        user = db.session.get(User, user_id)
        if event is None or user is None or not user.is_active or not can_view(user, event):
            continue
        notify_event_reminder(user, event)
        sent += 1
    return sent


# --- iCalendar --------------------------------------------------------------------------------


def _ics_escape(value: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _ics_fold(line: str) -> str:
    """Fold content lines at 75 octets without splitting a UTF-8 character."""
    out: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode()) > limit:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return "\r\n ".join(out)


def _ics_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def event_ics(event: Event, url: str) -> str:
    """The event as an iCalendar file (CRLF line ends, escaped and folded text)."""
    host = str(current_app.config.get("SERVER_BASE_URL", "sankaku")).split("//")[-1].split("/")[0]
    ends = event.ends_at or event.starts_at + dt.timedelta(hours=2)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Sankaku//Community events//JA",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:event-{event.id}@{host}",
        f"DTSTAMP:{_ics_time(event.updated_at or event.created_at)}",
        f"DTSTART:{_ics_time(event.starts_at)}",
        f"DTEND:{_ics_time(ends)}",
        f"SUMMARY:{_ics_escape(event.title)}",
    ]
    if event.place:
        lines.append(f"LOCATION:{_ics_escape(event.place)}")
    if event.body:
        lines.append(f"DESCRIPTION:{_ics_escape(event.body)}")
    lines += [f"URL:{url}", "END:VEVENT", "END:VCALENDAR"]
    return "".join(_ics_fold(line) + "\r\n" for line in lines)
