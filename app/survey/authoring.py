"""Authoring services (internal role): surveys, questions, reorder/duplicate, copy-to-new.

Everything that changes what respondents see raises SurveyLocked once the survey has opened;
anonymity is also frozen as soon as anyone has taken part (R21). Services never commit.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from app.db import utcnow
from app.extensions import db
from app.i18n import _
from app.survey.questions import MAX_QUESTIONS, QuestionInvalid, check_settings
from app.survey.surveys_models import (
    ANONYMITY,
    ORGANISERS,
    Participation,
    Question,
    Response,
    Survey,
    SurveyLocked,
)
from app.survey.targeting import clean_target

JST = ZoneInfo("Asia/Tokyo")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TITLE_MAX = 200
TEXT_MAX = 5000
QUESTION_TEXT_MAX = 1000


class SurveyInvalid(ValueError):  # noqa: N818 - reads as a verdict
    """The survey settings cannot be saved; `errors` maps field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_time(value: Any) -> dt.datetime | None:
    """ISO 8601 with an offset, or a local Japan time (the form's datetime-local)."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(dt.UTC)


def clean_settings(data: dict[str, Any], survey: Survey | None = None) -> dict[str, Any]:
    """Validated survey settings; raise SurveyInvalid naming each bad field."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    title = str(data.get("title") or "").strip()
    if not title or len(title) > TITLE_MAX:
        errors["title"] = _("Please enter a title of up to %(n)d characters.", n=TITLE_MAX)
    out["title"] = title
    for name in ("description", "thank_you"):
        value = str(data.get(name) or "").strip()
        if len(value) > TEXT_MAX:
            errors[name] = _("Please shorten this to %(n)d characters.", n=TEXT_MAX)
        out[name] = value
    organiser = data.get("organiser") or "city"
    if organiser not in ORGANISERS:
        errors["organiser"] = _("Choose the city or the NPO.")
    out["organiser"] = organiser
    anonymity = data.get("anonymity") or "anonymous"
    if anonymity not in ANONYMITY:
        errors["anonymity"] = _("Choose anonymous or named.")
    out["anonymity"] = anonymity
    opens, closes = parse_time(data.get("opens_at")), parse_time(data.get("closes_at"))
    if opens is None:
        errors["opens_at"] = _("Please enter when the survey opens.")
    if closes is None:
        errors["closes_at"] = _("Please enter when the survey closes.")
    elif opens is not None and closes <= opens:
        errors["closes_at"] = _("The survey must close after it opens.")
    out["opens_at"], out["closes_at"] = opens, closes
    try:
        k = int(data.get("k") or 5)
        if not 2 <= k <= 100:
            raise ValueError(k)
        out["k"] = k
    except (TypeError, ValueError):
        errors["k"] = _("The minimum group size must be a whole number from 2 to 100.")
    sample = data.get("sample_size")
    try:
        out["sample_size"] = int(sample) if sample not in (None, "") else None
        if out["sample_size"] is not None and out["sample_size"] < 1:
            raise ValueError(sample)
    except (TypeError, ValueError):
        errors["sample_size"] = _("The sample size must be a positive whole number.")
    try:
        out["target"] = clean_target(data.get("target"), list(current_app.config["DISTRICTS"]))
    except ValueError as err:
        errors["target"] = str(err)
    if errors:
        raise SurveyInvalid(errors)
    return out


def new_key() -> str:
    return "s" + secrets.token_hex(4)


def create_survey(
    data: dict[str, Any], *, created_by: int | None, key: str | None = None
) -> Survey:
    """A new survey (not yet open). Raise SurveyInvalid."""
    settings = clean_settings(data)
    if key is not None and not KEY_RE.match(key):
        raise SurveyInvalid({"key": _("Use lower-case letters, digits, - and _ only.")})
    key = key or new_key()
    if db.session.execute(select(Survey.id).where(Survey.key == key)).first():
        raise SurveyInvalid({"key": _("This key is already used by another survey.")})
    survey = Survey(key=key, created_by=created_by, created_at=utcnow())
    _apply(survey, settings)
    db.session.add(survey)
    return survey


def _apply(survey: Survey, settings: dict[str, Any]) -> None:
    for name in ("title", "description", "thank_you", "organiser", "anonymity", "k"):
        setattr(survey, name, settings[name])
    survey.opens_at, survey.closes_at = settings["opens_at"], settings["closes_at"]
    survey.sample_size = settings["sample_size"]
    survey.target = settings["target"]


def has_participants(survey: Survey) -> bool:
    return bool(
        db.session.execute(
            select(func.count())
            .select_from(Participation)
            .where(Participation.survey_id == survey.id)
        ).scalar_one()
        or db.session.execute(
            select(func.count()).select_from(Response).where(Response.survey_id == survey.id)
        ).scalar_one()
    )


def update_survey(survey: Survey, data: dict[str, Any]) -> None:
    """Change settings before opening. After opening only the closing time, thank-you text
    and results publication may change; anonymity never once anyone took part."""
    settings = clean_settings(data, survey)
    if settings["anonymity"] != survey.anonymity and has_participants(survey):
        raise SurveyLocked(_("Anonymity cannot change once anyone has taken part."))
    if survey.is_locked():
        frozen = ("title", "description", "organiser", "anonymity", "k", "opens_at", "target")
        for name in frozen:
            current = survey.target if name == "target" else getattr(survey, name)
            if settings[name] != current:
                raise SurveyLocked(
                    _("The survey has opened: its questions and settings are locked.")
                )
        survey.closes_at = settings["closes_at"]
        survey.thank_you = settings["thank_you"]
        return
    _apply(survey, settings)


def clean_question(
    survey: Survey, data: dict[str, Any], current: Question | None
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    qtype = str(data.get("type") or "")
    text = str(data.get("text") or "").strip()
    if not text or len(text) > QUESTION_TEXT_MAX:
        errors["text"] = _("Please enter the question (up to %(n)d characters).", n=1000)
    help_text = str(data.get("help") or "").strip()
    if len(help_text) > QUESTION_TEXT_MAX:
        errors["help"] = _("Please shorten this to %(n)d characters.", n=1000)
    options: dict[str, Any] = {}
    try:
        options = check_settings(qtype, data.get("options") or {})
    except QuestionInvalid as err:
        errors["options"] = str(err)
    key = str(data.get("key") or (current.key if current else "")).strip()
    if not key:
        taken = {q.key for q in survey.questions}
        n = len(taken) + 1
        while f"q{n}" in taken:
            n += 1
        key = f"q{n}"
    if not KEY_RE.match(key) or "." in key or "__" in key:
        errors["key"] = _("Use lower-case letters, digits, - and _ only.")
    elif any(q.key == key and q is not current for q in survey.questions):
        errors["key"] = _("Another question already uses this key.")
    try:
        page = int(data.get("page") or (current.page if current else 1))
        if not 1 <= page <= 50:
            raise ValueError(page)
    except (TypeError, ValueError):
        errors["page"] = _("The page must be a number from 1 to 50.")
        page = 1
    show_if = data.get("show_if") or None
    if show_if:
        earlier = {q.key: q for q in survey.questions if q is not current}
        target = earlier.get(str(show_if.get("question")))
        wanted = show_if.get("equals")
        if target is None or target.type not in ("single", "multiple", "scale"):
            errors["show_if"] = _("Branching can depend on an earlier choice or scale question.")
        elif target.type == "scale":
            try:
                show_if = {"question": target.key, "equals": int(wanted)}
            except (TypeError, ValueError):
                errors["show_if"] = _("Choose one of the earlier question's answers.")
        elif wanted not in target.options.get("choices", []):
            errors["show_if"] = _("Choose one of the earlier question's answers.")
    if errors:
        raise SurveyInvalid(errors)
    return {
        "key": key,
        "type": qtype,
        "text": text,
        "help": help_text,
        "required": bool(data.get("required")),
        "page": page,
        "options": options,
        "show_if": show_if,
    }


def _editable(survey: Survey) -> None:
    """Questions change only before opening and before any response (the answer codes of
    stored responses follow the question layout)."""
    survey.check_editable()
    if survey.id is not None and has_participants(survey):
        raise SurveyLocked(_("The survey has opened: its questions and settings are locked."))


def add_question(survey: Survey, data: dict[str, Any]) -> Question:
    """Append a question. Raise SurveyLocked or SurveyInvalid."""
    _editable(survey)
    if len(survey.questions) >= MAX_QUESTIONS:
        raise SurveyInvalid({"text": _("A survey has at most %(n)d questions.", n=MAX_QUESTIONS)})
    clean = clean_question(survey, data, None)
    question = Question(
        key=clean["key"],
        type=clean["type"],
        text=clean["text"],
        help=clean["help"],
        required=clean["required"],
        page=clean["page"],
        position=max((q.position for q in survey.questions), default=0) + 1,
    )
    question.options = clean["options"]
    question.show_if = clean["show_if"]
    survey.questions.append(question)
    return question


def update_question(survey: Survey, question: Question, data: dict[str, Any]) -> None:
    _editable(survey)
    clean = clean_question(survey, {**data, "type": question.type}, question)
    for name in ("key", "text", "help", "required", "page"):
        setattr(question, name, clean[name])
    question.options = clean["options"]
    question.show_if = clean["show_if"]


def delete_question(survey: Survey, question: Question) -> None:
    _editable(survey)
    survey.questions.remove(question)


def move_question(survey: Survey, question: Question, direction: int) -> None:
    """Swap with the neighbour above (-1) or below (+1)."""
    _editable(survey)
    ordered = list(survey.questions)
    i = ordered.index(question)
    j = i + direction
    if 0 <= j < len(ordered):
        ordered[i].position, ordered[j].position = ordered[j].position, ordered[i].position
        survey.questions.sort(key=lambda q: q.position)


def duplicate_question(survey: Survey, question: Question) -> Question:
    _editable(survey)
    data = {
        "type": question.type,
        "text": question.text,
        "help": question.help,
        "required": question.required,
        "page": question.page,
        "options": question.options,
        "show_if": question.show_if,
    }
    return add_question(survey, data)


def copy_survey(survey: Survey, *, created_by: int | None) -> Survey:
    """Copy-to-new for the next round: same questions and settings, a new period one week
    ahead of now, unlocked, no responses."""
    start = utcnow() + dt.timedelta(days=7)
    length = survey.closes_at - survey.opens_at
    copy = Survey(
        key=new_key(),
        title=survey.title,
        description=survey.description,
        organiser=survey.organiser,
        anonymity=survey.anonymity,
        k=survey.k,
        target_json=survey.target_json,
        sample_size=survey.sample_size,
        thank_you=survey.thank_you,
        opens_at=start,
        closes_at=start + length,
        copied_from_id=survey.id,
        created_by=created_by,
        created_at=utcnow(),
    )
    for q in survey.questions:
        copy.questions.append(
            Question(
                key=q.key,
                position=q.position,
                page=q.page,
                type=q.type,
                text=q.text,
                help=q.help,
                required=q.required,
                options_json=q.options_json,
                show_if_json=q.show_if_json,
            )
        )
    db.session.add(copy)
    return copy
