"""The PostgreSQL backend's table (SEARCH_BACKEND=postgres).

It is part of the ORM metadata on every database so that `alembic check` and the test
fixtures see it; on SQLite the PostgreSQL-only types fall back to JSON/TEXT and the table stays
empty (the Whoosh backend is used there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
from app.extensions import db

TERMS = JSON().with_variant(ARRAY(Text), "postgresql")
IDS = JSON().with_variant(ARRAY(Integer), "postgresql")
TOKENS = Text().with_variant(TSVECTOR(), "postgresql")


class SearchDocument(db.Model):  # type: ignore[name-defined]
    """One search document: its terms as a tsvector, its audience as arrays (see audience.py)."""

    __tablename__ = "search_documents"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(BigInteger)
    grp: Mapped[str] = mapped_column(String(80), index=True)
    parent: Mapped[str] = mapped_column(String(80), default="", index=True)
    author_id: Mapped[int] = mapped_column(Integer)
    community_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    audience: Mapped[Any] = mapped_column(TERMS)  # one audience term per gate
    owners: Mapped[Any] = mapped_column(IDS)  # one owner per gate
    hidden_owners: Mapped[Any] = mapped_column(IDS)  # owners of gates a moderator hid
    gates: Mapped[str] = mapped_column(Text)  # encoded gates, for `flask search check`
    tokens: Mapped[Any] = mapped_column(TOKENS)

    __table_args__ = (
        Index("ix_search_documents_tokens", "tokens", postgresql_using="gin"),
        Index("ix_search_documents_created_at", "created_at"),
    )
