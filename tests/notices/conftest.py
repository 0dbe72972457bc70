"""Fixtures for announcements and site pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from app.auth.models import RoleCode
from app.extensions import db


@pytest.fixture
def staff(make: Any) -> Any:
    return make.user(handle="city_staff", display_name="市 職員", role=RoleCode.STAFF)


@pytest.fixture
def moderator(make: Any) -> Any:
    return make.user(handle="npo_mod", display_name="NPO 担当", role=RoleCode.MODERATOR)


@pytest.fixture
def announce(app: Any) -> Callable[..., Any]:
    """Publish an announcement through the service and commit."""
    from app.notices.services import publish_announcement

    def _make(author: Any, **kw: Any) -> Any:
        kw.setdefault("title", "お知らせ")
        kw.setdefault("body", "本文です。")
        kw.setdefault("audience", "public")
        item = publish_announcement(author, **kw)
        db.session.commit()
        return item

    return _make


@pytest.fixture
def terms(app: Any) -> Callable[..., Any]:
    """Save a new version of the terms (as the CLI/seed would) and commit."""
    from app.notices.models import PageKind
    from app.notices.services import save_page

    def _save(body: str = "第1条 仲良く使いましょう。", title: str = "利用規約") -> Any:
        page = save_page(None, PageKind.TERMS, title=title, body=body)
        db.session.commit()
        return page

    return _save


@contextmanager
def count_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _before)


def tomorrow() -> dt.date:
    from app.notices.services import today_jst

    return today_jst() + dt.timedelta(days=1)
