"""Server-side sessions: rotation at login, logout kills the cookie, timeouts, my sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from app.db import utcnow
from app.extensions import db
from app.sessions import WebSession, hash_sid

PASSWORD = "correct horse battery staple"


def cookie(client, app):
    c = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return c.value if c else None


def session_rows():
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(WebSession)).scalar_one()


def test_guest_page_view_creates_no_session(client, app):
    client.get("/")
    assert cookie(client, app) is None
    assert session_rows() == 0


def csrf_token(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_login_rotates_session_id_and_old_id_dies(client, app, user):
    app.config["WTF_CSRF_ENABLED"] = True
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    before = cookie(client, app)
    assert before  # the login form's CSRF token lives in a server-side session
    response = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    after = cookie(client, app)
    assert after and after != before
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], before)
    assert replay.get("/auth/settings").status_code == 302  # the old id is anonymous


def test_session_cookie_flags(client, app, user):
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Expires" not in header  # a browser-session cookie unless "keep me logged in"


def test_session_id_is_not_stored_in_clear(client, app, user):
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    sid = cookie(client, app)
    assert len(sid) >= 40  # 256 bits, URL-safe
    db.session.rollback()
    keys = db.session.execute(select(WebSession.id_hash)).scalars().all()
    assert sid not in keys


def test_logout_deletes_row_and_replayed_cookie_is_anonymous(client, app, user):
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    sid = cookie(client, app)
    assert session_rows() == 1
    client.post("/auth/logout")
    db.session.rollback()
    rows = db.session.execute(select(WebSession.id_hash, WebSession.user_id)).all()
    assert hash_sid(sid) not in {r.id_hash for r in rows}
    assert all(r.user_id is None for r in rows)
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], sid)
    assert replay.get("/auth/settings").status_code == 302


def test_idle_timeout(client, app, user):
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert client.get("/auth/settings").status_code == 200
    db.session.execute(update(WebSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    db.session.commit()
    assert client.get("/auth/settings").status_code == 302
    assert session_rows() == 0


def test_absolute_lifetime(client, app, user):
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    db.session.execute(
        update(WebSession).values(created_at=utcnow() - dt.timedelta(hours=12, minutes=1))
    )
    db.session.commit()
    assert client.get("/auth/settings").status_code == 302


def test_remember_me_gives_persistent_cookie(client, app, user):
    response = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"}
    )
    assert "Expires" in response.headers["Set-Cookie"]
    db.session.execute(update(WebSession).values(last_seen_at=utcnow() - dt.timedelta(hours=2)))
    db.session.commit()
    assert client.get("/auth/settings").status_code == 200


def test_my_sessions_list_and_end_one_and_everywhere(app, client, user, login_as):
    phone = app.test_client()
    tablet = app.test_client()
    login_as(user, the_client=phone)
    login_as(user, the_client=tablet)
    login_as(user)
    page = client.get("/auth/sessions").get_data(as_text=True)
    assert page.count('class="card"') == 3
    import re

    handles = re.findall(r"/auth/sessions/([0-9a-f]+)/end", page)
    assert len(handles) == 2  # the current device has no "log out this device" button
    client.post(f"/auth/sessions/{handles[0]}/end")
    alive = [c.get("/auth/settings").status_code for c in (phone, tablet)]
    assert sorted(alive) == [200, 302]
    client.post("/auth/sessions/end-others")
    assert phone.get("/auth/settings").status_code == 302
    assert tablet.get("/auth/settings").status_code == 302
    assert client.get("/auth/settings").status_code == 200


def test_cannot_end_someone_elses_session(app, client, user, other_user, login_as):
    theirs = app.test_client()
    login_as(other_user, the_client=theirs)
    login_as(user)
    from app.auth.views import session_handle

    db.session.rollback()
    row = db.session.execute(
        select(WebSession).where(WebSession.user_id == other_user.id)
    ).scalar_one()
    assert client.post(f"/auth/sessions/{session_handle(row.id_hash)}/end").status_code == 404
    assert theirs.get("/auth/settings").status_code == 200


def test_suspension_ends_all_sessions(app, client, user, login_as):
    from app.auth.services import suspend_user

    login_as(user)
    suspend_user(user, utcnow() + dt.timedelta(days=7))
    db.session.commit()
    assert client.get("/auth/settings").status_code == 302
    assert session_rows() == 0


def test_expired_suspension_lets_member_back(client, user):
    from app.auth.services import suspend_user

    suspend_user(user, utcnow() - dt.timedelta(seconds=1))
    db.session.commit()
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_purge_expired_sessions_command(app, client, user):
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    db.session.execute(update(WebSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["sessions", "purge"])
    assert result.exit_code == 0
    assert '"deleted": 1' in result.output
