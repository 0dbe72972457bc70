"""Search is expendable (security.md §4.6, L05): a missing, locked or corrupt index makes search
fall back to the database with a notice and /healthz say `search: degraded`, writes keep
working, and `flask search rebuild` (an atomic swap) and `flask search check` repair and report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.extensions import db
from app.permissions import AnonymousViewer
from app.search import indexing
from app.search.service import search

GUEST = AnonymousViewer()
pytestmark = pytest.mark.parametrize("search_backend", ["whoosh"], indirect=True)


def _current(app: Any) -> Path:
    return Path(app.config["SEARCH_DIR"]) / "current"


def _health(client: Any) -> str:
    return str(client.get("/healthz").get_json()["search"])


@pytest.fixture
def world(make: Any, user: Any, other_user: Any) -> dict[str, Any]:
    public = make.diary(user, title="盆踊り", body="公民館で", visibility="public")
    secret = make.diary(user, title="盆踊りの練習", body="内緒", visibility="private")
    return {"public": public, "secret": secret}


def _refs(app: Any, viewer: Any, q: str) -> tuple[set[tuple[str, int]], Any]:
    with app.test_request_context():
        results = search(viewer, q)
    return {(h.kind, h.object_id) for h in results.hits}, results


def test_missing_index_falls_back(app: Any, client: Any, world: dict[str, Any]) -> None:
    assert _health(client) == "ok"
    target = _current(app).resolve()
    for path in target.iterdir():
        path.unlink()
    refs, results = _refs(app, GUEST, "盆踊り")
    assert results.degraded == "missing"
    assert refs == {("diary", world["public"].id)}  # the private one stays hidden
    assert results.total == 1
    assert _health(client) == "degraded"
    page = client.get("/search?q=盆踊り").get_data(as_text=True)
    assert "slower backup mode" in page or "予備" in page
    assert f"/diary/{world['public'].id}" in page
    assert f"/diary/{world['secret'].id}" not in page


def test_corrupt_index_falls_back_and_writes_go_on(
    app: Any, client: Any, make: Any, user: Any, world: dict[str, Any], login_as: Any
) -> None:
    for path in _current(app).resolve().iterdir():
        path.write_bytes(b"\x00garbage" * 10)
    refs, results = _refs(app, GUEST, "盆踊り")
    assert results.degraded == "corrupt"
    assert refs == {("diary", world["public"].id)}
    assert _health(client) == "degraded"
    # Posting still works while search is broken (the index update fails quietly).
    login_as(user)
    response = client.post(
        "/diary/new",
        data={
            "title": "盆踊り 二日目",
            "body": "雨天決行",
            "visibility": "public",
            "body_format": "plain",
            "allow_comments": "y",
        },
    )
    assert response.status_code == 302
    # Rebuild repairs it; results respect visibility again, from the index.
    assert indexing.rebuild() >= 3
    refs, results = _refs(app, GUEST, "盆踊り")
    assert not results.degraded
    assert len(refs) == 2 and ("diary", world["secret"].id) not in refs
    assert _health(client) == "ok"


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_an_index_damaged_under_a_kept_searcher_is_noticed(
    app: Any, world: dict[str, Any], damage: str
) -> None:
    """A thread keeps its searcher between requests, and the searcher answers from what it has
    cached: an index damaged or removed under it, at the same generation, must still send the
    next search to the database with the notice, not answer from the cache."""
    refs, results = _refs(app, GUEST, "盆踊り")
    assert not results.degraded and refs == {("diary", world["public"].id)}
    target = _current(app).resolve()
    for path in target.iterdir():
        if damage == "truncate":
            path.write_bytes(b"\x00garbage" * 10)
        else:
            path.unlink()
    refs, results = _refs(app, GUEST, "盆踊り")
    assert results.degraded in ("corrupt", "missing")
    assert refs == {("diary", world["public"].id)}


def test_a_commit_between_listing_and_reading_the_index_is_read_again(
    app: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's commit writes a new table of contents and deletes the one a reader has
    just picked as the newest: the reader reads again instead of calling the index corrupt
    (which sent searches to the database and dropped that post's index update; seen in the
    soak with two workers)."""
    from whoosh.index import TOC

    from app.search.whoosh_backend import close_thread_searchers

    latest = TOC._latest_generation  # bound to TOC before the patch below
    picked: list[int] = []

    def racing(cls: Any, storage: Any, indexname: str) -> int:
        generation = latest(storage, indexname)
        picked.append(generation)
        # The first reader lists the files just before a commit replaces the newest one.
        return generation - 1 if len(picked) == 1 else generation

    close_thread_searchers()  # this thread opens the index afresh
    monkeypatch.setattr(TOC, "_latest_generation", classmethod(racing))
    refs, results = _refs(app, GUEST, "盆踊り")
    assert len(picked) >= 2 and picked[0] > 1  # an older generation whose file is gone
    assert not results.degraded
    assert refs == {("diary", world["public"].id)}


def test_index_of_an_older_schema_falls_back_until_rebuilt(
    app: Any, client: Any, world: dict[str, Any]
) -> None:
    """An index built before the combined `text` field would answer every query with nothing:
    it is reported as outdated, search uses the database, and a rebuild brings it back."""
    from whoosh import index
    from whoosh.fields import ID, KEYWORD, Schema

    target = _current(app).resolve()
    for path in target.iterdir():
        path.unlink()
    old = index.create_in(str(target), Schema(key=ID(stored=True), title=KEYWORD, body=KEYWORD))
    writer = old.writer()
    writer.add_document(key="diary:1", title="盆踊", body="公民")
    writer.commit()
    refs, results = _refs(app, GUEST, "盆踊り")
    assert results.degraded == "outdated"
    assert refs == {("diary", world["public"].id)}
    assert _health(client) == "degraded"
    assert indexing.rebuild() >= 2
    refs, results = _refs(app, GUEST, "盆踊り")
    assert not results.degraded
    assert refs == {("diary", world["public"].id)}
    assert _health(client) == "ok"


def test_locked_index_queues_updates(app: Any, client: Any, make: Any, user: Any) -> None:
    from whoosh import index

    app.config["SEARCH_LOCK_TIMEOUT"] = 0.2
    app.extensions.pop("search_backend", None)
    diary = make.diary(user, title="灯籠流し", body="川辺", visibility="public")
    ix = index.open_dir(str(_current(app)))
    lock = ix.lock("WRITELOCK")
    assert lock.acquire(blocking=False)  # another worker is writing
    try:
        diary.visibility = "private"
        db.session.commit()  # the update cannot get the lock: it is spooled
        backend = indexing.get_backend()
        assert len(backend.pending_files()) == 1
        refs, results = _refs(app, GUEST, "灯籠流し")
        assert results.degraded == "locked"  # the index may be stale: the database answers
        assert refs == set()
        assert _health(client) == "degraded"
    finally:
        lock.release()
    refs, results = _refs(app, GUEST, "灯籠流し")  # the next search applies the queue
    assert not results.degraded and refs == set()
    assert backend.pending_files() == []
    assert _refs(app, user, "灯籠流し")[0] == {("diary", diary.id)}
    assert _health(client) == "ok"


def test_rebuild_swaps_atomically(app: Any, world: dict[str, Any]) -> None:
    root = Path(app.config["SEARCH_DIR"])
    before = _current(app).resolve()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["ok"] and out["documents"] == 4  # two profiles, two diaries
    after = _current(app).resolve()
    assert after != before and not before.exists()
    assert _current(app).is_symlink()
    assert [p.name for p in root.glob("index-*")] == [after.name]
    refs, results = _refs(app, GUEST, "盆踊り")
    assert refs == {("diary", world["public"].id)} and not results.degraded


def test_check_reports_drift(app: Any, make: Any, user: Any, world: dict[str, Any]) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["search", "check"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    # Drift: a change made behind the ORM's back (bulk SQL) is not indexed.
    from sqlalchemy import update

    from app.sns.models import Diary

    db.session.execute(
        update(Diary).where(Diary.id == world["public"].id).values(visibility="private")
    )
    extra = make.diary(user, title="x", body="y", visibility="public")
    writer = indexing.get_backend().writer()
    writer.delete_by_term("group", f"diary:{extra.id}")
    writer.commit()
    bad = runner.invoke(args=["search", "check"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["state"] == "drift"
    assert report["stale"] == 1 and report["missing"] == 1
    assert report["examples"]["stale"] == [f"diary:{world['public'].id}"]
    indexing.rebuild()
    assert runner.invoke(args=["search", "check"]).exit_code == 0


def test_lost_index_is_not_restarted_partially(app: Any, make: Any, user: Any) -> None:
    import shutil

    make.diary(user, title="古い日記", body="本文", visibility="public")
    shutil.rmtree(Path(app.config["SEARCH_DIR"]))
    make.diary(user, title="新しい日記", body="本文", visibility="public")
    assert not _current(app).exists()  # waits for a rebuild rather than index one diary
    _refs_found, results = _refs(app, GUEST, "日記")
    assert results.degraded == "missing" and results.total == 2


def test_rebuild_memory_limit_is_a_setting(
    app: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SEARCH_REBUILD_MEMORY_MB` reaches Whoosh's writer; a tiny limit spills to disk and the
    rebuilt index still answers."""
    from whoosh.index import FileIndex

    seen: list[int] = []
    writer = FileIndex.writer

    def spy(self: Any, procs: int = 1, **kwargs: Any) -> Any:
        if "limitmb" in kwargs:
            seen.append(kwargs["limitmb"])
        return writer(self, procs=procs, **kwargs)

    monkeypatch.setattr(FileIndex, "writer", spy)
    app.config["SEARCH_REBUILD_MEMORY_MB"] = 1
    assert indexing.rebuild() == 4
    assert seen == [1]
    refs, results = _refs(app, GUEST, "盆踊り")
    assert refs == {("diary", world["public"].id)} and not results.degraded
