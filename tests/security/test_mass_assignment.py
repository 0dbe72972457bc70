"""Mass assignment (security.md A26, R19): extra fields posted to a form are ignored or refused.

Every valid submission in FORMS carries EXTRA on top: owner ids pointing at the victim, roles,
status flags, timestamps. Afterwards the row the form made or changed still belongs to the
poster with the values the form allows, and nothing the poster may not change changed: no
member's roles or account columns, and no row of the victim's. Then every state-changing
endpoint gets EXTRA alone (a forged request), with the same invariants.

A helper adding forms (communities, events, announcements) adds a row to FORMS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Table, select

from app.auth.models import RoleCode, User
from app.extensions import db
from tests.factories import Factories
from tests.security.matrix_world import login, module_app
from tests.security.route_policies import POLICIES

# Columns naming whose row it is: a row holding the victim's id in one of them is the victim's.
OWNER_COLUMNS = (
    "author_id",
    "user_id",
    "sender_id",
    "owner_id",
    "reporter_id",
    "inviter_id",
    "blocker_id",
    "created_by",
)
VOLATILE_TABLES = {"sns_footprints", "sns_notifications", "web_sessions", "mail_outbox"}
# Account columns no form of the poster's may change (A26): roles are checked separately.
ACCOUNT_COLUMNS = (
    "email",
    "email_key",
    "handle",
    "handle_key",
    "status",
    "suspended_until",
    "email_confirmed_at",
    "invited_by_id",
    "invite_quota",
    "created_at",
)


@dataclass
class Ctx:
    poster: User
    victim: User
    bystander: User
    client: Any
    extra: dict[str, str]
    moderator: User
    mod_client: Any
    staff: User
    staff_client: Any


def _extra(victim: User, victim_diary: int) -> dict[str, str]:
    vid = str(victim.id)
    return {
        **dict.fromkeys(OWNER_COLUMNS, vid),
        "recipient_id": vid,
        "subject_id": vid,
        "accepted_by_id": vid,
        "invited_by_id": vid,
        "id": str(victim_diary),
        "diary_id": str(victim_diary),
        "object_id": str(victim_diary),
        "community_id": "1",
        "role": RoleCode.ADMIN.value,
        "roles": RoleCode.ADMIN.value,
        "is_admin": "1",
        "is_pinned": "1",
        "official": "y",
        "closed": "1",
        "pinned": "1",
        "anonymous": "1",
        "status": "suspended",
        "hidden_at": "2001-01-01T00:00:00",
        "deleted_at": "2001-01-01T00:00:00",
        "created_at": "2001-01-01T00:00:00",
        "email_confirmed_at": "2001-01-01T00:00:00",
        "suspended_until": "2001-01-01T00:00:00",
        "invite_quota": "9999",
        "results_published": "1",
        "kind": "comment",
    }


@pytest.fixture(scope="module")
def ctx(db_template: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    with module_app(db_template, tmp_path_factory.mktemp("massassign")) as app:
        make = Factories()
        poster = make.user(handle="ma_poster")
        victim = make.user(handle="ma_victim")
        bystander = make.user(handle="ma_bystander")
        make.friends(poster, victim)
        make.friends(poster, bystander)
        diary = make.diary(victim, title="victim's entry", visibility="public")
        make.comment(diary, victim, body="victim's comment")
        make.message(victim, poster, body="victim's message")
        moderator = make.user(handle="ma_moderator", role=RoleCode.MODERATOR)
        staff = make.user(handle="ma_staff", role=RoleCode.STAFF)
        yield Ctx(
            poster,
            victim,
            bystander,
            login(app, poster),
            _extra(victim, diary.id),
            moderator,
            login(app, moderator),
            staff,
            login(app, staff),
        )


def _table_rows(table: Table, where: Any = None) -> list[tuple[str, ...]]:
    stmt = select(table) if where is None else select(table).where(where)
    rows = db.session.execute(stmt).all()
    return sorted(tuple(map(repr, row)) for row in rows)


def guarded(victim_id: int) -> dict[str, Any]:
    """What no form of another member may change: roles, account columns, the victim's rows."""
    db.session.rollback()
    found: dict[str, Any] = {}
    for table in db.metadatas[None].sorted_tables:
        if table.name in VOLATILE_TABLES:
            continue
        if table.name == "user_roles":
            found[table.name] = _table_rows(table)
            continue
        if table.name == "users":
            cols = [table.c.id, *(table.c[name] for name in ACCOUNT_COLUMNS)]
            rows = db.session.execute(select(*cols)).all()
            found["users"] = sorted(tuple(map(repr, row)) for row in rows)
            found["victim"] = _table_rows(table, table.c.id == victim_id)
            continue
        owned = [table.c[name] for name in OWNER_COLUMNS if name in table.c]
        for column in owned:
            found[f"{table.name}.{column.name}"] = _table_rows(table, column == victim_id)
    db.session.rollback()
    return found


def _latest(model: Any) -> Any:
    db.session.rollback()
    return db.session.execute(select(model).order_by(model.id.desc()).limit(1)).scalar_one()


# --- the forms -------------------------------------------------------------------------------


def _new_diary(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import Diary

    data = {"title": "ma new", "body": "本文", "visibility": "friends", "body_format": "plain"}

    def check() -> None:
        row = _latest(Diary)
        assert (row.title, row.author_id, row.visibility) == ("ma new", c.poster.id, "friends")
        assert row.hidden_at is None and row.deleted_at is None
        assert row.created_at.year > 2001

    return "/diary/new", data, check


def _edit_own_diary(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import Diary

    own = Factories().diary(c.poster, title="ma own", visibility="members")
    data = {"title": "ma edited", "body": "本文", "visibility": "private", "body_format": "plain"}

    def check() -> None:
        db.session.rollback()
        row = db.session.get(Diary, own.id)
        assert (row.title, row.author_id, row.visibility) == ("ma edited", c.poster.id, "private")
        assert row.hidden_at is None and row.deleted_at is None
        assert row.created_at.year > 2001

    return f"/diary/{own.id}/edit", data, check


def _edit_victims_diary(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    """Visibility (and anything else) on another member's object: refused, nothing changes."""
    target = Factories().diary(c.victim, title="ma victim", visibility="public")
    data = {"title": "taken", "body": "本文", "visibility": "private", "body_format": "plain"}
    return f"/diary/{target.id}/edit", data, lambda: None


def _comment(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import Comment

    target = Factories().diary(c.bystander, title="ma for comments", visibility="public")

    def check() -> None:
        row = _latest(Comment)
        assert (row.body, row.author_id, row.diary_id) == ("ma comment", c.poster.id, target.id)
        assert row.hidden_at is None and row.deleted_at is None

    return f"/diary/{target.id}/comments", {"body": "ma comment"}, check


def _profile(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    def check() -> None:
        db.session.rollback()
        me = db.session.get(User, c.poster.id)
        assert me.display_name == "ma poster"
        assert {r.code for r in me.roles} == {RoleCode.MEMBER.value}

    return "/me/profile", {"display_name": "ma poster"}, check


def _settings(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.services import settings_for

    def check() -> None:
        db.session.rollback()
        assert settings_for(c.poster).friends_visibility == "private"

    return "/settings/sns", {"friends_visibility": "private"}, check


def _message(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import Message

    def check() -> None:
        row = _latest(Message)
        assert (row.body, row.sender_id, row.recipient_id) == (
            "ma message",
            c.poster.id,
            c.bystander.id,
        )

    return f"/messages/with/{c.bystander.handle}", {"body": "ma message"}, check


def _friend_request(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import FriendRequest

    stranger = Factories().user(handle="ma_stranger")

    def check() -> None:
        row = _latest(FriendRequest)
        assert (row.sender_id, row.recipient_id) == (c.poster.id, stranger.id)

    return f"/members/{stranger.handle}/friend-request", {"message": "よろしく"}, check


def _introduction(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import Introduction

    def check() -> None:
        row = _latest(Introduction)
        assert (row.author_id, row.subject_id, row.body) == (
            c.poster.id,
            c.bystander.id,
            "ma intro",
        )

    return f"/members/{c.bystander.handle}/introduction", {"body": "ma intro"}, check


def _report(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.sns.models import Report

    target = Factories().diary(c.bystander, title="ma reported", visibility="public")

    def check() -> None:
        row = _latest(Report)
        assert (row.reporter_id, row.kind, row.object_id) == (c.poster.id, "diary", target.id)
        assert row.status == "open"

    return f"/report/diary/{target.id}", {"reason": "spam", "details": "ma"}, check


def _invitation(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.auth.models import Invitation

    def check() -> None:
        row = _latest(Invitation)
        assert (row.email, row.inviter_id, row.role) == (
            "ma-invited@example.jp",
            c.poster.id,
            RoleCode.MEMBER.value,
        )

    return "/auth/invitations", {"email": "ma-invited@example.jp", "message": ""}, check


def _announcement(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    """Posted by a moderator (publishers only); the author is the moderator, not the victim."""
    from app.notices.models import Announcement

    def check() -> None:
        row = _latest(Announcement)
        assert (row.title, row.author_id, row.audience) == (
            "ma notice",
            c.moderator.id,
            "members",
        )
        assert row.withdrawn_at is None and row.pinned_until is None
        assert row.published_at.year > 2001

    data = {"title": "ma notice", "body": "お知らせ本文", "audience": "members"}
    return "/notices/new", data, check


def _survey(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    """Survey staff create a survey: no made-up key, author, or published results."""
    from app.survey.surveys_models import Survey

    def check() -> None:
        row = _latest(Survey)
        assert (row.title, row.created_by, row.results_published) == (
            "ma survey",
            c.staff.id,
            False,
        )
        assert row.key != "ma-hijack" and row.created_at.year > 2001

    data = {
        "title": "ma survey",
        "opens_at": "2030-01-01T09:00",
        "closes_at": "2030-02-01T09:00",
        "k": "5",
        "anonymity": "anonymous",
        "organiser": "city",
        "audience": "monitors",
        "key": "ma-hijack",
    }
    return "/staff/surveys/new", data, check


def _poster_community(c: Ctx) -> Any:
    from app.community import services

    found = services.create_community(c.poster, name="ma community", category="地域")
    db.session.commit()
    # Becoming the community's admin outside a request of theirs ended the poster's sessions
    # (A16): the client signs in again.
    response = c.client.post(
        "/auth/login", data={"email": c.poster.email, "password": Factories.PASSWORD}
    )
    assert response.status_code == 302
    return found


def _new_community(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    """No made-up admin, official mark, approval state or member count."""
    from app.community.models import Community

    data = {"name": "ma new community", "description": "説明", "category": "趣味", "kind": "open"}

    def check() -> None:
        row = _latest(Community)
        assert (row.name, row.admin_id, row.kind) == ("ma new community", c.poster.id, "open")
        assert not row.official and row.hidden_at is None and row.member_count == 1
        assert row.created_at.year > 2001

    return "/communities/new", data, check


def _new_topic(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.community.models import Topic

    community = _poster_community(c)
    data = {"title": "ma topic", "body": "本文"}

    def check() -> None:
        row = _latest(Topic)
        assert (row.title, row.author_id, row.community_id) == (
            "ma topic",
            c.poster.id,
            community.id,
        )
        assert not row.pinned and not row.closed and row.hidden_at is None
        assert row.deleted_at is None and row.created_at.year > 2001

    return f"/communities/{community.id}/topics/new", data, check


def _new_event(c: Ctx) -> tuple[str, dict[str, str], Callable[[], None]]:
    from app.community.models import Event

    community = _poster_community(c)
    data = {
        "title": "ma event",
        "starts_at": "2030-05-01T10:00",
        "place": "公民館",
        "capacity": "5",
    }

    def check() -> None:
        row = _latest(Event)
        assert (row.title, row.author_id, row.community_id, row.capacity) == (
            "ma event",
            c.poster.id,
            community.id,
            5,
        )
        assert row.participant_count == 0 and row.hidden_at is None
        assert row.deleted_at is None and row.created_at.year > 2001

    return f"/communities/{community.id}/events/new", data, check


# Forms posted by a moderator or survey staff (the rest by a plain member).
BY_MODERATOR = {"announcement"}
BY_STAFF = {"survey"}

# (name, setup) -> setup returns the path, the valid form data, and the check of its result.
FORMS: list[tuple[str, Callable[[Ctx], tuple[str, dict[str, str], Callable[[], None]]]]] = [
    ("announcement", _announcement),
    ("survey", _survey),
    ("new_diary", _new_diary),
    ("edit_own_diary", _edit_own_diary),
    ("edit_victims_diary", _edit_victims_diary),
    ("comment", _comment),
    ("profile", _profile),
    ("sns_settings", _settings),
    ("message", _message),
    ("friend_request", _friend_request),
    ("introduction", _introduction),
    ("report", _report),
    ("invitation", _invitation),
    ("new_community", _new_community),
    ("new_topic", _new_topic),
    ("new_event", _new_event),
]


@pytest.mark.parametrize(("name", "setup"), FORMS, ids=[name for name, _s in FORMS])
def test_extra_fields_on_a_valid_form_change_nothing_else(ctx: Ctx, name: str, setup: Any) -> None:
    path, data, check = setup(ctx)
    before = guarded(ctx.victim.id)
    client = ctx.mod_client if name in BY_MODERATOR else ctx.client
    client = ctx.staff_client if name in BY_STAFF else client
    response = client.post(path, data={**ctx.extra, **data})
    assert response.status_code in (302, 303, 400, 403, 422), (path, response.status_code)
    assert guarded(ctx.victim.id) == before, path
    check()


def test_registration_ignores_roles_and_status(ctx: Ctx) -> None:
    """An open registration form with role, status and confirmation fields made up."""
    from flask import current_app

    current_app.config["REGISTRATION_OPEN"] = True
    try:
        client = current_app.test_client()
        response = client.post(
            "/auth/register",
            data={
                **ctx.extra,
                "email": "ma-new@example.jp",
                "display_name": "新規 住民",
                "handle": "ma_new",
                "password": Factories.PASSWORD,
                "password_confirm": Factories.PASSWORD,
            },
        )
    finally:
        current_app.config["REGISTRATION_OPEN"] = False
    assert response.status_code in (200, 302), response.status_code
    db.session.rollback()
    user = db.session.execute(select(User).where(User.handle == "ma_new")).scalar_one()
    assert {r.code for r in user.roles} == {RoleCode.MEMBER.value}
    assert user.status == "active"
    assert user.email_confirmed_at is None
    assert user.invite_quota != 9999
    assert user.invited_by_id is None


SKIP = {
    "auth.logout",  # ends the poster's own session (it takes no fields)
    "auth.end_other_sessions",  # ends the poster's own other sessions
}


@pytest.mark.parametrize("poster", ["member", "moderator"])
def test_forged_extra_fields_alone_on_every_state_change(ctx: Ctx, poster: str) -> None:
    """Every non-GET endpoint, posted with EXTRA only: no 500 and nothing guarded changes."""
    from flask import current_app

    app = current_app
    client = ctx.mod_client if poster == "moderator" else ctx.client
    # Handle routes act on a member of their own, not on the victim.
    target = Factories().user(handle=f"ma_target_{poster}")
    posted = 0
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods or rule.endpoint in SKIP:
            continue
        policy = POLICIES.get(rule.endpoint)
        values: dict[str, Any] = dict(policy.fixed) if policy else {}
        for name in rule.arguments:
            values.setdefault(name, target.handle if name == "handle" else 2_000_000)
        path = app.url_map.bind("localhost").build(rule.endpoint, values)
        before = guarded(ctx.victim.id)
        response = client.post(path, data=ctx.extra)
        assert response.status_code < 500, (path, response.status_code)
        assert guarded(ctx.victim.id) == before, path
        posted += 1
    assert posted > 30
