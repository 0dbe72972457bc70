"""L04: migrations keep data. From an empty schema, each revision step is taken with rows in
every table that exists at the previous revision; after the step those rows are still there with
the same values, and the new tables get rows too, up to head (as Mastodon's migration test)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    inspect,
    select,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Connection

from app.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
BASE_TIME = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)
ROWS = 2
# Values a CHECK constraint needs that the generic rule below does not give.
LATER = {"closes_at", "ends_at", "expires_at", "not_after"}
NULL = {("survey_participations", "member_id")}  # one person: the monitor, not a member
# `col IN ('a', …)` on SQLite, `(col)::text = ANY (ARRAY['a'::…` on PostgreSQL
CHOICE = re.compile(r"\(?\"?(\w+)\"?\)?(?:::text)? (?:IN \(|= ANY \(\(?ARRAY\[)'([^']*)'")


def _revisions() -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def _value(table: Table, column: Any, i: int, choices: dict[str, str]) -> Any:
    if column.name in choices:
        return choices[column.name]
    kind = column.type
    if isinstance(kind, Boolean):
        return bool(i % 2)
    if isinstance(kind, Integer):
        return 3 + i
    if isinstance(kind, Numeric | Float):
        return 1.5 + i
    if isinstance(kind, DateTime):
        offset = dt.timedelta(days=30) if column.name in LATER else dt.timedelta()
        return BASE_TIME + offset + dt.timedelta(minutes=i)
    if isinstance(kind, Date):
        return (BASE_TIME + dt.timedelta(days=i)).date()
    if isinstance(kind, LargeBinary):
        return bytes([i, 1, 2, 3])
    if isinstance(kind, JSON):
        return {"seeded": i}
    if isinstance(kind, ARRAY):
        return [3 + i] if isinstance(kind.item_type, Integer) else [f"{i}{column.name}"]
    if isinstance(kind, TSVECTOR):
        return f"seed{i}"
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 40
        return f"{i}{table.name[:6]}{column.name}"[:length]
    raise AssertionError(f"no seed value for {table.name}.{column.name} ({kind!r})")


def _seed(conn: Connection, meta: MetaData) -> None:
    """Insert ROWS rows into every empty table, parents first; foreign keys point at parent
    rows (a second key to the same parent at another row, so `a <> b` checks hold)."""
    inspector = inspect(conn)
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        if conn.execute(select(table).limit(1)).first() is not None:
            continue  # reference data the migration seeded
        choices: dict[str, str] = {}
        for check in inspector.get_check_constraints(table.name):
            found = CHOICE.search(str(check["sqltext"]))
            if found:
                choices[found.group(1)] = found.group(2)
        parents: dict[str, list[Any]] = {}
        for fk in table.foreign_keys:
            target = fk.column
            if target.table is table:
                continue
            values = list(conn.execute(select(target).order_by(target)).scalars())
            assert values, f"{table.name}: parent {target.table.name} has no rows"
            parents[fk.parent.name] = values
        rows = []
        for i in range(ROWS):
            row: dict[str, Any] = {}
            seen_parent: dict[str, int] = {}
            for column in table.columns:
                if (table.name, column.name) in NULL:
                    row[column.name] = None
                elif column.name in parents:
                    target = next(iter(column.foreign_keys)).column.table.name
                    shift = seen_parent.get(target, 0)
                    seen_parent[target] = shift + 1
                    values = parents[column.name]
                    row[column.name] = values[(i + shift) % len(values)]
                elif column.foreign_keys:  # refers to its own table
                    row[column.name] = None
                elif (
                    column.primary_key
                    and column.autoincrement in (True, "auto")
                    and isinstance(column.type, Integer)
                ):
                    continue
                else:
                    row[column.name] = _value(table, column, i, choices)
            rows.append(row)
        conn.execute(table.insert(), rows)


def _snapshot(conn: Connection) -> dict[str, set[str]]:
    """Each table's rows as canonical JSON (column -> value)."""
    meta = MetaData()
    meta.reflect(bind=conn)
    out: dict[str, set[str]] = {}
    for table in meta.sorted_tables:
        rows = conn.execute(select(table)).mappings()
        out[table.name] = {
            json.dumps({k: _plain(v) for k, v in row.items()}, sort_keys=True, default=str)
            for row in rows
        }
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat() if value.tzinfo is None else value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _kept(before: dict[str, set[str]], after: dict[str, set[str]], step: str) -> None:
    """Rows present before `step` are there after it, compared on the columns that remain."""
    for table, rows in before.items():
        if table == "alembic_version":
            continue
        assert table in after, f"{step} dropped {table} with its rows"
        old = [json.loads(r) for r in rows]
        new = [json.loads(r) for r in after[table]]
        shared = set(old[0]) & set(new[0]) if old and new else set()
        assert len(new) == len(old), f"{step}: {table} had {len(old)} rows, now {len(new)}"
        assert _project(new, shared) == _project(old, shared), f"{step} changed rows of {table}"


def _project(rows: list[dict[str, Any]], columns: set[str]) -> list[str]:
    return sorted(json.dumps({k: r[k] for k in columns}, sort_keys=True) for r in rows)


def test_every_step_keeps_the_rows_of_the_step_before(app: Flask) -> None:
    downgrade(revision="base")
    db.session.remove()
    binds = {"main": db.engine, "pii": db.engines["pii"]}
    revisions = _revisions()
    assert revisions[0] == "0001" and len(revisions) >= 2
    before: dict[str, dict[str, set[str]]] = {}
    for step in revisions:
        upgrade(revision=step)
        for name, engine in binds.items():
            with engine.begin() as conn:
                if name in before:
                    _kept(before[name], _snapshot(conn), f"{name} {step}")
                meta = MetaData()
                meta.reflect(bind=conn)
                _seed(conn, meta)
            with engine.connect() as conn:
                before[name] = _snapshot(conn)
    for name, tables in before.items():
        empty = [t for t, rows in tables.items() if not rows]
        assert empty == [], f"{name}: tables without rows at head: {empty}"
