"""`flask privacy harden-audit`: the application's role may only INSERT and SELECT the audit
table, and a trigger refuses UPDATE and DELETE (PostgreSQL); triggers do the same on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.privacy import audit
from app.privacy.models import AuditEntry

APP_ROLE = "sankaku_test_audit_app"


def _entries(n: int = 3) -> None:
    for i in range(n):
        audit.record("test.event", actor="user:1", reason=f"event {i}")
    db.session.commit()


def _dialect() -> str:
    return db.engines["pii"].dialect.name


@pytest.fixture
def pg_role(app) -> Iterator[str]:
    """A login-less role standing for the application's role, with full rights to start with."""
    if _dialect() != "postgresql":
        pytest.skip("database roles and GRANT exist on PostgreSQL only")
    engine = db.engines["pii"]
    with engine.begin() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {APP_ROLE}"))  # left over from a killed run
        conn.execute(text(f"CREATE ROLE {APP_ROLE} NOLOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
        conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON vault_audit TO {APP_ROLE}")
        )
    yield APP_ROLE
    db.session.remove()
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS vault_audit_append_only ON vault_audit"))
        conn.execute(text("DROP FUNCTION IF EXISTS vault_audit_append_only()"))
        conn.execute(text(f"DROP OWNED BY {APP_ROLE}"))
        conn.execute(text(f"DROP ROLE {APP_ROLE}"))


def _as_role(role: str, statement: str) -> None:
    """Run `statement` on the vault database as `role`; raises on refusal."""
    with db.engines["pii"].begin() as conn:
        conn.execute(text(f"SET LOCAL ROLE {role}"))
        conn.execute(text(statement))


def test_postgresql_app_role_may_only_insert_and_select(app, pg_role):
    _entries()
    # Before: the role can change the log (this is what the command takes away).
    _as_role(pg_role, "UPDATE vault_audit SET reason = reason WHERE seq = 1")
    result = app.test_cli_runner().invoke(args=["privacy", "harden-audit", "--role", pg_role])
    assert result.exit_code == 0, result.output
    for statement in (
        "UPDATE vault_audit SET reason = 'x' WHERE seq = 1",
        "DELETE FROM vault_audit WHERE seq = 3",
        "TRUNCATE vault_audit",
    ):
        with pytest.raises(DBAPIError) as err:
            _as_role(pg_role, statement)
        assert "permission denied" in str(err.value).lower()
    _as_role(pg_role, "SELECT count(*) FROM vault_audit")
    _as_role(
        pg_role,
        "INSERT INTO vault_audit (seq, at, actor, action, purpose, project, subjects_json,"
        " fields_json, recipient, reason, detail_json, key_id, prev_mac, mac)"
        " SELECT 99, now(), 'x', 'x', '', '', '[]', '[]', '', '', '{}', '', '', ''",
    )
    # The trigger holds for every role, the table's owner included.
    with pytest.raises(DBAPIError) as err, db.engines["pii"].begin() as conn:
        conn.execute(text("UPDATE vault_audit SET reason = 'x' WHERE seq = 1"))
    assert "append-only" in str(err.value)
    # Running it again is harmless.
    again = app.test_cli_runner().invoke(args=["privacy", "harden-audit", "--role", pg_role])
    assert again.exit_code == 0, again.output


def test_postgresql_needs_the_role(app):
    if _dialect() != "postgresql":
        pytest.skip("the role applies on PostgreSQL only")
    result = app.test_cli_runner().invoke(args=["privacy", "harden-audit"])
    assert result.exit_code == 2
    assert "--role" in result.output


def test_sqlite_triggers_refuse_update_and_delete(app):
    if _dialect() != "sqlite":
        pytest.skip("the SQLite triggers; PostgreSQL is tested above")
    _entries()
    result = app.test_cli_runner().invoke(args=["privacy", "harden-audit"])
    assert result.exit_code == 0, result.output
    for stmt in (
        update(AuditEntry).where(AuditEntry.seq == 1).values(reason="x"),
        delete(AuditEntry).where(AuditEntry.seq == 2),
    ):
        with pytest.raises(DBAPIError) as err:
            db.session.execute(stmt)
        assert "append-only" in str(err.value)
        db.session.rollback()
    # Appending still works and the chain stays intact.
    _entries(1)
    assert audit.verify_chain().ok
    assert len(db.session.execute(select(AuditEntry)).all()) == 4
    again = app.test_cli_runner().invoke(args=["privacy", "harden-audit"])
    assert again.exit_code == 0, again.output
