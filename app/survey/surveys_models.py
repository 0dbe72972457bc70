"""Survey tables: surveys and questions, invitations (requests), participation (who answered),
responses (what was answered), drafts and free-text review.

The double-envelope method (二重封筒方式): `survey_participations` is the envelope (who took
part, nothing about the answers); `survey_responses` is the contents (answers, coarse segment,
a random id and the date only). No column, timestamp or key joins the two. On SQLite the
responses table is `WITHOUT ROWID`, clustered on the random id, so its stored order does not
follow the order of submission.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime, utcnow
from app.extensions import db

QUESTION_TYPES = ("single", "multiple", "text", "number", "date", "scale", "matrix", "ranking")
ANONYMITY = ("anonymous", "named")
ORGANISERS = ("city", "npo")


class SurveyLocked(Exception):  # noqa: N818 - reads as a verdict
    """The survey has opened (or has answers): its questions and anonymity cannot change."""


class Survey(db.Model):  # type: ignore[name-defined]
    """A survey. `key` is its public name in URLs and the CLI."""

    __tablename__ = "survey_surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    organiser: Mapped[str] = mapped_column(String(10), default="city")
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    anonymity: Mapped[str] = mapped_column(String(10), default="anonymous")
    k: Mapped[int] = mapped_column(Integer, default=5)
    target_json: Mapped[str] = mapped_column(Text, default="{}")
    sample_size: Mapped[int | None] = mapped_column(Integer)
    sample_seed: Mapped[int | None] = mapped_column(Integer)
    thank_you: Mapped[str] = mapped_column(Text, default="")
    results_published: Mapped[bool] = mapped_column(Boolean, default=False)
    copied_from_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every submit: the results cache key, so new responses invalidate it.
    results_version: Mapped[int] = mapped_column(Integer, default=0)

    questions: Mapped[list[Question]] = relationship(
        back_populates="survey",
        cascade="all, delete-orphan",
        order_by="Question.position",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint("anonymity IN ('anonymous', 'named')", name="anonymity"),
        CheckConstraint("organiser IN ('city', 'npo')", name="organiser"),
        CheckConstraint("k >= 2", name="k_min"),
        CheckConstraint("closes_at > opens_at", name="period"),
    )

    @property
    def target(self) -> dict[str, Any]:
        data = json.loads(self.target_json or "{}")
        return data if isinstance(data, dict) else {}

    @target.setter
    def target(self, value: dict[str, Any]) -> None:
        self.target_json = json.dumps(value, ensure_ascii=False, sort_keys=True)

    def is_locked(self, now: dt.datetime | None = None) -> bool:
        """Locked once it has opened: someone could have answered."""
        return (now or utcnow()) >= self.opens_at

    def is_open(self, now: dt.datetime | None = None) -> bool:
        moment = now or utcnow()
        return self.opens_at <= moment < self.closes_at

    def is_closed(self, now: dt.datetime | None = None) -> bool:
        return (now or utcnow()) >= self.closes_at

    def state(self, now: dt.datetime | None = None) -> str:
        if self.is_closed(now):
            return "closed"
        if self.is_open(now):
            return "open"
        return "draft"

    def check_editable(self) -> None:
        """Raise SurveyLocked once the survey has opened."""
        if self.is_locked():
            raise SurveyLocked(self.key)


class Question(db.Model):  # type: ignore[name-defined]
    """One question. `options_json` holds the type's settings (choices, limits, rows…);
    `show_if_json` the branching rule {"question": key, "equals": value}."""

    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey_surveys.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    page: Mapped[int] = mapped_column(Integer, default=1)
    type: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(String(1000))
    help: Mapped[str] = mapped_column(String(1000), default="")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    options_json: Mapped[str] = mapped_column(Text, default="{}")
    show_if_json: Mapped[str] = mapped_column(Text, default="")

    survey: Mapped[Survey] = relationship(back_populates="questions")

    __table_args__ = (
        UniqueConstraint("survey_id", "key"),
        CheckConstraint(
            "type IN ('single', 'multiple', 'text', 'number', 'date', 'scale', 'matrix', "
            "'ranking')",
            name="type",
        ),
    )

    @property
    def options(self) -> dict[str, Any]:
        data = json.loads(self.options_json or "{}")
        return data if isinstance(data, dict) else {}

    @options.setter
    def options(self, value: dict[str, Any]) -> None:
        self.options_json = json.dumps(value, ensure_ascii=False, sort_keys=True)

    @property
    def show_if(self) -> dict[str, Any] | None:
        if not self.show_if_json:
            return None
        data = json.loads(self.show_if_json)
        return data if isinstance(data, dict) else None

    @show_if.setter
    def show_if(self, value: dict[str, Any] | None) -> None:
        self.show_if_json = json.dumps(value, ensure_ascii=False) if value else ""


class Invitation(db.Model):  # type: ignore[name-defined]
    """A targeted monitor of a survey (the sample) and the requests sent to them.

    `token` is the personal link. Says who was asked, never what anyone answered.
    """

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey_surveys.id", ondelete="CASCADE"), index=True
    )
    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("survey_monitors.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(43), unique=True)
    requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    send_error: Mapped[str] = mapped_column(String(40), default="")

    __table_args__ = (UniqueConstraint("survey_id", "monitor_id"),)


class RequestOptOut(db.Model):  # type: ignore[name-defined]
    """A monitor who unsubscribed from survey requests (one click from any request mail)."""

    __tablename__ = "survey_request_optouts"

    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("survey_monitors.id", ondelete="CASCADE"), primary_key=True
    )


class Participation(db.Model):  # type: ignore[name-defined]
    """The envelope: this person started / submitted this survey. Nothing about the answers
    and no time at all (A54): the unique (survey, monitor) and (survey, member) pairs settle
    "once only".

    The person is the monitor when the certificate maps to one; only a card that maps to no
    monitor answers as an opted-in SNS member (`member_id`). Exactly one of the two is set.

    `retry_box` makes a retried submit return its first result (security.md §4.2): the receipt
    code sealed with a key derived from the submitted form's draft token, which the server
    deletes with the draft, so the box cannot be opened without the respondent's page. Cleared
    by `flask survey scrub`.
    """

    __tablename__ = "survey_participations"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey_surveys.id", ondelete="CASCADE"), index=True
    )
    monitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_monitors.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default="started")  # started | submitted
    retry_box: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("survey_id", "monitor_id"),
        UniqueConstraint("survey_id", "member_id"),
        CheckConstraint("status IN ('started', 'submitted')", name="status"),
        CheckConstraint("(monitor_id IS NULL) <> (member_id IS NULL)", name="one_person"),
    )


class SnsOptIn(db.Model):  # type: ignore[name-defined]
    """An SNS member who wants to hear about surveys open to SNS members (banner and
    notification) and may answer them as a member. Set on the member's own settings page."""

    __tablename__ = "survey_sns_optins"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class SnsAnnouncement(db.Model):  # type: ignore[name-defined]
    """A survey announced to one opted-in member (one notification each; resumable). Says who
    was told, never who answered."""

    __tablename__ = "survey_sns_announcements"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey_surveys.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Draft(db.Model):  # type: ignore[name-defined]
    """Autosaved answers of a started participation; deleted at submit (same transaction).

    `token` is carried by every rendered page form: a form of another session, or an old form
    after submit, does not match.
    """

    __tablename__ = "survey_drafts"

    participation_id: Mapped[int] = mapped_column(
        ForeignKey("survey_participations.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(43), unique=True)
    answers_json: Mapped[str] = mapped_column(Text, default="{}")
    page: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Response(db.Model):  # type: ignore[name-defined]
    """The contents: answers and coarse segment, a random id, the day only. Never the monitor,
    the session, the IP or a precise time. `receipt_hash` lets the respondent confirm it was
    counted (SHA-256 of a code only they saw)."""

    __tablename__ = "survey_responses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey_surveys.id", ondelete="CASCADE"))
    answered_on: Mapped[dt.date] = mapped_column(Date)
    district: Mapped[str] = mapped_column(String(40), default="")
    sex: Mapped[str] = mapped_column(String(10), default="")
    age_band: Mapped[str] = mapped_column(String(10), default="")
    # Number and date answers {"q6": 3, "q9": "2026-01-05"}; choice-like answers are `codes`,
    # free texts `texts_json`.
    cells_json: Mapped[str] = mapped_column(Text, default="{}")
    texts_json: Mapped[str] = mapped_column(Text, default="{}")
    # One byte per choice-like slot (see questions.slots): what the results count from.
    codes: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        # Covering index for the one-pass results query: grouped by segment, no table lookups.
        Index("ix_survey_responses_segment", "survey_id", "district", "sex", "age_band", "codes"),
        {"sqlite_with_rowid": False},
    )


class NamedLink(db.Model):  # type: ignore[name-defined]
    """Named surveys only (stated to respondents before they start): whose response is whose."""

    __tablename__ = "survey_named_links"

    response_id: Mapped[str] = mapped_column(
        ForeignKey("survey_responses.id", ondelete="CASCADE"), primary_key=True
    )
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey_surveys.id", ondelete="CASCADE"), index=True
    )
    monitor_pseudonym: Mapped[str] = mapped_column(String(20))


class TextReview(db.Model):  # type: ignore[name-defined]
    """Staff decision on one free-text answer: published or withheld (default withheld)."""

    __tablename__ = "survey_text_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[str] = mapped_column(
        ForeignKey("survey_responses.id", ondelete="CASCADE"), index=True
    )
    question_key: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(10))  # published | withheld

    __table_args__ = (
        UniqueConstraint("response_id", "question_key"),
        CheckConstraint("decision IN ('published', 'withheld')", name="decision"),
    )
