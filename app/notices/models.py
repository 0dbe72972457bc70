"""Announcements (お知らせ) and versioned site pages (terms of use, privacy policy, guidelines).

An announcement's `audience` is a `Visibility` level (public or members), so the one
visibility module decides who sees it; a withdrawn announcement counts as deleted.
Site pages are append-only: every save is a new `SitePageVersion` row, the highest version of a
kind is the current one. `TermsAcceptance` records which version of the terms a member accepted.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import UTCDateTime, utcnow
from app.extensions import db
from app.i18n import _l
from app.permissions import Rule, Visibility, register_rule

AUDIENCES = (Visibility.PUBLIC, Visibility.MEMBERS)


class Announcement(db.Model):  # type: ignore[name-defined]
    """A notice from survey staff or moderators, shown on the home page and in the Atom feed.

    Pinned announcements (``pinned_until`` today or later, Japan's date) come first.
    """

    __tablename__ = "notice_announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(20), default=Visibility.PUBLIC.value)
    pinned_until: Mapped[dt.date | None] = mapped_column(Date)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship()

    __table_args__ = (
        CheckConstraint("audience IN ('public', 'members')", name="audience"),
        Index("ix_notice_announcements_published_at", "published_at"),
    )


register_rule(Announcement, Rule(owner="author_id", level="audience", deleted="withdrawn_at"))


class PageKind(enum.StrEnum):
    """The site pages admins edit; the value is also the public URL's last part."""

    TERMS = "terms"
    PRIVACY = "privacy"
    GUIDELINES = "guidelines"

    @property
    def label(self) -> str:
        return str(_PAGE_LABELS[self])


_PAGE_LABELS = {
    PageKind.TERMS: _l("Terms of use"),
    PageKind.PRIVACY: _l("Privacy policy"),
    PageKind.GUIDELINES: _l("Community guidelines"),
}


class SitePageVersion(db.Model):  # type: ignore[name-defined]
    """One saved version of a site page. Rows are never changed: a save adds the next version."""

    __tablename__ = "notice_site_page_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(500), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("kind", "version"),
        CheckConstraint("kind IN ('terms', 'privacy', 'guidelines')", name="kind"),
        CheckConstraint("version > 0", name="version_positive"),
    )


class TermsAcceptance(db.Model):  # type: ignore[name-defined]
    """A member accepted one version of the terms of use, at `accepted_at`."""

    __tablename__ = "notice_terms_acceptances"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(
        ForeignKey("notice_site_page_versions.id", ondelete="CASCADE"), index=True
    )
    accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[SitePageVersion] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "version_id"),)
