"""SNS rules: profiles, friends, blocks, diaries, comments, timeline, messages, footprints,
notifications and reports.

Services take explicit arguments, never `request` or `current_user`, raise `SnsError` with a
message for the member, and never commit (callers do). Every listing goes through
`app.permissions.visible_to`, every single object through `can_view`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload, selectinload

from app.auth.models import User
from app.db import utcnow
from app.extensions import db
from app.i18n import _, _l
from app.mail.services import queue_template_mail
from app.moderation import wordfilter
from app.moderation.content import ContentKind, content_kind
from app.permissions import (
    AnonymousViewer,
    Relation,
    Viewer,
    Visibility,
    block_exists,
    can_view,
    is_blocked_between,
    level_reaches,
    reaches,
    relation_between,
    suspended_exists,
    viewer_id,
    visible_to,
)
from app.sns import images
from app.sns.models import (
    Block,
    Comment,
    Diary,
    FieldKind,
    Footprint,
    FriendRequest,
    Friendship,
    Image,
    Introduction,
    MemberSettings,
    Message,
    Notification,
    NotificationKind,
    ProfileField,
    ProfileValue,
    Report,
)

JST = ZoneInfo("Asia/Tokyo")
TITLE_MAX = 100
BODY_MAX = 10_000
COMMENT_MAX = 2000
MESSAGE_MAX = 5000
SUBJECT_MAX = 100
REQUEST_MESSAGE_MAX = 500
INTRO_MAX = 1000
REPORT_DETAILS_MAX = 1000
MAX_DIARY_IMAGES = 3
RESTORE_DAYS = 30
FOOTPRINT_DAYS = 30
PAGE_SIZE = 50


class SnsError(Exception):
    """A rule refused the action; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotVisible(SnsError):  # noqa: N818 - named like werkzeug NotFound
    """The target is missing or not visible to the actor: views answer 404."""

    def __init__(self) -> None:
        super().__init__("not found")


def _rowcount(result: Any) -> int:
    """Rows touched by an UPDATE or DELETE."""
    return int(getattr(result, "rowcount", 0) or 0)


# --- settings ---------------------------------------------------------------------------------


def settings_for(user: User) -> MemberSettings:
    """The member's settings; defaults (not stored) when they never changed any."""
    found = db.session.get(MemberSettings, user.id)
    if found is not None:
        return found
    return MemberSettings(
        user_id=user.id,
        friends_visibility=Visibility.MEMBERS.value,
        footprints_enabled=True,
        email_kinds="friend_request,message",
        email_digest=False,
    )


def ensure_settings(user: User) -> MemberSettings:
    """The member's settings row, created when missing (for writing)."""
    found = db.session.get(MemberSettings, user.id)
    if found is None:
        found = settings_for(user)
        db.session.add(found)
    return found


def update_settings(
    user: User,
    *,
    friends_visibility: str,
    footprints_enabled: bool,
    email_kinds: Iterable[str],
    email_digest: bool,
) -> MemberSettings:
    level = Visibility.parse(friends_visibility)
    if level is None:
        raise SnsError(_("Please choose one of the listed options."), "friends_visibility")
    kinds = [kind for kind in email_kinds if kind in NotificationKind.__members__.values()]
    if len(kinds) != len(list(email_kinds)):
        raise SnsError(_("Please choose one of the listed options."), "email_kinds")
    row = ensure_settings(user)
    row.friends_visibility = level.value
    row.footprints_enabled = footprints_enabled
    row.email_kinds = ",".join(sorted(set(kinds)))
    row.email_digest = email_digest
    return row


# --- profiles ---------------------------------------------------------------------------------


@dataclass
class FieldDef:
    key: str
    kind: FieldKind
    label: str
    max_length: int
    choices: list[tuple[str, str]]
    default: Visibility
    fixed: Visibility | None
    builtin: bool
    position: int
    row: ProfileField | None = None

    def display(self, value: str) -> str:
        """How a stored value is shown."""
        if self.kind is FieldKind.CHOICE:
            return dict(self.choices).get(value, value)
        if self.kind is FieldKind.MONTHDAY and len(value) == 5:
            month, day = value.split("-")
            return _("%(m)d/%(d)d", m=int(month), d=int(day))
        if self.kind is FieldKind.YEAR:
            return _("%(y)s", y=value)
        return value


SEX_CHOICES = [("female", _l("Female")), ("male", _l("Male")), ("other", _l("Other"))]

# (key, kind, label, max length, default level)
BUILTIN_FIELDS: list[tuple[str, FieldKind, Any, int, Visibility]] = [
    ("nickname", FieldKind.TEXT, _l("Nickname"), 30, Visibility.MEMBERS),
    ("avatar", FieldKind.IMAGE, _l("Photo"), 48, Visibility.MEMBERS),
    ("self_intro", FieldKind.TEXTAREA, _l("About me"), 2000, Visibility.MEMBERS),
    ("district", FieldKind.CHOICE, _l("District"), 40, Visibility.MEMBERS),
    ("birth_year", FieldKind.YEAR, _l("Year of birth"), 4, Visibility.PRIVATE),
    ("birthday", FieldKind.MONTHDAY, _l("Birthday (month and day)"), 5, Visibility.FRIENDS),
    ("sex", FieldKind.CHOICE, _l("Sex"), 10, Visibility.PRIVATE),
    ("hobbies", FieldKind.TEXT, _l("Hobbies"), 200, Visibility.MEMBERS),
]
EXTRA_MAX = {FieldKind.TEXT: 200, FieldKind.CHOICE: 100, FieldKind.DATE: 10}


def _locale() -> str:
    from flask_babel import get_locale

    try:
        return str(get_locale() or "ja")
    except RuntimeError:
        return "ja"


def profile_fields(include_inactive: bool = False) -> list[FieldDef]:
    """Every profile field, built-in and admin-defined, with the admin's settings applied."""
    rows = {row.key: row for row in db.session.execute(select(ProfileField)).scalars()}
    fields: list[FieldDef] = []
    for pos, (key, kind, label, max_length, default) in enumerate(BUILTIN_FIELDS):
        row = rows.get(key)
        choices: list[tuple[str, str]] = []
        if key == "district":
            choices = [(d, d) for d in current_app.config["DISTRICTS"]]
        elif key == "sex":
            choices = [(value, str(text)) for value, text in SEX_CHOICES]
        fields.append(
            FieldDef(
                key=key,
                kind=kind,
                label=str(label),
                max_length=max_length,
                choices=choices,
                default=Visibility.parse(row.default_visibility) or default if row else default,
                fixed=Visibility.parse(row.fixed_visibility) if row else None,
                builtin=True,
                position=row.position if row else pos * 10,
                row=row,
            )
        )
    ja = _locale() == "ja"
    for row in rows.values():
        if row.builtin or (not row.active and not include_inactive):
            continue
        kind = FieldKind(row.kind)
        fields.append(
            FieldDef(
                key=row.key,
                kind=kind,
                label=(row.label_ja if ja else row.label_en) or row.label_ja or row.label_en,
                max_length=EXTRA_MAX.get(kind, 200),
                choices=[(c, c) for c in row.choices.splitlines() if c.strip()],
                default=Visibility.parse(row.default_visibility) or Visibility.MEMBERS,
                fixed=Visibility.parse(row.fixed_visibility),
                builtin=False,
                position=row.position,
                row=row,
            )
        )
    fields.sort(key=lambda f: (f.position, f.key))
    return fields


def field_by_key(key: str) -> FieldDef | None:
    return next((f for f in profile_fields() if f.key == key), None)


def clean_value(fd: FieldDef, raw: Any) -> str:
    """Validate a profile value for its field; raise SnsError naming the field."""
    if raw is None:
        return ""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise SnsError(_("Please enter text."), fd.key)
    value = raw.strip()
    if not value:
        return ""
    if len(value) > fd.max_length:
        raise SnsError(_("Please use at most %(n)d characters.", n=fd.max_length), fd.key)
    if fd.kind is FieldKind.CHOICE and value not in dict(fd.choices):
        raise SnsError(_("Please choose one of the listed options."), fd.key)
    if fd.kind is FieldKind.YEAR:
        this_year = utcnow().year
        if not value.isdigit() or not 1900 <= int(value) <= this_year:
            raise SnsError(_("Please enter a year between 1900 and %(y)d.", y=this_year), fd.key)
    if fd.kind is FieldKind.MONTHDAY:
        try:
            parsed = dt.date.fromisoformat(f"2000-{value}")
        except ValueError:
            raise SnsError(_("Please enter a valid month and day."), fd.key) from None
        value = parsed.strftime("%m-%d")
    if fd.kind is FieldKind.DATE:
        try:
            value = dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise SnsError(_("Please enter a date like 2026-04-01."), fd.key) from None
    if fd.kind is FieldKind.IMAGE and not images.TOKEN_RE.match(value):
        raise SnsError(_("Please upload a photo."), fd.key)
    return value


def set_profile_value(user: User, fd: FieldDef, value: Any, visibility: Any) -> None:
    """Store one profile field; an admin-fixed level wins over the member's choice."""
    level = Visibility.parse(visibility) if visibility is not None else fd.default
    if level is None:
        raise SnsError(_("Please choose one of the listed options."), fd.key)
    if fd.fixed is not None:
        level = fd.fixed
    cleaned = clean_value(fd, value)
    row = db.session.get(ProfileValue, (user.id, fd.key))
    if not cleaned:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        row = ProfileValue(user_id=user.id, field_key=fd.key)
        db.session.add(row)
    row.value = cleaned
    row.visibility = level.value


def profile_values(user: User) -> dict[str, ProfileValue]:
    rows = db.session.execute(select(ProfileValue).where(ProfileValue.user_id == user.id))
    return {row.field_key: row for row in rows.scalars()}


@dataclass
class ShownField:
    field: FieldDef
    value: str
    visibility: Visibility
    display: str


def profile_as(owner: User, relation: Relation) -> list[ShownField]:
    """The owner's fields that reach a viewer in `relation` (the preview uses this too)."""
    values = profile_values(owner)
    shown = []
    for fd in profile_fields():
        row = values.get(fd.key)
        if row is None or fd.kind is FieldKind.IMAGE:
            continue
        level = Visibility.parse(row.visibility) or Visibility.PRIVATE
        if level_reaches(level, relation):
            shown.append(ShownField(fd, row.value, level, fd.display(row.value)))
    return shown


def avatar_token_as(owner: User, relation: Relation) -> str | None:
    row = db.session.get(ProfileValue, (owner.id, "avatar"))
    if row is None or not level_reaches(row.visibility, relation):
        return None
    return row.value


def avatar_tokens(viewer: Viewer, user_ids: Iterable[int]) -> dict[int, str]:
    """Avatar image tokens of these members that the viewer may see (one query)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    stmt = select(ProfileValue).where(
        ProfileValue.field_key == "avatar", ProfileValue.user_id.in_(ids)
    )
    return {
        row.user_id: row.value for row in db.session.execute(visible_to(stmt, viewer)).scalars()
    }


def set_avatar(user: User, raw: bytes, visibility: str | None = None) -> Image:
    """Replace the member's photo with a re-encoded copy of `raw`; raise SnsError if bad."""
    fd = field_by_key("avatar")
    assert fd is not None  # noqa: S101 - a built-in field
    processed = _process(raw, int(current_app.config.get("SNS_AVATAR_PX", 512)), "avatar")
    old = db.session.get(ProfileValue, (user.id, "avatar"))
    if old is not None:
        remove_avatar(user)
    image = _store_image(user, processed)
    level = visibility or (old.visibility if old is not None else None)
    set_profile_value(user, fd, image.token, level)
    return image


def remove_avatar(user: User) -> None:
    row = db.session.get(ProfileValue, (user.id, "avatar"))
    if row is None:
        return
    image = db.session.execute(select(Image).where(Image.token == row.value)).scalar_one_or_none()
    if image is not None:
        _delete_image_after_commit(image.token)
        db.session.delete(image)
    db.session.delete(row)


def _process(raw: bytes, max_px: int, field_name: str) -> images.ProcessedImage:
    try:
        return images.process_image(raw, max_px)
    except images.ImageError as err:
        raise SnsError(str(err), field_name) from err


def _store_image(user: User, processed: images.ProcessedImage, **kw: Any) -> Image:
    token = images.new_token()
    images.store(token, processed.data)
    image = Image(
        token=token,
        owner_id=user.id,
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
        size=len(processed.data),
        **kw,
    )
    db.session.add(image)
    return image


def _delete_image_after_commit(token: str) -> None:
    from sqlalchemy import event

    session = db.session()

    def _after_commit(_session: Any) -> None:
        images.remove(token)

    event.listen(session, "after_commit", _after_commit, once=True)


def image_visible(viewer: Viewer, image: Image) -> bool:
    """A diary image is seen with its diary; a photo with the owner's photo field."""
    if image.diary_id is not None:
        diary = db.session.get(Diary, image.diary_id)
        return diary is not None and can_view(viewer, diary)
    row = db.session.get(ProfileValue, (image.owner_id, "avatar"))
    return row is not None and row.value == image.token and can_view(viewer, row)


def member_by_handle(handle: str) -> User | None:
    from app.auth.services import find_user_by_handle

    if not isinstance(handle, str) or len(handle) > 30:
        return None
    return find_user_by_handle(handle)


def visible_members(
    viewer: Viewer, query: str = "", limit: int = 50, offset: int = 0
) -> list[User]:
    """Members the viewer may see, by name (blocked and suspended members left out)."""
    stmt = select(User)
    if query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(User.display_name.ilike(like, escape="\\"), User.handle.ilike(like, escape="\\"))
        )
    stmt = visible_to(stmt, viewer).order_by(User.created_at.desc(), User.id.desc())
    return list(db.session.execute(stmt.limit(limit).offset(offset)).scalars())


# --- friends ----------------------------------------------------------------------------------


def friend_ids(user_id: int) -> list[int]:
    rows = db.session.execute(select(Friendship.friend_id).where(Friendship.user_id == user_id))
    return [int(r) for r in rows.scalars()]


def are_friends(a: User, b: User) -> bool:
    return db.session.get(Friendship, (a.id, b.id)) is not None


def pending_request(sender: User, recipient: User) -> FriendRequest | None:
    return db.session.execute(
        select(FriendRequest).where(
            FriendRequest.sender_id == sender.id, FriendRequest.recipient_id == recipient.id
        )
    ).scalar_one_or_none()


def send_friend_request(sender: User, recipient: User, message: str = "") -> FriendRequest:
    """Ask `recipient` to become friends. Raises SnsError (or NotVisible when blocked)."""
    if sender.id == recipient.id:
        raise SnsError(_("You cannot send a friend request to yourself."))
    if is_blocked_between(sender.id, recipient.id) or not can_view(sender, recipient):
        raise NotVisible()
    message = (message or "").strip()
    if len(message) > REQUEST_MESSAGE_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=REQUEST_MESSAGE_MAX), "message")
    if are_friends(sender, recipient):
        raise SnsError(_("You are already friends."))
    if pending_request(sender, recipient) is not None:
        raise SnsError(_("You have already sent a request. Please wait for an answer."))
    if pending_request(recipient, sender) is not None:
        raise SnsError(
            _(
                "%(name)s has already sent you a request. Please accept it.",
                name=recipient.display_name,
            )
        )
    req = FriendRequest(sender_id=sender.id, recipient_id=recipient.id, message=message)
    try:
        # The id goes into the notification. A savepoint: a simultaneous identical request
        # (another worker, same form) loses on the unique pair and is told so, not a 500.
        with db.session.begin_nested():
            db.session.add(req)
            db.session.flush()
    except IntegrityError:
        raise SnsError(_("You have already sent a request. Please wait for an answer.")) from None
    notify(recipient, NotificationKind.FRIEND_REQUEST, sender, req.id)
    return req


def _make_friends(a_id: int, b_id: int) -> None:
    for x, y in ((a_id, b_id), (b_id, a_id)):
        if db.session.get(Friendship, (x, y)) is None:
            db.session.add(Friendship(user_id=x, friend_id=y))


def accept_friend_request(req: FriendRequest, user: User) -> None:
    """The recipient accepts: the link is made both ways and the sender is told."""
    if req.recipient_id != user.id:
        raise NotVisible()
    sender = db.session.get(User, req.sender_id)
    if sender is None or is_blocked_between(req.sender_id, user.id):
        db.session.delete(req)
        raise NotVisible()
    _make_friends(req.sender_id, req.recipient_id)
    db.session.delete(req)
    # Two members who asked each other at the same moment: the other request is answered too.
    db.session.execute(
        delete(FriendRequest).where(
            FriendRequest.sender_id == req.recipient_id,
            FriendRequest.recipient_id == req.sender_id,
        )
    )
    notify(sender, NotificationKind.FRIEND_ACCEPTED, user, user.id)


def decline_friend_request(req: FriendRequest, user: User) -> None:
    if req.recipient_id != user.id:
        raise NotVisible()
    db.session.delete(req)


def cancel_friend_request(req: FriendRequest, user: User) -> None:
    if req.sender_id != user.id:
        raise NotVisible()
    db.session.delete(req)


def remove_friend(user: User, other: User) -> None:
    """End a friendship both ways; introductions between the two go with it."""
    if not are_friends(user, other):
        raise SnsError(_("You are not friends."))
    _unlink(user.id, other.id)


def _unlink(a: int, b: int) -> None:
    db.session.execute(
        delete(Friendship).where(
            or_(
                and_(Friendship.user_id == a, Friendship.friend_id == b),
                and_(Friendship.user_id == b, Friendship.friend_id == a),
            )
        )
    )
    db.session.execute(
        delete(Introduction).where(
            or_(
                and_(Introduction.author_id == a, Introduction.subject_id == b),
                and_(Introduction.author_id == b, Introduction.subject_id == a),
            )
        )
    )


def friends_shown(owner: User, viewer: Viewer) -> bool:
    """Whether the owner's friend list (and the introductions) reach the viewer."""
    return reaches(viewer, owner.id, settings_for(owner).friends_visibility)


def friend_count(owner: User, viewer: Viewer) -> int:
    """How many of the owner's friends the viewer may see."""
    stmt = (
        select(func.count(User.id))
        .join(Friendship, Friendship.friend_id == User.id)
        .where(Friendship.user_id == owner.id)
    )
    return int(db.session.execute(visible_to(stmt, viewer, User)).scalar_one())


def friend_list(
    owner: User, viewer: Viewer, limit: int = 200, shown: bool | None = None
) -> list[User] | None:
    """The owner's friends the viewer may see, or None when the list itself is not shown.

    `shown` passes an answer of `friends_shown` the caller already has.
    """
    if not (friends_shown(owner, viewer) if shown is None else shown):
        return None
    stmt = (
        select(User)
        .join(Friendship, Friendship.friend_id == User.id)
        .where(Friendship.user_id == owner.id)
    )
    stmt = visible_to(stmt, viewer, User).order_by(User.display_name, User.id).limit(limit)
    return list(db.session.execute(stmt).scalars())


def incoming_requests(user: User) -> list[FriendRequest]:
    stmt = (
        select(FriendRequest)
        .where(
            FriendRequest.recipient_id == user.id, ~block_exists(user.id, FriendRequest.sender_id)
        )
        .where(~suspended_exists(FriendRequest.sender_id))
        .options(selectinload(FriendRequest.sender))
        .order_by(FriendRequest.created_at.desc())
    )
    return list(db.session.execute(stmt).scalars())


def outgoing_requests(user: User) -> list[FriendRequest]:
    stmt = (
        select(FriendRequest)
        .where(FriendRequest.sender_id == user.id)
        .options(selectinload(FriendRequest.recipient))
        .order_by(FriendRequest.created_at.desc())
    )
    return list(db.session.execute(stmt).scalars())


# --- introductions ----------------------------------------------------------------------------


def write_introduction(author: User, subject: User, body: str) -> Introduction:
    """A friend writes (or rewrites) an introduction of `subject`."""
    body = (body or "").strip()
    if not body:
        raise SnsError(_("This field is required."), "body")
    if len(body) > INTRO_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=INTRO_MAX), "body")
    if author.id == subject.id:
        raise SnsError(_("You cannot introduce yourself."))
    if not are_friends(author, subject):
        raise SnsError(_("Only friends can write an introduction."))
    intro = db.session.execute(
        select(Introduction).where(
            Introduction.author_id == author.id, Introduction.subject_id == subject.id
        )
    ).scalar_one_or_none()
    if intro is None:
        intro = Introduction(author_id=author.id, subject_id=subject.id, body=body)
        db.session.add(intro)
        db.session.flush()  # the id goes into the notification
        notify(subject, NotificationKind.INTRODUCTION, author, intro.id)
    else:
        intro.body = body
        intro.updated_at = utcnow()
    return intro


def introductions_for(
    subject: User, viewer: Viewer, shown: bool | None = None
) -> list[Introduction]:
    """Introductions shown on the profile: with the friend list's reach; hidden ones only to
    the subject and their author; authors the viewer may not see are left out."""
    if not (friends_shown(subject, viewer) if shown is None else shown):
        return []
    vid = viewer_id(viewer)
    stmt = (
        select(Introduction)
        .join(User, User.id == Introduction.author_id)
        .where(Introduction.subject_id == subject.id)
        .options(selectinload(Introduction.author))
        .order_by(Introduction.created_at.desc())
    )
    stmt = visible_to(stmt, viewer, User)
    if vid != subject.id:
        stmt = stmt.where(or_(Introduction.hidden.is_(False), Introduction.author_id == vid))
    return list(db.session.execute(stmt).scalars())


def set_introduction_hidden(intro: Introduction, user: User, hidden: bool) -> None:
    if intro.subject_id != user.id:
        raise NotVisible()
    intro.hidden = hidden


def delete_introduction(intro: Introduction, user: User) -> None:
    if user.id not in (intro.author_id, intro.subject_id):
        raise NotVisible()
    db.session.delete(intro)


# --- blocks -----------------------------------------------------------------------------------


def block_member(blocker: User, blocked: User) -> None:
    """Block: friendship, requests and introductions between the two end at once."""
    if blocker.id == blocked.id:
        raise SnsError(_("You cannot block yourself."))
    if db.session.get(Block, (blocker.id, blocked.id)) is None:
        db.session.add(Block(blocker_id=blocker.id, blocked_id=blocked.id))
    _unlink(blocker.id, blocked.id)
    db.session.execute(
        delete(FriendRequest).where(
            or_(
                and_(
                    FriendRequest.sender_id == blocker.id, FriendRequest.recipient_id == blocked.id
                ),
                and_(
                    FriendRequest.sender_id == blocked.id, FriendRequest.recipient_id == blocker.id
                ),
            )
        )
    )


def unblock_member(blocker: User, blocked: User) -> None:
    row = db.session.get(Block, (blocker.id, blocked.id))
    if row is not None:
        db.session.delete(row)


def has_blocked(blocker: User, blocked: User) -> bool:
    return db.session.get(Block, (blocker.id, blocked.id)) is not None


def blocked_members(user: User) -> list[Block]:
    stmt = (
        select(Block)
        .where(Block.blocker_id == user.id)
        .options(selectinload(Block.blocked))
        .order_by(Block.created_at.desc())
    )
    return list(db.session.execute(stmt).scalars())


# --- diaries ----------------------------------------------------------------------------------


def _clean_diary(
    title: str, body: str, body_format: str, visibility: str
) -> tuple[str, str, str, Visibility]:
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        raise SnsError(_("This field is required."), "title")
    if len(title) > TITLE_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=TITLE_MAX), "title")
    if not body:
        raise SnsError(_("This field is required."), "body")
    if len(body) > BODY_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=BODY_MAX), "body")
    if body_format not in ("plain", "markdown"):
        raise SnsError(_("Please choose one of the listed options."), "body_format")
    level = Visibility.parse(visibility)
    if level is None:
        raise SnsError(_("Please choose one of the listed options."), "visibility")
    return title, body, body_format, level


def create_diary(
    author: User,
    *,
    title: str,
    body: str,
    visibility: str,
    body_format: str = "plain",
    allow_comments: bool = True,
    uploads: Iterable[bytes] = (),
    created_at: dt.datetime | None = None,
) -> Diary:
    """Post a diary entry with up to three photos; raise SnsError for bad input."""
    title, body, body_format, level = _clean_diary(title, body, body_format, visibility)
    raw_images = [raw for raw in uploads if raw]
    if len(raw_images) > MAX_DIARY_IMAGES:
        raise SnsError(_("You can add up to %(n)d photos.", n=MAX_DIARY_IMAGES), "images")
    max_px = int(current_app.config.get("SNS_DIARY_IMAGE_PX", 1024))
    processed = [_process(raw, max_px, "images") for raw in raw_images]
    diary = Diary(
        author_id=author.id,
        title=title,
        body=body,
        body_format=body_format,
        visibility=level.value,
        allow_comments=allow_comments,
        created_at=created_at or utcnow(),
    )
    db.session.add(diary)
    db.session.flush()  # images and the word filter's hold refer to the diary
    for pos, item in enumerate(processed):
        _store_image(author, item, diary_id=diary.id, position=pos)
    wordfilter.screen("diary", diary, f"{title}\n{body}")
    return diary


def update_diary(
    diary: Diary,
    editor: User,
    *,
    title: str,
    body: str,
    visibility: str,
    body_format: str,
    allow_comments: bool,
    uploads: Iterable[bytes] = (),
    remove_tokens: Iterable[str] = (),
) -> Diary:
    if diary.author_id != editor.id or diary.deleted_at is not None:
        raise NotVisible()
    title, body, body_format, level = _clean_diary(title, body, body_format, visibility)
    removing = set(remove_tokens)
    keep = [img for img in diary.images if img.token not in removing]
    raw_images = [raw for raw in uploads if raw]
    if len(keep) + len(raw_images) > MAX_DIARY_IMAGES:
        raise SnsError(_("You can add up to %(n)d photos.", n=MAX_DIARY_IMAGES), "images")
    max_px = int(current_app.config.get("SNS_DIARY_IMAGE_PX", 1024))
    processed = [_process(raw, max_px, "images") for raw in raw_images]
    for img in list(diary.images):
        if img.token in removing:
            _delete_image_after_commit(img.token)
            diary.images.remove(img)
    diary.title, diary.body, diary.body_format = title, body, body_format
    diary.visibility = level.value
    diary.allow_comments = allow_comments
    diary.updated_at = utcnow()
    start = max((img.position for img in keep), default=-1) + 1
    for pos, item in enumerate(processed, start=start):
        _store_image(editor, item, diary_id=diary.id, position=pos)
    wordfilter.screen("diary", diary, f"{title}\n{body}")
    return diary


def delete_diary(diary: Diary, user: User) -> None:
    """Soft delete: the author can restore it for 30 days."""
    if diary.author_id != user.id:
        raise NotVisible()
    diary.deleted_at = utcnow()


def restore_diary(diary: Diary, user: User) -> None:
    if diary.author_id != user.id or diary.deleted_at is None:
        raise NotVisible()
    if diary.deleted_at < utcnow() - dt.timedelta(days=RESTORE_DAYS):
        raise SnsError(_("This entry was deleted more than 30 days ago and cannot be restored."))
    diary.deleted_at = None


def deleted_diaries(user: User) -> list[Diary]:
    cutoff = utcnow() - dt.timedelta(days=RESTORE_DAYS)
    stmt = (
        select(Diary)
        .where(Diary.author_id == user.id, Diary.deleted_at.is_not(None), Diary.deleted_at > cutoff)
        .order_by(Diary.deleted_at.desc())
    )
    return list(db.session.execute(stmt).scalars())


def purge_deleted(now: dt.datetime | None = None) -> dict[str, int]:
    """Remove diaries deleted more than 30 days ago (with their image files) and old footprints.

    Old read notifications are deleted by `flask retention prune` (`app.retention`)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=RESTORE_DAYS)
    tokens = db.session.execute(
        select(Image.token)
        .join(Diary, Diary.id == Image.diary_id)
        .where(Diary.deleted_at.is_not(None), Diary.deleted_at <= cutoff)
    ).scalars()
    for token in list(tokens):
        _delete_image_after_commit(token)
    diaries = _rowcount(
        db.session.execute(
            delete(Diary).where(Diary.deleted_at.is_not(None), Diary.deleted_at <= cutoff)
        )
    )
    prints = _rowcount(
        db.session.execute(
            delete(Footprint).where(Footprint.visited_at <= now - dt.timedelta(days=FOOTPRINT_DAYS))
        )
    )
    return {"diaries": int(diaries or 0), "footprints": int(prints or 0)}


@dataclass
class DiaryItem:
    diary: Diary
    author: User
    comments: int = 0
    avatar: str | None = None
    image: str | None = None
    is_new: bool = False
    kind = "diary"

    @property
    def id(self) -> int:
        return self.diary.id

    @property
    def created_at(self) -> dt.datetime:
        return self.diary.created_at


@dataclass
class TimelineEntry:
    """A timeline row from another feature (see `register_timeline_entries`).

    `kind` is a short lowercase key unique to the feature ("topic", "topic_post"); `template`
    is the feature's partial that renders one `<li>` from `item` (this entry) and `item.data`.
    """

    kind: str
    id: int
    created_at: dt.datetime
    author: User
    template: str
    data: dict[str, Any] = field(default_factory=dict)
    avatar: str | None = None
    is_new: bool = False


@dataclass
class DiaryPage:
    items: list[Any]  # DiaryItem; on the home timeline also TimelineEntry
    next_cursor: str | None
    seen_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(diary: Diary) -> str:
    stamp = int(diary.created_at.timestamp() * 1_000_000)
    return f"{stamp}_{diary.id}"


def decode_cursor(cursor: str | None) -> tuple[dt.datetime, int] | None:
    """A cursor from a URL; anything malformed means "from the start"."""
    if not cursor or len(cursor) > 40:
        return None
    stamp, _sep, ident = cursor.partition("_")
    if not (stamp.isdigit() and ident.isdigit()) or len(ident) > 18 or len(stamp) > 18:
        return None
    try:
        when = dt.datetime.fromtimestamp(int(stamp) / 1_000_000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when, int(ident)


def _page(stmt: Any, viewer: Viewer, cursor: str | None, limit: int) -> DiaryPage:
    """Run a diary listing with the visibility rules, keyset pagination and batched extras."""
    stmt = visible_to(stmt, viewer, Diary)
    after = decode_cursor(cursor)
    if after is not None:
        when, ident = after
        stmt = stmt.where(
            or_(Diary.created_at < when, and_(Diary.created_at == when, Diary.id < ident))
        )
    stmt = stmt.order_by(Diary.created_at.desc(), Diary.id.desc()).limit(limit + 1)
    rows = db.session.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [DiaryItem(diary=row[0], author=row[1]) for row in rows]
    _decorate(items, viewer)
    next_cursor = encode_cursor(items[-1].diary) if more and items else None
    return DiaryPage(items=items, next_cursor=next_cursor)


def _decorate(
    items: list[DiaryItem], viewer: Viewer, others: list[TimelineEntry] | None = None
) -> None:
    """Comment counts (visible ones), avatars and first photos: three queries for any page.

    `others` (timeline rows of other kinds) get their authors' avatars in the same query."""
    others = others or []
    avatars = avatar_tokens(viewer, [i.author.id for i in items] + [e.author.id for e in others])
    for entry in others:
        entry.avatar = avatars.get(entry.author.id)
    if not items:
        return
    ids = [item.diary.id for item in items]
    counts_stmt = visible_to(
        select(Comment.diary_id, func.count(Comment.id)).where(Comment.diary_id.in_(ids)),
        viewer,
        Comment,
    ).group_by(Comment.diary_id)
    counts = {int(d or 0): int(n) for d, n in db.session.execute(counts_stmt).all()}
    firsts: dict[int, str] = {}
    for diary_id, token in db.session.execute(
        select(Image.diary_id, Image.token)
        .where(Image.diary_id.in_(ids))
        .order_by(Image.diary_id, Image.position)
    ).all():
        firsts.setdefault(int(diary_id or 0), token)
    for item in items:
        item.comments = counts.get(item.diary.id, 0)
        item.avatar = avatars.get(item.author.id)
        item.image = firsts.get(item.diary.id)


def _diary_select() -> Any:
    # Authors' roles are not needed to show a list; load them only if something asks.
    return select(Diary, User).join(User, User.id == Diary.author_id).options(lazyload(User.roles))


# Timeline sources: each returns a condition on Diary for the diaries that belong on a member's
# home timeline. Friends are built in; the communities feature appends its own source.
TIMELINE_SOURCES: list[Callable[[User], ColumnElement[bool]]] = []


def _friends_source(user: User) -> ColumnElement[bool]:
    return Diary.author_id.in_(select(Friendship.friend_id).where(Friendship.user_id == user.id))


def register_timeline_source(source: Callable[[User], ColumnElement[bool]]) -> None:
    """Add a source of timeline diaries (idempotent)."""
    if source not in TIMELINE_SOURCES:
        TIMELINE_SOURCES.append(source)


register_timeline_source(_friends_source)


# Other kinds of timeline rows (community topics and replies, ...): each source returns the
# newest rows the member may see that come after a cursor, at most `limit`, as TimelineEntry.
TimelineCursor = tuple[dt.datetime, str, int]
TimelineEntrySource = Callable[[User, "TimelineCursor | None", int], list[TimelineEntry]]
TIMELINE_ENTRY_SOURCES: list[TimelineEntrySource] = []

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_KIND_RE = re.compile(r"[a-z][a-z_]{0,19}")


def register_timeline_entries(source: TimelineEntrySource) -> None:
    """Add a source of non-diary timeline rows (idempotent)."""
    if source not in TIMELINE_ENTRY_SOURCES:
        TIMELINE_ENTRY_SOURCES.append(source)


def encode_timeline_cursor(entry: Any) -> str:
    """Time (microseconds), kind and id of the last entry shown: the timeline's total order."""
    stamp = (entry.created_at - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{stamp}_{entry.kind}_{entry.id}"


def decode_timeline_cursor(cursor: str | None) -> TimelineCursor | None:
    """A timeline cursor from a URL (a diary-list cursor counts as a diary); malformed: None."""
    if not cursor or len(cursor) > 64:
        return None
    parts = cursor.split("_", 1)
    stamp, rest = parts if len(parts) == 2 else (parts[0], "")
    kind, _sep, ident = rest.rpartition("_")
    kind = kind or "diary"
    if not (stamp.isdigit() and ident.isdigit() and len(stamp) <= 18 and len(ident) <= 18):
        return None
    if not _KIND_RE.fullmatch(kind) or int(ident) >= 2**31:  # ids are 32-bit columns
        return None
    try:
        when = _EPOCH + dt.timedelta(microseconds=int(stamp))
    except OverflowError:
        return None
    return when, kind, int(ident)


def timeline_before(
    created: Any, ident: Any, kind: str, after: TimelineCursor | None
) -> ColumnElement[bool]:
    """Rows of `kind` that sort after the cursor in (time, kind, id) descending order."""
    if after is None:
        return true()
    when, after_kind, after_id = after
    if kind < after_kind:
        return created <= when
    if kind > after_kind:
        return created < when
    return or_(created < when, and_(created == when, ident < after_id))


def timeline(user: User, cursor: str | None = None, limit: int = PAGE_SIZE) -> DiaryPage:
    """The member's home timeline, newest first: visible diaries of friends (and other diary
    sources) mixed with the rows of the registered entry sources (community posts, ...)."""
    after = decode_timeline_cursor(cursor)
    sources = [source(user) for source in TIMELINE_SOURCES]
    stmt = visible_to(_diary_select().where(or_(*sources)), user, Diary)
    stmt = stmt.where(timeline_before(Diary.created_at, Diary.id, "diary", after))
    stmt = stmt.order_by(Diary.created_at.desc(), Diary.id.desc()).limit(limit + 1)
    entries: list[Any] = [
        DiaryItem(diary=row[0], author=row[1]) for row in db.session.execute(stmt).all()
    ]
    for extra in TIMELINE_ENTRY_SOURCES:
        entries.extend(extra(user, after, limit + 1))
    entries.sort(key=lambda e: (e.created_at, e.kind, e.id), reverse=True)
    more = len(entries) > limit
    entries = entries[:limit]
    _decorate(
        [e for e in entries if isinstance(e, DiaryItem)],
        user,
        others=[e for e in entries if not isinstance(e, DiaryItem)],
    )
    next_cursor = encode_timeline_cursor(entries[-1]) if more and entries else None
    page = DiaryPage(items=entries, next_cursor=next_cursor)
    seen = settings_for(user).timeline_seen_at
    page.seen_at = seen
    for item in page.items:
        item.is_new = seen is None or item.created_at > seen
    return page


VISIT_GAP = dt.timedelta(minutes=30)


def touch_visit(user: User, now: dt.datetime | None = None) -> bool:
    """Move the "new since last visit" marker when a new visit starts (30 minutes apart).

    Writes at most once a minute per member. Returns whether it wrote.
    """
    now = now or utcnow()
    row = db.session.get(MemberSettings, user.id)
    last = row.timeline_visit_at if row else None
    if last is not None and now - last < dt.timedelta(minutes=1):
        return False
    row = ensure_settings(user)
    if last is None:
        row.timeline_seen_at = now
    elif now - last >= VISIT_GAP:
        row.timeline_seen_at = last
    row.timeline_visit_at = now
    return True


def recent_diaries(viewer: Viewer, cursor: str | None = None, limit: int = PAGE_SIZE) -> DiaryPage:
    """Newest diaries the viewer may see, from anyone (guests see public ones)."""
    return _page(_diary_select(), viewer, cursor, limit)


def member_diaries(
    owner: User,
    viewer: Viewer,
    cursor: str | None = None,
    month: tuple[int, int] | None = None,
    limit: int = PAGE_SIZE,
) -> DiaryPage:
    stmt = _diary_select().where(Diary.author_id == owner.id)
    if month is not None:
        start, end = month_bounds(*month)
        stmt = stmt.where(Diary.created_at >= start, Diary.created_at < end)
    return _page(stmt, viewer, cursor, limit)


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """The month in Japan time, as UTC bounds."""
    start = dt.datetime(year, month, 1, tzinfo=JST)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=JST)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def diary_months(owner: User, viewer: Viewer) -> list[tuple[int, int, int]]:
    """(year, month, count) of the owner's diaries the viewer may see, newest first."""
    stmt = visible_to(select(Diary.created_at).where(Diary.author_id == owner.id), viewer, Diary)
    counts: dict[tuple[int, int], int] = {}
    for (created,) in db.session.execute(stmt.limit(20_000)).all():
        local = created.astimezone(JST)
        counts[(local.year, local.month)] = counts.get((local.year, local.month), 0) + 1
    return [(y, m, n) for (y, m), n in sorted(counts.items(), reverse=True)]


def public_feed(owner: User, limit: int = 20) -> list[Diary]:
    """The owner's diaries as a guest sees them: public only (the Atom feed)."""
    stmt = select(Diary).where(Diary.author_id == owner.id)
    stmt = visible_to(stmt, AnonymousViewer(), Diary)
    stmt = stmt.order_by(Diary.created_at.desc(), Diary.id.desc()).limit(limit)
    return list(db.session.execute(stmt).scalars())


# --- comments ---------------------------------------------------------------------------------


def diary_comments(diary: Diary, viewer: Viewer) -> list[Comment]:
    stmt = (
        select(Comment)
        .where(Comment.diary_id == diary.id)
        .options(selectinload(Comment.author).lazyload(User.roles))
        .order_by(Comment.created_at, Comment.id)
    )
    return list(db.session.execute(visible_to(stmt, viewer, Comment)).scalars())


def add_comment(diary: Diary, author: User, body: str) -> Comment:
    """Comment on a diary the author can see and that takes comments."""
    if not can_view(author, diary):
        raise NotVisible()
    if not diary.allow_comments:
        raise SnsError(_("Comments are turned off for this entry."))
    if diary.hidden_at is not None:
        raise SnsError(_("This entry was hidden by a moderator and takes no comments."))
    body = (body or "").strip()
    if not body:
        raise SnsError(_("This field is required."), "body")
    if len(body) > COMMENT_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=COMMENT_MAX), "body")
    comment = Comment(diary_id=diary.id, author_id=author.id, body=body)
    db.session.add(comment)
    db.session.flush()  # notifications name the comment's diary
    if wordfilter.screen("comment", comment, body):
        return comment  # held for review: nobody is notified of what they cannot see
    diary_author = db.session.get(User, diary.author_id)
    told: set[int] = {author.id}
    if diary_author is not None and diary_author.id not in told:
        notify(diary_author, NotificationKind.COMMENT, author, diary.id)
        told.add(diary_author.id)
    others = db.session.execute(
        select(User)
        .join(Comment, Comment.author_id == User.id)
        .where(Comment.diary_id == diary.id, Comment.deleted_at.is_(None))
        .distinct()
    ).scalars()
    for other in others:
        if other.id not in told and can_view(other, diary):
            notify(other, NotificationKind.REPLY, author, diary.id)
            told.add(other.id)
    return comment


def delete_comment(comment: Comment, user: User) -> None:
    from app.permissions import can_edit

    if not can_edit(user, comment):
        raise NotVisible()
    comment.deleted_at = utcnow()


# --- messages ---------------------------------------------------------------------------------


def send_message(sender: User, recipient: User, subject: str, body: str) -> Message:
    """Send a private message; refused between members where either blocked the other."""
    if sender.id == recipient.id:
        raise SnsError(_("You cannot send a message to yourself."))
    if not can_view(sender, recipient) or is_blocked_between(sender.id, recipient.id):
        raise NotVisible()
    subject = (subject or "").strip()
    body = (body or "").strip()
    if len(subject) > SUBJECT_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=SUBJECT_MAX), "subject")
    if not body:
        raise SnsError(_("This field is required."), "body")
    if len(body) > MESSAGE_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=MESSAGE_MAX), "body")
    msg = Message(sender_id=sender.id, recipient_id=recipient.id, subject=subject, body=body)
    db.session.add(msg)
    db.session.flush()  # the notification refers to the message
    notify(recipient, NotificationKind.MESSAGE, sender, msg.id)
    return msg


def _message_list(where: ColumnElement[bool], other_col: Any, limit: int) -> list[Message]:
    stmt = (
        select(Message)
        .where(where)
        .where(~suspended_exists(other_col))
        .options(selectinload(Message.sender), selectinload(Message.recipient))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


def inbox(user: User, limit: int = 100) -> list[Message]:
    return _message_list(
        and_(
            Message.recipient_id == user.id,
            Message.recipient_deleted_at.is_(None),
            ~block_exists(user.id, Message.sender_id),
        ),
        Message.sender_id,
        limit,
    )


def sent_messages(user: User, limit: int = 100) -> list[Message]:
    return _message_list(
        and_(Message.sender_id == user.id, Message.sender_deleted_at.is_(None)),
        Message.recipient_id,
        limit,
    )


def message_visible(viewer: Viewer, msg: Message) -> bool:
    vid = viewer_id(viewer)
    if vid == msg.sender_id:
        return msg.sender_deleted_at is None
    if vid == msg.recipient_id:
        return msg.recipient_deleted_at is None and not is_blocked_between(vid, msg.sender_id)
    return False


def thread_with(user: User, other: User, limit: int = 200) -> list[Message]:
    """The conversation between two members, oldest first (what `user` has not deleted)."""
    stmt = (
        select(Message)
        .where(
            or_(
                and_(
                    Message.sender_id == user.id,
                    Message.recipient_id == other.id,
                    Message.sender_deleted_at.is_(None),
                ),
                and_(
                    Message.sender_id == other.id,
                    Message.recipient_id == user.id,
                    Message.recipient_deleted_at.is_(None),
                ),
            )
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(db.session.execute(stmt).scalars())))


def mark_thread_read(user: User, other: User) -> int:
    result = db.session.execute(
        update(Message)
        .where(
            Message.sender_id == other.id,
            Message.recipient_id == user.id,
            Message.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    return _rowcount(result)


def delete_message_for(msg: Message, user: User) -> None:
    """Delete for me: the other side keeps their copy."""
    if user.id == msg.sender_id:
        msg.sender_deleted_at = utcnow()
    if user.id == msg.recipient_id:
        msg.recipient_deleted_at = utcnow()
    if user.id not in (msg.sender_id, msg.recipient_id):
        raise NotVisible()


def unread_messages(user: User) -> int:
    return int(
        db.session.execute(
            select(func.count(Message.id)).where(
                Message.recipient_id == user.id,
                Message.read_at.is_(None),
                Message.recipient_deleted_at.is_(None),
                ~block_exists(user.id, Message.sender_id),
            )
        ).scalar_one()
    )


# --- footprints -------------------------------------------------------------------------------


def footprint_due(visitor_id: int | None, owner_id: int, now: dt.datetime | None = None) -> bool:
    """Whether a visit should be recorded (read only, so most page views need no write)."""
    if visitor_id is None or visitor_id == owner_id:
        return False
    prefs = db.session.get(MemberSettings, visitor_id)
    if prefs is not None and not prefs.footprints_enabled:
        return False
    row = db.session.get(Footprint, (owner_id, visitor_id))
    return row is None or (now or utcnow()) - row.visited_at >= dt.timedelta(minutes=10)


def leave_footprint(visitor_id: int | None, owner_id: int, now: dt.datetime | None = None) -> bool:
    """Record a visit to a profile unless the visitor opted out (then they see none either).

    Takes ids so it can run after the read transaction ended. Writes at most once every ten
    minutes per pair. Returns whether it wrote.
    """
    if visitor_id is None or visitor_id == owner_id:
        return False
    prefs = db.session.get(MemberSettings, visitor_id)
    if prefs is not None and not prefs.footprints_enabled:
        return False
    now = now or utcnow()
    row = db.session.get(Footprint, (owner_id, visitor_id))
    if row is None:
        db.session.add(Footprint(owner_id=owner_id, visitor_id=visitor_id, visited_at=now))
        return True
    if now - row.visited_at < dt.timedelta(minutes=10):
        return False
    row.visited_at = now
    return True


def footprints(owner: User, now: dt.datetime | None = None) -> list[Footprint] | None:
    """Who visited in the last 30 days, newest first; None when the owner opted out."""
    if not settings_for(owner).footprints_enabled:
        return None
    since = (now or utcnow()) - dt.timedelta(days=FOOTPRINT_DAYS)
    stmt = (
        select(Footprint)
        .join(User, User.id == Footprint.visitor_id)
        .where(Footprint.owner_id == owner.id, Footprint.visited_at > since)
        .options(selectinload(Footprint.visitor))
        .order_by(Footprint.visited_at.desc())
        .limit(100)
    )
    stmt = visible_to(stmt, owner, User)
    return list(db.session.execute(stmt).scalars())


# --- notifications ----------------------------------------------------------------------------

NOTIFICATION_LABELS: dict[str, Any] = {
    NotificationKind.FRIEND_REQUEST: _l("Friend requests"),
    NotificationKind.FRIEND_ACCEPTED: _l("Accepted friend requests"),
    NotificationKind.COMMENT: _l("Comments on my diary"),
    NotificationKind.REPLY: _l("Replies where I commented"),
    NotificationKind.MESSAGE: _l("Messages"),
    NotificationKind.INTRODUCTION: _l("Introductions written about me"),
}


@dataclass(frozen=True)
class ExtraNotificationKind:
    """A notification kind of another feature (communities): its sentence, its link, and which
    of its objects a member may still see (a notification never shows what visibility hides)."""

    key: str
    label: Any
    text: Callable[[str], str]  # the actor's name -> the sentence shown
    path: Callable[[int | None], str]  # the object id -> the URL path
    visible: Callable[[User, set[int]], set[int]]  # object ids -> those the member may see


EXTRA_NOTIFICATION_KINDS: dict[str, ExtraNotificationKind] = {}


def register_notification_kind(kind: ExtraNotificationKind) -> None:
    """Add a notification kind of another feature (idempotent)."""
    EXTRA_NOTIFICATION_KINDS[kind.key] = kind
    NOTIFICATION_LABELS[kind.key] = kind.label


def notification_text(kind: str, name: str) -> str:
    """The sentence of an extra kind ("" for the built-in ones, whose templates word them)."""
    extra = EXTRA_NOTIFICATION_KINDS.get(kind)
    return extra.text(name) if extra is not None else ""


def notify(
    user: User, kind: NotificationKind | str, actor: User | None, object_id: int | None
) -> None:
    """An in-app notification, and an email now when the member asked for one (not a digest)."""
    if actor is not None and is_blocked_between(user.id, actor.id):
        return
    kind = NotificationKind(kind) if kind in set(NotificationKind) else str(kind)
    if not isinstance(kind, NotificationKind) and kind not in EXTRA_NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    note = Notification(
        user_id=user.id, kind=str(kind), actor_id=actor.id if actor else None, object_id=object_id
    )
    db.session.add(note)
    prefs = settings_for(user)
    if str(kind) in prefs.email_kind_set() and not prefs.email_digest and user.email_confirmed:
        note.emailed_at = utcnow()
        queue_template_mail(
            user.email,
            "sns_notification",
            user.locale,
            kind=f"sns_{kind}",
            note_kind=str(kind),
            actor=actor,
            url=notification_url_absolute(str(kind), actor, object_id, user),
        )


def notification_path(kind: str, actor: User | None, object_id: int | None, user: User) -> str:
    extra = EXTRA_NOTIFICATION_KINDS.get(kind)
    if extra is not None:
        return extra.path(object_id)
    if kind == NotificationKind.FRIEND_REQUEST:
        return "/friends"
    if kind == NotificationKind.FRIEND_ACCEPTED and actor is not None:
        return f"/members/{actor.handle}"
    if kind in (NotificationKind.COMMENT, NotificationKind.REPLY):
        return f"/diary/{object_id}#comments"
    if kind == NotificationKind.MESSAGE and actor is not None:
        return f"/messages/with/{actor.handle}"
    if kind == NotificationKind.INTRODUCTION:
        return f"/members/{user.handle}#introductions"
    return "/notifications"


def notification_url_absolute(
    kind: str, actor: User | None, object_id: int | None, user: User
) -> str:
    base = str(current_app.config["SERVER_BASE_URL"]).rstrip("/")
    return base + notification_path(kind, actor, object_id, user)


def notifications_for(user: User, limit: int = 50) -> list[Notification]:
    """Recent notifications, leaving out actors the member may not see and diaries gone from
    view (so a notification never shows what visibility hides)."""
    stmt = (
        select(Notification)
        .outerjoin(User, User.id == Notification.actor_id)
        .where(Notification.user_id == user.id)
        .where(or_(Notification.actor_id.is_(None), visible_user_clause(user)))
        .options(selectinload(Notification.actor))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    notes = list(db.session.execute(stmt).scalars())
    diary_ids = {
        n.object_id
        for n in notes
        if n.kind in (NotificationKind.COMMENT, NotificationKind.REPLY) and n.object_id
    }
    visible_ids: set[int] = set()
    if diary_ids:
        rows = db.session.execute(
            visible_to(select(Diary.id).where(Diary.id.in_(diary_ids)), user, Diary)
        ).scalars()
        visible_ids = {int(r) for r in rows}
    extra_visible: dict[str, set[int]] = {}
    for key, extra in EXTRA_NOTIFICATION_KINDS.items():
        wanted = {n.object_id for n in notes if n.kind == key and n.object_id}
        extra_visible[key] = extra.visible(user, wanted) if wanted else set()

    def keep(n: Notification) -> bool:
        if n.kind in (NotificationKind.COMMENT, NotificationKind.REPLY):
            return n.object_id in visible_ids
        if n.kind in extra_visible:
            return n.object_id in extra_visible[n.kind]
        return True

    return [n for n in notes if keep(n)]


def visible_user_clause(viewer: Viewer) -> ColumnElement[bool]:
    from app.permissions import visibility_clause

    return visibility_clause(User, viewer)


def unread_notifications(user: User) -> int:
    return int(
        db.session.execute(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        ).scalar_one()
    )


def mark_notifications_read(user: User, ids: Iterable[int] | None = None) -> int:
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    return _rowcount(db.session.execute(stmt.values(read_at=utcnow())))


def send_digests(now: dt.datetime | None = None) -> int:
    """One email per member who chose the daily digest, listing what they have not been sent."""
    now = now or utcnow()
    sent = 0
    members = db.session.execute(
        select(User, MemberSettings)
        .join(MemberSettings, MemberSettings.user_id == User.id)
        .where(MemberSettings.email_digest.is_(True))
    ).all()
    for user, prefs in members:
        kinds = prefs.email_kind_set()
        if not kinds or not user.is_active or not user.email_confirmed:
            continue
        notes = [
            n
            for n in notifications_for(user, limit=200)
            if n.emailed_at is None and n.read_at is None and n.kind in kinds
        ]
        if not notes:
            continue
        lines = [
            (
                n,
                notification_url_absolute(n.kind, n.actor, n.object_id, user),
            )
            for n in reversed(notes)
        ]
        queue_template_mail(
            user.email, "sns_digest", user.locale, kind="sns_digest", user=user, lines=lines
        )
        for n in notes:
            n.emailed_at = now
        prefs.last_digest_at = now
        sent += 1
    return sent


# --- reports ----------------------------------------------------------------------------------

REPORT_REASONS: list[tuple[str, Any]] = [
    ("spam", _l("Spam or advertising")),
    ("harassment", _l("Harassment or bullying")),
    ("personal_info", _l("Someone's personal information")),
    ("inappropriate", _l("Inappropriate content")),
    ("other", _l("Something else")),
]


def report_target(kind: str, object_id: Any, viewer: Viewer) -> tuple[ContentKind, Any, str]:
    """The object a member reports (any kind in `app.moderation.content`'s registry) and a
    snapshot of it; NotVisible for an unknown kind or an object the member may not report."""
    try:
        ckind = content_kind(kind)
        oid = int(object_id)
    except (KeyError, ValueError, TypeError):
        raise NotVisible() from None
    if not 0 < oid < 2**63:
        raise NotVisible()
    obj = db.session.get(ckind.model, oid)
    if obj is None or not ckind.reportable_by(viewer, obj):
        raise NotVisible()
    return ckind, obj, ckind.snapshot(obj)


def create_report(reporter: User, kind: str, object_id: Any, reason: str, details: str) -> Report:
    """File a member's report with a snapshot of what they saw; NotVisible or SnsError."""
    ckind, obj, text = report_target(kind, object_id, reporter)
    if reason not in dict(REPORT_REASONS):
        raise SnsError(_("Please choose one of the listed options."), "reason")
    details = (details or "").strip()
    if len(details) > REPORT_DETAILS_MAX:
        raise SnsError(_("Please use at most %(n)d characters.", n=REPORT_DETAILS_MAX), "details")
    report = Report(
        reporter_id=reporter.id,
        kind=ckind.key,
        object_id=obj.id,
        reason=reason,
        details=details,
        excerpt=text[:2000],
    )
    db.session.add(report)
    return report


# --- admin: profile fields --------------------------------------------------------------------


def configure_field(
    key: str, default_visibility: str, fixed_visibility: str | None
) -> ProfileField:
    """Set a field's default level and (optionally) fix it; fixing rewrites members' levels."""
    fd = field_by_key(key)
    default = Visibility.parse(default_visibility)
    fixed = Visibility.parse(fixed_visibility) if fixed_visibility else None
    if fd is None:
        raise NotVisible()
    if default is None or (fixed_visibility and fixed is None):
        raise SnsError(_("Please choose one of the listed options."))
    row = fd.row
    if row is None:
        builtin = next(b for b in BUILTIN_FIELDS if b[0] == key)
        row = ProfileField(
            key=key,
            kind=builtin[1].value,
            builtin=True,
            position=fd.position,
            label_ja="",
            label_en="",
            choices="",
        )
        db.session.add(row)
    row.default_visibility = default.value
    row.fixed_visibility = fixed.value if fixed else None
    if fixed is not None:
        db.session.execute(
            update(ProfileValue).where(ProfileValue.field_key == key).values(visibility=fixed.value)
        )
    return row


def add_extra_field(
    *, label_ja: str, label_en: str, kind: str, choices: str, default_visibility: str
) -> ProfileField:
    import re
    import secrets

    label_ja, label_en = (label_ja or "").strip(), (label_en or "").strip()
    if not label_ja and not label_en:
        raise SnsError(_("This field is required."), "label_ja")
    if len(label_ja) > 60 or len(label_en) > 60:
        raise SnsError(_("Please use at most %(n)d characters.", n=60), "label_ja")
    if kind not in (FieldKind.TEXT.value, FieldKind.CHOICE.value, FieldKind.DATE.value):
        raise SnsError(_("Please choose one of the listed options."), "kind")
    lines = [line.strip()[:100] for line in (choices or "").splitlines() if line.strip()]
    if kind == FieldKind.CHOICE.value and not 2 <= len(lines) <= 50:
        raise SnsError(_("Please give between 2 and 50 choices, one per line."), "choices")
    default = Visibility.parse(default_visibility)
    if default is None:
        raise SnsError(_("Please choose one of the listed options."), "default_visibility")
    slug = re.sub(r"[^a-z0-9]+", "_", label_en.lower()).strip("_")[:20] or secrets.token_hex(4)
    key = f"x_{slug}"
    while db.session.execute(select(ProfileField.id).where(ProfileField.key == key)).first():
        key = f"x_{slug[:16]}_{secrets.token_hex(2)}"
    position = 1000 + int(db.session.execute(select(func.count(ProfileField.id))).scalar_one())
    row = ProfileField(
        key=key,
        kind=kind,
        label_ja=label_ja,
        label_en=label_en,
        choices="\n".join(lines) if kind == FieldKind.CHOICE.value else "",
        default_visibility=default.value,
        position=position,
        builtin=False,
        active=True,
    )
    db.session.add(row)
    return row


def relation_for(viewer: Viewer, owner: User) -> Relation:
    return relation_between(viewer, owner.id)
