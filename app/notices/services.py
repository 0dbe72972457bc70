"""Rules for announcements and site pages. No request, no current_user: callers pass the actor."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import selectinload

from app.auth.models import RoleCode, User
from app.db import utcnow
from app.extensions import db
from app.i18n import _
from app.notices.models import (
    AUDIENCES,
    Announcement,
    PageKind,
    SitePageVersion,
    TermsAcceptance,
)
from app.permissions import AnonymousViewer, Viewer, visible_to

JST = ZoneInfo("Asia/Tokyo")
TITLE_MAX = 200
BODY_MAX = 20000
NOTE_MAX = 500


class NoticeError(Exception):
    """A refused change; `message` is shown to the user, `field` names the form field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowedError(NoticeError):
    pass


def today_jst() -> dt.date:
    """Today's date in Japan: pins run until the end of their day there."""
    return utcnow().astimezone(JST).date()


# --- announcements ----------------------------------------------------------------------------


def may_publish(user: Viewer) -> bool:
    """Survey staff and moderators (and admins, who hold every role) publish announcements."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.has_role(RoleCode.STAFF) or user.has_role(RoleCode.MODERATOR))


def _clean(title: str, body: str, audience: str, pinned_until: dt.date | None) -> tuple[str, str]:
    title = " ".join((title or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    if not title:
        raise NoticeError(_("Please enter a title."), "title")
    if len(title) > TITLE_MAX:
        raise NoticeError(_("The title is too long."), "title")
    if not body:
        raise NoticeError(_("Please write the announcement."), "body")
    if len(body) > BODY_MAX:
        raise NoticeError(_("The announcement is too long."), "body")
    if audience not in {level.value for level in AUDIENCES}:
        raise NoticeError(_("Please choose who may read the announcement."), "audience")
    if pinned_until is not None and pinned_until < today_jst():
        raise NoticeError(_("The pin date is in the past."), "pinned_until")
    return title, body


def publish_announcement(
    author: User, *, title: str, body: str, audience: str, pinned_until: dt.date | None = None
) -> Announcement:
    """Publish a new announcement; NotAllowed unless staff or moderator, NoticeError on bad data."""
    if not may_publish(author):
        raise NotAllowedError(_("Only survey staff and moderators publish announcements."))
    title, body = _clean(title, body, audience, pinned_until)
    now = utcnow()
    item = Announcement(
        author_id=author.id,
        title=title,
        body=body,
        audience=audience,
        pinned_until=pinned_until,
        published_at=now,
        updated_at=now,
    )
    db.session.add(item)
    db.session.flush()  # the id is needed for the redirect
    return item


def edit_announcement(
    actor: User,
    item: Announcement,
    *,
    title: str,
    body: str,
    audience: str,
    pinned_until: dt.date | None,
) -> None:
    """Change an announcement. Any publisher may edit (staff and moderators work as one team)."""
    if not may_publish(actor):
        raise NotAllowedError(_("Only survey staff and moderators publish announcements."))
    if item.withdrawn_at is not None:
        raise NoticeError(_("This announcement was withdrawn."))
    # Keeping an already-passed pin unchanged is not an error; it simply no longer pins.
    unchanged_pin = pinned_until == item.pinned_until
    title, body = _clean(title, body, audience, None if unchanged_pin else pinned_until)
    item.title, item.body, item.audience = title, body, audience
    item.pinned_until = pinned_until
    item.updated_at = utcnow()


def withdraw_announcement(actor: User, item: Announcement) -> None:
    """Withdraw an announcement: gone from every page and the feed, kept for the record."""
    if not may_publish(actor):
        raise NotAllowedError(_("Only survey staff and moderators publish announcements."))
    if item.withdrawn_at is None:
        item.withdrawn_at = utcnow()
        item.updated_at = item.withdrawn_at


def _ordered(viewer: Viewer) -> object:
    pinned = case((Announcement.pinned_until >= today_jst(), 0), else_=1)
    stmt = select(Announcement).order_by(
        pinned, Announcement.published_at.desc(), Announcement.id.desc()
    )
    return visible_to(stmt, viewer)


def announcements_for(viewer: Viewer, *, limit: int = 20, offset: int = 0) -> list[Announcement]:
    """Announcements the viewer may read, pinned ones first, newest first (one query)."""
    stmt = _ordered(viewer).limit(limit).offset(offset)  # type: ignore[attr-defined]
    return list(db.session.execute(stmt).scalars())


def count_for(viewer: Viewer) -> int:
    stmt = visible_to(select(func.count(Announcement.id)), viewer, Announcement)
    return int(db.session.execute(stmt).scalar_one())


def public_feed(limit: int = 30) -> list[Announcement]:
    """Public announcements for the Atom feed, newest first: what a guest may read, nothing more."""
    stmt = visible_to(
        select(Announcement).order_by(Announcement.published_at.desc(), Announcement.id.desc()),
        AnonymousViewer(),
    ).limit(limit)
    return list(db.session.execute(stmt).scalars())


def all_announcements(limit: int = 200) -> list[Announcement]:
    """Every announcement, withdrawn ones too, for the publishers' list."""
    stmt = (
        select(Announcement)
        .options(selectinload(Announcement.author))
        .order_by(Announcement.published_at.desc(), Announcement.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


def is_pinned(item: Announcement) -> bool:
    return item.pinned_until is not None and item.pinned_until >= today_jst()


# --- site pages -------------------------------------------------------------------------------


def parse_kind(value: str) -> PageKind | None:
    try:
        return PageKind(value)
    except ValueError:
        return None


def current_page(kind: PageKind) -> SitePageVersion | None:
    """The newest version of a page, or None when none was written yet."""
    stmt = (
        select(SitePageVersion)
        .where(SitePageVersion.kind == kind.value)
        .order_by(SitePageVersion.version.desc())
        .limit(1)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def current_pages() -> dict[PageKind, SitePageVersion]:
    """The newest version of every page that has one (one query)."""
    newest = (
        select(SitePageVersion.kind, func.max(SitePageVersion.version).label("v"))
        .group_by(SitePageVersion.kind)
        .subquery()
    )
    stmt = select(SitePageVersion).join(
        newest, and_(SitePageVersion.kind == newest.c.kind, SitePageVersion.version == newest.c.v)
    )
    return {PageKind(row.kind): row for row in db.session.execute(stmt).scalars()}


def written_kinds() -> set[PageKind]:
    """The pages that have at least one version (one small query, for the footer)."""
    stmt = select(SitePageVersion.kind).distinct()
    return {PageKind(kind) for kind in db.session.execute(stmt).scalars()}


def page_versions(kind: PageKind) -> list[SitePageVersion]:
    """Every version of a page, newest first."""
    stmt = (
        select(SitePageVersion)
        .options(selectinload(SitePageVersion.author))
        .where(SitePageVersion.kind == kind.value)
        .order_by(SitePageVersion.version.desc())
    )
    return list(db.session.execute(stmt).scalars())


def page_version(kind: PageKind, number: int) -> SitePageVersion | None:
    stmt = select(SitePageVersion).where(
        SitePageVersion.kind == kind.value, SitePageVersion.version == number
    )
    return db.session.execute(stmt).scalar_one_or_none()


def save_page(
    actor: User | None, kind: PageKind, *, title: str, body: str, note: str = ""
) -> SitePageVersion:
    """Save a page as its next version (history is kept). Admins only; `actor` None is the CLI
    or the demo seed. NoticeError when nothing changed or the text is empty or too long."""
    if actor is not None and not actor.has_role(RoleCode.ADMIN):
        raise NotAllowedError(_("Only administrators edit the site pages."))
    title = " ".join((title or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    note = " ".join((note or "").split())
    if not title:
        raise NoticeError(_("Please enter a title."), "title")
    if len(title) > TITLE_MAX:
        raise NoticeError(_("The title is too long."), "title")
    if not body:
        raise NoticeError(_("Please write the page's text."), "body")
    if len(body) > BODY_MAX * 5:
        raise NoticeError(_("The text is too long."), "body")
    if len(note) > NOTE_MAX:
        raise NoticeError(_("The note is too long."), "note")
    current = current_page(kind)
    if current is not None and current.title == title and current.body == body:
        raise NoticeError(_("Nothing changed, so no new version was saved."))
    row = SitePageVersion(
        kind=kind.value,
        version=(current.version if current else 0) + 1,
        title=title,
        body=body,
        note=note,
        author_id=actor.id if actor else None,
    )
    db.session.add(row)
    db.session.flush()  # the id is needed to record the author's own acceptance of new terms
    return row


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove" or "same"
    text: str


def diff_lines(old: str, new: str) -> list[DiffLine]:
    """A line diff between two versions' texts (shown escaped)."""
    out: list[DiffLine] = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        tag, text = line[:2], line[2:]
        if tag == "+ ":
            out.append(DiffLine("add", text))
        elif tag == "- ":
            out.append(DiffLine("remove", text))
        elif tag == "  ":
            out.append(DiffLine("same", text))
    return out


def terms_to_accept(user: User) -> SitePageVersion | None:
    """The current terms when `user` has not accepted them yet, else None (one query)."""
    accepted = (
        select(TermsAcceptance.id)
        .where(
            TermsAcceptance.version_id == SitePageVersion.id,
            TermsAcceptance.user_id == user.id,
        )
        .exists()
    )
    stmt = (
        select(SitePageVersion, accepted)
        .where(SitePageVersion.kind == PageKind.TERMS.value)
        .order_by(SitePageVersion.version.desc())
        .limit(1)
    )
    row = db.session.execute(stmt).first()
    if row is None or row[1]:
        return None
    return row[0]


def accept_terms(user: User, version: SitePageVersion) -> TermsAcceptance:
    """Record that `user` accepted `version` of the terms now (idempotent)."""
    if version.kind != PageKind.TERMS.value:
        raise NoticeError(_("Only the terms of use are accepted."))
    existing = db.session.execute(
        select(TermsAcceptance).where(
            TermsAcceptance.user_id == user.id, TermsAcceptance.version_id == version.id
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    row = TermsAcceptance(user_id=user.id, version_id=version.id, accepted_at=utcnow())
    db.session.add(row)
    return row


def accept_current_terms(user: User) -> TermsAcceptance | None:
    """At registration: the new member accepts the terms shown on the form (if any exist)."""
    current = current_page(PageKind.TERMS)
    return accept_terms(user, current) if current is not None else None


def acceptances(user: User) -> list[TermsAcceptance]:
    stmt = (
        select(TermsAcceptance)
        .options(selectinload(TermsAcceptance.version))
        .where(TermsAcceptance.user_id == user.id)
        .order_by(TermsAcceptance.accepted_at.desc())
    )
    return list(db.session.execute(stmt).scalars())
