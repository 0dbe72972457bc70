"""Retention: every project ends; after its end date its personal data is destroyed.

`purge_project` can be interrupted at any point and run again: each step is idempotent, and the
project is marked closed first so nothing new is filed meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine

from app.auth.models import Role, User, user_roles
from app.db import utcnow
from app.extensions import db
from app.privacy import audit
from app.privacy.keys import current_keys
from app.privacy.models import Consent, DataKey, InboxEnvelope, Project, VaultRecord, VaultValue
from app.privacy.vault import get_project, vault_available

# Features holding pseudonymous rows of a project (monitors, bindings) register a cleaner:
# called with the project code and the subjects being purged; returns how many rows it removed.
PURGE_HOOKS: list[Callable[[str, list[str]], int]] = []

VAULT_TABLES = ("vault_values", "vault_records", "vault_data_keys")
MAIN_TABLES = ("privacy_inbox", "privacy_consents")


@dataclass
class PurgeReport:
    project: str
    records: int
    values: int
    keys: int
    main_rows: int
    resumed: bool


def days_left(project: Project, today: dt.date | None = None) -> int:
    return (project.ends_on - (today or utcnow().date())).days


def projects_near_end(today: dt.date | None = None) -> list[Project]:
    """Projects not yet purged whose end date is within PRIVACY_RETENTION_WARNING_DAYS."""
    today = today or utcnow().date()
    horizon = today + dt.timedelta(days=int(current_app.config["PRIVACY_RETENTION_WARNING_DAYS"]))
    return list(
        db.session.execute(
            select(Project)
            .where(Project.purged_at.is_(None), Project.ends_on <= horizon)
            .order_by(Project.ends_on)
        ).scalars()
    )


def warn_staff(today: dt.date | None = None) -> int:
    """Queue one warning mail per staff member for each project entering the warning window.

    Each project is warned once (`warned_at`). Returns the number of mails queued.
    """
    from app.mail.services import queue_template_mail

    staff = list(
        db.session.execute(
            select(User)
            .join(user_roles, user_roles.c.user_id == User.id)
            .join(Role, Role.id == user_roles.c.role_id)
            .where(Role.code.in_(["staff", "admin"]), User.status == "active")
            .distinct()
        ).scalars()
    )
    sent = 0
    for project in projects_near_end(today):
        if project.warned_at is not None:
            continue
        for user in staff:
            queue_template_mail(
                user.email,
                "privacy_retention",
                user.locale,
                kind="privacy_retention",
                project=project,
                days=max(days_left(project, today), 0),
            )
            sent += 1
        project.warned_at = utcnow()
    return sent


def _engine(bind: str | None) -> Engine:
    return db.engines[bind] if bind else db.engine


def compact(bind: str | None, tables: tuple[str, ...]) -> None:
    """Make deleted rows unrecoverable from the database files.

    SQLite: VACUUM rebuilds the file without free pages, then a TRUNCATE checkpoint empties the
    write-ahead log. PostgreSQL: VACUUM FULL rewrites the purged tables.
    """
    engine = _engine(bind)
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
    elif engine.dialect.name == "postgresql":
        from app.db_roles import maintenance_engine

        # Only a table's owner may VACUUM it; the runtime role would skip it with a warning.
        owner = maintenance_engine(bind)
        with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.execute(text(f'VACUUM FULL "{table}"'))  # names from the constant above


def _deleted(statement: Any) -> int:
    """Run a DELETE and return how many rows it removed."""
    result: Any = db.session.execute(statement)
    return int(result.rowcount or 0)


def purge_project(code: str, *, actor: str) -> PurgeReport:
    """Destroy project `code`'s data key, delete its vault records, inbox envelopes, consents
    and the features' pseudonymous rows, compact the files, and audit the purge. A job: commits.
    """
    if not vault_available():
        raise RuntimeError("purge runs on the internal server, which holds the vault")
    project = get_project(code)
    resumed = project.purge_started_at is not None
    if project.purge_started_at is None:
        project.purge_started_at = utcnow()
    db.session.commit()

    subjects = list(
        db.session.execute(
            select(VaultRecord.subject).where(VaultRecord.project_code == code)
        ).scalars()
    )
    main_rows = 0
    for hook in PURGE_HOOKS:
        main_rows += hook(code, subjects)
    if subjects:
        main_rows += _deleted(delete(Consent).where(Consent.subject.in_(subjects)))
    main_rows += _deleted(delete(InboxEnvelope).where(InboxEnvelope.project_code == code))
    db.session.commit()

    record_ids = select(VaultRecord.id).where(VaultRecord.project_code == code)
    values = int(
        db.session.execute(
            select(func.count()).select_from(VaultValue).where(VaultValue.record_id.in_(record_ids))
        ).scalar_one()
    )
    db.session.execute(delete(VaultValue).where(VaultValue.record_id.in_(record_ids)))
    records = _deleted(delete(VaultRecord).where(VaultRecord.project_code == code))
    keys_destroyed = 0
    for row in db.session.execute(select(DataKey).where(DataKey.project_code == code)).scalars():
        if row.wrapped is not None:
            row.wrapped = None
            row.destroyed_at = utcnow()
            keys_destroyed += 1
        current_keys().data_key_cache.pop(row.id, None)
    audit.record(
        "project.purge",
        actor=actor,
        project=code,
        reason="end of project: personal data destroyed",
        detail={
            "records": records,
            "values": values,
            "data_keys": keys_destroyed,
            "main_rows": main_rows,
            "resumed": resumed,
        },
    )
    db.session.commit()

    project = get_project(code)
    project.purged_at = utcnow()
    db.session.commit()  # no transaction stays open: VACUUM and the checkpoint need that
    compact("pii", VAULT_TABLES)
    compact(None, MAIN_TABLES)
    return PurgeReport(code, records, values, keys_destroyed, main_rows, resumed)
