"""`flask search rebuild` and `flask search check`."""

from __future__ import annotations

import json
import sys
import time

import click
from flask.cli import with_appcontext

from app.search import indexing


@click.group("search", help="Search index: rebuild it, check it against the database.")
def search_cli() -> None:
    pass


@search_cli.command("rebuild")
@click.option("--batch", default=1000, show_default=True, help="Objects loaded per query.")
@with_appcontext
def rebuild_command(batch: int) -> None:
    """Build a new index from the database and swap it in atomically."""
    started = time.monotonic()
    count = indexing.rebuild(batch=batch)
    backend = indexing.get_backend()
    click.echo(
        json.dumps(
            {
                "ok": True,
                "backend": backend.name,
                "documents": count,
                "seconds": round(time.monotonic() - started, 2),
            }
        )
    )


@search_cli.command("check")
@click.option("--examples", default=20, show_default=True, help="Keys listed per kind of drift.")
@with_appcontext
def check_command(examples: int) -> None:
    """Compare the index with the database; exit 1 and list the drift when they differ."""
    report = indexing.check(limit=examples)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if not report["ok"]:
        sys.exit(1)
