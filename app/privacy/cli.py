"""`flask privacy …`: audit verification, purge, key rotation, intake, keys, projects."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db

privacy_cli = AppGroup("privacy", help="The personal-data vault.")
audit_cli = AppGroup("audit", help="The hash-chained audit log.")
project_cli = AppGroup("project", help="Survey projects and their end dates.")
privacy_cli.add_command(audit_cli)
privacy_cli.add_command(project_cli)

CLI_ACTOR = "cli"


def _need_vault() -> None:
    from app.privacy.vault import vault_available

    if not vault_available():
        click.echo("error: this command runs on the internal server (it needs the vault)", err=True)
        sys.exit(2)


@audit_cli.command("verify")
@click.option("--expect-head", default="", help="SEQ:MAC exported earlier; catches cut-off tails.")
def audit_verify(expect_head: str) -> None:
    """Check the chain; exit 0 when intact, 1 naming the first bad entry."""
    from app.privacy.audit import verify_chain

    _need_vault()
    report = verify_chain()
    if not report.ok:
        click.echo(f"audit chain BROKEN at entry #{report.bad_seq}: {report.problem}")
        sys.exit(1)
    if expect_head:
        seq_text, _, mac = expect_head.partition(":")
        try:
            seq = int(seq_text)
        except ValueError:
            click.echo("error: --expect-head must be SEQ:MAC", err=True)
            sys.exit(2)
        if report.head_seq < seq:
            click.echo(
                f"audit chain BROKEN at entry #{report.head_seq + 1}: entries after it were deleted"
            )
            sys.exit(1)
        from sqlalchemy import select

        from app.privacy.models import AuditEntry

        stored = db.session.execute(select(AuditEntry.mac).where(AuditEntry.seq == seq)).scalar()
        if stored != mac:
            click.echo(f"audit chain BROKEN at entry #{seq}: it differs from the exported head")
            sys.exit(1)
    click.echo(
        f"audit chain intact: {report.count} entries, head #{report.head_seq} {report.head_mac}"
    )


@audit_cli.command("head")
def audit_head() -> None:
    """Print SEQ:MAC of the newest entry, to keep off this host (daily export)."""
    from app.privacy.audit import verify_chain

    _need_vault()
    report = verify_chain()
    click.echo(f"{report.head_seq}:{report.head_mac}")
    if not report.ok:
        sys.exit(1)


@privacy_cli.command("purge")
@click.option("--project", "project_code", required=True, help="The project code.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(project_code: str, yes: bool) -> None:
    """Destroy a project's data key and personal records (cannot be undone)."""
    from app.privacy.retention import purge_project
    from app.privacy.vault import PrivacyError, get_project

    _need_vault()
    try:
        project = get_project(project_code)
    except PrivacyError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if not yes:
        click.echo(f"Project {project.code} ({project.name}) ends on {project.ends_on}.")
        typed = click.prompt("Type the project code to destroy its personal data", default="")
        if typed != project.code:
            click.echo("Nothing was purged.")
            sys.exit(1)
    report = purge_project(project_code, actor=CLI_ACTOR)
    click.echo(
        json.dumps(
            {
                "project": report.project,
                "records": report.records,
                "values": report.values,
                "data_keys_destroyed": report.keys,
                "main_rows": report.main_rows,
                "resumed": report.resumed,
            }
        )
    )


@privacy_cli.command("rotate-master-key")
def rotate_master_key() -> None:
    """Re-wrap every data key under a new master key (records are not touched)."""
    from app.privacy.keys import KeyConfigError
    from app.privacy.services import rotate_master_key as rotate

    _need_vault()
    try:
        count = rotate(CLI_ACTOR)
    except KeyConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"data_keys_rewrapped": count}))


@privacy_cli.command("intake")
@click.option("--loop", is_flag=True, help="Keep running, checking the inbox every interval.")
@click.option("--interval", type=float, default=None, help="Seconds between checks with --loop.")
@click.option("--limit", type=int, default=100, show_default=True)
def intake(loop: bool, interval: float | None, limit: int) -> None:
    """Open sealed envelopes from the public server and file them in the vault."""
    from app.privacy.envelopes import run_intake

    _need_vault()
    pause = (
        interval if interval is not None else float(current_app.config["PRIVACY_INTAKE_INTERVAL"])
    )
    while True:
        report = run_intake(limit=limit)
        click.echo(json.dumps({"filed": report.filed, "rejected": report.rejected}))
        if not loop:
            break
        db.session.remove()
        time.sleep(pause)


@privacy_cli.command("init-keys")
def init_keys() -> None:
    """Create the vault keys for a new installation (refuses to overwrite)."""
    from app.privacy.keys import KeyConfigError, generate_keys

    try:
        written = generate_keys(current_app.config)
    except KeyConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for path in written:
        click.echo(str(path))


@privacy_cli.command("export-public-keys")
@click.argument("directory", type=click.Path(file_okay=False))
def export_public_keys(directory: str) -> None:
    """Write what the public server needs (vault public key, blind-index key) into DIRECTORY."""
    from app.privacy.keys import FILES, b64, current_keys, public_key_text

    _need_vault()
    keys = current_keys()
    if keys.index is None:
        click.echo("error: no blind-index key", err=True)
        sys.exit(2)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    (target / FILES["vault_public"]).write_text(public_key_text(keys) + "\n")
    index = target / FILES["index"]
    index.touch(mode=0o600)
    index.write_text(b64(keys.index) + "\n")
    click.echo(str(target))


@privacy_cli.command("retention-check")
def retention_check() -> None:
    """Warn staff by mail about projects ending within PRIVACY_RETENTION_WARNING_DAYS."""
    from app.privacy.retention import warn_staff

    sent = warn_staff()
    db.session.commit()
    click.echo(json.dumps({"warnings_queued": sent}))


@project_cli.command("list")
def project_list() -> None:
    """Projects with their end dates."""
    from sqlalchemy import select

    from app.privacy.models import Project

    for p in db.session.execute(select(Project).order_by(Project.code)).scalars():
        state = "purged" if p.purged_at else ("purging" if p.purge_started_at else "open")
        click.echo(f"{p.code}\t{p.ends_on.isoformat()}\t{state}\t{p.name}")


@project_cli.command("set-end")
@click.argument("code")
@click.argument("ends_on")
@click.option("--name", default="")
def project_set_end(code: str, ends_on: str, name: str) -> None:
    """Create project CODE or change its end date (YYYY-MM-DD)."""
    from app.privacy.vault import ensure_project

    try:
        day = dt.date.fromisoformat(ends_on)
    except ValueError:
        click.echo("error: the end date must be YYYY-MM-DD", err=True)
        sys.exit(2)
    project = ensure_project(code, name=name, ends_on=day)
    project.ends_on = day
    if name:
        project.name = name
    project.warned_at = None
    db.session.commit()
    click.echo(f"{project.code}\t{project.ends_on.isoformat()}")
