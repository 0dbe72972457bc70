"""Survey results benchmark: 100,000 responses × 20 questions, full result set with crosstabs.

    python bench/survey_bench.py [--quick] [--pg URL] [--no-pg] [--runs N]

Builds a survey of 20 questions (single, multiple, scale, matrix, ranking, number, date, text)
and 100,000 synthetic responses spread over 6 districts × 4 sexes × 8 age bands (--quick:
10,000), on SQLite (a file under bench/out/survey/) and on PostgreSQL (a database of its own,
default sankaku_bench_survey on 127.0.0.1). Measures the time to compute the full result set
(`app.survey.results.compute`: one SQL pass over the flat answer cells grouped by segment, then
counts, means and every crosstab with k-suppression and complementary suppression), the best
and median of N runs, and the cached page path (`results_for` after a warm-up).

Wall time depends on what else the machine runs, so each run also records CPU time: this
process's (all threads: the whole computation on SQLite) plus, on PostgreSQL, the server
backends of the benchmark database (read from /proc; parallel query workers, which come and
go within a query, are not counted — the benchmark turns them off for the CPU figures).

Targets: ≤ 1 s on SQLite and ≤ 0.5 s on PostgreSQL. Output under bench/out/ (not committed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "survey"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/sankaku_bench_survey"
sys.path.insert(0, str(ROOT))

DISTRICTS = ["中央", "北町", "南町", "東が丘", "西浜", "山の手"]
SEXES = ["female", "male", "other", "unstated"]
BANDS = ["20s", "30s", "40s", "50s", "60s", "70s", "80s", "90s"]
CHOICES = ["とても良い", "良い", "普通", "悪い", "とても悪い"]


def questions() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(1, 21):
        kind = ["single", "scale", "multiple", "single", "scale", "matrix", "ranking", "number"][
            n % 8
        ]
        if n == 19:
            kind = "date"
        if n == 20:
            kind = "text"
        options: dict[str, Any] = {}
        if kind in ("single", "multiple", "ranking"):
            options = {"choices": CHOICES[:4] if kind == "ranking" else CHOICES}
            if kind == "multiple":
                options["max"] = 3
        elif kind in ("scale", "matrix"):
            options = {"points": 5}
            if kind == "matrix":
                options["rows"] = ["広報紙", "ウェブ", "SNS"]
        elif kind == "number":
            options = {"min": 0, "max": 100}
        elif kind == "text":
            options = {"max_length": 200}
        out.append({"key": f"q{n}", "type": kind, "text": f"設問{n}", "options": options})
    return out


def answer(q: dict[str, Any], rng: random.Random) -> Any:
    kind = q["type"]
    if kind == "single":
        return rng.choice(CHOICES)
    if kind == "multiple":
        return rng.sample(CHOICES, rng.randint(1, 3))
    if kind == "scale":
        return rng.randint(1, 5)
    if kind == "matrix":
        return {row: rng.randint(1, 5) for row in q["options"]["rows"]}
    if kind == "ranking":
        return rng.sample(CHOICES[:4], 4)
    if kind == "number":
        return rng.randint(0, 100)
    if kind == "date":
        return (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 364))).isoformat()
    return "バスの本数を増やしてほしい" if rng.random() < 0.05 else ""


def fill(app: Any, count: int) -> Any:
    """Create the survey and `count` responses (cells built like the submit service does)."""
    from app.extensions import db
    from app.survey import authoring
    from app.survey.questions import scalar_cells, to_cells, to_codes
    from app.survey.surveys_models import Response

    with app.app_context():
        now = dt.datetime.now(dt.UTC)
        survey = authoring.create_survey(
            {
                "title": "ベンチマーク",
                "opens_at": now + dt.timedelta(days=1),
                "closes_at": now + dt.timedelta(days=30),
            },
            created_by=None,
            key="bench",
        )
        db.session.flush()
        for q in questions():
            authoring.add_question(survey, q)
        db.session.commit()
        qs = list(survey.questions)
        rng = random.Random(1)
        specs = questions()
        batch = []
        for n in range(count):
            answers = {s["key"]: answer(s, rng) for s in specs}
            cells, texts = to_cells(qs, {k: v for k, v in answers.items() if v != ""})
            batch.append(
                {
                    "id": secrets.token_hex(16),
                    "survey_id": survey.id,
                    "answered_on": dt.date(2026, 12, 1 + n % 20),
                    "district": rng.choice(DISTRICTS),
                    "sex": rng.choice(SEXES),
                    "age_band": rng.choice(BANDS),
                    "cells_json": json.dumps(scalar_cells(qs, cells), ensure_ascii=False),
                    "texts_json": json.dumps(texts, ensure_ascii=False, sort_keys=True),
                    "codes": to_codes(qs, cells),
                    "receipt_hash": secrets.token_hex(32),
                }
            )
            if len(batch) == 5000:
                db.session.execute(Response.__table__.insert(), batch)
                batch = []
        if batch:
            db.session.execute(Response.__table__.insert(), batch)
        db.session.commit()
        return survey.id


def _backend_cpu(conn: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends of this database (0 elsewhere)."""
    import os

    if conn.dialect.name != "postgresql":
        return 0.0
    from sqlalchemy import text

    pids = conn.execute(
        text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend'"
        )
    ).scalars()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure(app: Any, survey_id: int, runs: int) -> dict[str, Any]:
    from sqlalchemy import event

    from app.extensions import db
    from app.survey import results
    from app.survey.surveys_models import Survey

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE survey_responses")
        survey = db.session.get(Survey, survey_id)
        times = []
        cpu = []
        data: dict[str, Any] = {}
        for _ in range(runs):
            started = time.perf_counter()
            data = results.compute(survey)
            times.append(time.perf_counter() - started)
        if db.engine.dialect.name == "postgresql":
            # CPU figures without parallel workers (their processes are not counted).
            db.engine.dispose()
            event.listen(db.engine, "connect", _no_parallel)
        # Autocommit: pg_stat_activity is read once per transaction, and backends come and go.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            for _ in range(runs):
                before = time.process_time(), _backend_cpu(probe)
                results.compute(survey)
                after = time.process_time(), _backend_cpu(probe)
                cpu.append(after[0] - before[0] + after[1] - before[1])
        results.clear_cache()
        results.results_for(survey)
        started = time.perf_counter()
        results.results_for(survey)
        cached = time.perf_counter() - started
        crosstabs = sum(len(q.get("crosstabs", {})) for q in data["questions"])
        hidden = sum(
            v is None
            for q in data["questions"]
            for t in q.get("crosstabs", {}).values()
            for row in t["cells"]
            for v in row
        )
        return {
            "responses": data["responses"],
            "questions": len(data["questions"]),
            "crosstabs": crosstabs,
            "hidden_cells": hidden,
            "best_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3),
            "cpu_best_s": round(min(cpu), 3),
            "cpu_median_s": round(statistics.median(cpu), 3),
            "cached_page_s": round(cached, 4),
        }


def _no_parallel(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET max_parallel_workers_per_gather = 0")
    dbapi_conn.commit()  # a rolled-back SET would be undone


def sqlite_app(count: int) -> Any:
    from flask_migrate import upgrade

    from app import create_app

    inst = OUT / "sqlite-instance"
    for name in ("sankaku.db", "sankaku.db-wal", "sankaku.db-shm", "pii.db"):
        (inst / name).unlink(missing_ok=True)
    inst.mkdir(parents=True, exist_ok=True)
    app = create_app("testing", overrides={"INSTANCE_DIR": str(inst), "SEARCH_INDEXING": False})
    with app.app_context():
        upgrade()
    return app


def pg_app(url: str) -> Any:
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app import create_app

    parsed = make_url(url)
    if parsed.host not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the benchmark only talks to 127.0.0.1")
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            for name in (parsed.database, f"{parsed.database}_pii"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(json.dumps({"engine": "postgres", "skipped": f"no PostgreSQL: {exc}"[:200]}))
        return None
    admin.dispose()
    main = parsed.render_as_string(hide_password=False)
    pii = parsed.set(database=f"{parsed.database}_pii").render_as_string(hide_password=False)
    inst = OUT / "pg-instance"
    inst.mkdir(parents=True, exist_ok=True)
    app = create_app(
        "testing",
        overrides={
            "DATABASE_URL": main,
            "PII_DATABASE_URL": pii,
            "INSTANCE_DIR": str(inst),
            "SEARCH_INDEXING": False,
        },
    )
    with app.app_context():
        upgrade()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 responses")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (127.0.0.1 only)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    count = 10_000 if args.quick else 100_000
    import logging

    logging.disable(logging.INFO)
    report = []
    engines: list[tuple[str, Any]] = [("sqlite", lambda: sqlite_app(count))]
    if not args.no_pg:
        engines.append(("postgres", lambda: pg_app(args.pg)))
    for name, make in engines:
        app = make()
        if app is None:
            continue
        started = time.perf_counter()
        survey_id = fill(app, count)
        load = time.perf_counter() - started
        row = {"engine": name, "load_s": round(load, 1), **measure(app, survey_id, args.runs)}
        target = 1.0 if name == "sqlite" else 0.5
        row["target_s"] = target
        row["ok"] = row["best_s"] <= target
        print(json.dumps(row, ensure_ascii=False))
        report.append(row)
        from app.extensions import db

        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
