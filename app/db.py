"""Database foundation: declarative base with a constraint naming convention, UTC datetimes,
SQLite pragmas and SQLAlchemy's pysqlite transaction recipe.

The personal-data vault is a second bind (``__bind_key__ = "pii"``); it is never joined to the
main database in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import has_request_context, request
from sqlalchemy import DateTime, Engine, MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC. Every stored time is UTC and named `*_at`."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.db.utcnow() or an aware datetime")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base for every model, main database and vault alike."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _wants_immediate(conn: Connection, outside_request: bool) -> bool:
    """Write transactions on SQLite begin IMMEDIATE so writers queue instead of failing late.

    Reads (GET requests) begin deferred so that readers never wait on each other. Outside a
    request (CLI commands, jobs) transactions begin IMMEDIATE unless configured otherwise.
    """
    opt = conn.get_execution_options().get("sqlite_begin")
    if opt is not None:
        return bool(opt == "immediate")
    if has_request_context():
        return request.method not in {"GET", "HEAD", "OPTIONS"}
    return outside_request


def configure_sqlite_engine(
    engine: Engine, busy_timeout_ms: int, *, immediate_outside_request: bool = True
) -> None:
    """Apply WAL, synchronous=FULL, foreign keys, busy timeout and the pysqlite BEGIN recipe."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own BEGIN (cpython #54949); we emit ours below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = _wants_immediate(conn, immediate_outside_request)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
