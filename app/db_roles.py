"""Database roles on PostgreSQL (A75): a migration role owns the schema, a runtime role only
reads and writes rows.

`flask db-roles setup` (run once as a superuser, and again after a restore) creates both roles,
hands every object in the `public` schema to the migration role, and grants the runtime role
SELECT, INSERT, UPDATE and DELETE on tables and USAGE on sequences, now and, through default
privileges, for every table the migration role creates later. The runtime role gets no CREATE on
the schema or the database and owns nothing, so it cannot CREATE, ALTER, DROP or TRUNCATE. In
the vault database the audit table stays insert-only (`harden_audit_table`).

The web and worker processes connect with DATABASE_URL / PII_DATABASE_URL as the runtime role.
`flask db upgrade` (migrations/env.py) and the maintenance steps that must own a table (VACUUM
FULL, CLUSTER) use MIGRATION_DATABASE_URL / PII_MIGRATION_DATABASE_URL when they are set.
`flask db-roles check` fails when the configured role could change the schema.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Connection, Engine, create_engine, text

from app.extensions import db

db_roles_cli = AppGroup("db-roles", help="PostgreSQL roles: migration owner and runtime (A75).")

# Per bind: the config key of the migration role's URL.
MIGRATION_URL_KEYS = {None: "MIGRATION_DATABASE_URL", "pii": "PII_MIGRATION_DATABASE_URL"}
RUNTIME_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def _binds() -> list[str | None]:
    return [None, *sorted(key for key in db.engines if key is not None)]


def _engine(bind: str | None) -> Engine:
    return db.engines[bind] if bind else db.engine


def maintenance_engine(bind: str | None = None) -> Engine:
    """The engine for work that must own a table (migrations, VACUUM FULL, CLUSTER): the
    migration role's URL when configured, else the application's own engine."""
    url = current_app.config.get(MIGRATION_URL_KEYS.get(bind, ""))
    if not url:
        return _engine(bind)
    from app import _normalise_url

    url = _normalise_url(str(url))
    engines: dict[str, Engine] = current_app.extensions.setdefault("maintenance_engines", {})
    engine = engines.get(url)
    if engine is None:
        engine = engines[url] = create_engine(url, pool_pre_ping=True)
    return engine


def dispose_maintenance_engines() -> None:
    """Close the migration role's connections (end of a command, end of a test)."""
    for engine in current_app.extensions.pop("maintenance_engines", {}).values():
        engine.dispose()


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _ensure_role(conn: Connection, name: str) -> bool:
    """Create a login role without special powers; True when it was created."""
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    if not exists:
        conn.execute(text(f"CREATE ROLE {_q(conn, name)} LOGIN"))
    conn.execute(
        text(f"ALTER ROLE {_q(conn, name)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    )
    return not exists


def _own_everything(conn: Connection, owner: str) -> int:
    """Hand every table, view, sequence, type and function in `public` to `owner`."""
    rows = conn.execute(
        text(
            """
            SELECT c.relkind, quote_ident(c.relname)
            FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :owner)
              AND NOT (c.relkind = 'S' AND EXISTS (
                    SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype IN ('a', 'i')))
            """
        ),
        {"owner": owner},
    ).all()
    kinds = {
        "r": "TABLE",
        "p": "TABLE",
        "v": "VIEW",
        "m": "MATERIALIZED VIEW",
        "f": "FOREIGN TABLE",
        "S": "SEQUENCE",
    }
    for kind, name in rows:
        conn.execute(text(f"ALTER {kinds[kind]} public.{name} OWNER TO {_q(conn, owner)}"))
    functions = conn.execute(
        text(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace
              AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = :owner)
            """
        ),
        {"owner": owner},
    ).scalars()
    count = len(rows)
    for signature in list(functions):
        conn.execute(text(f"ALTER ROUTINE {signature} OWNER TO {_q(conn, owner)}"))
        count += 1
    types = conn.execute(
        text(
            """
            SELECT quote_ident(t.typname) FROM pg_type t
            WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd')
              AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = :owner)
            """
        ),
        {"owner": owner},
    ).scalars()
    for name in list(types):
        conn.execute(text(f"ALTER TYPE public.{name} OWNER TO {_q(conn, owner)}"))
        count += 1
    return count


def setup_roles(bind: str | None, migration_role: str, runtime_role: str) -> dict[str, object]:
    """Create or update both roles in one database; idempotent. Run as a superuser."""
    if migration_role == runtime_role:
        raise click.UsageError("the migration and runtime roles must differ")
    engine = _engine(bind)
    with engine.begin() as conn:
        mig, rt = _q(conn, migration_role), _q(conn, runtime_role)
        database = _q(conn, conn.execute(text("SELECT current_database()")).scalar_one())
        created = [name for name in (migration_role, runtime_role) if _ensure_role(conn, name)]
        statements = [
            # The runtime role holds no role that could own or create.
            f"REVOKE {mig} FROM {rt}",
            f"GRANT CONNECT ON DATABASE {database} TO {mig}, {rt}",
            f"REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM PUBLIC",
            f"REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM {rt}",
            f"GRANT TEMPORARY ON DATABASE {database} TO {mig}",
            # PostgreSQL before 15 lets everyone create in `public`.
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            f"REVOKE CREATE ON SCHEMA public FROM {rt}",
            f"GRANT USAGE, CREATE ON SCHEMA public TO {mig}",
            f"GRANT USAGE ON SCHEMA public TO {rt}",
        ]
        for statement in statements:
            conn.execute(text(statement))
        owned = _own_everything(conn, migration_role)
        for statement in (
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {rt}",
            f"GRANT {RUNTIME_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {rt}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {rt}",
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {rt}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {mig} IN SCHEMA public"
            f" GRANT {RUNTIME_TABLE_PRIVILEGES} ON TABLES TO {rt}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {mig} IN SCHEMA public"
            f" GRANT USAGE ON SEQUENCES TO {rt}",
        ):
            conn.execute(text(statement))
        if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar():
            # Only migrations move the schema version.
            conn.execute(text(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {rt}"))
    hardened = False
    with engine.connect() as conn:
        has_audit = bool(conn.execute(text("SELECT to_regclass('public.vault_audit')")).scalar())
    if bind == "pii" and has_audit:
        from app.privacy.cli import harden_audit_table

        harden_audit_table(runtime_role)  # the grant above gave UPDATE and DELETE back
        with engine.begin() as conn:
            _own_everything(conn, migration_role)  # the trigger's function
        hardened = True
    return {
        "database": (bind or "main"),
        "created_roles": created,
        "objects_given_to_migration_role": owned,
        "audit_insert_only": hardened,
    }


@dataclass
class RoleCheck:
    database: str
    role: str
    problems: list[str]


def check_runtime_role(bind: str | None) -> RoleCheck:
    """What the configured role of a database could do beyond reading and writing rows."""
    engine = _engine(bind)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT current_user AS role,
                       r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                       has_schema_privilege('public', 'CREATE') AS schema_create,
                       has_database_privilege(current_database(), 'CREATE') AS db_create,
                       has_database_privilege(current_database(), 'TEMPORARY') AS db_temp,
                       (SELECT count(*) FROM pg_class c
                        WHERE c.relnamespace = 'public'::regnamespace
                          AND pg_has_role(c.relowner, 'USAGE')) AS owned,
                       (SELECT count(*) FROM pg_class c
                        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                          AND has_table_privilege(c.oid, 'TRUNCATE')) AS truncatable
                FROM pg_roles r WHERE r.rolname = current_user
                """
            )
        ).one()
    flags = {
        "rolsuper": "is a superuser",
        "rolcreaterole": "may create roles",
        "rolcreatedb": "may create databases",
        "rolbypassrls": "bypasses row security",
        "schema_create": "may create objects in schema public",
        "db_create": "may create schemas in the database",
        "db_temp": "may create temporary tables",
    }
    problems = [text_ for key, text_ in flags.items() if getattr(row, key)]
    if row.owned:
        problems.append(f"owns (or is a member of the owner of) {row.owned} objects in public")
    if row.truncatable:
        problems.append(f"may TRUNCATE {row.truncatable} tables")
    return RoleCheck(database=bind or "main", role=str(row.role), problems=problems)


@db_roles_cli.command("setup")
@click.option("--migration-role", required=True, help="Owns the schema; used by db upgrade.")
@click.option("--runtime-role", required=True, help="The role the web and worker processes use.")
def setup_command(migration_role: str, runtime_role: str) -> None:
    """Create or update the migration and runtime roles in every database (run as superuser).

    Set passwords (or use peer authentication over the Unix socket) separately; no secret
    passes through this command.
    """
    if db.engine.dialect.name != "postgresql":
        click.echo("error: database roles exist on PostgreSQL only", err=True)
        sys.exit(2)
    for bind in _binds():
        click.echo(json.dumps(setup_roles(bind, migration_role, runtime_role)))


@db_roles_cli.command("check")
def check_command() -> None:
    """Exit 1 when the role the app connects as could create, alter or drop schema objects."""
    if db.engine.dialect.name != "postgresql":
        click.echo(json.dumps({"database": "sqlite", "ok": True, "note": "no database roles"}))
        return
    failed = False
    for bind in _binds():
        result = check_runtime_role(bind)
        failed = failed or bool(result.problems)
        click.echo(
            json.dumps(
                {
                    "database": result.database,
                    "role": result.role,
                    "ok": not result.problems,
                    "problems": result.problems,
                }
            )
        )
    if failed:
        sys.exit(1)
