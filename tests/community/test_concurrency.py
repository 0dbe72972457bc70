"""Joining a community or an event twice at once gives one row, from threads and processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from typing import Any

from sqlalchemy import func, select

from app.community import services
from app.community.models import Community, CommunityMember, Event, EventParticipant
from app.extensions import db


def _hammer(app: Any, n: int, work: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait()
                # As a POST request or a CLI command does: SQLite writers queue for the lock.
                db.session.connection(execution_options={"sqlite_begin": "immediate"})
                work()
                db.session.commit()
            except BaseException as exc:  # collected and asserted below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_join_community_from_threads(app: Any, user: Any, other_user: Any, community: Any) -> None:
    com_id = community(user).id
    uid = other_user.id

    def work() -> None:
        from app.auth.models import User

        services.join_community(db.session.get(User, uid), db.session.get(Community, com_id))

    assert _hammer(app, 20, work) == []
    db.session.rollback()
    rows = db.session.execute(
        select(func.count()).select_from(CommunityMember).where(CommunityMember.user_id == uid)
    ).scalar_one()
    assert rows == 1
    assert db.session.get(Community, com_id).member_count == 2


def test_join_event_from_threads_respects_capacity(
    app: Any, make: Any, user: Any, community: Any, event: Any
) -> None:
    members = [make.user() for _ in range(6)]
    com = community(user, members=tuple(members))
    ev_id = event(com, user, capacity=3).id
    ids = [m.id for m in members] * 3  # each member tries three times at once
    lock = threading.Lock()

    def work() -> None:
        from app.auth.models import User

        with lock:
            uid = ids.pop()
        with contextlib.suppress(services.CommunityError):  # full: refused, nothing written
            services.join_event(db.session.get(User, uid), db.session.get(Event, ev_id))

    assert _hammer(app, len(ids), work) == []
    db.session.rollback()
    count = db.session.execute(
        select(func.count()).select_from(EventParticipant).where(EventParticipant.event_id == ev_id)
    ).scalar_one()
    assert count == 3
    assert db.session.get(Event, ev_id).participant_count == 3


def _process_join(config: dict[str, Any], com_id: int, uid: int, ev_id: int) -> None:
    from app import create_app
    from app.auth.models import User

    # Like a CLI command: on SQLite, a write transaction takes the lock when it begins.
    app = create_app("testing", overrides={**config, "SQLITE_IMMEDIATE_OUTSIDE_REQUEST": True})
    with app.app_context():
        user = db.session.get(User, uid)
        services.join_community(user, db.session.get(Community, com_id))
        db.session.commit()
        services.join_event(user, db.session.get(Event, ev_id))
        db.session.commit()


def test_join_from_two_processes(
    app: Any, app_config: dict[str, Any], user: Any, other_user: Any, community: Any, event: Any
) -> None:
    com = community(user)
    ev = event(com, user)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_process_join, args=(app_config, com.id, other_user.id, ev.id))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    db.session.rollback()
    assert services.membership(com, other_user) is not None
    count = db.session.execute(
        select(func.count()).select_from(EventParticipant).where(EventParticipant.event_id == ev.id)
    ).scalar_one()
    assert count == 1
