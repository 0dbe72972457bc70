"""L01: the same write submitted at once by 20 threads, and by 2 client processes against two
gunicorn workers, yields exactly one row and never a 500 (security.md L01, A63)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.sns.models import FriendRequest
from app.survey import answering
from app.survey.surveys_models import Participation, Response
from tests.reliability.conftest import fire, session_cookie
from tests.survey.surveys_helpers import GOOD, open_survey

PAGE1 = {"q_q1": "はい", "q_q2": "図書館", "q_q3": "4", "q_q4": "よい"}
PAGE2 = {"q_q5": "A", "q_q6": "3", "q_q7__0": "4", "q_q7__1": "2", "q_q8__0": "2",
         "q_q8__1": "1", "q_q8__2": "3", "q_q9": "2026-01-05"}  # fmt: skip


def _count(model: Any, *where: Any) -> int:
    db.session.rollback()
    return int(
        db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    )


def _in_threads(
    app: Any, n: int, load: Callable[[], tuple[Any, ...]], action: Callable[..., Any]
) -> list[str]:
    """In `n` threads (each with its own app context): `load()` the objects, end that read
    transaction, wait for the others, then `action(*objects)` and commit."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def worker() -> None:
        with app.app_context():
            try:
                objects = load()
                db.session.commit()  # a read left open would hold SQLite's snapshot
                barrier.wait()
                # As in a POST request: on SQLite the write transaction begins IMMEDIATE.
                db.session.connection(execution_options={"sqlite_begin": "immediate"})
                action(*objects)
                db.session.commit()
                outcomes.append("ok")
            except Exception as exc:  # the assertion below shows any other outcome
                db.session.rollback()
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _monitor_session(app: Any, client: Any, make: Any, survey: Any) -> tuple[str, str, str]:
    """A JPKI-verified monitor session that has filled in both pages: (cookie, draft token)."""
    from app.db import utcnow
    from app.survey import identity

    monitor = make.monitor()
    with client.session_transaction() as sess:
        sess[identity.SESSION_MONITOR] = monitor.pseudonym
        sess[identity.SESSION_AT] = utcnow().isoformat()
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert r.status_code == 302, r.get_data(as_text=True)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    token = re.search(r'name="draft" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    for page, data in ((1, PAGE1), (2, PAGE2)):
        r = client.post(
            f"/monitors/surveys/{survey.key}/page/{page}", data={**data, "draft": token}
        )
        assert r.status_code == 302, r.get_data(as_text=True)
    name, value = session_cookie(app, client)
    return name, value, token


# --- survey answers ------------------------------------------------------------------------------


def test_survey_answer_twenty_threads(app: Any, make: Any) -> None:
    survey = open_survey()
    monitor = make.monitor()
    survey_id, monitor_id = survey.id, monitor.id

    def load() -> tuple[Any, ...]:
        from app.survey.models import Monitor
        from app.survey.surveys_models import Survey

        return db.session.get(Survey, survey_id), db.session.get(Monitor, monitor_id)

    outcomes = _in_threads(app, 20, load, lambda s, m: answering.submit(s, m, GOOD))
    assert sorted(outcomes) == ["AlreadyAnswered"] * 19 + ["ok"]
    assert _count(Response) == 1 and _count(Participation) == 1


def test_survey_answer_two_processes_over_http(
    app: Any, client: Any, make: Any, gunicorn: Any
) -> None:
    survey = open_survey()
    name, value, token = _monitor_session(app, client, make, survey)
    server = gunicorn()
    codes = fire(
        f"{server.url}/monitors/surveys/{survey.key}/submit",
        cookie=(name, value),
        data={"draft": token},
    )
    # One submit stores the answers; the others are retries of the same form (same draft
    # token) and get its first result, the receipt page (security.md §4.2).
    assert codes == [200] * 20, codes
    assert _count(Response) == 1 and _count(Participation) == 1
    assert server.errors_logged() == []


# --- friend requests -----------------------------------------------------------------------------


def test_friend_request_twenty_threads(app: Any, user: Any, other_user: Any) -> None:
    from app.auth.models import User
    from app.sns.services import SnsError, send_friend_request

    alice_id, bob_id = user.id, other_user.id

    def load() -> tuple[Any, ...]:
        return db.session.get(User, alice_id), db.session.get(User, bob_id)

    outcomes = _in_threads(app, 20, load, lambda a, b: send_friend_request(a, b, "よろしく"))
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) - {"ok"} <= {SnsError.__name__}, outcomes
    assert _count(FriendRequest) == 1


def test_friend_request_two_processes_over_http(
    app: Any, client: Any, user: Any, other_user: Any, login_as: Any, gunicorn: Any
) -> None:
    login_as(user)
    cookie = session_cookie(app, client)
    server = gunicorn()
    codes = fire(
        f"{server.url}/members/{other_user.handle}/friend-request",
        cookie=cookie,
        data={"message": "よろしくお願いします"},
    )
    # One request is sent (302 to the profile); the others see the form again with the
    # "already sent" message (200). Never a 500.
    assert sorted(codes) == [200] * 19 + [302], codes
    assert _count(FriendRequest) == 1
    assert server.errors_logged() == []


# --- community and event joins ---------------------------------------------------------------


def _community_with_event(admin: Any) -> tuple[int, int]:
    """An open community run by `admin`, with one upcoming event (ids)."""
    import datetime as dt

    from app.community import services as community
    from app.db import utcnow

    com = community.create_community(admin, name="夏祭り実行委員会", category="地域", kind="open")
    db.session.commit()
    event = community.create_event(
        com, admin, title="やぐら組み", starts_at=utcnow() + dt.timedelta(days=3), place="公園"
    )
    db.session.commit()
    return com.id, event.id


def _rows(model: Any, **where: Any) -> int:
    return _count(model, *(getattr(model, k) == v for k, v in where.items()))


def _counters_agree(com_id: int, event_id: int) -> None:
    """The kept member and participant counts were bumped once, like the rows."""
    from app.community.models import Community, CommunityMember, Event, EventParticipant

    members = _rows(CommunityMember, community_id=com_id)
    participants = _rows(EventParticipant, event_id=event_id)
    assert db.session.get(Community, com_id).member_count == members  # type: ignore[union-attr]
    event = db.session.get(Event, event_id)
    assert event.participant_count == participants  # type: ignore[union-attr]


def test_community_and_event_join_twenty_threads(app: Any, user: Any, other_user: Any) -> None:
    from app.auth.models import User
    from app.community import services as community
    from app.community.models import Community, CommunityMember, Event, EventParticipant

    com_id, event_id = _community_with_event(user)
    bob_id = other_user.id

    def load_community() -> tuple[Any, ...]:
        return db.session.get(User, bob_id), db.session.get(Community, com_id)

    outcomes = _in_threads(app, 20, load_community, community.join_community)
    assert set(outcomes) <= {"ok", "CommunityError"}, outcomes
    assert _rows(CommunityMember, community_id=com_id, user_id=bob_id) == 1

    def load_event() -> tuple[Any, ...]:
        return db.session.get(User, bob_id), db.session.get(Event, event_id)

    outcomes = _in_threads(app, 20, load_event, community.join_event)
    assert set(outcomes) <= {"ok", "CommunityError"}, outcomes
    assert _rows(EventParticipant, event_id=event_id, user_id=bob_id) == 1
    _counters_agree(com_id, event_id)


def test_community_and_event_join_two_processes_over_http(
    app: Any, client: Any, user: Any, other_user: Any, login_as: Any, gunicorn: Any
) -> None:
    from app.community.models import CommunityMember, EventParticipant

    com_id, event_id = _community_with_event(user)
    login_as(other_user)
    cookie = session_cookie(app, client)
    server = gunicorn()
    codes = fire(f"{server.url}/communities/{com_id}/join", cookie=cookie, data={})
    # Each request answers with a redirect back to the community (joined, or already a
    # member); never a 500.
    assert codes == [302] * 20, codes
    assert _rows(CommunityMember, community_id=com_id, user_id=other_user.id) == 1
    codes = fire(f"{server.url}/events/{event_id}/join", cookie=cookie, data={})
    assert codes == [302] * 20, codes
    assert _rows(EventParticipant, event_id=event_id, user_id=other_user.id) == 1
    _counters_agree(com_id, event_id)
    assert server.errors_logged() == []
