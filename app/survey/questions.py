"""Question types: settings checks for authors, answer validation for respondents, branching,
and the flat "cells" the results are counted from.

Answers (drafts and submits) are a dict question key → value:
single "choice" (or "__other__" with "<key>__other" text), multiple [choices], text "…",
number 12.5, date "2026-12-01", scale 4, matrix {row: 1..points}, ranking [choices in order].
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

from app.i18n import _
from app.survey.surveys_models import QUESTION_TYPES, Question

OTHER = "__other__"
MAX_CHOICES = 30
MAX_ROWS = 20
MAX_CHOICE_LENGTH = 200
SHORT_TEXT = 200
LONG_TEXT = 2000
TEXT_HARD_LIMIT = 4000
MAX_QUESTIONS = 100


class QuestionInvalid(ValueError):  # noqa: N818 - reads as a verdict
    """An author's question settings are not usable; the message says why."""


def check_settings(qtype: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a question's settings; raise QuestionInvalid."""
    if qtype not in QUESTION_TYPES:
        raise QuestionInvalid(_("Unknown question type."))
    out: dict[str, Any] = {}
    if qtype in ("single", "multiple", "ranking"):
        choices = [str(c).strip() for c in options.get("choices") or [] if str(c).strip()]
        if len(choices) < 2:
            raise QuestionInvalid(_("Give at least two choices."))
        if len(choices) > MAX_CHOICES:
            raise QuestionInvalid(_("At most %(n)d choices.", n=MAX_CHOICES))
        if len(set(choices)) != len(choices):
            raise QuestionInvalid(_("Each choice must be different."))
        if any(len(c) > MAX_CHOICE_LENGTH or c == OTHER for c in choices):
            raise QuestionInvalid(_("A choice is too long."))
        out["choices"] = choices
    if qtype == "single":
        out["other"] = bool(options.get("other"))
        out["display"] = "dropdown" if options.get("display") == "dropdown" else "radio"
    if qtype == "multiple":
        out["other"] = bool(options.get("other"))
        low = _int(options.get("min"), 0)
        high = _int(options.get("max"), len(out["choices"]))
        if low < 0 or high < max(low, 1) or high > len(out["choices"]) + int(out["other"]):
            raise QuestionInvalid(_("The minimum and maximum number of choices do not fit."))
        out["min"], out["max"] = low, high
    if qtype == "text":
        out["long"] = bool(options.get("long"))
        limit = _int(options.get("max_length"), LONG_TEXT if out["long"] else SHORT_TEXT)
        if not 1 <= limit <= TEXT_HARD_LIMIT:
            raise QuestionInvalid(_("The length limit must be between 1 and %(n)d.", n=4000))
        out["max_length"] = limit
    if qtype == "number":
        low_f = _float(options.get("min"))
        high_f = _float(options.get("max"))
        if low_f is None or high_f is None or high_f <= low_f:
            raise QuestionInvalid(_("Give a range: a minimum below the maximum."))
        out["min"], out["max"] = low_f, high_f
        out["integer"] = bool(options.get("integer", True))
    if qtype in ("scale", "matrix"):
        points = _int(options.get("points"), 5)
        if points not in (5, 7):
            raise QuestionInvalid(_("A scale has 5 or 7 points."))
        out["points"] = points
        labels = [str(x)[:60] for x in options.get("labels") or []][:2]
        out["labels"] = labels
    if qtype == "matrix":
        rows = [str(r).strip() for r in options.get("rows") or [] if str(r).strip()]
        if not 1 <= len(rows) <= MAX_ROWS or len(set(rows)) != len(rows):
            raise QuestionInvalid(_("Give between 1 and %(n)d different rows.", n=MAX_ROWS))
        if any(len(r) > MAX_CHOICE_LENGTH for r in rows):
            raise QuestionInvalid(_("A row is too long."))
        out["rows"] = rows
    if qtype == "date":
        for name in ("min", "max"):
            if options.get(name):
                out[name] = _date(options.get(name))
                if out[name] is None:
                    raise QuestionInvalid(_("Dates are written as YYYY-MM-DD."))
    return out


def _int(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise QuestionInvalid(_("Please enter a whole number.")) from exc


def _float(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _date(value: Any) -> str | None:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return None


def is_visible(question: Question, answers: Mapping[str, Any]) -> bool:
    """Branching: shown only if the earlier answer named by `show_if` equals its value."""
    rule = question.show_if
    if not rule:
        return True
    given = answers.get(str(rule.get("question")))
    wanted = rule.get("equals")
    if isinstance(given, list):
        return wanted in given
    return given is not None and given == wanted


def visible_questions(questions: Iterable[Question], answers: Mapping[str, Any]) -> list[Question]:
    return [q for q in questions if is_visible(q, answers)]


def validate_answer(question: Question, value: Any, other_text: Any = None) -> Any:
    """The cleaned answer, or raise ValueError with a message for the resident."""
    opts = question.options
    qtype = question.type
    if qtype == "single":
        if value == OTHER and opts.get("other"):
            text = str(other_text or "").strip()
            if not text:
                raise ValueError(_("Please write your answer for 'Other'."))
            if len(text) > SHORT_TEXT:
                raise ValueError(_("Please shorten this to %(n)d characters.", n=SHORT_TEXT))
            return OTHER
        if not isinstance(value, str) or value not in opts["choices"]:
            raise ValueError(_("Please choose one of the answers shown."))
        return value
    if qtype == "multiple":
        values = value if isinstance(value, list) else [value]
        allowed = set(opts["choices"]) | ({OTHER} if opts.get("other") else set())
        if any(not isinstance(v, str) or v not in allowed for v in values):
            raise ValueError(_("Please choose from the answers shown."))
        if len(set(values)) != len(values):
            raise ValueError(_("Each answer can be chosen once."))
        if len(values) > opts["max"]:
            raise ValueError(_("Please choose at most %(n)d.", n=opts["max"]))
        if len(values) < opts["min"]:
            raise ValueError(_("Please choose at least %(n)d.", n=opts["min"]))
        if OTHER in values and not str(other_text or "").strip():
            raise ValueError(_("Please write your answer for 'Other'."))
        return [c for c in [*opts["choices"], OTHER] if c in values]
    if qtype == "text":
        if not isinstance(value, str):
            raise ValueError(_("Please write your answer as text."))
        text = value.strip()
        if len(text) > opts["max_length"]:
            raise ValueError(_("Please shorten this to %(n)d characters.", n=opts["max_length"]))
        return text
    if qtype == "number":
        number = _float(value if not isinstance(value, bool) else None)
        if number is None:
            raise ValueError(_("Please enter a number."))
        if opts.get("integer") and number != int(number):
            raise ValueError(_("Please enter a whole number."))
        if not opts["min"] <= number <= opts["max"]:
            raise ValueError(
                _(
                    "Please enter a number from %(a)s to %(b)s.",
                    a=_num(opts["min"]),
                    b=_num(opts["max"]),
                )
            )
        return int(number) if opts.get("integer") else number
    if qtype == "date":
        day = _date(value)
        if day is None:
            raise ValueError(_("Please enter a date (year, month, day)."))
        if (opts.get("min") and day < opts["min"]) or (opts.get("max") and day > opts["max"]):
            raise ValueError(_("Please enter a date within the range shown."))
        return day
    if qtype == "scale":
        return _point(value, opts["points"])
    if qtype == "matrix":
        if not isinstance(value, dict) or set(value) - set(opts["rows"]):
            raise ValueError(_("Please answer the rows shown."))
        out = {row: _point(value[row], opts["points"]) for row in opts["rows"] if row in value}
        if question.required and len(out) != len(opts["rows"]):
            raise ValueError(_("Please answer every row."))
        return out
    if qtype == "ranking":
        values = value if isinstance(value, list) else []
        if not values or any(v not in opts["choices"] for v in values):
            raise ValueError(_("Please rank the choices shown."))
        if len(set(values)) != len(values):
            raise ValueError(_("Each choice can have one place only."))
        return list(values)
    raise ValueError(_("Unknown question type."))


def _num(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _point(value: Any, points: int) -> int:
    try:
        point = int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(_("Please choose a point on the scale.")) from exc
    if isinstance(value, bool) or not 1 <= point <= points or str(value).strip() != str(point):
        raise ValueError(_("Please choose a point on the scale from 1 to %(n)d.", n=points))
    return point


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_cells(questions: Iterable[Question], answers: Mapping[str, Any]) -> tuple[dict, dict]:
    """Flat cells counted by the results query, and the free texts (text and "other")."""
    cells: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for q in questions:
        value: Any = answers.get(q.key)
        if value is None or is_empty(value):
            continue
        if q.type in ("single", "number", "date", "scale"):
            cells[q.key] = value
        elif q.type == "multiple":
            for choice in value:
                cells[f"{q.key}.{choice}"] = 1
        elif q.type == "matrix":
            for row, point in value.items():
                cells[f"{q.key}.{row}"] = point
        elif q.type == "ranking":
            for place, choice in enumerate(value, start=1):
                cells[f"{q.key}.{choice}"] = place
        elif q.type == "text":
            texts[q.key] = value
        other = answers.get(f"{q.key}__other")
        if q.type in ("single", "multiple") and other and not is_empty(value):
            chosen = value == OTHER if q.type == "single" else OTHER in value
            if chosen:
                texts[f"{q.key}__other"] = str(other).strip()[:SHORT_TEXT]
    return cells, texts


def slots(questions: Iterable[Question]) -> list[tuple[Question, str, int, list[str]]]:
    """The answer-code layout: (question, cell key, position from 1, value labels for codes
    1..n). Fixed once the survey opens, since its questions are locked then."""
    out: list[tuple[Question, str, int, list[str]]] = []
    for q in questions:
        opts = q.options
        if q.type == "single":
            labels = [*opts["choices"], *([OTHER] if opts.get("other") else [])]
            out.append((q, q.key, len(out) + 1, labels))
        elif q.type == "scale":
            out.append((q, q.key, len(out) + 1, [str(p) for p in range(1, opts["points"] + 1)]))
        elif q.type == "multiple":
            for choice in [*opts["choices"], *([OTHER] if opts.get("other") else [])]:
                out.append((q, f"{q.key}.{choice}", len(out) + 1, ["1"]))
        elif q.type == "matrix":
            points = [str(p) for p in range(1, opts["points"] + 1)]
            for row in opts["rows"]:
                out.append((q, f"{q.key}.{row}", len(out) + 1, points))
        elif q.type == "ranking":
            places = [str(p) for p in range(1, len(opts["choices"]) + 1)]
            for choice in opts["choices"]:
                out.append((q, f"{q.key}.{choice}", len(out) + 1, places))
    return out


def scalar_cells(questions: Iterable[Question], cells: Mapping[str, Any]) -> dict[str, Any]:
    """The number and date answers: the only cells kept as JSON (the rest are codes)."""
    keys = {q.key for q in questions if q.type in ("number", "date")}
    return {k: v for k, v in cells.items() if k in keys}


def to_codes(questions: Iterable[Question], cells: Mapping[str, Any]) -> bytes:
    """One byte per slot (see `slots`): 0 for no answer, else the value's number from 1."""
    return bytes(
        labels.index(str(cells[key])) + 1 if key in cells else 0
        for _q, key, _pos, labels in slots(questions)
    )


def clean_answers(
    questions: list[Question], raw: Mapping[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate `raw` against the questions that are visible given the answers themselves.

    Returns (answers, errors by question key). Unknown keys and answers to hidden questions are
    errors under the key "_form". With `partial`, missing required answers are not errors.
    """
    known = {q.key for q in questions}
    errors: dict[str, str] = {}
    extra = [k for k in raw if k not in known and not _other_key(k, known)]
    if extra:
        errors["_form"] = _("The form contains answers to questions that do not exist.")
    answers: dict[str, Any] = {}
    for q in questions:
        if not is_visible(q, answers):
            if not is_empty(raw.get(q.key)):
                errors["_form"] = _("An answer was given to a question that does not apply.")
            continue
        value = raw.get(q.key)
        if is_empty(value):
            if q.required and not partial:
                errors[q.key] = _("Please answer this question.")
            continue
        try:
            answers[q.key] = validate_answer(q, value, raw.get(f"{q.key}__other"))
        except ValueError as err:
            errors[q.key] = str(err)
            continue
        other = raw.get(f"{q.key}__other")
        if q.type in ("single", "multiple") and other:
            answers[f"{q.key}__other"] = str(other).strip()[:SHORT_TEXT]
    return answers, errors


def _other_key(key: str, known: set[str]) -> bool:
    return key.endswith("__other") and key[: -len("__other")] in known
