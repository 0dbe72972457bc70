"""Results: k-suppression with complements, CLI JSON, cache, exports, who sees what."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random

import pytest

from app.extensions import db
from app.survey import answering, results
from app.survey.results import suppress
from tests.survey.surveys_helpers import GOOD, open_survey

SEGMENTS = [
    # (district, sex, age band, count, q1 answer)
    ("中央", "female", "30s", 9, "はい"),
    ("中央", "male", "40s", 7, "いいえ"),
    ("北町", "female", "30s", 6, "はい"),
    ("北町", "male", "70s", 2, "いいえ"),  # a small group: must be hidden
    ("南町", "female", "50s", 8, "いいえ"),
]


def _fill(survey):
    rows = []
    for district, sex, band, count, q1 in SEGMENTS:
        for _ in range(count):
            seg = {"district": district, "sex": sex, "age_band": band}
            rows.append((seg, {**GOOD, "q1": q1, **({} if q1 == "はい" else {"q5": None})}))
    rows = [(s, {k: v for k, v in a.items() if v is not None}) for s, a in rows]
    answering.add_synthetic(survey, rows, day=dt.date(2026, 12, 1))
    db.session.commit()


def _recoverable(cells, rows, cols):
    """Can a hidden entry be recovered by subtracting from a published total? Row totals and
    the grand total are always published; a line with exactly one hidden entry gives it away."""
    for i, line in enumerate(cells):
        assert rows[i] is not None
        if sum(v is None for v in line) == 1:
            return True
    for j in range(len(cols)):
        column = [cells[i][j] for i in range(len(cells))]
        if sum(v is None for v in column) + (cols[j] is None) == 1:
            return True
    return sum(v is None for v in cols) == 1


def test_suppression_hides_small_cells_and_their_complements():
    cells = [[10, 3, 12], [8, 9, 20]]
    out, rows, cols = suppress(cells, 5, [25, 37], [18, 12, 32])
    assert out[0][1] is None  # primary
    assert not _recoverable(out, rows, cols)
    assert sum(v is None for line in out for v in line) >= 4


def test_suppression_property_on_random_tables():
    rng = random.Random(7)
    for _ in range(300):
        # (a one-column crosstab only repeats the answer counts, which are published)
        n_rows, n_cols = rng.randint(1, 5), rng.randint(2, 6)
        cells = [[rng.choice([0, 1, 2, 4, 5, 9, 30]) for _ in range(n_cols)] for _ in range(n_rows)]
        row_totals = [sum(r) for r in cells]
        col_totals = [sum(c) for c in zip(*cells, strict=True)]
        out, rows, cols = suppress(cells, 5, row_totals, col_totals)
        for i, j in itertools.product(range(n_rows), range(n_cols)):
            if 0 < cells[i][j] < 5:
                assert out[i][j] is None
            if out[i][j] is not None:
                assert out[i][j] == cells[i][j]
        assert not _recoverable(out, rows, cols), (cells, out, rows, cols)


def test_results_and_cli_json_use_null_for_hidden_cells(app):
    survey = open_survey(key="kurashi")
    _fill(survey)
    data = results.compute(survey)
    assert data["responses"] == 32
    q1 = data["questions"][0]
    assert {c["label"]: c["count"] for c in q1["counts"]} == {"はい": 15, "いいえ": 17}
    district = q1["crosstabs"]["district"]
    col = district["columns"].index("北町")
    row = district["rows"].index("いいえ")
    assert district["cells"][row][col] is None  # 2 people: hidden
    assert not _recoverable(district["cells"], district["row_totals"], district["column_totals"])
    scale = data["questions"][2]
    assert scale["mean"] == 4.0
    out = app.test_cli_runner().invoke(args=["survey", "results", "kurashi", "--format", "json"])
    assert out.exit_code == 0, out.output
    printed = json.loads(out.output)
    assert printed["questions"][0]["crosstabs"]["district"]["cells"][row][col] is None
    assert set(printed["questions"][0]["crosstabs"]) == {"district", "sex", "age_band"}
    assert "null" in out.output
    missing = app.test_cli_runner().invoke(args=["survey", "results", "nope"])
    assert missing.exit_code == 2


def test_fewer_than_k_responses_show_nothing(make):
    survey = open_survey(k=5)
    answering.submit(survey, make.monitor(), GOOD)
    db.session.commit()
    data = results.compute(survey)
    assert data["withheld"] and all(q.get("withheld") for q in data["questions"])


def test_cache_is_invalidated_by_new_responses(make):
    survey = open_survey(k=2)
    _fill(survey)
    first = results.results_for(survey)
    assert results.results_for(survey) is first  # served from the cache
    answering.submit(survey, make.monitor(), GOOD)
    db.session.commit()
    second = results.results_for(survey)
    assert second["responses"] == first["responses"] + 1


def test_guests_read_published_results_only(client):
    survey = open_survey()
    _fill(survey)
    assert client.get(f"/monitors/surveys/{survey.key}/results").status_code == 404
    survey.results_published = True
    db.session.commit()
    page = client.get(f"/monitors/surveys/{survey.key}/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "<desc>" in html and 'class="data crosstab-table"' in html
    assert "<abbr" in html  # hidden cells are marked


def test_authors_see_aggregates_and_review_texts(client, make, login_as):
    from app.auth.models import RoleCode
    from app.survey.surveys_models import Response

    staff = make.user(handle="staff1", role=RoleCode.STAFF)
    survey = open_survey(k=2)
    _fill(survey)
    login_as(staff)
    page = client.get(f"/staff/surveys/{survey.key}/results").get_data(as_text=True)
    ids = [r.id for r in db.session.execute(db.select(Response)).scalars()]
    assert not any(i in page for i in ids)
    assert "よい" not in page  # unreviewed free text is not shown
    review = client.get(f"/staff/surveys/{survey.key}/texts").get_data(as_text=True)
    assert "よい" in review
    client.post(
        f"/staff/surveys/{survey.key}/texts",
        data={"response": ids[0], "question": "q4", "decision": "published"},
    )
    page = client.get(f"/staff/surveys/{survey.key}/results").get_data(as_text=True)
    assert "よい" in page
    csv_body = client.get(f"/staff/surveys/{survey.key}/results.csv").data
    assert csv_body.startswith("\ufeff".encode())
    assert b"crosstab:district" in csv_body
    as_json = client.get(f"/staff/surveys/{survey.key}/results.json").get_json()
    assert as_json["responses"] == 32
    guest = client.application.test_client()
    assert guest.get(f"/staff/surveys/{survey.key}/results").status_code in (302, 404)


@pytest.mark.parametrize("bad", [{"k": 1}, {"title": ""}, {"closes_at": "2020-01-01T00:00:00"}])
def test_settings_are_checked(app, bad):
    from app.survey import authoring

    data = {
        "title": "t",
        "opens_at": "2099-12-01T09:00:00+09:00",
        "closes_at": "2099-12-31T17:00:00+09:00",
        **bad,
    }
    with pytest.raises(authoring.SurveyInvalid):
        authoring.create_survey(data, created_by=None)


def test_sql_counts_match_a_plain_recount(app):
    """The packed one-pass SQL agrees with counting the answers in Python."""
    survey = open_survey(k=2)
    rng = random.Random(3)
    rows = []
    for _ in range(300):
        seg = {
            "district": rng.choice(["中央", "北町"]),
            "sex": rng.choice(["female", "male"]),
            "age_band": rng.choice(["30s", "70s"]),
        }
        answers = {
            "q1": "いいえ",
            "q2": rng.sample(["図書館", "公園", "病院"], rng.randint(1, 2)),
            "q3": rng.randint(1, 5),
            "q6": rng.randint(1, 10),
            "q7": {"広報": rng.randint(1, 5)},
            "q8": rng.sample(["防災", "福祉", "教育"], 3),
        }
        rows.append((seg, answers))
    answering.add_synthetic(survey, rows, day=dt.date(2026, 12, 1))
    db.session.commit()
    data = results.compute(survey)
    by_key = {q["key"]: q for q in data["questions"]}
    scale = {c["label"]: c["count"] for c in by_key["q3"]["counts"]}
    assert scale == {str(p): sum(a["q3"] == p for _s, a in rows) for p in range(1, 6)}
    multi = {c["label"]: c["count"] for c in by_key["q2"]["counts"]}
    assert multi == {c: sum(c in a["q2"] for _s, a in rows) for c in ["図書館", "公園", "病院"]}
    table = by_key["q3"]["crosstabs"]["district"]
    for i, point in enumerate(table["rows"]):
        for j, district in enumerate(table["columns"]):
            expected = sum(a["q3"] == int(point) and s["district"] == district for s, a in rows)
            assert table["cells"][i][j] in (expected, None)
    mean = sum(a["q6"] for _s, a in rows) / len(rows)
    assert by_key["q6"]["mean"] == round(mean, 2)
    matrix = by_key["q7"]["rows"][0]
    assert matrix["answered"] == 300
    first = {r["label"]: r["first"] for r in by_key["q8"]["ranking"]}
    assert first == {c: sum(a["q8"][0] == c for _s, a in rows) for c in ["防災", "福祉", "教育"]}


def test_raw_export_has_no_identifier_and_rounds_rare_segments(client, make, login_as):
    from app.auth.models import RoleCode

    survey = open_survey(k=5)
    _fill(survey)  # 北町/male/70s has only 2 responses
    monitor = make.monitor()
    answering.submit(survey, monitor, GOOD)
    db.session.commit()
    staff = make.user(handle="staff3", role=RoleCode.STAFF)
    login_as(staff)
    assert client.get(f"/staff/surveys/{survey.key}/raw.csv").status_code == 404  # authors: no
    client.post("/auth/logout")
    admin = make.user(handle="analyst", role=RoleCode.ADMIN)
    login_as(admin)
    body = client.get(f"/staff/surveys/{survey.key}/raw.csv").data.decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("district,sex,age_band,q1,")
    assert "北町,male,70s" not in body  # rare: coarsened
    assert monitor.pseudonym not in body and "2026-12-01" not in body
    segments = [tuple(line.split(",")[:3]) for line in lines[1:]]
    assert all(segments.count(s) >= 5 for s in segments)
