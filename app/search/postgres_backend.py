"""The PostgreSQL backend: documents in `search_documents`, terms in a GIN-indexed tsvector
built from the same analyzer's terms (`array_to_tsvector`, so PostgreSQL's own parser never
touches Japanese text), the audience in arrays checked in the same statement. Every app server
reads and writes the same table, so no index folder is shared.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY, TSVECTOR, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.search.analyzer import ParsedQuery, document_terms, is_prefix_term
from app.search.audience import Scope, decode_gates, encode_gates
from app.search.backend import Filters, IndexUnavailable, SearchPage, Update, signature
from app.search.documents import SearchDoc
from app.search.models import SearchDocument

log = logging.getLogger(__name__)

T = SearchDocument.__table__


def _unique(terms: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(terms))


def _row(doc: SearchDoc) -> dict[str, Any]:
    if not 0 < len(doc.gates) <= MAX_GATES:
        raise ValueError(f"{doc.key}: {len(doc.gates)} gates; the PostgreSQL backend takes 1-3")
    return {
        "key": doc.key,
        "kind": doc.kind,
        "object_id": doc.object_id,
        "grp": doc.group,
        "parent": doc.parent,
        "author_id": doc.author_id,
        "community_id": doc.community_id,
        "created_at": doc.created_at,
        "audience": [g.audience for g in doc.gates],
        "owners": [g.owner for g in doc.gates],
        "hidden_owners": [g.owner for g in doc.gates if g.hidden],
        "gates": encode_gates(doc.gates),
        "title_tsv": _positioned(_unique(document_terms(doc.title))),
        "body_terms": _unique(document_terms(doc.body)),
    }


def _positioned(terms: Sequence[str]) -> str:
    """The text form of a tsvector whose terms have positions 1, 2, …: PostgreSQL keeps a
    weight only on positions, so the title's terms need them for `ts_rank` to favour title
    matches (`array_to_tsvector` makes terms without positions)."""
    return " ".join(
        "'" + t.replace("\\", "\\\\").replace("'", "''") + f"':{min(i, 16383)}"
        for i, t in enumerate(terms, 1)
    )


def _tokens_expr() -> Any:
    title = func.setweight(
        cast(bindparam("title_tsv", type_=Text), TSVECTOR), literal_column("'A'")
    )
    body = func.array_to_tsvector(bindparam("body_terms", type_=ARRAY(Text)))
    return title.op("||")(body)


def tsquery_text(terms: Sequence[str]) -> str:
    """The text form of a tsquery: every term quoted, all required (terms carry no quotes)."""
    quoted = [
        "'" + t.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if is_prefix_term(t) else "")
        for t in terms
    ]
    return " & ".join(quoted)


# Documents have one gate per object their visibility depends on (a comment: two).
MAX_GATES = 3


def _audience_allowed(allowed: list[str]) -> Any:
    """SQL: every audience term of the row is allowed. Written as `term = ANY(array)` per gate
    rather than `audience <@ array`: PostgreSQL hashes a constant ANY array, while `<@`
    compares each term with each of the viewer's (often thousands of) allowed terms."""
    # One named parameter, sent once however often the expression refers to it.
    arr = bindparam("allowed", allowed, type_=ARRAY(Text))
    audience = type_coerce(T.c.audience, ARRAY(Text))
    size = func.cardinality(audience)
    return or_(
        *[
            and_(size == n, *[audience[i] == any_(arr) for i in range(1, n + 1)])
            for n in range(1, MAX_GATES + 1)
        ]
    )


class PostgresBackend:
    name = "postgres"

    def _engine(self) -> Any:
        return db.engine

    def exists(self) -> bool:
        try:
            self.probe()
        except IndexUnavailable:
            return False
        return True

    def probe(self) -> None:
        try:
            with self._engine().connect() as conn:
                if conn.dialect.name != "postgresql":
                    raise IndexUnavailable("not PostgreSQL")
                conn.execute(select(T.c.key).limit(1))
        except SQLAlchemyError as exc:
            raise IndexUnavailable("missing") from exc

    def pending_files(self) -> list[Any]:
        return []

    def drain(self, docs_for: Any) -> bool:
        return True

    # -- writing --

    def _write(self, conn: Any, update: Update, docs: Sequence[SearchDoc]) -> None:
        conds = []
        if update.groups:
            conds.append(T.c.grp.in_(sorted(update.groups)))
        if update.parents:
            conds.append(T.c.parent.in_(sorted(update.parents)))
        if update.owners_gone:
            gone = cast(sorted(update.owners_gone), ARRAY(Integer))
            conds.append(T.c.owners.op("&&", is_comparison=True)(gone))
        if conds:
            conn.execute(delete(T).where(or_(*conds)))
        if docs:
            columns: dict[str, Any] = {c.name: bindparam(c.name) for c in T.c if c.name != "tokens"}
            stmt = pg_insert(T).values(**columns, tokens=_tokens_expr())
            stmt = stmt.on_conflict_do_update(
                index_elements=[T.c.key],
                set_={c.name: stmt.excluded[c.name] for c in T.c if c.name != "key"},
            )
            conn.execute(stmt, [_row(doc) for doc in docs])

    def apply(self, update: Update, docs_for: Any, *, spool_on_lock: bool = True) -> bool:
        expanded, docs = docs_for(update)
        try:
            with self._engine().begin() as conn:
                self._write(conn, expanded, docs)
        except SQLAlchemyError as exc:
            raise IndexUnavailable("write failed") from exc
        return True

    def create_empty(self) -> None:
        """The table comes with migration 0005."""

    def rebuild(self, batches: Iterable[Sequence[SearchDoc]], docs_for: Any) -> int:
        """Replace every row in one transaction: readers see the old rows until it commits."""
        count = 0
        with self._engine().begin() as conn:
            conn.execute(text("LOCK TABLE search_documents IN SHARE ROW EXCLUSIVE MODE"))
            conn.execute(delete(T))
            columns: dict[str, Any] = {c.name: bindparam(c.name) for c in T.c if c.name != "tokens"}
            stmt = insert(T).values(**columns, tokens=_tokens_expr())
            for batch in batches:
                rows = [_row(doc) for doc in batch]
                if rows:
                    conn.execute(stmt, rows)
                    count += len(rows)
        return count

    # -- reading --

    def _conditions(self, parsed: ParsedQuery, scope: Scope, filters: Filters) -> list[Any]:
        tsq = cast(bindparam("tsq", tsquery_text(parsed.terms)), TSQUERY)
        conds: list[Any] = [
            T.c.tokens.op("@@", is_comparison=True)(tsq),
            _audience_allowed(sorted(scope.allowed)),
        ]
        if scope.excluded:
            conds.append(
                not_(
                    T.c.owners.op("&&", is_comparison=True)(
                        cast(sorted(scope.excluded), ARRAY(Integer))
                    )
                )
            )
        if not scope.moderator:
            mine = [scope.viewer_id] if scope.viewer_id is not None else []
            conds.append(T.c.hidden_owners.op("<@", is_comparison=True)(cast(mine, ARRAY(Integer))))
        if filters.kinds:
            conds.append(T.c.kind.in_(filters.kinds))
        if filters.author_id is not None:
            conds.append(T.c.author_id == filters.author_id)
        if filters.community_id is not None:
            conds.append(T.c.community_id == filters.community_id)
        if filters.since is not None:
            conds.append(T.c.created_at >= filters.since)
        if filters.until is not None:
            conds.append(T.c.created_at < filters.until)
        return conds

    def search(
        self,
        parsed: ParsedQuery,
        scope: Scope,
        filters: Filters,
        sort: str,
        offset: int,
        limit: int,
    ) -> SearchPage:
        conds = self._conditions(parsed, scope, filters)
        tsq = cast(bindparam("tsq", tsquery_text(parsed.terms)), TSQUERY)
        ranked = sort != "date"
        rank = func.ts_rank(T.c.tokens, tsq) if ranked else literal_column("0.0")
        # One statement: the matching rows are found once (the tsquery, the audience filter),
        # then counted and paged from the materialised set.
        matched = (
            select(T.c.grp, T.c.key, T.c.kind, T.c.object_id, T.c.created_at, rank.label("rank"))
            .where(and_(*conds))
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        # One row per group (a member's profile documents count once), best-ranked first.
        per_group = (
            select(matched.c.kind, matched.c.object_id, matched.c.created_at, matched.c.rank)
            .ext(distinct_on(matched.c.grp))
            .order_by(matched.c.grp, matched.c.rank.desc(), matched.c.key)
            .subquery()
        )
        if ranked:
            order = [per_group.c.rank.desc(), per_group.c.created_at.desc()]
        else:
            order = [per_group.c.created_at.desc(), per_group.c.object_id.desc()]
        page = (
            select(per_group.c.kind, per_group.c.object_id, *[c.element for c in order])
            .order_by(*order)
            .offset(offset)
            .limit(limit)
            .subquery()
        )
        total = select(func.count(func.distinct(matched.c.grp)).label("total")).subquery()
        page_order = [page.c.rank.desc()] if ranked else []
        page_order += [page.c.created_at.desc(), page.c.object_id.desc()]
        stmt = (
            select(total.c.total, page.c.kind, page.c.object_id)
            .select_from(total.outerjoin(page, true()))
            .order_by(*page_order)
        )
        try:
            with self._engine().connect() as conn:
                rows = conn.execute(stmt).all()
        except SQLAlchemyError as exc:
            raise IndexUnavailable("unavailable") from exc
        count = int(rows[0].total) if rows else 0
        refs = [(r.kind, int(r.object_id)) for r in rows if r.kind is not None]
        return SearchPage(total=count, refs=refs)

    def stored_signatures(self) -> dict[str, str]:
        try:
            with self._engine().connect() as conn:
                rows = conn.execute(select(T.c.key, T.c.grp, T.c.gates)).all()
        except SQLAlchemyError as exc:
            raise IndexUnavailable("missing") from exc
        return {r.key: signature(r.grp, decode_gates(r.gates)) for r in rows}

    def doc_count(self) -> int:
        with self._engine().connect() as conn:
            return int(conn.execute(select(func.count()).select_from(T)).scalar_one())

    def size_bytes(self) -> int:
        with self._engine().connect() as conn:
            return int(
                conn.execute(text("SELECT pg_total_relation_size('search_documents')")).scalar_one()
            )
