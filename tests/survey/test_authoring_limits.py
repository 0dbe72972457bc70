"""Maximum counts and lengths on every survey field and option (security.md R18, A34).

Mastodon shipped unlimited poll options (CVE-2026-23962): each bound here is tested at the
limit (accepted) and one past it (refused with a message, nothing stored).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.extensions import db
from app.survey import authoring
from app.survey.authoring import SurveyInvalid
from app.survey.questions import (
    MAX_CHOICE_LENGTH,
    MAX_CHOICES,
    MAX_QUESTIONS,
    MAX_ROWS,
    TEXT_HARD_LIMIT,
    QuestionInvalid,
    check_settings,
)
from tests.survey.surveys_helpers import open_survey


def choices(n: int, length: int = 3) -> list[str]:
    return [f"{i:0{length}d}" for i in range(n)]


@pytest.mark.parametrize("qtype", ["single", "multiple", "ranking"])
def test_choice_count_and_length(qtype: str) -> None:
    assert len(check_settings(qtype, {"choices": choices(MAX_CHOICES)})["choices"]) == MAX_CHOICES
    with pytest.raises(QuestionInvalid):
        check_settings(qtype, {"choices": choices(MAX_CHOICES + 1)})
    longest = choices(2, MAX_CHOICE_LENGTH)
    assert check_settings(qtype, {"choices": longest})["choices"] == longest
    with pytest.raises(QuestionInvalid):
        check_settings(qtype, {"choices": choices(2, MAX_CHOICE_LENGTH + 1)})


def test_matrix_rows_and_text_limits() -> None:
    rows = choices(MAX_ROWS)
    assert check_settings("matrix", {"rows": rows, "points": 5})["rows"] == rows
    with pytest.raises(QuestionInvalid):
        check_settings("matrix", {"rows": choices(MAX_ROWS + 1), "points": 5})
    with pytest.raises(QuestionInvalid):
        check_settings("matrix", {"rows": choices(2, MAX_CHOICE_LENGTH + 1), "points": 5})
    assert check_settings("text", {"max_length": TEXT_HARD_LIMIT})["max_length"] == TEXT_HARD_LIMIT
    with pytest.raises(QuestionInvalid):
        check_settings("text", {"max_length": TEXT_HARD_LIMIT + 1})


def test_question_count_and_text_length(app: Any) -> None:
    survey = open_survey(opened=False)  # the helper's questions, not yet open
    scale: dict[str, Any] = {"type": "scale", "options": {"points": 5}}
    with pytest.raises(SurveyInvalid):
        authoring.add_question(survey, {**scale, "text": "あ" * 1001})
    authoring.add_question(survey, {**scale, "text": "あ" * 1000})
    for i in range(MAX_QUESTIONS - len(survey.questions)):
        authoring.add_question(survey, {**scale, "text": f"問{i}"})
    db.session.commit()
    assert len(survey.questions) == MAX_QUESTIONS
    with pytest.raises(SurveyInvalid):
        authoring.add_question(survey, {**scale, "text": "一つ多い"})
    db.session.rollback()
    assert len(survey.questions) == MAX_QUESTIONS
