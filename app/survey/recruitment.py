"""SNS recruitment: members who opt in hear about open surveys whose target includes SNS
members — a banner on their pages and one notification per survey — and may answer them as
members (still after a JPKI card check, still once per person: see `answering.Respondent`).

The survey side learns only "this member opted in" and "this member was told about survey S";
never what anyone answered. Services never commit.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, session
from flask_login import current_user
from sqlalchemy import delete, exists, select

from app.auth.models import AccountStatus, User
from app.db import utcnow
from app.extensions import db
from app.i18n import _, _l
from app.survey.surveys_models import Participation, SnsAnnouncement, SnsOptIn, Survey

NOTIFICATION_KIND = "survey"
BANNER_LIMIT = 3
SESSION_OPT_IN = "survey_sns_opt_in"  # this session's member opted in (read at login)


def is_opted_in(user_id: int) -> bool:
    return db.session.get(SnsOptIn, user_id) is not None


def set_opt_in(user: User, wanted: bool) -> None:
    """Opt in to (or out of) survey announcements and answering as a member."""
    if wanted and not is_opted_in(user.id):
        db.session.add(SnsOptIn(user_id=user.id))
    elif not wanted:
        db.session.execute(delete(SnsOptIn).where(SnsOptIn.user_id == user.id))
    if has_request_context() and getattr(current_user, "id", None) == user.id:
        session[SESSION_OPT_IN] = wanted


def remember_choice(_sender: Any, user: Any, **_extra: Any) -> None:
    """At login: keep the member's choice in the session, so that the banner costs no query on
    the pages of the many members who did not opt in."""
    session[SESSION_OPT_IN] = is_opted_in(user.id)


def opted_in_here(user: Any) -> bool:
    """The choice kept in this session (read once for a session older than the login hook)."""
    if SESSION_OPT_IN not in session:
        session[SESSION_OPT_IN] = is_opted_in(user.id)
    return bool(session[SESSION_OPT_IN])


def recruiting(survey: Survey) -> bool:
    """An open survey whose target includes opted-in SNS members."""
    return survey.is_open() and bool(survey.target.get("sns_members"))


def banner_surveys(user: Any) -> list[Survey]:
    """Open surveys for SNS members that this opted-in member has not answered as a member
    (newest first, at most BANNER_LIMIT), in one query."""
    if not getattr(user, "is_authenticated", False):
        return []
    now = utcnow()
    answered = exists().where(
        Participation.survey_id == Survey.id,
        Participation.member_id == user.id,
        Participation.status == "submitted",
    )
    rows = db.session.execute(
        select(Survey)
        .join(SnsOptIn, SnsOptIn.user_id == user.id)
        .where(Survey.opens_at <= now, Survey.closes_at > now, ~answered)
        .order_by(Survey.opens_at.desc(), Survey.id.desc())
    ).scalars()
    return [s for s in rows if s.target.get("sns_members")][:BANNER_LIMIT]


def announce(survey: Survey, *, limit: int | None = None) -> int:
    """Notify every opted-in active member not yet told about this survey (once each; an
    interrupted run resumes). Returns the number notified; 0 unless the survey recruits."""
    from app.sns.services import notify

    if not recruiting(survey):
        return 0
    told = exists().where(
        SnsAnnouncement.survey_id == survey.id, SnsAnnouncement.user_id == User.id
    )
    stmt = (
        select(User)
        .join(SnsOptIn, SnsOptIn.user_id == User.id)
        .where(User.status == AccountStatus.ACTIVE.value, ~told)
        .order_by(User.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    count = 0
    for user in db.session.execute(stmt).scalars():
        db.session.add(SnsAnnouncement(survey_id=survey.id, user_id=user.id))
        notify(user, NOTIFICATION_KIND, None, survey.id)
        count += 1
    return count


def _note_path(object_id: int | None) -> str:
    survey = db.session.get(Survey, object_id) if object_id else None
    return f"/monitors/surveys/{survey.key}" if survey else "/monitors/surveys/"


def _note_visible(user: User, ids: set[int]) -> set[int]:
    """Notifications of surveys that still exist and have opened (drafts are never shown)."""
    now = utcnow()
    return set(
        db.session.execute(
            select(Survey.id).where(Survey.id.in_(ids), Survey.opens_at <= now)
        ).scalars()
    )


def register_notification() -> None:
    """The "survey" notification kind of the SNS (idempotent)."""
    from app.sns.services import ExtraNotificationKind, register_notification_kind

    register_notification_kind(
        ExtraNotificationKind(
            key=NOTIFICATION_KIND,
            label=_l("Surveys open to SNS members"),
            text=lambda _name: _("A survey open to SNS members has started. Your voice counts."),
            path=_note_path,
            visible=_note_visible,
        )
    )
