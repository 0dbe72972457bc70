"""`flask sns digest` (daily notification emails) and `flask sns purge` (30-day clean-up)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.extensions import db

sns_cli = AppGroup("sns", help="Regional SNS jobs.")


@sns_cli.command("digest")
def digest() -> None:
    """Queue one summary email per member who chose the daily digest (run once a day)."""
    from app.sns.services import send_digests

    count = send_digests()
    db.session.commit()
    click.echo(json.dumps({"digests": count}))


@sns_cli.command("purge")
def purge() -> None:
    """Remove diaries deleted over 30 days ago and footprints older than 30 days."""
    from app.sns.services import purge_deleted

    report = purge_deleted()
    db.session.commit()
    click.echo(json.dumps(report))
