"""A role change gives the acting session a new id and ends the affected member's sessions
(A16): site roles and community admin/sub-admin roles, through every path that changes them."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, update
from sqlalchemy.sql.util import find_tables

from app.auth.models import RoleCode, role_by_code, user_roles
from app.community import services
from app.community.models import Community, CommunityMember
from app.extensions import db
from app.sessions import ROLE_STAMP_KEY, WebSession, hash_sid, role_sources


def sid(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def signed_in(app: Flask, session_id: str) -> bool:
    """Whether a browser presenting only this id is signed in; a dead id is sent to login."""
    browser = app.test_client()
    browser.set_cookie(app.config["SESSION_COOKIE_NAME"], session_id)
    response = browser.get("/auth/settings")
    if response.status_code == 302:
        assert "/auth/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def make_community(admin: Any, *members: Any) -> Community:
    """A community created outside any request (as the sample loader does)."""
    com = services.create_community(admin, name="北町の会", category="地域", kind="open")
    for member in members:
        services._insert_member(com, member, "member")
    db.session.commit()
    return com


def role_in(com: Community, user: Any) -> str | None:
    db.session.rollback()
    row = db.session.get(CommunityMember, (com.id, user.id), populate_existing=True)
    return row.role if row else None


def test_creating_a_community_gives_the_creator_a_new_session_id(app, user, login_as):
    client = login_as(user)
    before = sid(client, app)
    response = client.post(
        "/communities/new",
        data={"name": "北町 清掃の会", "description": "", "category": "地域", "kind": "open"},
    )
    assert response.status_code == 302
    after = sid(client, app)
    assert after != before
    assert not signed_in(app, before)
    assert signed_in(app, after)


def test_joining_and_leaving_as_a_plain_member_keeps_the_session(app, user, other_user, login_as):
    com = make_community(user)
    client = login_as(other_user)
    before = sid(client, app)
    assert client.post(f"/communities/{com.id}/join").status_code == 302
    assert role_in(com, other_user) == "member"
    assert client.post(f"/communities/{com.id}/leave").status_code == 302
    assert role_in(com, other_user) is None
    assert sid(client, app) == before
    assert signed_in(app, before)


def test_appointing_and_demoting_a_sub_admin_ends_the_members_sessions(
    app, user, other_user, login_as
):
    com = make_community(user, other_user)
    admin = login_as(user)
    admin_sid = sid(admin, app)
    phone = login_as(other_user, the_client=app.test_client())
    laptop = login_as(other_user, the_client=app.test_client())
    old = [sid(phone, app), sid(laptop, app)]
    url = f"/communities/{com.id}/members/{other_user.handle}/role"
    assert admin.post(url, data={"role": "subadmin"}).status_code == 302
    assert role_in(com, other_user) == "subadmin"
    assert [signed_in(app, s) for s in old] == [False, False]
    assert sid(admin, app) == admin_sid  # the admin's own roles did not change
    assert signed_in(app, admin_sid)
    again = login_as(other_user, the_client=app.test_client())  # signed out: log in again
    assert signed_in(app, sid(again, app))
    assert admin.post(url, data={"role": "member"}).status_code == 302
    assert role_in(com, other_user) == "member"
    assert not signed_in(app, sid(again, app))


def test_handing_over_a_community_rotates_the_giver_and_ends_the_receivers_sessions(
    app, user, other_user, login_as
):
    com = make_community(user, other_user)
    giver = login_as(user)
    giver_before = sid(giver, app)
    receiver = login_as(other_user, the_client=app.test_client())
    receiver_before = sid(receiver, app)
    response = giver.post(
        f"/communities/{com.id}/transfer", data={"transfer-handle": other_user.handle}
    )
    assert response.status_code == 302
    assert (role_in(com, user), role_in(com, other_user)) == ("subadmin", "admin")
    giver_after = sid(giver, app)
    assert giver_after != giver_before
    assert not signed_in(app, giver_before)
    assert signed_in(app, giver_after)
    assert not signed_in(app, receiver_before)


def test_removing_a_sub_admin_ends_their_sessions_but_not_a_plain_member_s(
    app, make, user, other_user, login_as
):
    plain = make.user()
    com = make_community(user, other_user, plain)
    services.set_role(user, com, other_user, "subadmin")
    db.session.commit()
    admin = login_as(user)
    sub_sid = sid(login_as(other_user, the_client=app.test_client()), app)
    plain_sid = sid(login_as(plain, the_client=app.test_client()), app)
    base = f"/communities/{com.id}/members"
    assert admin.post(f"{base}/{other_user.handle}/remove").status_code == 302
    assert admin.post(f"{base}/{plain.handle}/ban").status_code == 302
    assert role_in(com, other_user) is None and role_in(com, plain) is None
    assert not signed_in(app, sub_sid)
    assert signed_in(app, plain_sid)  # losing a plain membership is no role change


def test_a_moderator_appointing_an_admin_ends_both_admins_sessions(
    app, make, user, other_user, login_as
):
    moderator = make.user(role=RoleCode.MODERATOR)
    com = make_community(user, other_user)
    mod = login_as(moderator)
    mod_sid = sid(mod, app)
    old_admin = sid(login_as(user, the_client=app.test_client()), app)
    new_admin = sid(login_as(other_user, the_client=app.test_client()), app)
    response = mod.post(
        f"/moderation/communities/{com.id}/edit",
        data={"kind": "open", "admin_handle": other_user.handle, "reason": "相談により"},
    )
    assert response.status_code == 302
    assert (role_in(com, user), role_in(com, other_user)) == ("subadmin", "admin")
    assert not signed_in(app, old_admin)
    assert not signed_in(app, new_admin)
    assert sid(mod, app) == mod_sid
    assert signed_in(app, mod_sid)


def test_granting_or_removing_a_site_role_ends_the_members_sessions(app, user, login_as):
    client = login_as(user)
    before = sid(client, app)
    assert client.get("/moderation/communities").status_code == 404
    # No page grants site roles; an operator's tool or a future admin page would do this.
    user.roles.append(role_by_code(RoleCode.MODERATOR))
    db.session.commit()
    assert not signed_in(app, before)
    client = login_as(user, the_client=app.test_client())
    assert client.get("/moderation/communities").status_code == 200
    promoted = sid(client, app)
    moderator = role_by_code(RoleCode.MODERATOR)
    db.session.execute(  # plain SQL, as a database console would
        delete(user_roles).where(
            user_roles.c.user_id == user.id, user_roles.c.role_id == moderator.id
        )
    )
    db.session.commit()
    assert not signed_in(app, promoted)
    client = login_as(user, the_client=app.test_client())
    assert client.get("/moderation/communities").status_code == 404


def test_a_signed_in_session_without_a_role_stamp_is_ended(app, user, login_as):
    session_id = sid(login_as(user), app)
    db.session.rollback()
    row = db.session.get(WebSession, hash_sid(session_id))
    data = json.loads(row.data)
    assert ROLE_STAMP_KEY in data
    del data[ROLE_STAMP_KEY]
    db.session.execute(
        update(WebSession)
        .where(WebSession.id_hash == hash_sid(session_id))
        .values(data=json.dumps(data))
    )
    db.session.commit()
    assert not signed_in(app, session_id)


# Tables with a role column that hold no role a member has now.
NOT_HELD_ROLES = {"invitations": "the role an invitation will grant once accepted"}


def test_every_table_of_roles_is_a_role_source(app):
    """A new table of roles must register a source, or its changes would keep sessions alive."""
    covered = {
        table.name
        for source in role_sources().values()
        for table in find_tables(source(0), include_joins=True)
    }
    with_roles = {
        table.name
        for table in db.metadata.sorted_tables
        if {"role", "role_id"} & set(table.columns.keys()) or "role" in table.name
    }
    assert with_roles - set(NOT_HELD_ROLES) <= covered, with_roles - covered
    assert {"user_roles", "community_members"} <= covered
