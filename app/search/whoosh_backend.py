"""The Whoosh backend: one index folder per generation under SEARCH_DIR, a `current` symlink
swapped atomically by rebuild, one writer at a time (Whoosh's lock file), and a spool of
pending updates for writers that could not get the lock.

Layout of SEARCH_DIR:

    current -> index-20260429T120000-ab12cd   the live index (a symlink, replaced atomically)
    index-…/                                   Whoosh files and its WRITELOCK
    pending/*.json                             updates waiting for the lock (drained by the
                                               next writer; the index is stale meanwhile)

Matching is set algebra over each segment's postings (see `search`). Visibility is applied to
the matches: each document's group and gates live in a column that is read once per
(immutable) segment and cached, so the check per match is a few set lookups and invisible
documents are never fetched or counted.
"""

from __future__ import annotations

import datetime as dt
import gc
import heapq
import json
import logging
import os
import secrets
import shutil
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import formats, index, query, scoring
from whoosh.codec import base as _codec_base
from whoosh.codec import whoosh3 as _whoosh3
from whoosh.fields import ID, KEYWORD, NUMERIC, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound

from app.search.analyzer import ParsedQuery, document_terms, is_prefix_term
from app.search.audience import Scope, decode_gates, encode_gates
from app.search.backend import Filters, IndexUnavailable, SearchPage, Update, signature
from app.search.documents import SearchDoc

log = logging.getLogger(__name__)


def _segment_id(cls: Any, size: int = 16) -> str:
    return secrets.token_hex(size // 2)


# Whoosh names new segments from the global `random` state, which may be seeded identically in
# two places (forked workers, test frameworks); a repeated name breaks the commit. Use secrets.
_codec_base.Segment._random_id = classmethod(_segment_id)


def _cached_reader(self: Any, fieldname: str, column: Any) -> Any:
    """Whoosh's lookup of a field-length column, remembering that a field has none (fields
    without lengths otherwise cost a file-system check for every posting written)."""
    if fieldname in self._readers:
        return self._readers[fieldname]
    if not self.has_column(fieldname):
        self._readers[fieldname] = None  # segments are immutable: it will not appear later
        return None
    reader = self.column_reader(fieldname, column)
    self._readers[fieldname] = reader
    return reader


_whoosh3.W3PerDocReader._cached_reader = _cached_reader

CURRENT = "current"
PENDING = "pending"
# Reads of the index that meet a file deleted by a concurrent commit are tried this often.
OPEN_ATTEMPTS = 3


class TermSet(formats.Existence):
    """Whoosh's term-only format, taking the analyzer's terms as a list: the field's own
    tokenizer would turn each term into a Token object and back (most of the indexing time)."""

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Any:
        if isinstance(value, (list, tuple)):
            boost = self.field_boost
            return ((word, 1, boost, b"") for word in set(value))
        return super().word_values(value, analyzer, **kwargs)


def _terms_field() -> Any:
    field = KEYWORD()
    field.format = TermSet()
    return field


def schema() -> Schema:
    return Schema(
        key=ID(stored=True, unique=True),
        kind=ID(stored=True),
        oid=NUMERIC(int, bits=64, stored=True),
        group=ID,
        parent=ID,
        owners=KEYWORD,  # every gate owner: deleting a member removes all their documents
        author=ID,
        community=ID,
        created=NUMERIC(int, bits=64, sortable=True),
        # Terms without frequencies or field lengths: indexing costs half as much, and the
        # ranking (TF-IDF: rarer terms count more, title matches count more) needs neither.
        # `text` holds every term of title and body: a query needs one matcher per term.
        # `title` is read only to rank title matches higher, for the hits `text` found.
        text=_terms_field(),
        title=_terms_field(),
        vis=ID(sortable=True),  # "group\tgates", read once per segment by the search
    )


def _epoch(value: dt.datetime | None) -> int:
    if value is None:
        return 0
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def whoosh_fields(doc: SearchDoc) -> dict[str, Any]:
    return {
        "key": doc.key,
        "kind": doc.kind,
        "oid": doc.object_id,
        "group": doc.group,
        "parent": doc.parent,
        "owners": " ".join(sorted({str(g.owner) for g in doc.gates})),
        "author": str(doc.author_id),
        "community": str(doc.community_id or ""),
        "created": _epoch(doc.created_at),
        "text": list(set(document_terms(doc.title)).union(document_terms(doc.body))),
        "title": list(set(document_terms(doc.title))),
        "vis": f"{doc.group}\t{encode_gates(doc.gates)}",
    }


# --- per-segment visibility columns ---------------------------------------------------------

_SEGMENT_CACHE: OrderedDict[tuple[str, str], list[tuple[str, tuple[tuple[int, str, bool], ...]]]]
_SEGMENT_CACHE = OrderedDict()
_SEGMENT_CACHE_MAX = 64
_segment_lock = threading.Lock()


def _segment_vis(reader: Any, where: str) -> list[tuple[str, tuple[tuple[int, str, bool], ...]]]:
    """(group, gates) of every document of one segment, cached while the segment lives."""
    key = (where, reader.segment().segment_id())
    with _segment_lock:
        found = _SEGMENT_CACHE.get(key)
        if found is not None:
            _SEGMENT_CACHE.move_to_end(key)
            return found
    decoded: dict[str, tuple[str, tuple[tuple[int, str, bool], ...]]] = {}
    values: list[tuple[str, tuple[tuple[int, str, bool], ...]]] = []
    for raw in reader.column_reader("vis"):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        item = decoded.get(text)
        if item is None:
            group, _, gates = text.partition("\t")
            item = (group, decode_gates(gates))
            if not group.startswith(("diary:", "comment:")):
                decoded[text] = item  # profiles and the like repeat little; keep memory small
        values.append(item)
    with _segment_lock:
        _SEGMENT_CACHE[key] = values
        while len(_SEGMENT_CACHE) > _SEGMENT_CACHE_MAX:
            _SEGMENT_CACHE.popitem(last=False)
    return values


_CREATED_CACHE: OrderedDict[tuple[str, str], list[int]] = OrderedDict()


def _segment_created(reader: Any, where: str) -> list[int]:
    """The `created` value of every document of one segment (for sorting by date), cached."""
    key = (where, reader.segment().segment_id())
    with _segment_lock:
        found = _CREATED_CACHE.get(key)
        if found is not None:
            _CREATED_CACHE.move_to_end(key)
            return found
    values = [int(v) for v in reader.column_reader("created")]
    with _segment_lock:
        _CREATED_CACHE[key] = values
        while len(_CREATED_CACHE) > _SEGMENT_CACHE_MAX:
            _CREATED_CACHE.popitem(last=False)
    return values


def _posting_ids(reader: Any, field: str, text: str) -> set[int]:
    """The live document numbers of one term in one segment, read block by block.

    Whoosh's own iteration steps a matcher once per posting in Python; reading each
    block's id array whole and intersecting sets in C is many times faster.
    """
    try:
        matcher = reader.postings(field, text)
    except TermNotFound:
        return set()
    if isinstance(matcher, FilterMatcher):  # the segment has deletions: applied below
        matcher = matcher.child
    ids: set[int] = set()
    if isinstance(matcher, _whoosh3.W3LeafMatcher):
        while matcher.is_active():
            if matcher._ids is None:
                matcher._read_ids()
            ids.update(matcher._ids)
            matcher._next_block()
    else:
        ids.update(matcher.all_ids())
    if reader.has_deletions():
        ids.difference_update(reader.deleted_docs_set)
    return ids


def _term_ids(reader: Any, field: str, term: str) -> set[int]:
    """Documents with `term` (a one-character CJK term: with a term starting with it)."""
    if not is_prefix_term(term):
        return _posting_ids(reader, field, term)
    ids: set[int] = set()
    for full in reader.expand_prefix(field, term):
        ids |= _posting_ids(
            reader, field, full.decode("utf-8") if isinstance(full, bytes) else full
        )
    return ids


# --- the backend ------------------------------------------------------------------------------


@dataclass
class _Local(threading.local):
    searchers: dict[str, Any]

    def __init__(self) -> None:
        self.searchers = {}


_local = _Local()


def close_thread_searchers() -> None:
    """Close the searchers this thread keeps for its next request (when a thread or a test
    ends: otherwise their files are left to the garbage collector)."""
    for searcher in list(_local.searchers.values()):
        try:
            searcher.close()
        except Exception:
            log.debug("search: closing a searcher failed", exc_info=True)
    _local.searchers.clear()


class WhooshBackend:
    name = "whoosh"

    def __init__(self, directory: str, lock_timeout: float = 2.0) -> None:
        self.root = Path(directory)
        self.lock_timeout = lock_timeout

    # -- locations --

    @property
    def current(self) -> Path:
        return self.root / CURRENT

    @property
    def pending_dir(self) -> Path:
        return self.root / PENDING

    def _open(self) -> Any:
        path = self.current
        if not self.exists():
            raise IndexUnavailable("missing")
        # Whoosh leaves a broken index's files open when it gives up on them: they are closed
        # as the traceback goes, quietly (an expected ResourceWarning, not a leak of ours).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for attempt in range(1, OPEN_ATTEMPTS + 1):
                try:
                    # No mmap: a worker reading a mapped index file that another process
                    # truncates (a damaged or replaced index) would die of SIGBUS instead of
                    # degrading.
                    ix = FileStorage(str(path), supports_mmap=False).open_index()
                except FileNotFoundError as exc:
                    # Another worker committed between our listing of the tables of contents
                    # and our reading of the newest: its commit deletes the one we picked.
                    # Read again; a file still missing after that is a damaged index.
                    if attempt < OPEN_ATTEMPTS and self.exists():
                        continue
                    log.warning("search: the index cannot be opened: %s", repr(exc))
                # Log the text, not the exception: a kept log record would keep the traceback,
                # and with it Whoosh's open files, alive.
                except Exception as exc:
                    log.warning("search: the index cannot be opened: %s", repr(exc))
                else:
                    if "text" in ix.schema:
                        return ix
                    # Built before the combined `text` field: it would find nothing. Rebuild.
                    log.warning(
                        "search: the index has an outdated schema; run `flask search rebuild`"
                    )
                    ix.close()
                    raise IndexUnavailable("outdated")
                break
            _collect_broken_files()
        raise IndexUnavailable("corrupt")

    def exists(self) -> bool:
        """Whether an index is there at all (readable or not): its table of contents exists."""
        return self.current.is_dir() and any(self.current.glob("_MAIN_*.toc"))

    def create_empty(self) -> None:
        """Create an empty live index (a fresh installation)."""
        target = self._new_generation()
        index.create_in(str(target), schema())
        self._swap(target)

    # -- reading --

    def searcher(self) -> Any:
        where = str(self.current.resolve())
        found = _local.searchers.get(where)
        if found is not None:
            try:
                if found.up_to_date():
                    return found
            except Exception:
                log.debug("search: cached searcher unusable", exc_info=True)
            # Not `refresh()`: it reuses segment readers whose deletions have since changed,
            # so deleted documents would still be found.
            _local.searchers.pop(where, None)
            try:
                found.close()
            except Exception:
                log.debug("search: closing a searcher failed", exc_info=True)
        searcher = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for attempt in range(1, OPEN_ATTEMPTS + 1):
                ix = self._open()
                try:
                    searcher = ix.searcher(weighting=scoring.TF_IDF())
                except FileNotFoundError as exc:
                    # A concurrent commit merged away a segment this generation listed.
                    if attempt < OPEN_ATTEMPTS:
                        continue
                    log.warning("search: the index cannot be read: %s", repr(exc))
                except Exception as exc:
                    log.warning("search: the index cannot be read: %s", repr(exc))
                break
            if searcher is None:
                _collect_broken_files()
                raise IndexUnavailable("corrupt")
        # Drop searchers of swapped-out generations.
        for old in list(_local.searchers):
            if old != where:
                try:
                    _local.searchers.pop(old).close()
                except Exception:
                    log.debug("closing an old searcher failed", exc_info=True)
        _local.searchers[where] = searcher
        return searcher

    @staticmethod
    def _filter_ids(searcher: Any, reader: Any, filters: Filters) -> list[set[int]]:
        """One set of document numbers per filter, for one segment."""
        out: list[set[int]] = []
        if filters.kinds:
            out.append(set().union(*(_posting_ids(reader, "kind", k) for k in filters.kinds)))
        if filters.author_id is not None:
            out.append(_posting_ids(reader, "author", str(filters.author_id)))
        if filters.community_id is not None:
            out.append(_posting_ids(reader, "community", str(filters.community_id)))
        if filters.since is not None or filters.until is not None:
            dates = query.NumericRange(
                "created",
                _epoch(filters.since) if filters.since else None,
                _epoch(filters.until) if filters.until else None,
                endexcl=True,
            )
            ids = set(dates.matcher(searcher).all_ids())
            if reader.has_deletions():
                ids.difference_update(reader.deleted_docs_set)
            out.append(ids)
        return out

    def search(
        self,
        parsed: ParsedQuery,
        scope: Scope,
        filters: Filters,
        sort: str,
        offset: int,
        limit: int,
    ) -> SearchPage:
        """Documents with every query term in `text` that pass the filters and the scope, one
        per group, counted exactly; the page ranked by relevance or newest first.

        Matching is set algebra over each segment's postings. The scope is checked only for
        the documents that match, with one verdict per distinct set of gates. Relevance: each
        query term found in the title adds twice its IDF (rarer terms weigh more; every hit
        has all the terms in `text`), ties newest first.
        """
        try:
            searcher = self.searcher()
            where = str(self.current.resolve())
            ranked = sort != "date"
            weights: dict[str, float] = {}
            # Whoosh's idf is log(documents / (frequency + 1)) + 1: an index with no document
            # yet (a new site) has no idf, and log(0) would fail the search.
            if ranked:
                has_docs = searcher.doc_count_all() > 0
                for term in parsed.terms:
                    weights[term] = 2.0 * (
                        searcher.idf("title", term)
                        if has_docs and not is_prefix_term(term)
                        else 1.0
                    )
            admits = scope.admits
            verdicts: dict[Any, bool] = {}
            seen: set[str] = set()
            total = 0
            candidates: list[tuple[float, int, int, Any, int]] = []
            for sub, base in searcher.leaf_searchers():
                reader = sub.reader()
                # The rarest terms first: the running intersection shrinks fastest.
                terms = sorted(
                    parsed.terms,
                    key=lambda t: (is_prefix_term(t), reader.doc_frequency("text", t)),
                )
                matched: set[int] | None = None
                for term in terms:
                    ids = _term_ids(reader, "text", term)
                    matched = ids if matched is None else matched & ids
                    if not matched:
                        break
                if not matched:
                    continue
                for ids in self._filter_ids(sub, reader, filters):
                    matched &= ids
                if not matched:
                    continue
                vis = _segment_vis(reader, where)
                created = _segment_created(reader, where)
                title_sets = (
                    [(weights[t], _term_ids(reader, "title", t)) for t in parsed.terms]
                    if ranked
                    else []
                )
                for docnum in sorted(matched):
                    group, gates = vis[docnum]
                    if group in seen:
                        continue
                    ok = verdicts.get(gates)
                    if ok is None:
                        ok = verdicts[gates] = admits(gates)
                    if not ok:
                        continue
                    seen.add(group)
                    total += 1
                    score = sum(w for w, ids in title_sets if docnum in ids)
                    candidates.append((score, created[docnum], base + docnum, sub, docnum))
            top = heapq.nlargest(offset + limit, candidates, key=lambda c: (c[0], c[1], c[2]))
            refs: list[tuple[str, int]] = []
            for _score, _created, _order, sub, docnum in top[offset:]:
                fields = sub.reader().stored_fields(docnum)
                refs.append((fields["kind"], int(fields["oid"])))
            return SearchPage(total=total, refs=refs)
        except IndexUnavailable:
            raise
        except Exception as exc:
            log.warning("search: the index failed during a search: %s", repr(exc))
        close_thread_searchers()
        _collect_broken_files()
        raise IndexUnavailable("corrupt")

    def probe(self) -> None:
        """Open the index and run a query: raise IndexUnavailable when that fails."""
        searcher = self.searcher()
        searcher.doc_count()
        searcher.search(query.Term("kind", "diary"), limit=1)

    def doc_count(self) -> int:
        return int(self.searcher().doc_count())

    def stored_signatures(self) -> dict[str, str]:
        """key -> signature (group and gates) of every live document, for `flask search check`."""
        out: dict[str, str] = {}
        searcher = self.searcher()
        for sub, _offset in searcher.leaf_searchers():
            reader = sub.reader()
            vis = _segment_vis(reader, str(self.current.resolve()))
            for docnum, fields in reader.iter_docs():
                group, gates = vis[docnum]
                out[fields["key"]] = signature(group, gates)
        return out

    # -- writing --

    def _spool(self, update: Update) -> None:
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.json"
        tmp = self.pending_dir / (name + ".tmp")
        tmp.write_text(json.dumps(update.to_json()))
        os.replace(tmp, self.pending_dir / name)

    def pending_files(self) -> list[Path]:
        if not self.pending_dir.is_dir():
            return []
        return sorted(self.pending_dir.glob("*.json"))

    def writer(self, timeout: float | None = None) -> Any:
        ix = self._open()
        wait = self.lock_timeout if timeout is None else timeout
        return ix.writer(timeout=wait, delay=0.05) if wait > 0 else ix.writer()

    def apply(self, update: Update, docs_for: Any, *, spool_on_lock: bool = True) -> bool:
        """Write an update (and any spooled ones). Returns False when it was spooled instead.

        `docs_for(update) -> (Update, docs)` builds the documents; it is called after the lock is
        held, so spooled updates are rebuilt from the database state at writing time.
        """
        try:
            writer = self.writer()
        except LockError:
            if spool_on_lock:
                self._spool(update)
                return False
            raise
        try:
            spooled = self.pending_files()
            merged = update
            for path in spooled:
                try:
                    merged = merged.merge(Update.from_json(json.loads(path.read_text())))
                except (OSError, ValueError, KeyError):
                    log.warning("search: unreadable spool file %s skipped", path.name)
            expanded, docs = docs_for(merged)
            self._write(writer, expanded, docs)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        for path in spooled:
            path.unlink(missing_ok=True)
        return True

    @staticmethod
    def _write(writer: Any, update: Update, docs: Sequence[SearchDoc]) -> None:
        for group in sorted(update.groups):
            writer.delete_by_term("group", group)
        for parent in sorted(update.parents):
            writer.delete_by_term("parent", parent)
        for owner in sorted(update.owners_gone):
            writer.delete_by_term("owners", str(owner))
        for doc in docs:
            writer.add_document(**whoosh_fields(doc))

    def drain(self, docs_for: Any) -> bool:
        """Apply spooled updates if the lock is free right now; True when none are left."""
        if not self.pending_files():
            return True
        try:
            writer = self.writer(timeout=0)
        except (LockError, IndexUnavailable):
            return False
        spooled = self.pending_files()
        try:
            merged = Update()
            for path in spooled:
                try:
                    merged = merged.merge(Update.from_json(json.loads(path.read_text())))
                except (OSError, ValueError, KeyError):
                    log.warning("search: unreadable spool file %s skipped", path.name)
            expanded, docs = docs_for(merged)
            self._write(writer, expanded, docs)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        for path in spooled:
            path.unlink(missing_ok=True)
        return True

    def locked(self) -> bool:
        """Whether a writer holds the lock right now."""
        try:
            ix = self._open()
        except IndexUnavailable:
            return False
        lock = ix.lock("WRITELOCK")
        if lock.acquire(blocking=False):
            lock.release()
            return False
        return True

    # -- rebuild --

    def _new_generation(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        target = self.root / f"index-{stamp}-{secrets.token_hex(3)}"
        target.mkdir()
        return target

    def _swap(self, target: Path) -> None:
        """Point `current` at `target` in one atomic rename; remove older generations."""
        link = self.root / f".current-{secrets.token_hex(4)}"
        os.symlink(target.name, link)
        old = self.current.resolve() if self.current.is_symlink() else None
        if self.current.exists() and not self.current.is_symlink():
            # A plain folder from an older layout: move it aside so the rename can succeed.
            self.current.rename(self.root / f"index-old-{secrets.token_hex(3)}")
        os.replace(link, self.current)
        for path in self.root.glob("index-*"):
            if path.is_dir() and path.resolve() != target.resolve() and path != old:
                shutil.rmtree(path, ignore_errors=True)
        if old is not None and old.resolve() != target.resolve():
            shutil.rmtree(old, ignore_errors=True)

    def rebuild(
        self,
        batches: Iterable[Sequence[SearchDoc]],
        docs_for: Any,
        procs: int = 1,
        limitmb: int = 2048,
    ) -> int:
        """Build a new generation from `batches`, then swap it in. Live writers meanwhile queue
        in the spool (the old index's lock is held), and the spool is applied to the new
        generation right after the swap."""
        target = self._new_generation()
        new_ix = index.create_in(str(target), schema())
        old_lock = None
        try:
            old_ix = self._open()
        except IndexUnavailable:
            old_ix = None
        if old_ix is not None:
            old_lock = old_ix.lock("WRITELOCK")
            if not old_lock.acquire(blocking=True):
                old_lock = None
        count = 0
        try:
            # With procs > 1 each process writes its own segment (no final merge). Each keeps
            # up to `limitmb` of postings in memory: past it Whoosh sorts them into runs on disk
            # and merges those in Python, which made a 100k-diary build 4-5 times slower.
            writer = new_ix.writer(procs=procs, limitmb=limitmb, multisegment=procs > 1)
            try:
                for batch in batches:
                    for doc in batch:
                        writer.add_document(**whoosh_fields(doc))
                        count += 1
                writer.commit(optimize=procs == 1)
            except BaseException:
                writer.cancel()
                raise
            self._swap(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        finally:
            if old_lock is not None:
                old_lock.release()
        self.drain(docs_for)
        return count

    def size_bytes(self) -> int:
        target = self.current.resolve()
        return sum(p.stat().st_size for p in target.glob("*") if p.is_file())


def _collect_broken_files() -> None:
    """Whoosh leaves the files of a broken index open when it gives up on them; close them
    now (quietly: they are expected) instead of at some later garbage collection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
