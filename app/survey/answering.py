"""Answering services: eligibility, participation, drafts, the once-only submit and receipts.

Order enforced here, not in the browser (A62): the participation row is created after consent
by a JPKI-verified monitor; pages autosave into a draft keyed to that participation; submit
checks the period, the step-up, every answer, then flips the participation to "submitted" with a
conditional UPDATE (the database settles races, A63) and writes the unlinkable response in the
same transaction, deleting the draft. Services never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db import utcnow
from app.extensions import db
from app.i18n import _
from app.survey.models import Monitor
from app.survey.questions import clean_answers, scalar_cells, to_cells, to_codes
from app.survey.surveys_models import Draft, NamedLink, Participation, Response, Survey
from app.survey.targeting import band_name, is_targeted

JST = ZoneInfo("Asia/Tokyo")
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class AnswerError(Exception):
    """The answer cannot be taken; `code` is stable, `message` for the resident."""

    code = "refused"

    def __init__(self, message: str = "", errors: dict[str, str] | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.errors = errors or {}


class AlreadyAnswered(AnswerError):  # noqa: N818 - reads as a verdict
    code = "already_answered"


class SurveyNotOpen(AnswerError):  # noqa: N818 - reads as a verdict
    code = "not_open"


class NotEligible(AnswerError):  # noqa: N818 - reads as a verdict
    code = "not_eligible"


class StepUpRequired(AnswerError):  # noqa: N818 - reads as a verdict
    code = "step_up"


class AnswersInvalid(AnswerError):  # noqa: N818 - reads as a verdict
    code = "invalid"


class DraftMismatch(AnswerError):  # noqa: N818 - reads as a verdict
    code = "draft_mismatch"


def survey_by_key(key: str) -> Survey | None:
    return db.session.execute(select(Survey).where(Survey.key == key)).scalar_one_or_none()


def check_open(survey: Survey, now: dt.datetime | None = None) -> None:
    if survey.is_closed(now):
        raise SurveyNotOpen(_("This survey closed and no longer takes answers."))
    if not survey.is_open(now):
        raise SurveyNotOpen(_("This survey has not opened yet."))


def check_eligible(survey: Survey, monitor: Monitor | None) -> Monitor:
    """Raise StepUpRequired without a fresh JPKI monitor, NotEligible outside the target."""
    if monitor is None:
        raise StepUpRequired(_("Please log in with your My Number Card first."))
    if not is_targeted(survey, monitor):
        raise NotEligible(_("This survey is for other residents, so you cannot answer it."))
    return monitor


def participation_for(survey: Survey, monitor: Monitor) -> Participation | None:
    return db.session.execute(
        select(Participation).where(
            Participation.survey_id == survey.id, Participation.monitor_id == monitor.id
        )
    ).scalar_one_or_none()


def _insert_participation(survey_id: int, monitor_id: int) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a second participation for the pair is impossible."""
    dialect = db.session.get_bind(mapper=Participation.__mapper__).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Participation)
        .values(survey_id=survey_id, monitor_id=monitor_id, status="started")
        .on_conflict_do_nothing(index_elements=["survey_id", "monitor_id"])
    )
    db.session.execute(stmt)


def start(survey: Survey, monitor: Monitor | None, *, consented: bool) -> Draft:
    """After consent: the participation (once) and its draft. Raise AnswerError subclasses."""
    check_open(survey)
    monitor = check_eligible(survey, monitor)
    if not consented:
        raise AnswersInvalid(_("Please confirm that you have read how your answers are handled."))
    _insert_participation(survey.id, monitor.id)
    row = participation_for(survey, monitor)
    if row is None or row.status != "started":
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    draft = db.session.get(Draft, row.id)
    if draft is None:
        draft = Draft(participation_id=row.id, token=secrets.token_urlsafe(32), answers_json="{}")
        db.session.add(draft)
    return draft


def draft_for(survey: Survey, monitor: Monitor | None, token: str | None = None) -> Draft:
    """This monitor's draft; raise when there is none (answered / not started) or when `token`
    (carried by the form) names another draft."""
    monitor = check_eligible(survey, monitor)
    row = participation_for(survey, monitor)
    if row is not None and row.status == "submitted":
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    draft = db.session.get(Draft, row.id) if row is not None else None
    if draft is None:
        raise DraftMismatch(_("Please start the survey from its first page."))
    if token is not None and not secrets.compare_digest(str(token), draft.token):
        raise DraftMismatch(
            _("This form is out of date or belongs to another session. Please reload the page.")
        )
    return draft


def draft_answers(draft: Draft) -> dict[str, Any]:
    data = json.loads(draft.answers_json or "{}")
    return data if isinstance(data, dict) else {}


def save_page(survey: Survey, draft: Draft, page: int, raw: dict[str, Any]) -> dict[str, str]:
    """Autosave one page into the draft; return errors by question key (empty when valid).

    Answers on the page replace earlier ones; answers that the page's branching now hides are
    dropped. Nothing is saved when there are errors.
    """
    check_open(survey)
    answers = draft_answers(draft)
    page_keys = {q.key for q in survey.questions if q.page == page}
    for key in list(answers):
        if key.split("__", 1)[0] in page_keys:
            answers.pop(key)
    merged = {**answers, **raw}
    cleaned, errors = clean_answers(list(survey.questions), merged, partial=True)
    page_errors = {k: v for k, v in errors.items() if k in page_keys or k == "_form"}
    missing = {
        q.key: _("Please answer this question.")
        for q in _visible(survey, cleaned)
        if q.page == page and q.required and q.key not in cleaned
    }
    if any(key.split("__", 1)[0] not in page_keys for key in raw):
        page_errors["_form"] = _("The form contains answers to questions that do not exist.")
    page_errors = {**missing, **page_errors}
    if page_errors:
        return page_errors
    draft.answers_json = json.dumps(cleaned, ensure_ascii=False)
    draft.page = page
    draft.updated_at = utcnow()
    return {}


def _visible(survey: Survey, answers: dict[str, Any]) -> list[Any]:
    from app.survey.questions import visible_questions

    return visible_questions(survey.questions, answers)


def new_receipt() -> str:
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def receipt_hash(survey: Survey, code: str) -> str:
    normal = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{survey.id}|{normal}".encode()).hexdigest()


def submit(
    survey: Survey,
    monitor: Monitor | None,
    raw: dict[str, Any],
    *,
    draft_token: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Record one monitor's answers once; return the receipt code (shown once, kept nowhere).

    Raises SurveyNotOpen, StepUpRequired, NotEligible, DraftMismatch, AnswersInvalid or
    AlreadyAnswered. Nothing is stored unless everything holds.
    """
    moment = now or utcnow()
    if not db.session().in_transaction():
        # A write: on SQLite take the write lock first (BEGIN IMMEDIATE), so concurrent
        # submits queue instead of failing when a read transaction tries to upgrade.
        db.session.connection(
            bind_arguments={"mapper": Participation.__mapper__},
            execution_options={"sqlite_begin": "immediate"},
        )
    check_open(survey, moment)
    monitor = check_eligible(survey, monitor)
    if draft_token is not None:
        draft_for(survey, monitor, draft_token)
    answers, errors = clean_answers(list(survey.questions), raw)
    if errors:
        raise AnswersInvalid(_("Some answers need attention."), errors)
    if not answers:
        raise AnswersInvalid(_("Please answer at least one question."))
    _insert_participation(survey.id, monitor.id)
    flipped = db.session.execute(
        update(Participation)
        .where(
            Participation.survey_id == survey.id,
            Participation.monitor_id == monitor.id,
            Participation.status == "started",
        )
        .values(status="submitted")
        .execution_options(synchronize_session=False)
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    participation_id = db.session.execute(
        select(Participation.id).where(
            Participation.survey_id == survey.id, Participation.monitor_id == monitor.id
        )
    ).scalar_one()
    db.session.execute(delete(Draft).where(Draft.participation_id == participation_id))
    cells, texts = to_cells(survey.questions, answers)
    code = new_receipt()
    response = Response(
        id=secrets.token_hex(16),
        survey_id=survey.id,
        answered_on=moment.astimezone(JST).date(),
        district=monitor.district or "",
        sex=monitor.sex or "",
        age_band=band_name(monitor.age_band),
        cells_json=json.dumps(scalar_cells(survey.questions, cells), ensure_ascii=False),
        texts_json=json.dumps(texts, ensure_ascii=False, sort_keys=True),
        codes=to_codes(survey.questions, cells),
        receipt_hash=receipt_hash(survey, code),
    )
    db.session.add(response)
    if survey.anonymity == "named":
        db.session.flush()  # the link refers to the response row
        db.session.add(
            NamedLink(
                response_id=response.id, survey_id=survey.id, monitor_pseudonym=monitor.pseudonym
            )
        )
    return code


def add_synthetic(
    survey: Survey, rows: list[tuple[dict[str, str], dict[str, Any]]], *, day: dt.date
) -> int:
    """Bulk-insert synthetic responses (demo and benchmark data): (segment, answers) pairs,
    validated like real ones, with no participation. Returns the count."""
    questions = list(survey.questions)
    values = []
    for segment, raw in rows:
        answers, errors = clean_answers(questions, raw)
        if errors:
            raise AnswersInvalid("; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
        cells, texts = to_cells(questions, answers)
        values.append(
            {
                "id": secrets.token_hex(16),
                "survey_id": survey.id,
                "answered_on": day,
                "district": segment.get("district", ""),
                "sex": segment.get("sex", ""),
                "age_band": segment.get("age_band", ""),
                "cells_json": json.dumps(scalar_cells(questions, cells), ensure_ascii=False),
                "texts_json": json.dumps(texts, ensure_ascii=False, sort_keys=True),
                "codes": to_codes(questions, cells),
                "receipt_hash": secrets.token_hex(32),
            }
        )
    for start_at in range(0, len(values), 2000):
        db.session.execute(Response.__table__.insert(), values[start_at : start_at + 2000])
    return len(values)


def receipt_counted(survey: Survey, code: str) -> dt.date | None:
    """The day a response with this receipt was counted, or None. Reveals no answer."""
    if not code or len(code) > 40:
        return None
    return db.session.execute(
        select(Response.answered_on).where(
            Response.survey_id == survey.id, Response.receipt_hash == receipt_hash(survey, code)
        )
    ).scalar_one_or_none()
