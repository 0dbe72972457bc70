"""Exports of the k-suppressed result tables: JSON (the CLI's shape) and CSV (UTF-8 with BOM,
so spreadsheet software opens Japanese text correctly). Hidden cells are null / empty."""

from __future__ import annotations

import csv
import io
import json
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
    writer = csv.writer(out)
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


def download(survey: Survey, fmt: str) -> FlaskResponse:
    if fmt == "csv":
        body, mime = as_csv(survey), "text/csv; charset=utf-8"
    else:
        body, mime = as_json(survey), "application/json; charset=utf-8"
    response = FlaskResponse(body.encode("utf-8"), mimetype=mime)
    response.headers["Content-Disposition"] = f'attachment; filename="survey-{survey.key}.{fmt}"'
    return response
