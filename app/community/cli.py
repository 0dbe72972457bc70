"""`flask community remind-events` (meant for cron), and join commands for scripts.

Run the reminder from cron, for example hourly: ``0 * * * * flask community remind-events``.
It is safe to run as often as you like and from two hosts at once: each participant is
reminded once, about a day before the event starts.
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.auth.models import User
from app.extensions import db

community_cli = AppGroup("community", help="Community jobs.")


@community_cli.command("remind-events")
def remind_events_command() -> None:
    """Notify participants of events starting within 24 hours (once each; for cron)."""
    from app.community.services import remind_events

    count = remind_events()
    db.session.commit()
    click.echo(json.dumps({"reminded": count}))


def _member(handle: str) -> User:
    from app.auth.services import find_user_by_handle

    user = find_user_by_handle(handle)
    if user is None:
        raise click.ClickException(f"no member with handle {handle!r}")
    return user


@community_cli.command("join")
@click.argument("community_id", type=int)
@click.argument("handle")
def join_command(community_id: int, handle: str) -> None:
    """Join COMMUNITY_ID as the member HANDLE (or ask to join an approval community)."""
    from app.community.models import Community
    from app.community.services import CommunityError, join_community

    user = _member(handle)
    community = db.session.get(Community, community_id)
    if community is None:
        raise click.ClickException("no such community")
    try:
        row = join_community(user, community)
    except CommunityError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from err
    db.session.commit()
    click.echo(json.dumps({"ok": True, "result": type(row).__name__}))


@community_cli.command("event-join")
@click.argument("event_id", type=int)
@click.argument("handle")
def event_join_command(event_id: int, handle: str) -> None:
    """Take part in EVENT_ID as the member HANDLE."""
    from app.community.models import Event
    from app.community.services import CommunityError, join_event

    user = _member(handle)
    event = db.session.get(Event, event_id)
    if event is None:
        raise click.ClickException("no such event")
    try:
        join_event(user, event)
    except CommunityError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from err
    db.session.commit()
    click.echo(json.dumps({"ok": True}))
