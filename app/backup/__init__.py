"""Backups: `flask backup create` and `flask backup restore` (see docs/operations.md).

No blueprint: the package adds its command group and makes the privacy purge destroy the
project's backup key, so backups taken before a purge cannot bring the project's data back.
"""

from __future__ import annotations

from flask import Flask, current_app


def _destroy_backup_key(project: str, _subjects: list[str]) -> int:
    """Purge hook: the project's backup key goes with its vault data. Removes no rows."""
    from app.backup.services import destroy_project_backup_key

    destroy_project_backup_key(current_app._get_current_object(), project)  # type: ignore[attr-defined]
    return 0


def register(app: Flask) -> None:
    """Add `flask backup …` and the purge hook (once per process)."""
    from app.backup.cli import backup_cli
    from app.privacy.retention import PURGE_HOOKS

    app.cli.add_command(backup_cli)
    if _destroy_backup_key not in PURGE_HOOKS:
        PURGE_HOOKS.append(_destroy_backup_key)
