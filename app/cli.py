"""Flask CLI commands: mail, sessions, admin bootstrap, sample data, and the feature groups."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from app.db import utcnow
from app.extensions import db
from app.logging_setup import log_event

mail_cli = AppGroup("mail", help="The mail outbox.")
sessions_cli = AppGroup("sessions", help="Server-side sessions.")
admin_cli = AppGroup("admin", help="Operator tasks.")


@mail_cli.command("deliver")
@click.option("--limit", default=500, show_default=True, help="At most this many messages.")
def mail_deliver(limit: int) -> None:
    """Send pending outbox messages (retries with backoff)."""
    from app.mail.services import deliver_pending

    report = deliver_pending(limit=limit)
    click.echo(
        json.dumps({"sent": report.sent, "retried": report.retried, "failed": report.failed})
    )


@sessions_cli.command("purge")
def sessions_purge() -> None:
    """Delete expired sessions."""
    from app.sessions import purge_expired_sessions

    count = purge_expired_sessions()
    db.session.commit()
    click.echo(json.dumps({"deleted": count}))


@admin_cli.command("create-invite")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["admin", "moderator", "staff", "member"]),
    default="admin",
    show_default=True,
)
@click.option("--hours", default=24, show_default=True, help="Hours until the link expires.")
def admin_create_invite(email: str, role: str, hours: int) -> None:
    """Create a one-time invitation link (the way to make the first admin; A05)."""
    from app.auth.models import RoleCode
    from app.auth.services import AuthError, create_invitation

    try:
        issued = create_invitation(None, email, role=RoleCode(role), send=False, days=1)
    except AuthError as err:
        click.echo(err.message, err=True)
        sys.exit(1)
    issued.invitation.expires_at = utcnow() + dt.timedelta(hours=hours)
    db.session.commit()
    log_event(
        "admin.invite_create",
        "success",
        "invitation created id=%s role=%s",
        issued.invitation.id,
        role,
        obj=f"invitation:{issued.invitation.id}",
        role=role,
    )
    click.echo(issued.url)


@admin_cli.command("reset-2fa")
@click.argument("email")
def admin_reset_2fa(email: str) -> None:
    """Remove an account's authenticator app (lost phone); it sets one up at its next login.

    Its sessions end too. Logged like other authentication events (A08, A14).
    """
    from app.auth.second_factor import reset_second_factor
    from app.auth.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        click.echo(f"No account has the address {email}.", err=True)
        sys.exit(1)
    had = reset_second_factor(user)
    db.session.commit()
    log_event(
        "admin.second_factor_reset",
        "success",
        "second factor reset user=%s method=cli had_totp=%s",
        user.id,
        "yes" if had else "no",
        obj=f"user:{user.id}",
        method="cli",
        had_totp=had,
    )
    click.echo(json.dumps({"user": user.id, "authenticator_removed": had, "sessions_ended": True}))


def register_cli(app: Flask) -> None:
    """Attach every command group to the app."""
    from app.sample.cli import sample_cli

    app.cli.add_command(mail_cli)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(admin_cli)
    app.cli.add_command(sample_cli)
    from app.db_roles import db_roles_cli

    app.cli.add_command(db_roles_cli)
    from app.backup import register as register_backup

    register_backup(app)
    from app.retention import retention_cli

    app.cli.add_command(retention_cli)
    try:
        from app.auth.jpki.cli import jpki_cli
    except ImportError:  # the JPKI package ships with the card issue
        return
    app.cli.add_command(jpki_cli)
