"""Searching: analyse the query, ask the index for ids the viewer may see, reload each hit
through the visibility module, and fall back to a database search when the index cannot answer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.search.analyzer import ParsedQuery, parse_query
from app.search.audience import scope_for
from app.search.backend import Filters, IndexUnavailable, Ref, SearchPage
from app.search.documents import Hit, kinds
from app.search.indexing import documents_for, get_backend

log = logging.getLogger(__name__)

PER_PAGE = 20
MAX_PAGE = 50  # nobody reads page 51; deeper pages cost the index more
SORTS = ("relevance", "date")


@dataclass
class Results:
    query: ParsedQuery
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = PER_PAGE
    degraded: str | None = None  # why the database answered instead of the index

    @property
    def pages(self) -> int:
        return min(MAX_PAGE, max(1, -(-self.total // self.per_page)))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def search(
    viewer: Any,
    raw_query: str | None,
    filters: Filters | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Results:
    """Search for `viewer`. Never raises for bad input; falls back when the index cannot answer."""
    parsed = parse_query(raw_query)
    filters = filters or Filters()
    page = max(1, min(page, MAX_PAGE))
    results = Results(query=parsed, page=page, per_page=per_page)
    if parsed.empty:
        return results
    sort = sort if sort in SORTS else "relevance"
    offset = (page - 1) * per_page
    backend = get_backend()
    try:
        result_page = index_search(backend, parsed, viewer, filters, sort, offset, per_page)
    except IndexUnavailable as exc:
        log.warning("search: index unavailable (%s); using the database", exc.reason)
        results.degraded = exc.reason
        result_page = database_search(parsed, viewer, filters, offset, per_page)
    results.total = result_page.total
    results.hits = reload_hits(viewer, result_page.refs, parsed)
    return results


def index_search(
    backend: Any,
    parsed: ParsedQuery,
    viewer: Any,
    filters: Filters,
    sort: str,
    offset: int,
    limit: int,
) -> SearchPage:
    scope = scope_for(viewer, db.session())
    if backend.name == "whoosh" and not backend.drain(documents_for):
        # Updates are waiting for the lock: the index may still show an old visibility.
        raise IndexUnavailable("locked")
    page: SearchPage = backend.search(parsed, scope, filters, sort, offset, limit)
    return page


def reload_hits(viewer: Any, refs: list[Ref], parsed: ParsedQuery) -> list[Hit]:
    """Load each hit through `visible_to` and `can_view`; drop what the viewer may not see."""
    registry = kinds()
    wanted: dict[str, list[int]] = defaultdict(list)
    for kind, oid in refs:
        wanted[kind].append(oid)
    loaded: dict[Ref, Any] = {}
    for kind_name, ids in wanted.items():
        found = registry.get(kind_name)
        if found is None:
            continue
        for oid, obj in found.load_visible(db.session(), viewer, ids).items():
            loaded[(kind_name, oid)] = obj
    hits = []
    for ref in refs:
        obj = loaded.get(ref)
        if obj is not None:
            hits.append(registry[ref[0]].hit(obj, viewer, parsed))
    return hits


def database_search(
    parsed: ParsedQuery, viewer: Any, filters: Filters, offset: int, limit: int
) -> SearchPage:
    """The slower fallback: substring search in the database through `visible_to`, newest first.

    It matches each query part as typed, in hiragana and in katakana; it does not fold
    full-width and half-width forms stored in the text (see docs/search.md).
    """
    parts = list(parsed.parts)
    selects = []
    for name, kind in kinds().items():
        if filters.kinds and name not in filters.kinds:
            continue
        if filters.community_id is not None:
            continue  # communities arrive with their own kinds
        stmt = kind.fallback(db.session(), viewer, None, parts)
        if stmt is None:
            continue
        sub = stmt.subquery()
        cols = list(sub.c)
        conds = []
        if filters.author_id is not None:
            conds.append(cols[2] == filters.author_id)
        if filters.since is not None:
            conds.append(cols[1] >= filters.since)
        if filters.until is not None:
            conds.append(cols[1] < filters.until)
        selects.append((name, sub, cols, conds))
    total = 0
    candidates: list[tuple[dt.datetime, Ref]] = []
    for name, sub, cols, conds in selects:
        total += int(
            db.session.execute(select(func.count()).select_from(sub).where(*conds)).scalar_one()
        )
        rows = db.session.execute(
            select(cols[0], cols[1])
            .where(*conds)
            .order_by(cols[1].desc(), cols[0].desc())
            .limit(offset + limit)
        ).all()
        candidates.extend((row[1], (name, int(row[0]))) for row in rows)
    candidates.sort(key=lambda item: (item[0], item[1][1]), reverse=True)
    return SearchPage(total=total, refs=[ref for _when, ref in candidates[offset : offset + limit]])


def health() -> str:
    """ "ok" when the index answers and is current, otherwise "degraded"."""
    try:
        backend = get_backend()
        backend.probe()
        if backend.name == "whoosh" and backend.pending_files():
            return "degraded"
    except Exception:
        return "degraded"
    return "ok"


def config_value(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)
