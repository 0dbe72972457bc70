"""Answering services: eligibility, participation, drafts, the once-only submit and receipts.

Order enforced here, not in the browser (A62): the participation row is created after consent
by a JPKI-verified respondent (a monitor, or an opted-in SNS member whose card maps to no
monitor, for surveys open to SNS members); pages autosave into a draft keyed to that
participation; submit checks the period, the step-up, every answer, then flips the
participation to "submitted" with a conditional UPDATE (the database settles races, A63) and
writes the unlinkable response in the same transaction, deleting the draft. A retried submit
of the same form (same draft token) returns the first receipt (security.md §4.2). Services
never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
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


@dataclass(frozen=True)
class Respondent:
    """Who answers, as proven by this session's JPKI certificate.

    `monitor`: the monitor bound to the certificate, if any — then the monitor is the person
    and guards "once only", however they answer. `member_id`: the SNS member the certificate
    is bound to, if any; `member_opted_in` when that member is the one logged in and has opted
    in to surveys (then they may answer surveys open to SNS members). A monitor whose card is
    also bound to a member cannot answer again after answering as that member.
    """

    monitor: Monitor | None = None
    member_id: int | None = None
    member_opted_in: bool = False

    @property
    def guard(self) -> tuple[str, int]:
        """The participation column and value that stand for this person."""
        if self.monitor is not None:
            return "monitor_id", self.monitor.id
        assert self.member_id is not None  # noqa: S101 - the constructor below ensures it
        return "member_id", self.member_id


Who = Monitor | Respondent | None


def as_respondent(who: Who) -> Respondent | None:
    if who is None or isinstance(who, Respondent):
        if who is not None and who.monitor is None and who.member_id is None:
            return None
        return who
    return Respondent(monitor=who)


def sns_open(survey: Survey) -> bool:
    """Whether opted-in SNS members are in the survey's target."""
    return bool(survey.target.get("sns_members"))


def monitors_targeted(survey: Survey) -> bool:
    """Whether monitors are in the target (all but SNS-only surveys)."""
    return survey.target.get("monitors", True) is not False


def check_eligible(survey: Survey, who: Who) -> Respondent:
    """Raise StepUpRequired without a fresh JPKI respondent, NotEligible outside the target."""
    respondent = as_respondent(who)
    if respondent is None:
        raise StepUpRequired(_("Please log in with your My Number Card first."))
    monitor = respondent.monitor
    if monitor is not None and monitors_targeted(survey) and is_targeted(survey, monitor):
        return respondent
    if sns_open(survey) and respondent.member_opted_in:
        return respondent
    if monitor is None and sns_open(survey):
        raise NotEligible(
            _(
                "This survey is open to SNS members who chose to hear about surveys in their "
                "settings. Please choose it there, then come back."
            )
        )
    raise NotEligible(_("This survey is for other residents, so you cannot answer it."))


def _guard_clause(survey: Survey, respondent: Respondent) -> Any:
    column, value = respondent.guard
    return (Participation.survey_id == survey.id) & (getattr(Participation, column) == value)


def participation_for(survey: Survey, who: Who) -> Participation | None:
    respondent = as_respondent(who)
    if respondent is None:
        return None
    return db.session.execute(
        select(Participation).where(_guard_clause(survey, respondent))
    ).scalar_one_or_none()


def _answered_as_member(survey: Survey, respondent: Respondent) -> bool:
    """A monitor whose card is also bound to an SNS member who already answered as such."""
    if respondent.monitor is None or respondent.member_id is None:
        return False
    return (
        db.session.execute(
            select(Participation.id).where(
                Participation.survey_id == survey.id,
                Participation.member_id == respondent.member_id,
                Participation.status == "submitted",
            )
        ).first()
        is not None
    )


def _insert_participation(survey_id: int, respondent: Respondent) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a second participation for the person is impossible."""
    column, value = respondent.guard
    dialect = db.session.get_bind(mapper=Participation.__mapper__).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Participation)
        .values(survey_id=survey_id, status="started", **{column: value})
        .on_conflict_do_nothing(index_elements=["survey_id", column])
    )
    db.session.execute(stmt)


def start(survey: Survey, who: Who, *, consented: bool) -> Draft:
    """After consent: the participation (once) and its draft. Raise AnswerError subclasses."""
    check_open(survey)
    respondent = check_eligible(survey, who)
    if not consented:
        raise AnswersInvalid(_("Please confirm that you have read how your answers are handled."))
    if _answered_as_member(survey, respondent):
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    _insert_participation(survey.id, respondent)
    row = participation_for(survey, respondent)
    if row is None or row.status != "started":
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    draft = db.session.get(Draft, row.id)
    if draft is None:
        draft = Draft(participation_id=row.id, token=secrets.token_urlsafe(32), answers_json="{}")
        db.session.add(draft)
    return draft


def draft_for(survey: Survey, who: Who, token: str | None = None) -> Draft:
    """This respondent's draft; raise when there is none (answered / not started) or when
    `token` (carried by the form) names another draft."""
    respondent = check_eligible(survey, who)
    row = participation_for(survey, respondent)
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


def _retry_key(survey: Survey, participation_id: int, draft_token: str) -> bytes:
    """The key of a participation's retry box: from the draft token (which only the
    respondent's page keeps after submit) and the app secret."""
    salt = hashlib.sha256(
        b"sankaku-survey-retry\x00" + str(current_app.config["SECRET_KEY"]).encode()
    ).digest()
    info = f"survey-retry|{survey.id}|{participation_id}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(
        draft_token.encode()
    )


def seal_receipt(survey: Survey, participation_id: int, draft_token: str, code: str) -> bytes:
    nonce = secrets.token_bytes(12)
    box = AESGCM(_retry_key(survey, participation_id, draft_token))
    return nonce + box.encrypt(nonce, code.encode(), f"{survey.id}|{participation_id}".encode())


def first_receipt(survey: Survey, who: Who, draft_token: str | None) -> str | None:
    """The receipt of this respondent's first submit when `draft_token` is that submit's form
    token (a retry); None otherwise (another form, another person, or after the scrub)."""
    respondent = as_respondent(who)
    if respondent is None or not draft_token or len(draft_token) > 100:
        return None
    row = participation_for(survey, respondent)
    if row is None or row.status != "submitted" or not row.retry_box:
        return None
    box = bytes(row.retry_box)
    try:
        plain = AESGCM(_retry_key(survey, row.id, draft_token)).decrypt(
            box[:12], box[12:], f"{survey.id}|{row.id}".encode()
        )
    except (InvalidTag, ValueError):
        return None
    return plain.decode()


def submit(
    survey: Survey,
    who: Who,
    raw: dict[str, Any],
    *,
    draft_token: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Record one respondent's answers once; return the receipt code.

    A retry of the same form (same `draft_token`) after the first submit committed returns the
    first receipt and stores nothing. Raises SurveyNotOpen, StepUpRequired, NotEligible,
    DraftMismatch, AnswersInvalid or AlreadyAnswered. Nothing is stored unless everything holds.
    """
    try:
        return _submit(survey, who, raw, draft_token, now)
    except (AlreadyAnswered, DraftMismatch):
        # DraftMismatch too: a retry racing the first submit can find the participation still
        # "started" and then its draft already deleted.
        first = first_receipt(survey, who, draft_token) if draft_token else None
        if first is None:
            raise
        return first  # a retry of the submitted form: its first result, nothing stored


def _submit(
    survey: Survey,
    who: Who,
    raw: dict[str, Any],
    draft_token: str | None,
    now: dt.datetime | None,
) -> str:
    moment = now or utcnow()
    if not db.session().in_transaction():
        # A write: on SQLite take the write lock first (BEGIN IMMEDIATE), so concurrent
        # submits queue instead of failing when a read transaction tries to upgrade.
        db.session.connection(
            bind_arguments={"mapper": Participation.__mapper__},
            execution_options={"sqlite_begin": "immediate"},
        )
    check_open(survey, moment)
    respondent = check_eligible(survey, who)
    if draft_token is not None:
        draft_for(survey, respondent, draft_token)
    answers, errors = clean_answers(list(survey.questions), raw)
    if errors:
        raise AnswersInvalid(_("Some answers need attention."), errors)
    if not answers:
        raise AnswersInvalid(_("Please answer at least one question."))
    if _answered_as_member(survey, respondent):
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    _insert_participation(survey.id, respondent)
    flipped = db.session.execute(
        update(Participation)
        .where(_guard_clause(survey, respondent), Participation.status == "started")
        .values(status="submitted")
        .execution_options(synchronize_session=False)
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyAnswered(_("You have already answered this survey. Thank you."))
    participation_id = db.session.execute(
        select(Participation.id).where(_guard_clause(survey, respondent))
    ).scalar_one()
    db.session.execute(delete(Draft).where(Draft.participation_id == participation_id))
    cells, texts = to_cells(survey.questions, answers)
    code = new_receipt()
    if draft_token:
        db.session.execute(
            update(Participation)
            .where(Participation.id == participation_id)
            .values(retry_box=seal_receipt(survey, participation_id, draft_token, code))
            .execution_options(synchronize_session=False)
        )
    monitor = respondent.monitor
    # A member who is no monitor has no certified segment: stored as unknown ("").
    response = Response(
        id=secrets.token_hex(16),
        survey_id=survey.id,
        answered_on=moment.astimezone(JST).date(),
        district=(monitor.district or "") if monitor else "",
        sex=(monitor.sex or "") if monitor else "",
        age_band=band_name(monitor.age_band) if monitor else "",
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
                response_id=response.id,
                survey_id=survey.id,
                monitor_pseudonym=monitor.pseudonym if monitor else f"U{respondent.member_id}",
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
