"""Shared helpers for the survey tests: a survey of every question type, opened on demand."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.db import utcnow
from app.extensions import db
from app.survey import authoring

QUESTIONS: list[dict[str, Any]] = [
    {"key": "q1", "type": "single", "text": "愛着", "required": True,
     "options": {"choices": ["はい", "いいえ"]}},
    {"key": "q2", "type": "multiple", "text": "施設",
     "options": {"choices": ["図書館", "公園", "病院"], "max": 2}},
    {"key": "q3", "type": "scale", "text": "満足度", "options": {"points": 5}},
    {"key": "q4", "type": "text", "text": "ご意見", "options": {"max_length": 20}},
    {"key": "q5", "type": "single", "text": "理由", "page": 2, "options": {"choices": ["A", "B"]},
     "show_if": {"question": "q1", "equals": "はい"}},
    {"key": "q6", "type": "number", "text": "人数", "page": 2, "options": {"min": 1, "max": 10}},
    {"key": "q7", "type": "matrix", "text": "評価", "page": 2,
     "options": {"rows": ["広報", "Web"], "points": 5}},
    {"key": "q8", "type": "ranking", "text": "順位", "page": 2,
     "options": {"choices": ["防災", "福祉", "教育"]}},
    {"key": "q9", "type": "date", "text": "日付", "page": 2, "options": {}},
]  # fmt: skip

GOOD = {"q1": "はい", "q2": ["図書館"], "q3": 4, "q4": "よい", "q5": "A", "q6": 3,
        "q7": {"広報": 4, "Web": 2}, "q8": ["福祉", "防災", "教育"],
        "q9": "2026-01-05"}  # fmt: skip


def open_survey(
    *, k: int = 5, anonymity: str = "anonymous", target: dict[str, Any] | None = None,
    opened: bool = True, key: str | None = None, questions: list[dict[str, Any]] | None = None,
) -> Any:  # fmt: skip
    """A survey with QUESTIONS; open now unless `opened` is False. Committed."""
    now = utcnow()
    survey = authoring.create_survey(
        {
            "title": "暮らしアンケート",
            "opens_at": now + dt.timedelta(days=1),
            "closes_at": now + dt.timedelta(days=30),
            "k": k,
            "anonymity": anonymity,
            "target": target or {},
        },
        created_by=None,
        key=key,
    )
    db.session.flush()
    for q in questions or QUESTIONS:
        authoring.add_question(survey, dict(q))
    if opened:
        survey.opens_at = now - dt.timedelta(hours=1)
    db.session.commit()
    return survey
