"""`flask survey …`: monitor panel maintenance."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from app.extensions import db

survey_cli = AppGroup("survey", help="Surveys and the monitor panel.")


@survey_cli.command("refresh-segments")
def refresh_segments() -> None:
    """Re-derive every monitor's district, sex and age band (audited; run monthly)."""
    from app.privacy.vault import vault_available
    from app.survey.services import refresh_segments as refresh

    if not vault_available():
        click.echo("error: this command runs on the internal server (it needs the vault)", err=True)
        sys.exit(2)
    count = refresh(actor="cli")
    db.session.commit()
    click.echo(json.dumps({"monitors": count}))
