"""`flask db-roles` (A75): after setup the runtime role reads and writes rows but cannot change
the schema, the migration role runs the migrations, and the audit table stays insert-only.

Roles are cluster-wide and the cluster is shared: each test database gets its own role names,
and the fixture hands everything back and drops the roles afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.db_roles import dispose_maintenance_engines
from app.extensions import db
from tests.factories import Factories

INSUFFICIENT_PRIVILEGE = "42501"


def _pg(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL roles")


def _drop_roles(admins: list[Engine], names: list[str]) -> None:
    """Give back what the roles own and drop them (also what a killed run left)."""
    with admins[0].connect() as conn:
        present = set(
            conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"), {"n": names}
            ).scalars()
        )
    if not present:
        return
    for engine in admins:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS vault_audit_append_only ON vault_audit"))
            conn.execute(text("DROP FUNCTION IF EXISTS vault_audit_append_only()"))
            for name in names:
                if name in present:
                    conn.execute(text(f'REASSIGN OWNED BY "{name}" TO CURRENT_USER'))
                    conn.execute(text(f'DROP OWNED BY "{name}"'))
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text(f'GRANT TEMPORARY ON DATABASE "{database}" TO PUBLIC'))
    with admins[0].begin() as conn:
        for name in names:
            if name in present:
                conn.execute(text(f'DROP ROLE "{name}"'))


@pytest.fixture
def roles(app: Flask) -> Iterator[dict[str, str]]:
    _pg(app)
    database = make_url(str(db.engine.url)).database
    names = {"migration": f"{database}_owner", "runtime": f"{database}_app"}
    admins = [db.engine, db.engines["pii"]]
    db.session.remove()
    _drop_roles(admins, list(names.values()))
    try:
        yield names
    finally:
        db.session.remove()
        _drop_roles(admins, list(names.values()))


def _url_as(engine: Engine, role: str) -> str:
    return engine.url.set(username=role, password=None).render_as_string(hide_password=False)


def _setup(app: Flask, names: dict[str, str]) -> Any:
    return app.test_cli_runner().invoke(
        args=[
            "db-roles",
            "setup",
            "--migration-role",
            names["migration"],
            "--runtime-role",
            names["runtime"],
        ]
    )


@pytest.fixture
def runtime_app(app: Flask, app_config: dict[str, Any], roles: dict[str, str]) -> Iterator[Flask]:
    """The app as production runs it: the runtime role, the migration role for migrations."""
    result = _setup(app, roles)
    assert result.exit_code == 0, result.output
    main, pii = db.engine, db.engines["pii"]
    runtime = create_app(
        "testing",
        overrides={
            **app_config,
            "DATABASE_URL": _url_as(main, roles["runtime"]),
            "PII_DATABASE_URL": _url_as(pii, roles["runtime"]),
            "MIGRATION_DATABASE_URL": _url_as(main, roles["migration"]),
            "PII_MIGRATION_DATABASE_URL": _url_as(pii, roles["migration"]),
        },
    )
    runtime.test_client_class = app.test_client_class
    try:
        yield runtime
    finally:
        with runtime.app_context():
            dispose_maintenance_engines()
            for engine in db.engines.values():
                engine.dispose()


def _refused(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with pytest.raises(DBAPIError) as err, engine.begin() as conn:
            conn.execute(text(statement))
        assert err.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE, err.value
    finally:
        engine.dispose()


def test_runtime_role_reads_and_writes_rows_but_cannot_change_the_schema(
    app: Flask, runtime_app: Flask, roles: dict[str, str]
) -> None:
    for admin in (db.engine, db.engines["pii"]):
        url = _url_as(admin, roles["runtime"])
        _refused(url, "CREATE TABLE intruder (id integer)")
        _refused(url, "CREATE SCHEMA intruder")
        _refused(url, "CREATE TEMPORARY TABLE intruder (id integer)")
        _refused(url, "ALTER TABLE alembic_version ADD COLUMN intruder integer")
        _refused(url, "DROP TABLE alembic_version")
        _refused(url, "TRUNCATE alembic_version")
        _refused(url, "UPDATE alembic_version SET version_num = version_num")
    _refused(_url_as(db.engine, roles["runtime"]), "ALTER TABLE users ADD COLUMN intruder text")
    _refused(_url_as(db.engine, roles["runtime"]), "DROP TABLE web_sessions")
    pii_url = _url_as(db.engines["pii"], roles["runtime"])
    _refused(pii_url, "DROP TABLE vault_audit")
    with runtime_app.app_context():
        from app.privacy import audit

        audit.record("test.event", actor="user:1", reason="as the runtime role")
        db.session.commit()
        with pytest.raises(DBAPIError) as err, db.engines["pii"].begin() as conn:
            conn.execute(text("UPDATE vault_audit SET reason = 'x'"))
        assert err.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE
        assert "permission denied" in str(err.value)  # the grant, before the trigger
        user = Factories().user(handle="runtime_user")
        email = user.email
        db.session.remove()
    # The app itself works: a member logs in (session row, last login) and opens a page.
    with runtime_app.app_context():
        client = runtime_app.test_client()
        response = client.post("/auth/login", data={"email": email, "password": Factories.PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        assert client.get("/auth/settings").status_code == 200
        db.session.remove()
    with runtime_app.app_context():  # the CLI runs in the app context already pushed
        check = runtime_app.test_cli_runner().invoke(args=["db-roles", "check"])
        db.session.remove()
    assert check.exit_code == 0, check.output
    assert check.output.count('"ok": true') == 2


def test_check_refuses_a_role_that_could_change_the_schema(app: Flask) -> None:
    _pg(app)
    result = app.test_cli_runner().invoke(args=["db-roles", "check"])
    assert result.exit_code == 1, result.output  # the tests' superuser
    assert "is a superuser" in result.output
    assert "may create objects in schema public" in result.output


def test_migration_role_runs_the_migrations_and_new_tables_reach_the_runtime_role(
    app: Flask, runtime_app: Flask, roles: dict[str, str]
) -> None:
    from flask_migrate import downgrade, upgrade

    with db.engine.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    with runtime_app.app_context():
        # As the runtime role these would fail; MIGRATION_DATABASE_URL takes them.
        downgrade(revision="-1")
        upgrade(revision=head)
        dispose_maintenance_engines()
        db.session.remove()
    owners = set()
    for engine in (db.engine, db.engines["pii"]):
        with engine.connect() as conn:
            owners |= set(
                conn.execute(
                    text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
            )
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    assert owners == {roles["migration"]}
    # Setting up again (as after a restore) changes nothing that works.
    assert _setup(app, roles).exit_code == 0
    # A table the migration role creates later is readable and writable by the runtime role
    # at once (default privileges), and still beyond its reach to drop.
    owner = create_engine(_url_as(db.engine, roles["migration"]))
    try:
        with owner.begin() as conn:
            conn.execute(text("CREATE TABLE roles_probe (id serial PRIMARY KEY, v text)"))
        runtime = create_engine(_url_as(db.engine, roles["runtime"]))
        try:
            with runtime.begin() as conn:
                conn.execute(text("INSERT INTO roles_probe (v) VALUES ('x')"))
                conn.execute(text("UPDATE roles_probe SET v = 'y'"))
                assert conn.execute(text("SELECT v FROM roles_probe")).scalar_one() == "y"
                conn.execute(text("DELETE FROM roles_probe"))
        finally:
            runtime.dispose()
        _refused(_url_as(db.engine, roles["runtime"]), "DROP TABLE roles_probe")
        with owner.begin() as conn:
            conn.execute(text("DROP TABLE roles_probe"))
    finally:
        owner.dispose()


def test_sqlite_has_no_roles_to_set_up(app: Flask) -> None:
    if db.engine.dialect.name == "postgresql":
        pytest.skip("the SQLite answer; PostgreSQL is set up above")
    result = app.test_cli_runner().invoke(
        args=["db-roles", "setup", "--migration-role", "a", "--runtime-role", "b"]
    )
    assert result.exit_code == 2
    assert "PostgreSQL only" in result.output
    check = app.test_cli_runner().invoke(args=["db-roles", "check"])
    assert check.exit_code == 0
    assert "no database roles" in check.output


def test_migration_urls_come_from_the_environment(app: Flask) -> None:
    import config
    from app.db_roles import maintenance_engine

    env = {
        "MIGRATION_DATABASE_URL": "postgresql://owner@/sankaku",
        "PII_MIGRATION_DATABASE_URL": "postgresql://owner@/sankaku_pii",
    }
    assert config.settings_from_env(config.ProductionConfig, env) == env
    assert app.config["MIGRATION_DATABASE_URL"] is None
    assert maintenance_engine(None) is db.engine  # unset: the app's own engine
    assert maintenance_engine("pii") is db.engines["pii"]
    app.config["MIGRATION_DATABASE_URL"] = env["MIGRATION_DATABASE_URL"]
    owner = maintenance_engine(None)
    assert (owner.url.drivername, owner.url.username) == ("postgresql+psycopg", "owner")
    assert maintenance_engine(None) is owner
    dispose_maintenance_engines()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://owner:postgres@/sankaku", "uses a default password"),
        ("postgresql://owner@db.example/sankaku", "without sslmode=verify-full"),
    ],
)
def test_production_checks_the_migration_urls_like_the_runtime_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, url: str, message: str
) -> None:
    from app import ConfigError

    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    overrides = {
        "SECRET_KEY": "k" * 48,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "APP_ROLE": "public",  # no vault keys needed; every URL is checked all the same
        "DATABASE_URL": "postgresql://app@/sankaku",
        "PII_DATABASE_URL": "postgresql://app@/sankaku_pii",
    }
    assert create_app("production", overrides=overrides).config["ENV_NAME"] == "production"
    for key in ("MIGRATION_DATABASE_URL", "PII_MIGRATION_DATABASE_URL"):
        with pytest.raises(ConfigError, match=f"^{key} .*{message}"):
            create_app("production", overrides={**overrides, key: url})
