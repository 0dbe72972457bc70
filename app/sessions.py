"""Server-side sessions (security.md A15–A19).

Flask's default session is a signed cookie that cannot be revoked. Here the cookie carries only
a random 256-bit id; the data lives in the `web_sessions` table keyed by the SHA-256 of that id
(so a database reader cannot replay sessions). Logout deletes the row, so a replayed cookie is
anonymous. Ids change at login and at every privilege change (`rotate_session`). The server
enforces an idle timeout and an absolute lifetime.

Role changes (A16) are caught by comparison, not by each code path reporting them: a signed-in
session records a stamp of the roles its member held when the id was issued (every feature
table of roles registers a `role source`). A request whose member's roles have changed since
finds the session ended, whoever changed them and however (a community admin, a moderator, a
CLI command, SQL); the member logs in again. The request that changed its own member's roles
leaves with a new id carrying the new stamp, so the acting member stays signed in. This is
Django's session auth hash applied to roles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, g, has_request_context, session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    cast,
    delete,
    event,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from app.db import UTCDateTime, utcnow
from app.extensions import db

TOUCH_INTERVAL = dt.timedelta(seconds=60)
ROLE_STAMP_KEY = "_roles"

RoleSource = Callable[[int], "Select[*tuple[Any, ...]]"]
_role_sources: dict[str, RoleSource] = {}


_stamp_query: list[Any] = []  # the UNION of every source, built once (see `role_stamp`)


def register_role_source(name: str, source: RoleSource) -> None:
    """Declare a table of roles: `source(user_id)` selects the rows naming the roles the member
    holds (plain memberships that grant no power over others are left out). A change in these
    rows ends the member's sessions (A16)."""
    _role_sources[name] = source
    _stamp_query.clear()


def role_sources() -> dict[str, RoleSource]:
    return dict(_role_sources)


def _held(name: str, stmt: Select[*tuple[Any, ...]]) -> Select[str]:
    """One text per role row of a source: "name:value/value…"."""
    sub = stmt.subquery()
    text: ColumnElement[str] = literal(f"{name}:", String)
    for position, column in enumerate(sub.c):
        if position:
            text = text + "/"
        text = text + cast(column, String)
    return select(text.label("held"))


def role_stamp(conn: Connection, user_id: int) -> str:
    """A digest of every role the member holds now, from every registered source, read in one
    query (it runs on every signed-in request). The query is built once with the member as a
    bound parameter: building and compiling it per request cost more than running it."""
    if not _role_sources:
        return ""
    if not _stamp_query:
        member: Any = bindparam("role_stamp_user", type_=Integer)
        parts = [_held(name, source(member)) for name, source in sorted(_role_sources.items())]
        _stamp_query.append(union_all(*parts))
    rows = conn.execute(_stamp_query[0], {"role_stamp_user": user_id}).scalars()
    held = sorted(str(value) for value in rows)
    return hashlib.sha256("\n".join(held).encode()).hexdigest()[:32]


@event.listens_for(Engine, "commit")
def _note_commit(_conn: Connection) -> None:
    """A request that committed may have changed its own member's roles: `save_session` then
    compares the role stamp (one query) and rotates the id if it changed."""
    if has_request_context():
        g._sessions_committed = True


class WebSession(db.Model):  # type: ignore[name-defined]
    """One browser session. `id_hash` is SHA-256 of the cookie value, never the value itself."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[str] = mapped_column(Text, default="{}")
    remember: Mapped[bool] = mapped_column(default=False)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_web_sessions_expires_at", "expires_at"),)


def hash_sid(sid: str) -> str:
    """The stored key of a session id."""
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Session data plus bookkeeping: the row it came from and whether to rotate or drop it."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.rotate_requested = False
        self.remember = False
        self.created_at: dt.datetime | None = None
        self.last_seen_at: dt.datetime | None = None

    @property
    def permanent(self) -> bool:
        return self.remember

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self.remember = bool(value)


def rotate_session(*, remember: bool | None = None) -> None:
    """Give the current session a new id at the end of this request; the old id stops working.

    Call at login, JPKI step-up and any privilege change (A16).
    """
    current = session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, ServerSession):
        current.rotate_requested = True
        if remember is not None:
            current.remember = remember
        current.modified = True


def end_user_sessions(user_id: int, *, except_sid_hash: str | None = None) -> int:
    """Delete every session of a user (suspension, password change, "log out everywhere").

    Role changes need no call: the role stamp ends the member's sessions by itself."""
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if except_sid_hash:
        stmt = stmt.where(WebSession.id_hash != except_sid_hash)
    result = db.session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def current_sid_hash() -> str | None:
    """The stored key of this request's session, if it has one."""
    current = session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, ServerSession) and current.sid:
        return hash_sid(current.sid)
    return None


def purge_expired_sessions() -> int:
    """Delete sessions past their expiry (run from `flask sessions purge` or a timer)."""
    result = db.session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class DatabaseSessionInterface(SessionInterface):
    """Stores sessions in `web_sessions` through short transactions of their own."""

    def _lifetimes(self, app: Flask, remember: bool) -> tuple[dt.timedelta, dt.timedelta]:
        cfg = app.config
        if remember:
            return (
                dt.timedelta(days=cfg["SESSION_REMEMBER_IDLE_DAYS"]),
                dt.timedelta(days=cfg["SESSION_REMEMBER_ABSOLUTE_DAYS"]),
            )
        return (
            dt.timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
            dt.timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]),
        )

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 100:
            return ServerSession()
        key = hash_sid(sid)
        with db.engine.connect() as conn:
            row = conn.execute(
                select(
                    WebSession.data,
                    WebSession.remember,
                    WebSession.created_at,
                    WebSession.last_seen_at,
                    WebSession.expires_at,
                ).where(WebSession.id_hash == key)
            ).first()
            if row is None:
                return ServerSession()
            try:
                data = json.loads(row.data)
            except ValueError:
                data = {}
            if not isinstance(data, dict):
                data = {}
            user_id = _user_id(data)
            # The member's roles changed since this id was issued (or it predates the stamp).
            roles_changed = user_id is not None and data.get(ROLE_STAMP_KEY) != role_stamp(
                conn, user_id
            )
        now = utcnow()
        idle, absolute = self._lifetimes(app, bool(row.remember))
        created = _aware(row.created_at)
        last_seen = _aware(row.last_seen_at)
        if (
            roles_changed
            or now - last_seen > idle
            or now - created > absolute
            or _aware(row.expires_at) < now
        ):
            with db.engine.begin() as conn:
                conn.execute(delete(WebSession).where(WebSession.id_hash == key))
            return ServerSession()
        sess = ServerSession(data, sid=sid)
        sess.remember = bool(row.remember)
        sess.created_at = created
        sess.last_seen_at = last_seen
        return sess

    def save_session(self, app: Flask, sess: SessionMixin, response: Response) -> None:
        assert isinstance(sess, ServerSession)  # noqa: S101 - our own interface
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        # The request's own transaction is over by now: a view that succeeded committed, and
        # anything uncommitted is discarded at teardown anyway. Release its locks first.
        if db.session().in_transaction():
            db.session.rollback()
        now = utcnow()
        if not sess:
            if sess.sid:
                with db.engine.begin() as conn:
                    conn.execute(delete(WebSession).where(WebSession.id_hash == hash_sid(sess.sid)))
                response.delete_cookie(name, domain=domain, path=path)
            return
        idle, absolute = self._lifetimes(app, sess.remember)
        user_id = _user_id(sess)
        stamp = None
        if user_id is None:
            sess.pop(ROLE_STAMP_KEY, None)
        elif (
            sess.new
            or sess.rotate_requested
            or g.get("_sessions_committed")
            or ROLE_STAMP_KEY not in sess
        ):
            with db.engine.connect() as conn:
                stamp = role_stamp(conn, user_id)
            if sess.get(ROLE_STAMP_KEY) != stamp:
                # Signed in or roles changed during this request: a new id for the new roles.
                sess[ROLE_STAMP_KEY] = stamp
                sess.rotate_requested = True
        if sess.new or sess.rotate_requested:
            old = sess.sid
            sess.sid = secrets.token_urlsafe(32)
            created = now if sess.new or sess.created_at is None else sess.created_at
            if sess.rotate_requested:
                created = now
            with db.engine.begin() as conn:
                if old:
                    conn.execute(delete(WebSession).where(WebSession.id_hash == hash_sid(old)))
                conn.execute(
                    WebSession.__table__.insert().values(
                        id_hash=hash_sid(sess.sid),
                        user_id=user_id,
                        data=json.dumps(dict(sess)),
                        remember=sess.remember,
                        user_agent=(response_ua() or "")[:200],
                        created_at=created,
                        last_seen_at=now,
                        expires_at=created + absolute,
                    )
                )
            self._set_cookie(app, response, sess, now + idle if sess.remember else None)
            return
        assert sess.sid is not None  # noqa: S101
        if sess.modified:
            with db.engine.begin() as conn:
                conn.execute(
                    update(WebSession)
                    .where(WebSession.id_hash == hash_sid(sess.sid))
                    .values(data=json.dumps(dict(sess)), user_id=user_id, last_seen_at=now)
                )
        elif sess.last_seen_at is None or now - sess.last_seen_at > TOUCH_INTERVAL:
            with db.engine.begin() as conn:
                conn.execute(
                    update(WebSession)
                    .where(WebSession.id_hash == hash_sid(sess.sid))
                    .values(last_seen_at=now)
                )
            if sess.remember:
                self._set_cookie(app, response, sess, now + idle)

    def _set_cookie(
        self, app: Flask, response: Response, sess: ServerSession, expires: dt.datetime | None
    ) -> None:
        response.set_cookie(
            self.get_cookie_name(app),
            sess.sid or "",
            expires=expires,
            httponly=True,
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            samesite="Strict" if _admin_signed_in() else self.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")


def _admin_signed_in() -> bool:
    """An admin's cookie is SameSite=Strict: no cross-site navigation carries it (A19)."""
    from flask import g

    from app.auth.models import RoleCode

    user = g.get("_login_user")
    has_role = getattr(user, "has_role", None)
    return bool(getattr(user, "is_authenticated", False) and has_role and has_role(RoleCode.ADMIN))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _user_id(sess: ServerSession | dict[str, Any]) -> int | None:
    raw = sess.get("_user_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def response_ua() -> str:
    """A short description of the browser for the "my sessions" list."""
    from flask import request

    return request.headers.get("User-Agent", "")


def _site_roles(user_id: int) -> Select[str]:
    """Site roles (`user_roles`); every account holds `member`, which changes nothing."""
    from app.auth.models import Role, user_roles

    return (
        select(Role.code)
        .join(user_roles, user_roles.c.role_id == Role.id)
        .where(user_roles.c.user_id == user_id)
    )


register_role_source("site", _site_roles)
