"""`flask backup create [--out DIR]` and `flask backup restore FOLDER [--force]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.backup.services import BackupError, create_backup, restore_backup

backup_cli = AppGroup("backup", help="Backups of the main database and the vault.")


@backup_cli.command("create")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder that receives the backup folder (default: INSTANCE_DIR/backups).",
)
def create(out_dir: Path | None) -> None:
    """Back up both databases; print the backup folder and its manifest summary as JSON."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    target = out_dir or Path(app.config["INSTANCE_DIR"]) / "backups"
    try:
        folder = create_backup(app, target)
    except BackupError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = {
        bind: sum(t["rows"] for t in info["tables"].values())
        for bind, info in manifest["databases"].items()
    }
    click.echo(json.dumps({"folder": str(folder), "rows": rows}))


@backup_cli.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace databases that already hold rows.")
def restore(folder: Path, force: bool) -> None:
    """Restore a backup folder into the configured databases and verify every table.

    Exits 1 when a table's row count or checksum differs from the manifest (a project purged
    since the backup shows up as `projects_unrecoverable` and as differing vault tables).
    Run `flask search rebuild` afterwards: the search index is not part of a backup.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        report = restore_backup(app, folder, force=force)
    except BackupError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    if report.mismatches:
        sys.exit(1)
