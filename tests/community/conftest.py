"""Community fixtures: a community factory with members."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from app.community import services
from app.community.models import Community, Event, Topic
from app.db import utcnow
from app.extensions import db


@pytest.fixture
def community(app: Any) -> Callable[..., Community]:
    def _make(
        admin: Any, kind: str = "open", members: tuple[Any, ...] = (), **kw: Any
    ) -> Community:
        row = services.create_community(
            admin, name=kw.pop("name", f"{kind} の会"), category="地域", kind=kind, **kw
        )
        for m in members:
            services._insert_member(row, m, "member")
        db.session.commit()
        return row

    return _make


@pytest.fixture
def topic(app: Any) -> Callable[..., Topic]:
    def _make(com: Community, author: Any, title: str = "話題", body: str = "本文です") -> Topic:
        row = services.create_topic(com, author, title=title, body=body)
        db.session.commit()
        return row

    return _make


@pytest.fixture
def event(app: Any) -> Callable[..., Event]:
    def _make(com: Community, author: Any, days: float = 3, **kw: Any) -> Event:
        row = services.create_event(
            com,
            author,
            title=kw.pop("title", "清掃活動"),
            starts_at=utcnow() + dt.timedelta(days=days),
            place=kw.pop("place", "公民館"),
            **kw,
        )
        db.session.commit()
        return row

    return _make
