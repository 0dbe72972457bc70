"""The "surveys" and "responses" sections of `flask sample load`, and the demo survey of
`flask sample demo` (20 questions of every type, about 500 synthetic responses)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

from flask import current_app

from app.db import utcnow
from app.extensions import db
from app.sample import demo, loader
from app.sample.loader import LoadContext, SampleError
from app.survey import answering, authoring
from app.survey.answering import JST, AnswerError
from app.survey.authoring import SurveyInvalid
from app.survey.models import SEXES, Monitor
from app.survey.surveys_models import Survey, SurveyLocked
from app.survey.targeting import AGE_BANDS

SURVEY_FIELDS = {
    "key",
    "title",
    "description",
    "organiser",
    "anonymity",
    "k",
    "opens_at",
    "closes_at",
    "target",
    "sample_size",
    "thank_you",
    "questions",
    "results_published",
}
QUESTION_FIELDS = {
    "key",
    "type",
    "text",
    "help",
    "required",
    "page",
    "show_if",
    "choices",
    "other",
    "display",
    "min",
    "max",
    "max_length",
    "long",
    "points",
    "labels",
    "rows",
    "integer",
}
OPTION_NAMES = QUESTION_FIELDS - {"key", "type", "text", "help", "required", "page", "show_if"}


def _question_data(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": entry.get("key"),
        "type": entry.get("type"),
        "text": entry.get("text"),
        "help": entry.get("help", ""),
        "required": bool(entry.get("required")),
        "page": entry.get("page", 1),
        "show_if": entry.get("show_if"),
        "options": {name: entry[name] for name in OPTION_NAMES if name in entry},
    }


def load_surveys(entries: list[Any], ctx: LoadContext) -> None:
    """`surveys`: see docs/surveys.md; prints key → /monitors/surveys/<key>."""
    for i, entry in enumerate(entries):
        where = f"surveys[{i}]"
        if not isinstance(entry, dict):
            raise SampleError(f"{where}: must be an object")
        where = f"surveys[{i}] ({entry.get('key')!r})"
        unknown = set(entry) - SURVEY_FIELDS
        if unknown:
            raise SampleError(f"{where}: unknown field(s) {sorted(unknown)}")
        try:
            survey = authoring.create_survey(entry, created_by=None, key=entry.get("key"))
            # A sample may hold a survey that is already open: it is created with its questions
            # in this one transaction, before anyone could answer, so the lock that keeps
            # questions of an open survey still does not apply while they are added.
            # A past round (already closed) is moved as a whole, so its period stays valid.
            opens_at, closes_at = survey.opens_at, survey.closes_at
            survey.opens_at = max(opens_at, utcnow() + dt.timedelta(days=1))
            survey.closes_at = max(closes_at, survey.opens_at + dt.timedelta(days=1))
            db.session.flush()  # questions refer to the survey id
            for j, question in enumerate(entry.get("questions") or []):
                if not isinstance(question, dict) or set(question) - QUESTION_FIELDS:
                    raise SampleError(f"{where}: questions[{j}]: unknown or malformed fields")
                authoring.add_question(survey, _question_data(question))
            survey.opens_at, survey.closes_at = opens_at, closes_at
        except SurveyInvalid as err:
            detail = "; ".join(f"{k}: {v}" for k, v in sorted(err.errors.items()))
            raise SampleError(f"{where}: {detail}") from err
        except SurveyLocked as err:
            raise SampleError(f"{where}: questions of an open survey: {err}") from err
        survey.results_published = bool(entry.get("results_published"))
        ctx.add(where, entry.get("key"), survey, f"/monitors/surveys/{survey.key}")


def _moment(survey: Survey) -> dt.datetime:
    """Now if the survey is open; else a moment inside its period (past or future rounds)."""
    now = utcnow()
    if survey.is_open(now):
        return now
    return survey.opens_at if now < survey.opens_at else survey.closes_at - dt.timedelta(seconds=1)


def load_responses(entries: list[Any], ctx: LoadContext) -> None:
    """`responses`: a monitor's answer goes through the submit service (once only); an entry
    with a segment instead of a monitor is synthetic."""
    synthetic: dict[int, list[tuple[dict[str, str], dict[str, Any]]]] = defaultdict(list)
    surveys: dict[int, Survey] = {}
    for i, entry in enumerate(entries):
        where = f"responses[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"survey", "monitor", "segment", "answers"}:
            raise SampleError(f"{where}: must be an object with survey, monitor|segment, answers")
        survey = ctx.get(where, entry.get("survey"), Survey)
        answers = entry.get("answers")
        if not isinstance(answers, dict):
            raise SampleError(f"{where}: 'answers' must be an object")
        if "monitor" in entry:
            monitor = ctx.get(where, entry["monitor"], Monitor)
            try:
                answering.submit(survey, monitor, answers, now=_moment(survey))
            except AnswerError as err:
                detail = "; ".join(f"{k}: {v}" for k, v in sorted(err.errors.items()))
                raise SampleError(
                    f"{where}: monitor {entry['monitor']!r}: {err.message}"
                    + (f" ({detail})" if detail else "")
                ) from err
            continue
        segment = entry.get("segment")
        if not isinstance(segment, dict) or set(segment) - {"district", "sex", "age_band"}:
            raise SampleError(f"{where}: give 'monitor' or a 'segment' (district, sex, age_band)")
        if segment.get("sex", "") not in ("", *SEXES) or segment.get("age_band", "") not in (
            "",
            *AGE_BANDS,
        ):
            raise SampleError(f"{where}: unknown sex or age band in the segment")
        surveys[survey.id] = survey
        synthetic[survey.id].append(({k: str(v) for k, v in segment.items()}, answers))
    for survey_id, rows in synthetic.items():
        survey = surveys[survey_id]
        try:
            answering.add_synthetic(survey, rows, day=_moment(survey).astimezone(JST).date())
        except AnswerError as err:
            raise SampleError(f"responses for {survey.key!r}: {err.message}") from err


# --- the demo survey ----------------------------------------------------------------------------

DEMO_KEY = "kurashi2026"
DEMO_RESPONSES = 500


def demo_questions() -> list[dict[str, Any]]:
    yes_no = ["はい", "いいえ"]
    five = {"points": 5, "labels": ["不満", "満足"]}
    return [
        {
            "type": "single",
            "text": "お住まいの地域に愛着がありますか",
            "choices": yes_no,
            "required": True,
        },
        {
            "type": "single",
            "text": "主な移動手段",
            "choices": ["徒歩", "自転車", "バス", "自動車"],
            "other": True,
            "display": "dropdown",
        },
        {
            "type": "multiple",
            "text": "よく利用する施設",
            "choices": ["図書館", "公民館", "体育館", "公園", "病院"],
            "max": 3,
        },
        {"type": "scale", "text": "ごみ収集への満足度", **five, "required": True},
        {"type": "scale", "text": "道路・歩道の安全性", **five},
        {"type": "scale", "text": "子育て支援の充実度", "points": 7},
        {
            "type": "matrix",
            "text": "市の情報の入手しやすさ",
            "rows": ["広報紙", "ウェブサイト", "SNS"],
            **five,
        },
        {
            "type": "ranking",
            "text": "優先してほしい施策（順位）",
            "choices": ["防災", "福祉", "教育", "交通"],
        },
        {"type": "number", "text": "同居している人数（本人を含む）", "min": 1, "max": 15},
        {"type": "number", "text": "1週間の外出日数", "min": 0, "max": 7},
        {"type": "date", "text": "最後に市役所を訪れた日", "min": "2020-01-01"},
        {
            "type": "single",
            "text": "災害時の避難場所を知っていますか",
            "choices": yes_no,
            "page": 2,
        },
        {
            "type": "single",
            "text": "避難訓練に参加したことはありますか",
            "choices": yes_no,
            "page": 2,
            "show_if": {"question": "q12", "equals": "はい"},
        },
        {
            "type": "multiple",
            "text": "備蓄しているもの",
            "choices": ["水", "食料", "薬", "懐中電灯"],
            "page": 2,
        },
        {"type": "scale", "text": "地域の防犯への安心感", **five, "page": 2},
        {"type": "single", "text": "地域SNSを使っていますか", "choices": yes_no, "page": 3},
        {"type": "scale", "text": "オンライン手続きの使いやすさ", **five, "page": 3},
        {"type": "matrix", "text": "施設の満足度", "rows": ["図書館", "公民館"], **five, "page": 3},
        {"type": "text", "text": "市への要望（短く）", "max_length": 200, "page": 3},
        {"type": "text", "text": "ご意見・ご感想", "long": True, "page": 3},
    ]


def _demo_answers(rng: random.Random) -> dict[str, Any]:
    a: dict[str, Any] = {
        "q1": rng.choice(["はい", "はい", "いいえ"]),
        "q2": rng.choice(["徒歩", "自転車", "バス", "自動車", "自動車"]),
        "q3": rng.sample(["図書館", "公民館", "体育館", "公園", "病院"], rng.randint(1, 3)),
        "q4": rng.choice([2, 3, 4, 4, 5]),
        "q5": rng.randint(1, 5),
        "q6": rng.randint(1, 7),
        "q7": {
            "広報紙": rng.randint(2, 5),
            "ウェブサイト": rng.randint(1, 5),
            "SNS": rng.randint(1, 4),
        },
        "q8": rng.sample(["防災", "福祉", "教育", "交通"], 4),
        "q9": rng.randint(1, 6),
        "q10": rng.randint(0, 7),
        "q11": (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 600))).isoformat(),
        "q12": rng.choice(["はい", "いいえ"]),
        "q14": rng.sample(["水", "食料", "薬", "懐中電灯"], rng.randint(1, 4)),
        "q15": rng.randint(2, 5),
        "q16": rng.choice(["はい", "いいえ", "いいえ"]),
        "q17": rng.randint(1, 5),
        "q18": {"図書館": rng.randint(3, 5), "公民館": rng.randint(1, 5)},
    }
    if a["q12"] == "はい":
        a["q13"] = rng.choice(["はい", "いいえ"])
    if rng.random() < 0.1:
        a["q19"] = rng.choice(["バスの本数を増やしてほしい", "公園を明るくしてほしい"])
    return a


def build_survey_demo(members: dict[str, Any]) -> None:
    """A running survey with 20 questions of every type and ~500 synthetic responses
    (idempotent: only when the demo survey does not exist)."""
    if answering.survey_by_key(DEMO_KEY) is not None:
        return
    now = utcnow()
    survey = authoring.create_survey(
        {
            "title": "暮らしやすさアンケート 2026",
            "description": "市の施策の参考にするため、暮らしについてお聞きします。",
            "opens_at": now - dt.timedelta(days=7),
            "closes_at": now + dt.timedelta(days=21),
            "k": 5,
            "thank_you": "ご協力ありがとうございました。",
        },
        created_by=None,
        key=DEMO_KEY,
    )
    survey.opens_at = now + dt.timedelta(days=1)  # editable while questions are added
    db.session.flush()
    for data in demo_questions():
        authoring.add_question(survey, _question_data(data))
    survey.opens_at = now - dt.timedelta(days=7)
    survey.results_published = True
    rng = random.Random(20261201)  # noqa: S311 - synthetic demo data
    districts = list(current_app.config["DISTRICTS"])
    bands = ["20s", "30s", "40s", "50s", "60s", "70s", "80s"]
    rows = [
        (
            {
                "district": rng.choice(districts),
                "sex": rng.choice(["female", "female", "male", "male", "unstated"]),
                "age_band": rng.choice(bands),
            },
            _demo_answers(rng),
        )
        for _n in range(DEMO_RESPONSES)
    ]
    answering.add_synthetic(survey, rows, day=now.astimezone(JST).date())


def register_sample_hooks() -> None:
    known = {name for name, _handler in loader.SECTIONS}
    if "surveys" not in known:
        loader.SECTIONS.append(("surveys", load_surveys))
    if "responses" not in {name for name, _handler in loader.SECTIONS}:
        loader.SECTIONS.append(("responses", load_responses))
    if build_survey_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_survey_demo)
