"""Template helpers for survey pages on every role: Japan-time dates and result labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from app.i18n import _
from app.survey.questions import OTHER

JST = ZoneInfo("Asia/Tokyo")


def jst(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M")


def choice_label(value: Any) -> str:
    return _("Other") if value == OTHER else str(value)


def dimension_label(dim: str) -> str:
    return {"district": _("District"), "sex": _("Sex"), "age_band": _("Age band")}.get(dim, dim)


def segment_label(dim: str, value: str) -> str:
    if value == "":
        return _("Unknown")
    if dim == "sex":
        return {
            "female": _("Female"),
            "male": _("Male"),
            "other": _("Other"),
            "unstated": _("Prefer not to say"),
        }.get(value, value)
    if dim == "age_band" and value.endswith("s") and value[:-1].isdigit():
        decade = int(value[:-1])
        return _("90 and over") if decade >= 90 else _("%(n)ds", n=decade)
    return value


def organiser_label(code: str) -> str:
    return {"city": _("The city"), "npo": _("The NPO")}.get(code, code)


def transpose(cells: list[list[Any]]) -> list[list[Any]]:
    return [list(col) for col in zip(*cells, strict=True)] if cells else []


def segment_labeler(dim: str) -> Callable[[Any], str]:
    return lambda value: segment_label(dim, str(value))


def matrix_values(q: dict[str, Any]) -> list[list[int | None]]:
    return [[c["count"] for c in row["counts"]] for row in q.get("rows", [])]


def is_survey_staff() -> bool:
    """Whether the signed-in member may author surveys (for the navigation link)."""
    from flask_login import current_user

    from app.auth.models import RoleCode

    return bool(current_user.is_authenticated and current_user.has_role(RoleCode.STAFF))


def sns_banner() -> list[Any]:
    """Open surveys to show in the banner of an opted-in SNS member (not on survey pages)."""
    from flask import request
    from flask_login import current_user

    from app.survey.recruitment import banner_surveys, opted_in_here

    if not current_user.is_authenticated or (request.blueprint or "").startswith("survey"):
        return []
    if not opted_in_here(current_user):
        return []  # no query: the choice is kept in the session
    return banner_surveys(current_user)


def install(app: Flask) -> None:
    if "jst" in app.jinja_env.filters:
        return
    app.add_template_filter(jst, "jst")
    app.jinja_env.globals["survey_sns_banner"] = sns_banner

    @app.context_processor
    def _survey_helpers() -> dict[str, Any]:
        return {
            "choice_label": choice_label,
            "dimension_label": dimension_label,
            "segment_label": segment_label,
            "organiser_label": organiser_label,
            "transpose": transpose,
            "segment_labeler": segment_labeler,
            "matrix_values": matrix_values,
            "is_survey_staff": is_survey_staff,
        }
