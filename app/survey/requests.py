"""Survey requests by email: one mail per targeted monitor through the outbox, addresses read
only through the vault purpose "survey_request", a personal link and a one-click unsubscribe.
Reminders go to those the participation table says have not answered (who, never what).

Sending is throttled (`batch` per run) and resumable: each invitation records when it was
requested/reminded, so a rerun continues where the last one stopped.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.mail.services import queue_template_mail
from app.privacy.vault import access
from app.survey.models import Monitor
from app.survey.surveys_models import Invitation, Participation, RequestOptOut, Survey

PURPOSE = "survey_request"


def _pending(survey: Survey, kind: str, batch: int) -> list[tuple[Invitation, Monitor]]:
    stmt = (
        select(Invitation, Monitor)
        .join(Monitor, Monitor.id == Invitation.monitor_id)
        .outerjoin(RequestOptOut, RequestOptOut.monitor_id == Invitation.monitor_id)
        .where(
            Invitation.survey_id == survey.id,
            RequestOptOut.monitor_id.is_(None),
            Monitor.status == "active",
        )
        .order_by(Invitation.id)
        .limit(batch)
    )
    if kind == "request":
        stmt = stmt.where(Invitation.requested_at.is_(None))
    else:
        answered = select(Participation.monitor_id).where(
            Participation.survey_id == survey.id,
            Participation.status == "submitted",
            Participation.monitor_id.is_not(None),  # NOT IN over a NULL would match nobody
        )
        stmt = stmt.where(
            Invitation.requested_at.is_not(None),
            Invitation.reminded_at.is_(None),
            Invitation.monitor_id.not_in(answered),
        )
    return [(row[0], row[1]) for row in db.session.execute(stmt).all()]


def send(survey: Survey, *, kind: str = "request", batch: int = 100, actor: str) -> dict[str, int]:
    """Queue up to `batch` request (or reminder) mails; return counts. Does not commit."""
    if kind not in ("request", "reminder"):
        raise ValueError(kind)
    rows = _pending(survey, kind, batch)
    if not rows:
        return {"queued": 0, "no_address": 0, "remaining": 0}
    views = {
        v.subject: v
        for v in access(
            PURPOSE,
            actor,
            [m.pseudonym for _i, m in rows],
            f"survey {kind}: {survey.key}",
            recipient="city",
        )
    }
    base = str(current_app.config["SERVER_BASE_URL"]).rstrip("/")
    queued = missing = 0
    now = utcnow()
    for invitation, monitor in rows:
        view = views.get(monitor.pseudonym)
        addresses = [a for a in ((view["email"], view["mobile_email"]) if view else ()) if a]
        if not addresses:
            invitation.send_error = "no_consent_or_address"
            missing += 1
        for address in dict.fromkeys(addresses):
            queue_template_mail(
                address,
                "survey_request",
                "ja",
                kind=f"survey_{kind}",
                survey=survey,
                reminder=kind == "reminder",
                link=f"{base}/monitors/r/{invitation.token}",
                unsubscribe=f"{base}/monitors/unsubscribe/{invitation.token}",
            )
            queued += 1
        if kind == "request":
            invitation.requested_at = now
        else:
            invitation.reminded_at = now
    db.session.flush()  # the marks above, so the count below excludes this batch
    remaining = len(_pending(survey, kind, 1_000_000))
    return {"queued": queued, "no_address": missing, "remaining": remaining}
