"""`flask sample load FILE.json` and `flask sample demo`."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from app.extensions import db

sample_cli = AppGroup("sample", help="Sample and demo data.")


@sample_cli.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
def sample_load(path: str) -> None:
    """Load FILE.json in one transaction and print {key: URL path} as JSON."""
    from app.sample.loader import SampleError, load_sample

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        click.echo(f"error: cannot read {path}: {exc.strerror}", err=True)
        sys.exit(2)
    except ValueError as exc:
        click.echo(f"error: {path} is not valid JSON: {exc}", err=True)
        sys.exit(2)
    try:
        paths = load_sample(data)
        db.session.flush()
    except SampleError as exc:
        db.session.rollback()
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except IntegrityError as exc:
        db.session.rollback()
        click.echo(f"error: the file conflicts with existing data: {exc.orig}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(json.dumps(paths, ensure_ascii=False))


@sample_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Only build it when there are no members yet.")
def sample_demo(if_empty: bool) -> None:
    """Build the demo town (idempotent) and print the demo accounts."""
    from flask import current_app

    from app.auth.models import count_users

    if current_app.config["ENV_NAME"] == "production":
        # Demo accounts share a published password: never default accounts in production (A05).
        click.echo("error: the demo town is not built in production", err=True)
        sys.exit(1)
    from app.sample.demo import DEMO_PASSWORD, build_demo, demo_accounts

    if if_empty and count_users() > 0:
        accounts = demo_accounts()
    else:
        accounts = build_demo()
        db.session.commit()
    click.echo(f"Demo town ready. Password for every demo account: {DEMO_PASSWORD}")
    for email, label in accounts:
        click.echo(f"  {email:32} {label}")


@sample_cli.command("demo-card")
def sample_demo_card() -> None:
    """Link the emulated demo card to its demo resident again (after the test PKI is renewed)."""
    from app.auth.demo import DEMO_CARD_HOLDER, bind_demo_card
    from app.auth.services import find_user_by_handle

    holder = find_user_by_handle(DEMO_CARD_HOLDER)
    if holder is None:
        click.echo("error: the demo town has not been built (flask sample demo)", err=True)
        sys.exit(1)
    bind_demo_card({DEMO_CARD_HOLDER: holder})
    db.session.commit()
    click.echo(f"demo card linked to {holder.display_name}")
