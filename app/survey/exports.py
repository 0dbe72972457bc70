"""Exports of the k-suppressed result tables: JSON (the CLI's shape) and CSV (UTF-8 with BOM,
so spreadsheet software opens Japanese text correctly). Hidden cells are null / empty."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from flask import Response as FlaskResponse

from app.survey import results
from app.survey.surveys_models import Survey


def as_json(survey: Survey) -> str:
    data = dict(results.results_for(survey))
    return json.dumps(data, ensure_ascii=False, indent=2)


def as_csv(survey: Survey) -> str:
    """One table after another: question counts, then each crosstab; hidden cells empty."""
    data = results.results_for(survey)
    out = io.StringIO()
    writer = _SafeWriter(csv.writer(out))
    writer.writerow(["survey", data["survey"], "responses", data["responses"], "k", data["k"]])
    for q in data["questions"]:
        if q.get("withheld"):
            continue
        for item in q.get("counts", []):
            writer.writerow(
                [q["key"], "count", item["label"], _cell(item["count"]), item.get("percent", "")]
            )
        if q.get("mean") is not None:
            writer.writerow([q["key"], "mean", "", q["mean"], ""])
        for row in q.get("rows", []):
            for item in row["counts"]:
                writer.writerow(
                    [q["key"], f"row:{row['row']}", item["label"], item["count"], item["percent"]]
                )
        for item in q.get("ranking", []):
            writer.writerow([q["key"], "mean_rank", item["label"], item["mean_rank"], ""])
        for dim, table in q.get("crosstabs", {}).items():
            writer.writerow([q["key"], f"crosstab:{dim}", "", *table["columns"], "total"])
            for label, cells, total in zip(
                table["rows"], table["cells"], table["row_totals"], strict=True
            ):
                writer.writerow(
                    [q["key"], f"crosstab:{dim}", label, *map(_cell, cells), _cell(total)]
                )
            writer.writerow(
                [q["key"], f"crosstab:{dim}", "total", *map(_cell, table["column_totals"]), ""]
            )
    return "\ufeff" + out.getvalue()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that spreadsheet programs will not run as a formula (=, +, -, @, tab, CR
    first): prefixed with an apostrophe. Numbers stay as they are."""
    formula = isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r")
    if formula and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _SafeWriter:
    """A csv writer whose every text cell goes through spreadsheet_safe."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow([spreadsheet_safe(value) for value in row])


def download(survey: Survey, fmt: str) -> FlaskResponse:
    if fmt == "csv":
        body, mime = as_csv(survey), "text/csv; charset=utf-8"
    else:
        body, mime = as_json(survey), "application/json; charset=utf-8"
    response = FlaskResponse(body.encode("utf-8"), mimetype=mime)
    response.headers["Content-Disposition"] = f'attachment; filename="survey-{survey.key}.{fmt}"'
    return response


def raw_rows(survey: Survey) -> list[dict[str, Any]]:
    """Raw answers of an anonymous survey for analysis: no identifier, no date, rows in random
    id order, free text left out (it is reviewed separately). Segment combinations held by fewer
    than k responses are coarsened: the age band, then the sex, then the district become "*"."""
    from collections import Counter

    from sqlalchemy import select

    from app.extensions import db
    from app.survey.questions import slots
    from app.survey.surveys_models import Response

    layout = slots(survey.questions)
    numbers = [q.key for q in survey.questions if q.type in ("number", "date")]
    rows = db.session.execute(
        select(
            Response.district, Response.sex, Response.age_band, Response.codes, Response.cells_json
        )
        .where(Response.survey_id == survey.id)
        .order_by(Response.id)
    ).all()
    segments: list[tuple[str, ...]] = [(r[0], r[1], r[2]) for r in rows]
    for cut in (3, 2, 1):  # keep the first `cut - 1` fields of rare combinations
        counts = Counter(segments)
        segments = [
            s if counts[s] >= survey.k else (*s[: cut - 1], *["*"] * (4 - cut)) for s in segments
        ]
    counts = Counter(segments)
    out = []
    for segment, row in zip(segments, rows, strict=True):
        if counts[segment] < survey.k:
            continue  # even "*, *, *" is rarer than k: the survey is too small to export
        codes = bytes(row[3])
        record: dict[str, Any] = dict(zip(("district", "sex", "age_band"), segment, strict=True))
        for i, (_q, key, _pos, labels) in enumerate(layout):
            record[key] = labels[codes[i] - 1] if i < len(codes) and codes[i] else ""
        scalars = json.loads(row[4] or "{}")
        for key in numbers:
            record[key] = scalars.get(key, "")
        out.append(record)
    return out


def raw_csv(survey: Survey) -> str:
    records = raw_rows(survey)
    out = io.StringIO()
    if records:
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(
            {key: spreadsheet_safe(value) for key, value in record.items()} for record in records
        )
    return "\ufeff" + out.getvalue()
