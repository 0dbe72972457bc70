"""The world the access matrix runs in: one owner's objects of every kind, and the viewers.

Both tables are data (security.md A20):

- RELATIONS: how a viewer stands to the owner, each a function that sets it up;
- VIEWERS: (name, site role, relation) rows; add a row for a new kind of viewer;
- KINDS: how to make the owner's objects of a kind (one per visibility level or state), which
  value of an object goes into the URL, a value naming nothing, who its parties are, and all
  rows of the kind a member owns (for the sweep).

A community helper adds its relations (community member, community admin) to RELATIONS and
VIEWERS and its kinds (community, topic, event) to KINDS; the tests need no change.

The world is built once per test module on its own fresh database (`build_world`), so a module
of a few hundred requests stays fast. Tests must not change it: they only make requests that the
policy refuses, and `snapshot` proves that nothing changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from app import create_app
from app.auth.models import AccountStatus, CertificateBinding, RoleCode, User
from app.db import utcnow
from app.extensions import db, limiter
from tests.conftest import IsolatedClient, _truncate_pg, fresh_database
from tests.factories import Factories

OWNER = "owner"


# --- how viewers stand to the owner ----------------------------------------------------------


def _friend(make: Factories, owner: User, viewer: User, world: World) -> None:
    make.friends(owner, viewer)


def _friend_of_friend(make: Factories, owner: User, viewer: User, world: World) -> None:
    middle = make.user(handle="mx_middle")
    make.friends(owner, middle)
    make.friends(middle, viewer)


def _ex_friend(make: Factories, owner: User, viewer: User, world: World) -> None:
    """Friends once, then unfriended: the severed relationship of Mastodon's IDOR (R04)."""
    from app.sns.services import remove_friend

    make.friends(owner, viewer)
    remove_friend(viewer, owner)
    db.session.commit()


def _blocked(make: Factories, owner: User, viewer: User, world: World) -> None:
    make.friends(owner, viewer)  # the block must also end the friendship
    make.block(owner, viewer)


def _blocker(make: Factories, owner: User, viewer: User, world: World) -> None:
    make.block(viewer, owner)


def _stranger(make: Factories, owner: User, viewer: User, world: World) -> None:
    return None


def _community_member(make: Factories, owner: User, viewer: User, world: World) -> None:
    """A member of every community of the owner (joined when the communities are built)."""
    world.extra.setdefault("community_members", []).append(viewer)


RELATIONS: dict[str, Callable[[Factories, User, User, World], None]] = {
    "none": _stranger,
    "friend": _friend,
    "friend_of_friend": _friend_of_friend,
    "ex_friend": _ex_friend,
    "blocked": _blocked,  # the owner blocked the viewer
    "blocker": _blocker,  # the viewer blocked the owner
    "community_member": _community_member,
}


@dataclass(frozen=True)
class ViewerSpec:
    name: str
    role: RoleCode | None  # None: a guest (not logged in)
    relation: str = "none"


VIEWERS: tuple[ViewerSpec, ...] = (
    ViewerSpec("guest", None),
    ViewerSpec("member", RoleCode.MEMBER),
    ViewerSpec("friend_of_friend", RoleCode.MEMBER, "friend_of_friend"),
    ViewerSpec("friend", RoleCode.MEMBER, "friend"),
    ViewerSpec("ex_friend", RoleCode.MEMBER, "ex_friend"),
    ViewerSpec("self", RoleCode.MEMBER, "self"),
    ViewerSpec("blocked", RoleCode.MEMBER, "blocked"),
    ViewerSpec("blocker", RoleCode.MEMBER, "blocker"),
    ViewerSpec("community_member", RoleCode.MEMBER, "community_member"),
    ViewerSpec("moderator", RoleCode.MODERATOR),
    ViewerSpec("survey_staff", RoleCode.STAFF),
    ViewerSpec("admin", RoleCode.ADMIN),
)


# --- the owner's objects ----------------------------------------------------------------------

LEVELS = ("public", "members", "friends_of_friends", "friends", "private")


def _png() -> bytes:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.new("RGB", (32, 32), (0, 128, 0)).save(out, format="PNG")
    return out.getvalue()


def diary_title(label: str) -> str:
    """A title no other title contains, so a page can be searched for exactly this entry."""
    return f"mx-entry-{label}-end"


def _diaries(world: World) -> dict[str, Any]:
    make, owner = world.make, world.owner
    found: dict[str, Any] = {}
    for level in LEVELS:
        found[level] = make.diary(owner, title=diary_title(level), visibility=level)
    found["hidden"] = make.diary(owner, title=diary_title("hidden"), visibility="public")
    found["hidden"].hidden_at = utcnow()
    found["deleted"] = make.diary(owner, title=diary_title("deleted"), visibility="public")
    found["deleted"].deleted_at = utcnow()
    db.session.commit()
    _suspended(world)
    found["by_suspended"] = world.extra["suspended_diary"]
    return found


def _comments(world: World) -> dict[str, Any]:
    found = {}
    for label, diary in world.objects["diary"].items():
        if diary.author_id != world.owner.id:
            continue
        hidden, deleted = diary.hidden_at, diary.deleted_at
        diary.hidden_at = diary.deleted_at = None  # commented on before it was hidden/deleted
        found[f"on_{label}"] = world.make.comment(diary, world.owner, body=f"mx comment {label}")
        diary.hidden_at, diary.deleted_at = hidden, deleted
        db.session.commit()
    # A visible comment of the owner hidden by a moderator.
    hidden = world.make.comment(world.objects["diary"]["public"], world.owner, body="mx hidden")
    hidden.hidden_at = utcnow()
    db.session.commit()
    found["hidden"] = hidden
    return found


def _images(world: World) -> dict[str, Any]:
    from app.sns.models import Image
    from app.sns.services import create_diary

    found = {}
    for level in ("public", "members", "friends", "private"):
        diary = create_diary(
            world.owner,
            title=diary_title(f"photo-{level}"),
            body="写真",
            visibility=level,
            uploads=[_png()],
        )
        db.session.commit()
        found[level] = db.session.execute(
            select(Image).where(Image.diary_id == diary.id)
        ).scalar_one()
    return found


def _suspended(world: World) -> User:
    """A second member, suspended: their profile and content reach only moderators."""
    if "suspended" not in world.extra:
        member = world.make.user(handle="mx_suspended", display_name="停止中 次郎")
        world.extra["suspended_diary"] = world.make.diary(
            member, title=diary_title("by-suspended"), visibility="public"
        )
        suspend(member)
        world.extra["suspended"] = member
    return world.extra["suspended"]


def _members(world: World) -> dict[str, Any]:
    return {"owner": world.owner, "suspended": _suspended(world)}


def _friend_requests(world: World) -> dict[str, Any]:
    from app.sns.services import send_friend_request

    req = send_friend_request(world.owner, world.bystander, "mx")
    db.session.commit()
    return {"sent": req}


def _messages(world: World) -> dict[str, Any]:
    return {"sent": world.make.message(world.owner, world.bystander, body="mx secret message")}


def _introductions(world: World) -> dict[str, Any]:
    from app.sns.services import write_introduction

    friend = world.viewers["friend"]
    assert friend is not None
    intro = write_introduction(world.owner, friend, "mx introduction")
    db.session.commit()
    return {"of_friend": intro}


def _bindings(world: World) -> dict[str, Any]:
    binding = CertificateBinding(
        cert_key=secrets.token_hex(32),
        user_id=world.owner.id,
        serial_hint="1234",
        not_after=utcnow() + dt.timedelta(days=365),
    )
    db.session.add(binding)
    db.session.commit()
    return {"card": binding}


def _surveys(world: World) -> dict[str, Any]:
    from tests.survey.surveys_helpers import open_survey

    draft = open_survey(opened=False, key="mxdraft")
    opened = open_survey(key="mxopen")
    published = open_survey(key="mxpublished")
    published.results_published = True
    closed = open_survey(key="mxclosed")
    closed.opens_at = utcnow() - dt.timedelta(days=3)
    closed.closes_at = utcnow() - dt.timedelta(days=1)
    db.session.commit()
    return {"draft": draft, "open": opened, "published": published, "closed": closed}


def _announcements(world: World) -> dict[str, Any]:
    from app.notices.models import Announcement

    found = {
        audience: Announcement(
            author_id=world.owner.id, title=f"mx {audience}", body="mx", audience=audience
        )
        for audience in ("public", "members")
    }
    found["withdrawn"] = Announcement(
        author_id=world.owner.id, title="mx withdrawn", body="mx", withdrawn_at=utcnow()
    )
    db.session.add_all(found.values())
    db.session.commit()
    return found


def _communities(world: World) -> dict[str, Any]:
    """The owner's communities of every kind, and one held for a moderator's approval."""
    from app.community import services

    found = {}
    for kind in ("open", "approval", "secret"):
        found[kind] = services.create_community(
            world.owner, name=f"mx community {kind}", category="地域", kind=kind
        )
    found["held"] = services.create_community(
        world.owner, name="mx community held", category="地域", kind="open"
    )
    found["held"].status = "pending"
    found["held"].hidden_at = utcnow()
    db.session.flush()
    for member in world.extra.get("community_members", []):
        for community in found.values():
            services._insert_member(community, member, "member")
    db.session.commit()
    return found


def _topics(world: World) -> dict[str, Any]:
    from app.community import services

    found = {}
    for label, community in world.objects["community"].items():
        found[label] = services.create_topic(
            community, world.owner, title=f"mx topic {label}", body="mx"
        )
    found["hidden"] = services.create_topic(
        world.objects["community"]["open"], world.owner, title="mx topic hidden", body="mx"
    )
    found["hidden"].hidden_at = utcnow()
    found["deleted"] = services.create_topic(
        world.objects["community"]["open"], world.owner, title="mx topic deleted", body="mx"
    )
    found["deleted"].deleted_at = utcnow()
    db.session.commit()
    return found


def _topic_posts(world: World) -> dict[str, Any]:
    from app.community import services

    topics = world.objects["topic"]
    found = {
        label: services.add_post(topics[label], world.owner, f"mx reply {label}")
        for label in ("open", "secret", "held")
    }
    found["hidden"] = services.add_post(topics["open"], world.owner, "mx reply hidden")
    found["hidden"].hidden_at = utcnow()
    db.session.commit()
    return found


def _events(world: World) -> dict[str, Any]:
    from app.community import services

    found = {}
    for label in ("open", "secret", "held"):
        found[label] = services.create_event(
            world.objects["community"][label],
            world.owner,
            title=f"mx event {label}",
            starts_at=utcnow() + dt.timedelta(days=7),
        )
    found["hidden"] = services.create_event(
        world.objects["community"]["open"],
        world.owner,
        title="mx event hidden",
        starts_at=utcnow() + dt.timedelta(days=7),
    )
    found["hidden"].hidden_at = utcnow()
    db.session.commit()
    return found


def _community_images(world: World) -> dict[str, Any]:
    from app.community import services
    from app.community.models import CommunityImage

    found = {}
    for label in ("open", "secret", "held"):
        community = world.objects["community"][label]
        services.set_community_image(community, world.owner, _png())
        db.session.commit()
        found[label] = db.session.execute(
            select(CommunityImage).where(CommunityImage.token == community.image_token)
        ).scalar_one()
    return found


def _by(column: str) -> Callable[[Any, int], bool]:
    return lambda obj, uid: getattr(obj, column) == uid


@dataclass(frozen=True)
class Kind:
    """How the matrix meets objects of one kind."""

    build: Callable[[World], dict[str, Any]]
    url_value: Callable[[Any], Any]
    missing: Any  # a URL value that names no object
    parties: Callable[[Any], set[int]] = lambda obj: set()
    model: str = ""  # "module:Class", for the sweep over every row
    owner_column: str = ""
    after: tuple[str, ...] = ()  # kinds to build first


KINDS: dict[str, Kind] = {
    "member": Kind(
        _members,
        lambda u: u.handle,
        "nosuchmember",
        lambda u: {u.id},
        "app.auth.models:User",
        "id",
    ),
    "member_id": Kind(_members, lambda u: u.id, 2_000_000, lambda u: {u.id}),
    "diary": Kind(
        _diaries,
        lambda d: d.id,
        2_000_000,
        lambda d: {d.author_id},
        "app.sns.models:Diary",
        "author_id",
    ),
    "comment": Kind(
        _comments,
        lambda c: c.id,
        2_000_000,
        lambda c: {c.author_id},
        "app.sns.models:Comment",
        "author_id",
        after=("diary",),
    ),
    "image": Kind(
        _images,
        lambda i: i.token,
        "A" * 32,
        lambda i: {i.owner_id},
        "app.sns.models:Image",
        "owner_id",
    ),
    "friend_request": Kind(
        _friend_requests,
        lambda r: r.id,
        2_000_000,
        lambda r: {r.sender_id, r.recipient_id},
        "app.sns.models:FriendRequest",
        "sender_id",
    ),
    "message": Kind(
        _messages,
        lambda m: m.id,
        2_000_000,
        lambda m: {m.sender_id, m.recipient_id},
        "app.sns.models:Message",
        "sender_id",
    ),
    "introduction": Kind(
        _introductions,
        lambda i: i.id,
        2_000_000,
        lambda i: {i.author_id, i.subject_id},
        "app.sns.models:Introduction",
        "author_id",
    ),
    "jpki_binding": Kind(
        _bindings,
        lambda b: b.id,
        2_000_000,
        lambda b: {b.user_id},
        "app.auth.models:CertificateBinding",
        "user_id",
    ),
    "survey": Kind(_surveys, lambda s: s.key, "nosuchsurvey"),
    "community": Kind(
        _communities,
        lambda c: c.id,
        2_000_000,
        lambda c: {c.admin_id},
        "app.community.models:Community",
        "admin_id",
    ),
    "topic": Kind(
        _topics,
        lambda t: t.id,
        2_000_000,
        lambda t: {t.author_id},
        "app.community.models:Topic",
        "author_id",
        after=("community",),
    ),
    "topic_post": Kind(
        _topic_posts,
        lambda p: p.id,
        2_000_000,
        lambda p: {p.author_id},
        "app.community.models:TopicPost",
        "author_id",
        after=("topic",),
    ),
    "event": Kind(
        _events,
        lambda e: e.id,
        2_000_000,
        lambda e: {e.author_id},
        "app.community.models:Event",
        "author_id",
        after=("community",),
    ),
    "community_image": Kind(
        _community_images,
        lambda i: i.token,
        "A" * 32,
        lambda i: {i.owner_id},
        "app.community.models:CommunityImage",
        "owner_id",
        after=("community",),
    ),
    "announcement": Kind(
        _announcements,
        lambda a: a.id,
        2_000_000,
        lambda a: {a.author_id},
        "app.notices.models:Announcement",
        "author_id",
    ),
}


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    app: Flask
    make: Factories
    owner: User
    bystander: User  # a third member: recipient of the owner's messages and requests
    viewers: dict[str, User | None] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Shared things a relation and a kind both need (e.g. the owner's community, made by the
    # first of them to ask): relations run before kinds are built.
    extra: dict[str, Any] = field(default_factory=dict)

    def user(self, viewer: str) -> Any:
        """The viewer as `can_view` wants it (a fresh User, or an anonymous viewer)."""
        from app.permissions import AnonymousViewer

        found = self.viewers[viewer]
        if found is None:
            return AnonymousViewer()
        return db.session.get(User, found.id)

    def fresh(self, obj: Any) -> Any:
        """The object reloaded in the test's session (requests commit in their own)."""
        db.session.rollback()
        state = db.inspect(obj)
        return db.session.get(type(obj), state.identity)


@contextlib.contextmanager
def module_app(db_template: dict[str, str], tmp: Path) -> Iterator[Flask]:
    """A fresh app and database for one test module (the conftest `app`, module-scoped)."""
    instance = tmp / "instance"
    instance.mkdir()
    overrides = {
        **fresh_database(db_template, tmp),
        "INSTANCE_DIR": str(instance),
        "SEARCH_DIR": str(instance / "search"),
        "MAIL_OUTBOX_DIR": str(instance / "outbox"),
        "SERVER_BASE_URL": "http://localhost",
    }
    application = create_app("testing", overrides=overrides)
    application.test_client_class = IsolatedClient
    if limiter.enabled:
        limiter.reset()
    ctx = application.app_context()
    ctx.push()
    if db_template["kind"] == "postgresql":
        _truncate_pg(application)
    try:
        yield application
    finally:
        db.session.remove()
        ctx.pop()
        with application.app_context():
            for engine in db.engines.values():
                engine.dispose()


def login(app: Flask, user: User) -> Any:
    from tests.second_factor_support import log_in

    client = app.test_client()
    response = log_in(client, user, Factories.PASSWORD)  # privileged viewers pass A08's code
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def build_world(app: Flask, kinds: tuple[str, ...] | None = None) -> World:
    make = Factories()
    owner = make.user(handle="mx_owner", display_name="持ち主 花子")
    bystander = make.user(handle="mx_bystander", display_name="第三者 太郎")
    world = World(app, make, owner, bystander)
    for spec in VIEWERS:
        if spec.role is None:
            world.viewers[spec.name] = None
            world.clients[spec.name] = app.test_client()
            continue
        if spec.relation == "self":
            viewer = owner
        else:
            viewer = make.user(handle=f"mx_{spec.name}", role=spec.role)
            RELATIONS[spec.relation](make, owner, viewer, world)
        world.viewers[spec.name] = viewer
    wanted = list(kinds or KINDS)
    done: set[str] = set()

    def build(name: str) -> None:
        if name in done:
            return
        for first in KINDS[name].after:
            build(first)
        world.objects[name] = KINDS[name].build(world)
        done.add(name)

    for name in wanted:
        build(name)
    # Log in last: building the objects makes the owner admin of communities, and a role change
    # ends the sessions that existed before it (A16).
    for spec in VIEWERS:
        viewer = world.viewers[spec.name]
        if viewer is not None:
            world.clients[spec.name] = login(app, viewer)
    return world


def suspend(user: User) -> None:
    user.status = AccountStatus.SUSPENDED.value
    db.session.commit()


# --- proving that requests changed nothing ------------------------------------------------------

# Tables that reading may touch by design (visit footprints, read markers, sessions, logs).
VOLATILE = {
    "sns_footprints",
    "sns_notifications",
    "sns_settings",
    "web_sessions",
    "mail_outbox",
    "privacy_audit_log",
}
VOLATILE_COLUMNS = {"read_at", "last_seen_at", "last_used_at", "last_login_at", "updated_at"}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every main-database table but the volatile ones, in a comparable form."""
    db.session.rollback()
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in db.metadatas[None].sorted_tables:
        if table.name in VOLATILE:
            continue
        columns = [c for c in table.columns if c.name not in VOLATILE_COLUMNS]
        rows = db.session.execute(select(*columns)).all()
        found[table.name] = sorted((tuple(map(repr, row)) for row in rows), key=repr)
    db.session.rollback()
    return found


_NONCE = re.compile(r'nonce="[^"]*"')
_CSRF = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*(")')


def normalised(body: str, path: str = "", missing_path: str = "") -> str:
    """A page body without its per-request values (nonce, CSRF token, the requested path)."""
    body = _NONCE.sub('nonce=""', body)
    body = _CSRF.sub(r"\1\2", body)
    if path and missing_path:
        body = body.replace(path, missing_path)
    return body


def table_names() -> list[str]:
    return [t.name for t in db.metadatas[None].sorted_tables]
