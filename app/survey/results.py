"""Results: counts, percentages, means and crosstabs by district / sex / age band with k-cell
suppression and complementary suppression, computed in SQL in one pass.

One query groups the responses by segment (district, sex, age band) and counts, with
conditional aggregation over each response's fixed-width answer codes (one character per
choice-like slot, `questions.slots`), every slot value at once; a covering index serves it in
segment order. Numbers and dates come from the JSON cells in one more query each. Everything
else (margins, crosstabs by each dimension, percentages, means, suppression) is arithmetic on
those few hundred rows.
Results are cached per (survey, number of responses, results version): a new response or a
review decision changes the key.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text

from app.extensions import db
from app.survey.questions import OTHER, slots
from app.survey.surveys_models import Question, Response, Survey, TextReview
from app.survey.targeting import AGE_BANDS

DIMENSIONS = ("district", "sex", "age_band")
CROSSTAB_TYPES = ("single", "multiple", "scale")
_cache: dict[tuple[int, int, int], dict[str, Any]] = {}
_cache_lock = threading.Lock()
CACHE_SIZE = 64

SEGMENT_SQL = """
SELECT district, sex, age_band, count(*){exprs}
FROM survey_responses WHERE survey_id = :sid
GROUP BY district, sex, age_band
"""


def suppress(
    cells: Sequence[Sequence[int]], k: int, row_totals: Sequence[int], col_totals: Sequence[int]
) -> tuple[list[list[int | None]], list[int | None], list[int | None]]:
    """Primary suppression of every count 0 < n < k (cells and column totals), then
    complementary suppression until no row or column has exactly one hidden entry, so no hidden
    value can be recovered by subtracting from a published total.

    Row totals (each answer's count over everyone) and the grand total are published in the
    question's own counts, so they are never hidden; the complements are found among cells and
    column totals. Returns (cells, row totals, column totals) with None for hidden entries.
    """
    n_rows, n_cols = len(cells), len(col_totals)
    # Grid with margins: rows 0..R-1 cells + row total at column C; row R holds column totals.
    grid = [[*list(row), row_totals[i]] for i, row in enumerate(cells)]
    grid.append([*list(col_totals), sum(col_totals)])
    pinned = {(i, n_cols) for i in range(n_rows + 1)}
    if n_cols == 1:
        pinned.add((n_rows, 0))  # a single column's total is the grand total
    hidden = [
        [0 < v < k and (i, j) not in pinned for j, v in enumerate(row)]
        for i, row in enumerate(grid)
    ]
    lines = [[(i, j) for j in range(n_cols + 1)] for i in range(n_rows + 1)] + [
        [(i, j) for i in range(n_rows + 1)] for j in range(n_cols)
    ]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(hidden[i][j] for i, j in line) != 1:
                continue
            candidates = [(i, j) for i, j in line if not hidden[i][j] and (i, j) not in pinned]
            if not candidates:
                continue  # one column: the cell equals its row total, published anyway
            # Smallest non-zero count first (hides least information), then zeros.
            i, j = min(candidates, key=lambda c: (grid[c[0]][c[1]] == 0, grid[c[0]][c[1]]))
            hidden[i][j] = True
            changed = True
    out = [[None if hidden[i][j] else grid[i][j] for j in range(n_cols)] for i in range(n_rows)]
    rows_out: list[int | None] = [grid[i][n_cols] for i in range(n_rows)]
    cols_out = [None if hidden[n_rows][j] else grid[n_rows][j] for j in range(n_cols)]
    return out, rows_out, cols_out


GROUP_MAX_SQL = """
SELECT max(n) FROM (SELECT count(*) AS n FROM survey_responses WHERE survey_id = :sid
GROUP BY district, sex, age_band) AS g
"""


def _packed_exprs(layout: list[Any], bits: int, dialect: str) -> list[tuple[str, list[int]]]:
    """Packed counting: one `sum(1 << (bits * field))` adds up to 63 // bits - 1 value counts of
    a slot at once (each group's counts are < 2**bits, so fields never carry; field 0, "no
    answer", is ignored). Returns (expression, value numbers in field order 1..) pairs."""
    per = max(63 // bits - 1, 1)
    out = []
    for _q, _key, pos, labels in layout:
        values = list(range(1, len(labels) + 1))
        for start in range(0, len(values), per):
            chunk = values[start : start + per]
            if dialect == "postgresql":
                byte = f"get_byte(codes, {pos - 1})"
                if start == 0 and len(chunk) == len(values):
                    # Every value fits: the value is its own field (0, no answer, is field 0).
                    out.append((f"sum(1::bigint << ({bits} * {byte}))", chunk))
                else:
                    lo, hi = chunk[0], chunk[-1]
                    out.append(
                        (
                            f"sum(CASE WHEN {byte} BETWEEN {lo} AND {hi} "
                            f"THEN 1::bigint << ({bits} * ({byte} - {lo - 1})) ELSE 0 END)",
                            chunk,
                        )
                    )
                continue
            lookup = "".join(f"{v:02x}" for v in chunk)
            # instr() gives the value's field (1..), 0 for other values (field 0 is ignored).
            out.append((f"sum(1 << ({bits} * instr(x'{lookup}', substr(codes, {pos}, 1))))", chunk))
    return out


def _segment_rows(
    layout: list[Any], survey_id: int, conn: Any
) -> list[tuple[str, str, str, int, list[int]]]:
    """One pass: per segment, the number of responses and, for every slot value (in `slots`
    order), how many responses hold it — packed conditional aggregation over the answer codes
    (one sum per slot instead of one count per value: half the CPU time on PostgreSQL)."""
    params = {"sid": survey_id}
    rows: list[tuple[str, str, str, int, list[int]]] = []
    biggest = int(conn.execute(text(GROUP_MAX_SQL), params).scalar() or 0)
    bits = max(biggest.bit_length(), 1)
    packed = _packed_exprs(layout, bits, conn.dialect.name)
    sql = SEGMENT_SQL.format(exprs="".join(f", {e}" for e, _chunk in packed))
    mask = (1 << bits) - 1
    for r in conn.execute(text(sql), params).all():
        flat: list[int] = []
        column = 4
        for _e, chunk in packed:
            total = int(r[column] or 0)
            column += 1
            for field, _value in enumerate(chunk, start=1):
                flat.append((total >> (bits * field)) & mask)
        rows.append((r[0] or "", r[1] or "", r[2] or "", int(r[3]), flat))
    return rows


SCALAR_SQL = {
    "sqlite": (
        "SELECT j.key, j.value, count(*) FROM survey_responses AS r, json_each(r.cells_json) AS j "
        "WHERE r.survey_id = :sid GROUP BY j.key, j.value"
    ),
    "postgresql": (
        "SELECT j.key, j.value, count(*) FROM survey_responses AS r, "
        "json_each_text(r.cells_json::json) AS j WHERE r.survey_id = :sid GROUP BY j.key, j.value"
    ),
}
# PostgreSQL: parsing 100,000 JSON objects is most of the pass. `cells_json` is written by
# `json.dumps` (items joined by ", ", scalar values only: numbers and ISO dates, keys without
# commas), so splitting the text on ", " gives one `"key": value` item each (the first keeps
# the "{", the last the "}"). Grouping those few hundred distinct items, then parsing them in
# Python, takes half the CPU time of json_each_text.
SCALAR_ITEMS_SQL = (
    "SELECT t, count(*) FROM survey_responses AS r, unnest(string_to_array(r.cells_json, ', ')) "
    "AS t WHERE r.survey_id = :sid GROUP BY t"
)


def _scalar_items(survey_id: int, conn: Any) -> dict[str, dict[str, int]] | None:
    """The split-text pass (PostgreSQL); None when an item does not parse (then JSON it is)."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for item, count in conn.execute(text(SCALAR_ITEMS_SQL), {"sid": survey_id}).all():
        body = str(item).removeprefix("{").removesuffix("}").strip()
        if not body:
            continue  # "{}": a response without number or date answers
        try:
            parsed = json.loads("{" + body + "}")
        except ValueError:
            return None
        if not isinstance(parsed, dict) or len(parsed) != 1:
            return None
        ((key, value),) = parsed.items()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            return None
        cell = out[str(key)]
        cell[str(value)] = cell.get(str(value), 0) + int(count)
    return out


def _scalars(survey_id: int, conn: Any) -> dict[str, dict[str, int]]:
    """Number and date answers: {question key: {value: count}}, one pass over the small
    `cells_json` of every response (it holds only these answers)."""
    if conn.dialect.name == "postgresql":
        fast = _scalar_items(survey_id, conn)
        if fast is not None:
            return fast
    out: dict[str, dict[str, int]] = defaultdict(dict)
    sql = SCALAR_SQL["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    for key, value, count in conn.execute(text(sql), {"sid": survey_id}).all():
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[str(key)][str(value)] = int(count)
    return out


def _numbers(
    survey: Survey, scalars: dict[str, dict[str, int]]
) -> dict[str, tuple[int, float, float | None, float | None]]:
    """count, sum, min and max of each number question."""
    out = {}
    for q in survey.questions:
        if q.type != "number":
            continue
        values = {float(v): n for v, n in scalars.get(q.key, {}).items()}
        count = sum(values.values())
        total = sum(v * n for v, n in values.items())
        out[q.key] = (count, total, min(values, default=None), max(values, default=None))
    return out


def _dimension_values(dim: str, seen: set[str]) -> list[str]:
    if dim == "district":
        base = list(current_app.config["DISTRICTS"])
    elif dim == "sex":
        base = ["female", "male", "other", "unstated"]
    else:
        base = list(AGE_BANDS)
    extra = sorted(v for v in seen if v not in base)
    return [v for v in base if v in seen] + extra


def _aggregate(survey: Survey) -> tuple[list[Any], list[Any], dict[str, dict[str, int]]]:
    """Run the segment pass and the number/date pass at the same time on two read connections
    (the database does the work; the GIL is released while they run). Each reads its own
    consistent snapshot; a response arriving in between changes the cache key anyway."""
    engine = db.engine
    survey_id = survey.id
    layout = slots(survey.questions)  # read here: ORM objects stay in this thread

    def run(fn: Any, *args: Any) -> Any:
        with engine.connect().execution_options(sqlite_begin="deferred") as conn:
            return fn(*args, conn)

    with ThreadPoolExecutor(max_workers=2) as pool:
        segments = pool.submit(run, _segment_rows, layout, survey_id)
        scalars = pool.submit(run, _scalars, survey_id)
        return segments.result(), layout, scalars.result()


def compute(survey: Survey) -> dict[str, Any]:
    """The full k-suppressed result set (see `docs/surveys.md` for the JSON shape)."""
    segment_rows, layout, scalars = _aggregate(survey)
    k = survey.k
    total = sum(int(r[3]) for r in segment_rows)
    seg_totals: dict[str, dict[str, int]] = {d: defaultdict(int) for d in DIMENSIONS}
    # counts[cell key][value][dim][segment value] -> n
    by_cell: dict[str, dict[str, dict[str, dict[str, int]]]] = defaultdict(
        lambda: defaultdict(lambda: {d: defaultdict(int) for d in DIMENSIONS})
    )
    for district, sex, band, count, flat in segment_rows:
        segment = {"district": district, "sex": sex, "age_band": band}
        for dim in DIMENSIONS:
            seg_totals[dim][segment[dim]] += count
        values = iter(flat)
        for _q, key, _pos, labels in layout:
            for label in labels:
                n = next(values)
                if n:
                    slot = by_cell[key][label]
                    for dim in DIMENSIONS:
                        slot[dim][segment[dim]] += n
    if total < k:
        scalars = {}
    numbers = _numbers(survey, scalars)
    dates = {q.key: scalars.get(q.key, {}) for q in survey.questions if q.type == "date"}
    dims = {d: _dimension_values(d, set(seg_totals[d])) for d in DIMENSIONS}
    questions = []
    withheld = total < k
    for q in survey.questions:
        questions.append(_question(q, by_cell, dims, k, total, withheld, numbers, dates))
    return {
        "survey": survey.key,
        "title": survey.title,
        "k": k,
        "responses": total,
        "withheld": withheld,
        "segments": {
            d: {
                "values": dims[d],
                "totals": suppress([], k, [], [seg_totals[d][v] for v in dims[d]])[2],
            }
            for d in DIMENSIONS
        },
        "questions": questions,
    }


def _question(
    q: Question,
    by_cell: dict[str, Any],
    dims: dict[str, list[str]],
    k: int,
    total: int,
    withheld: bool,
    numbers: dict[str, tuple[int, float, float | None, float | None]],
    dates: dict[str, dict[str, int]],
) -> dict[str, Any]:
    opts = q.options
    out: dict[str, Any] = {"key": q.key, "type": q.type, "text": q.text}
    if withheld:
        out["withheld"] = True
        return out

    def overall(key: str) -> dict[str, int]:
        return {v: sum(slot["district"].values()) for v, slot in by_cell.get(key, {}).items()}

    if q.type in ("single", "scale"):
        labels = (
            [*opts["choices"], *([OTHER] if opts.get("other") else [])]
            if q.type == "single"
            else [str(p) for p in range(1, opts["points"] + 1)]
        )
        counts = overall(q.key)
        answered = sum(counts.values())
        out["answered"] = answered
        out["counts"] = [_count(label, counts.get(label, 0), answered) for label in labels]
        if q.type == "scale":
            out["mean"] = _mean({int(v): n for v, n in counts.items()})
        slots = {label: by_cell.get(q.key, {}).get(label) for label in labels}
        out["crosstabs"] = _crosstabs(labels, slots, dims, k)
    elif q.type == "multiple":
        labels = [*opts["choices"], *([OTHER] if opts.get("other") else [])]
        slots = {label: by_cell.get(f"{q.key}.{label}", {}).get("1") for label in labels}
        counts = {label: sum(s["district"].values()) if s else 0 for label, s in slots.items()}
        out["counts"] = [_count(label, counts[label], total) for label in labels]
        out["crosstabs"] = _crosstabs(labels, slots, dims, k)
    elif q.type == "matrix":
        rows = []
        for row in opts["rows"]:
            counts = overall(f"{q.key}.{row}")
            answered = sum(counts.values())
            points = [str(p) for p in range(1, opts["points"] + 1)]
            rows.append(
                {
                    "row": row,
                    "answered": answered,
                    "counts": [_count(p, counts.get(p, 0), answered) for p in points],
                    "mean": _mean({int(v): n for v, n in counts.items()}),
                }
            )
        out["rows"] = rows
    elif q.type == "ranking":
        items = []
        for choice in opts["choices"]:
            places = {int(v): n for v, n in overall(f"{q.key}.{choice}").items()}
            items.append(
                {
                    "label": choice,
                    "first": places.get(1, 0),
                    "ranked": sum(places.values()),
                    "mean_rank": _mean(places),
                }
            )
        out["ranking"] = sorted(items, key=lambda x: (x["mean_rank"] is None, x["mean_rank"]))
    elif q.type == "number":
        answered, total_sum, low, high = numbers.get(q.key, (0, 0.0, None, None))
        out["answered"] = answered
        out["mean"] = round(total_sum / answered, 2) if answered else None
        # The extremes are single answers: shown only when k people answered.
        out["min"] = _plain(low) if answered >= k else None
        out["max"] = _plain(high) if answered >= k else None
    elif q.type == "date":
        counts = dates.get(q.key, {})
        out["answered"] = sum(counts.values())
        out["counts"] = [
            {"label": day, "count": n if n >= k else None} for day, n in sorted(counts.items())
        ]
    elif q.type == "text":
        out["texts"] = []  # filled by published_texts() for those who may read them
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _count(label: str, n: int, base: int) -> dict[str, Any]:
    return {"label": label, "count": n, "percent": round(100.0 * n / base, 1) if base else 0.0}


def _mean(counts: dict[Any, int]) -> float | None:
    n = sum(counts.values())
    if not n:
        return None
    return round(sum(float(v) * c for v, c in counts.items()) / n, 2)


def _crosstabs(
    labels: list[str], slots: dict[str, Any], dims: dict[str, list[str]], k: int
) -> dict[str, Any]:
    tables = {}
    for dim in DIMENSIONS:
        columns = dims[dim]
        cells = [
            [(slots[lab][dim].get(col, 0) if slots[lab] else 0) for col in columns]
            for lab in labels
        ]
        row_totals = [sum(row) for row in cells]
        col_totals = [sum(cells[i][j] for i in range(len(labels))) for j in range(len(columns))]
        hidden, rows_out, cols_out = suppress(cells, k, row_totals, col_totals)
        tables[dim] = {
            "columns": columns,
            "rows": labels,
            "cells": hidden,
            "row_totals": rows_out,
            "column_totals": cols_out,
        }
    return tables


def cache_key(survey: Survey) -> tuple[int, int, int]:
    count = db.session.execute(
        select(func.count()).select_from(Response).where(Response.survey_id == survey.id)
    ).scalar_one()
    return (survey.id, int(count), int(survey.results_version or 0))


def results_for(survey: Survey) -> dict[str, Any]:
    """The cached result set; recomputed when responses or review decisions changed."""
    key = cache_key(survey)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    data = compute(survey)
    data["texts"] = published_texts(survey) if not data["withheld"] else {}
    with _cache_lock:
        for old in [c for c in _cache if c[0] == survey.id]:
            _cache.pop(old)
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = data
    return data


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def published_texts(survey: Survey) -> dict[str, list[str]]:
    """Free-text answers staff published, by question key (withheld ones are left out)."""
    rows = db.session.execute(
        select(TextReview.question_key, Response.texts_json)
        .join(Response, Response.id == TextReview.response_id)
        .where(Response.survey_id == survey.id, TextReview.decision == "published")
        .order_by(TextReview.question_key, Response.id)
    ).all()
    out: dict[str, list[str]] = defaultdict(list)
    for key, texts_json in rows:
        texts = json.loads(texts_json or "{}")
        if key in texts:
            out[key].append(texts[key])
    return dict(out)


def texts_for_review(survey: Survey) -> list[dict[str, Any]]:
    """Every free-text answer with its decision (staff review); no segment, no date."""
    decisions = {
        (r.response_id, r.question_key): r.decision
        for r in db.session.execute(
            select(TextReview)
            .join(Response, Response.id == TextReview.response_id)
            .where(Response.survey_id == survey.id)
        ).scalars()
    }
    out = []
    for rid, texts_json in db.session.execute(
        select(Response.id, Response.texts_json)
        .where(Response.survey_id == survey.id, Response.texts_json != "{}")
        .order_by(Response.id)
    ).all():
        for key, value in sorted(json.loads(texts_json).items()):
            out.append(
                {
                    "response": rid,
                    "question": key,
                    "text": value,
                    "decision": decisions.get((rid, key), "pending"),
                }
            )
    return out


def review_text(survey: Survey, response_id: str, question_key: str, decision: str) -> None:
    """Publish or withhold one free-text answer; invalidates the results cache."""
    if decision not in ("published", "withheld"):
        raise ValueError(decision)
    response = db.session.get(Response, response_id)
    if response is None or response.survey_id != survey.id:
        raise LookupError(response_id)
    if question_key not in json.loads(response.texts_json or "{}"):
        raise LookupError(question_key)
    row = db.session.execute(
        select(TextReview).where(
            TextReview.response_id == response_id, TextReview.question_key == question_key
        )
    ).scalar_one_or_none()
    if row is None:
        db.session.add(
            TextReview(response_id=response_id, question_key=question_key, decision=decision)
        )
    else:
        row.decision = decision
    survey.results_version = (survey.results_version or 0) + 1
