"""`flask survey results|draw-sample|send-requests`: the survey part of the survey CLI."""

from __future__ import annotations

import json
import sys
import time

import click
from flask.cli import AppGroup

from app.extensions import db
from app.survey.answering import survey_by_key
from app.survey.surveys_models import Survey


def _survey_or_exit(key: str) -> Survey:

    survey = survey_by_key(key)
    if survey is None:
        click.echo(f"error: no survey with key {key!r}", err=True)
        sys.exit(2)
    return survey


def add_commands(group: AppGroup) -> None:
    if "results" in group.commands:
        return

    @group.command("results")
    @click.argument("key")
    @click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
    def results_command(key: str, fmt: str) -> None:
        """Print the k-suppressed result tables (hidden cells are null)."""
        from app.survey import exports

        survey = _survey_or_exit(key)
        text = exports.as_json(survey) if fmt == "json" else exports.as_csv(survey)
        click.echo(text)

    @group.command("scrub")
    @click.argument("key")
    def scrub_command(key: str) -> None:
        """Rewrite participation and responses together so storage keeps no pairing (run
        after each day of answers and when the survey closes)."""
        from app.survey.scrub import scrub

        click.echo(json.dumps(scrub(_survey_or_exit(key))))

    @group.command("draw-sample")
    @click.argument("key")
    @click.option("--seed", type=int, default=None, help="Random seed (recorded on the survey).")
    def draw_sample_command(key: str, seed: int | None) -> None:
        """Target the survey: invite the monitors in its segments (a random sample if set)."""
        from app.survey.targeting import draw_sample

        survey = _survey_or_exit(key)
        count = draw_sample(survey, seed)
        db.session.commit()
        click.echo(json.dumps({"invited": count, "seed": survey.sample_seed}))

    @group.command("announce")
    @click.argument("key")
    @click.option("--batch", type=int, default=0, help="Notify at most N members (0: all).")
    def announce_command(key: str, batch: int) -> None:
        """Tell SNS members who opted in about an open survey for SNS members (a banner shows
        it anyway; this adds one notification each, never twice)."""
        from app.survey.recruitment import announce

        count = announce(_survey_or_exit(key), limit=batch or None)
        db.session.commit()
        click.echo(json.dumps({"notified": count}))

    @group.command("send-requests")
    @click.argument("key")
    @click.option("--reminders", is_flag=True, help="Remind those who have not answered.")
    @click.option("--batch", type=int, default=100, show_default=True)
    @click.option("--pause", type=float, default=0.0, help="Seconds between batches.")
    @click.option("--max-batches", type=int, default=0, help="Stop after N batches (0: all).")
    def send_requests_command(
        key: str, reminders: bool, batch: int, pause: float, max_batches: int
    ) -> None:
        """Queue request mails in batches; each batch commits, so a rerun resumes."""
        from app.privacy.vault import vault_available
        from app.survey import requests

        if not vault_available():
            click.echo(
                "error: this command runs on the internal server (it needs the vault)", err=True
            )
            sys.exit(2)
        survey = _survey_or_exit(key)
        totals = {"queued": 0, "no_address": 0, "batches": 0}
        while True:
            result = requests.send(
                survey, kind="reminder" if reminders else "request", batch=batch, actor="cli"
            )
            db.session.commit()
            totals["queued"] += result["queued"]
            totals["no_address"] += result["no_address"]
            totals["batches"] += 1
            if not result["remaining"] or (max_batches and totals["batches"] >= max_batches):
                totals["remaining"] = result["remaining"]
                break
            time.sleep(pause)
        click.echo(json.dumps(totals))
