"""Keeping the index current: SQLAlchemy session events collect changed objects after each
flush and index them after the commit (never inside the transaction), in one batch per commit.

A failure to index never fails the request that caused it: the update is spooled (Whoosh) or
logged, search falls back to the database meanwhile, and `flask search rebuild` repairs all.
Bulk SQL statements (`update()`, `delete()`) bypass the unit of work: code that changes
indexed objects that way calls `queue_refresh()`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.extensions import db
from app.search.backend import IndexUnavailable, Ref, Update, signature
from app.search.documents import SearchDoc, kinds, refs_for
from app.sns.models import Comment, Diary

log = logging.getLogger(__name__)

SESSION_KEY = "search_refs"


def get_backend(app: Any = None) -> Any:
    """The configured backend of the app (created once per app)."""
    app = app or current_app
    found = app.extensions.get("search_backend")
    if found is None:
        name = app.config.get("SEARCH_BACKEND", "whoosh")
        if name == "postgres":
            from app.search.postgres_backend import PostgresBackend

            found = PostgresBackend()
        else:
            from app.search.whoosh_backend import WhooshBackend

            found = WhooshBackend(
                app.config["SEARCH_DIR"], float(app.config.get("SEARCH_LOCK_TIMEOUT", 2.0))
            )
        app.extensions["search_backend"] = found
    return found


@contextmanager
def reading_session() -> Iterator[Session]:
    """A session of its own that sees what is committed (never the caller's transaction)."""
    engine = db.engine.execution_options(sqlite_begin="deferred")
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


# --- collecting changes -----------------------------------------------------------------------


def _changed_refs(obj: Any, deleted: bool) -> list[Ref]:
    if isinstance(obj, User):
        state: Any = inspect(obj)
        if deleted or state.pending or obj.id is None:
            return [("profile", int(obj.id))] if obj.id is not None else []
        for attr in ("display_name", "handle"):
            if state.attrs[attr].history.has_changes():
                return [("profile", int(obj.id))]
        return []
    return refs_for(obj)


def _after_flush(session: Session, _context: Any) -> None:
    refs: set[Ref] = session.info.setdefault(SESSION_KEY, set())
    for obj in session.new:
        refs.update(_changed_refs(obj, False))
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            refs.update(_changed_refs(obj, False))
    for obj in session.deleted:
        refs.update(_changed_refs(obj, True))


def _after_commit(session: Session) -> None:
    refs = session.info.pop(SESSION_KEY, None)
    if not refs or not has_app_context():
        return
    if current_app.config.get("SEARCH_INDEXING", True) is False:
        return
    try:
        index_refs(refs)
    except Exception:
        log.exception("search: indexing after commit failed (search falls back until repaired)")


def _after_rollback(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


_installed = False


def install_hooks() -> None:
    """Listen on every SQLAlchemy session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
    _installed = True


def queue_refresh(session: Session, refs: Sequence[Ref]) -> None:
    """Re-index these objects after `session` commits (for changes made with bulk SQL)."""
    session.info.setdefault(SESSION_KEY, set()).update(refs)


# --- building documents -------------------------------------------------------------------------


def documents_for(update: Update) -> tuple[Update, list[SearchDoc]]:
    """Expand an update (a diary brings its comments) and build the current documents."""
    with reading_session() as session:
        return _documents_for(session, update)


def _documents_for(session: Session, update: Update) -> tuple[Update, list[SearchDoc]]:
    refs = set(update.refs)
    parents = set(update.parents)
    diary_ids = sorted(i for k, i in refs if k == "diary")
    for start in range(0, len(diary_ids), 500):
        chunk = diary_ids[start : start + 500]
        comment_ids = session.execute(
            select(Comment.id).where(Comment.diary_id.in_(chunk))
        ).scalars()
        refs.update(("comment", cid) for cid in comment_ids)
        parents.update(f"diary:{i}" for i in chunk)
    groups = set(update.groups) | {f"{k}:{i}" for k, i in refs}
    owners_gone = set(update.owners_gone)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for k, i in refs:
        by_kind[k].append(i)
    registry = kinds()
    docs: list[SearchDoc] = []
    for name, ids in sorted(by_kind.items()):
        kind = registry.get(name)
        if kind is None:
            continue
        ids.sort()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            built = kind.documents(session, chunk)
            if name == "profile":
                owners_gone.update(set(chunk) - set(built))
            for oid in chunk:
                docs.extend(built.get(oid, []))
    return Update(refs, groups, parents, owners_gone), docs


def all_documents(session: Session, batch: int = 1000) -> Iterator[list[SearchDoc]]:
    """Every document the database yields, in batches (rebuild, check)."""
    for kind in kinds().values():
        for ids in kind.all_ids(session, batch):
            built = kind.documents(session, ids)
            yield [doc for oid in ids for doc in built.get(oid, [])]
            session.expunge_all()


def indexable_count(session: Session) -> int:
    users = session.execute(select(func.count(User.id))).scalar_one()
    diaries = session.execute(
        select(func.count(Diary.id)).where(Diary.deleted_at.is_(None))
    ).scalar_one()
    comments = session.execute(select(func.count(Comment.id))).scalar_one()
    return int(users) + int(diaries) + int(comments)


def index_refs(refs: set[Ref]) -> bool:
    """Index these objects now. False when the update had to wait (spooled or no index)."""
    backend = get_backend()
    update = Update(refs=set(refs))
    if backend.name == "whoosh" and not backend.exists():
        # A fresh installation: start the index when this batch is everything there is.
        # Otherwise the index was lost: leave it missing (search falls back, /healthz says
        # degraded) until `flask search rebuild`, rather than start a partial one.
        with reading_session() as session:
            expanded, _docs = _documents_for(session, update)
            if indexable_count(session) > len(expanded.refs):
                return False
        backend.create_empty()
    try:
        return bool(backend.apply(update, documents_for))
    except IndexUnavailable:
        return False


# --- rebuild and check ------------------------------------------------------------------------


def rebuild(batch: int = 1000) -> int:
    """Rebuild the whole index from the database; returns the number of documents."""
    backend = get_backend()
    with reading_session() as session:
        batches = all_documents(session, batch)
        if backend.name == "whoosh":
            limit = int(current_app.config.get("SEARCH_REBUILD_MEMORY_MB", 2048))
            return int(backend.rebuild(batches, documents_for, limitmb=limit))
        return int(backend.rebuild(batches, documents_for))


def check(limit: int = 20) -> dict[str, Any]:
    """Compare the index with the database: documents missing, extra or out of date."""
    backend = get_backend()
    with reading_session() as session:
        expected = {
            doc.key: signature(doc.group, tuple((g.owner, g.audience, g.hidden) for g in doc.gates))
            for docs in all_documents(session)
            for doc in docs
        }
    report: dict[str, Any] = {"backend": backend.name, "expected": len(expected)}
    try:
        stored = backend.stored_signatures()
    except IndexUnavailable as exc:
        report.update(ok=False, state=exc.reason, indexed=0)
        return report
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    stale = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    pending = len(backend.pending_files()) if hasattr(backend, "pending_files") else 0
    report.update(
        indexed=len(stored),
        missing=len(missing),
        extra=len(extra),
        stale=len(stale),
        pending=pending,
        examples={"missing": missing[:limit], "extra": extra[:limit], "stale": stale[:limit]},
        state="ok",
    )
    report["ok"] = not (missing or extra or stale or pending)
    if not report["ok"]:
        report["state"] = "drift"
    return report
