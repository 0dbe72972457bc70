"""Test fixtures: a fresh database per test on SQLite or PostgreSQL, the app, clients, factories.

The schema is built once per run with `alembic upgrade head` (Flask-Migrate). Each test then
gets a fresh database: on SQLite a copy of the migrated template files, on PostgreSQL the
migrated databases with every non-reference table truncated. App code commits for real, so
tests see what production would, including concurrency between connections.

Set TEST_DATABASE_URL (postgresql://…/name) to run on PostgreSQL; the vault uses `name_pii`.
"""

from __future__ import annotations

import contextvars
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db, limiter
from tests.factories import Factories


def _per_worker_database() -> None:
    """Under pytest-xdist each worker gets its own PostgreSQL databases (`name_gw0` …), set in
    the environment before any test module reads it, so parallel workers never share a
    database; SQLite files already live in each worker's own temporary directory."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if worker and url and not os.environ.get("SANKAKU_TEST_DB_PER_WORKER"):
        parsed = make_url(url)
        os.environ["TEST_DATABASE_URL"] = parsed.set(
            database=f"{parsed.database}_{worker}"
        ).render_as_string(hide_password=False)
        os.environ["SANKAKU_TEST_DB_PER_WORKER"] = "1"


_per_worker_database()
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()

# The test PKI and the real PC/SC stack with the emulated card, for every test folder.
pytest_plugins = ["tests.jpki_fixtures"]


def pg_urls() -> tuple[str, str]:
    """The main and vault database URLs derived from TEST_DATABASE_URL."""
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    main = url.render_as_string(hide_password=False)
    pii = url.set(database=f"{url.database}_pii").render_as_string(hide_password=False)
    return main, pii


def _recreate_pg_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    Without this, a request would reuse the test's app context and its database session, and
    stale objects could hide bugs.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            # End the test's own transaction: its changes become visible to the request, and
            # its next read starts a new snapshot that sees what the request committed.
            db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Migrate the schema once per run; return the template database locations."""
    from flask_migrate import upgrade

    if PG_URL:
        main, pii = pg_urls()
        _recreate_pg_database(main)
        _recreate_pg_database(pii)
        overrides = {"DATABASE_URL": main, "PII_DATABASE_URL": pii}
    else:
        base = tmp_path_factory.mktemp("dbtemplate")
        overrides = {
            "DATABASE_URL": f"sqlite:///{base / 'sankaku.db'}",
            "PII_DATABASE_URL": f"sqlite:///{base / 'pii.db'}",
        }
    app = create_app(
        "testing", overrides={**overrides, "INSTANCE_DIR": str(tmp_path_factory.mktemp("tplinst"))}
    )
    with app.app_context():
        upgrade()
        for engine in db.engines.values():
            engine.dispose()
    if not PG_URL:
        for name in ("sankaku.db", "pii.db"):
            con = sqlite3.connect(base / name)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
        return {"kind": "sqlite", "dir": str(base)}
    return {
        "kind": "postgresql",
        "main": overrides["DATABASE_URL"],
        "pii": overrides["PII_DATABASE_URL"],
    }


def _truncate_pg(app: Flask) -> None:
    for bind, metadata in db.metadatas.items():
        tables = [t.name for t in metadata.sorted_tables if not t.info.get("reference_data")]
        if not tables or bind not in db.engines:
            continue
        names = ", ".join(f'"{name}"' for name in tables)
        with db.engines[bind].begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def fresh_database(template: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Config overrides pointing at a fresh copy of the migrated databases."""
    if template["kind"] == "sqlite":
        target = tmp_path / "db"
        target.mkdir(exist_ok=True)
        for name in ("sankaku.db", "pii.db"):
            shutil.copyfile(Path(template["dir"]) / name, target / name)
        return {
            "DATABASE_URL": f"sqlite:///{target / 'sankaku.db'}",
            "PII_DATABASE_URL": f"sqlite:///{target / 'pii.db'}",
        }
    return {"DATABASE_URL": template["main"], "PII_DATABASE_URL": template["pii"]}


@pytest.fixture
def app_config(db_template: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """Overrides for the test's app; a test may change them before `app` is created."""
    instance = tmp_path / "instance"
    instance.mkdir()
    return {
        **fresh_database(db_template, tmp_path),
        "INSTANCE_DIR": str(instance),
        "SEARCH_DIR": str(instance / "search"),
        "MAIL_OUTBOX_DIR": str(instance / "outbox"),
        "SERVER_BASE_URL": "http://localhost",
    }


@pytest.fixture
def app(app_config: dict[str, Any], db_template: dict[str, str]) -> Iterator[Flask]:
    """The app on a fresh database, with an app context pushed for the test's own code."""
    application = create_app("testing", overrides=app_config)
    application.test_client_class = IsolatedClient
    if limiter.enabled:
        limiter.reset()  # one Limiter object serves every test app: start each test at zero
    ctx = application.app_context()
    ctx.push()
    if db_template["kind"] == "postgresql":
        _truncate_pg(application)
    try:
        yield application
    finally:
        from app.search.whoosh_backend import close_thread_searchers

        close_thread_searchers()  # the test's own searches ran in this thread
        db.session.remove()
        ctx.pop()
        with application.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run (tests/e2e, tests/a11y): Playwright's sync API
    drives one instance at a time. Debian's build, see tests/e2e/conftest.py."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make(app: Flask) -> Factories:
    """Factories: `make.user(...)`, `make.invitation(...)`; each commits."""
    return Factories()


@pytest.fixture
def user(make: Factories) -> Any:
    return make.user(handle="alice", display_name="長岡 花子")


@pytest.fixture
def other_user(make: Factories) -> Any:
    return make.user(handle="bob", display_name="千代田 太郎")


@pytest.fixture
def admin(make: Factories) -> Any:
    from app.auth.models import RoleCode

    return make.user(handle="admin_user", display_name="管理者", role=RoleCode.ADMIN)


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[..., FlaskClient]:
    """Log a user in through the real login form (and, for admins, moderators and staff, the
    second-factor form with a code from their authenticator); returns the client."""

    def _login(
        user: Any, password: str = Factories.PASSWORD, the_client: FlaskClient | None = None
    ) -> FlaskClient:
        from tests.second_factor_support import log_in

        c = the_client or client
        response = log_in(c, user, password)  # passes the second factor when asked (A08)
        assert response.status_code == 302, response.get_data(as_text=True)
        return c

    return _login


@pytest.fixture
def outbox(app: Flask) -> Callable[[], list[Any]]:
    """The outbox rows, newest last."""
    from sqlalchemy import select

    from app.mail.models import OutboxMessage

    def _rows() -> list[Any]:
        db.session.rollback()  # end the test's read snapshot so it sees what requests committed
        return list(db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())

    return _rows
