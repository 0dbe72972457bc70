"""JSON-lines logs: UTC timestamp, request id, and for security events actor, action, object and
outcome as fields of their own; CR/LF in values escaped (A43, A44, A45).

Security and audit events go through `log_event`, which keeps the human-readable message and
adds the structured fields. Fields hold ids and codes only, never personal data (A44): the actor
is `user:<id>`, `guest`, `cli` or a `system:...` name, the object `<kind>:<id>`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import sys
from typing import Any

import click
from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.access_log import redact

# The record attribute that carries an event's fields from `log_event` to the formatter.
EVENT_ATTR = "security_event"
CORE_KEYS = ("ts", "level", "logger", "msg", "request_id", "path", "exc")
EVENT_KEYS = ("actor", "action", "object", "outcome")
PENDING_KEY = "log_events_after_commit"

FieldValue = str | int | bool | None


def request_id() -> str:
    """The id of the current request, or of the current CLI command (one per app context);
    empty outside any context. Made on first use, so records logged before the request's own
    `before_request` hook ran carry it too."""
    if not has_app_context():
        return ""
    rid = g.get("request_id")
    if not rid:
        rid = g.request_id = secrets.token_hex(8)
    return str(rid)


def actor_of(user: Any) -> str:
    """`user:<id>` for a member, `guest` for a visitor (never a name or an email)."""
    if user is not None and getattr(user, "is_authenticated", False) and user.id is not None:
        return f"user:{user.id}"
    return "guest"


def object_ref(kind: str | type, key: Any) -> str:
    """`<kind>:<id>` for the `object` field; a model class gives its snake_case name
    (`CommunityTopic` -> `community_topic`)."""
    name = kind if isinstance(kind, str) else re.sub(r"(?<!^)(?=[A-Z])", "_", kind.__name__)
    return f"{name.lower()}:{key}"


def current_actor() -> str:
    """Who is acting now: the logged-in member or `guest` in a request, `cli` in a command,
    `system` elsewhere (jobs)."""
    if has_request_context():
        from flask_login import current_user

        return actor_of(current_user)
    if click.get_current_context(silent=True) is not None:
        return "cli"
    return "system"


def log_event(
    action: str,
    outcome: str,
    message: str,
    *args: Any,
    obj: str = "",
    actor: str | None = None,
    level: int = logging.INFO,
    exc_info: bool = False,
    logger: logging.Logger | None = None,
    **fields: FieldValue,
) -> None:
    """Log a security or audit event: `message % args` as the human-readable `msg`, plus the
    fields `actor` (default: `current_actor()`), `action` (a stable dotted code such as
    `auth.login`), `object` (`<kind>:<id>` or empty) and `outcome` (`success`, `failure`,
    `denied`, `error`), and any extra `fields` (codes and ids only).

    Raises ValueError when an extra field would hide one of the line's own keys.
    """
    clash = set(fields) & set(CORE_KEYS + EVENT_KEYS)
    if clash:
        raise ValueError(f"log_event fields may not be named {sorted(clash)}")
    data: dict[str, FieldValue] = {
        "actor": actor if actor is not None else current_actor(),
        "action": action,
        "object": obj,
        "outcome": outcome,
        **fields,
    }
    extra = {EVENT_ATTR: data, "request_id": request_id()}
    target = logger or current_app.logger
    target.log(level, message, *args, exc_info=exc_info, extra=extra)


def log_event_after_commit(
    session: Session, action: str, outcome: str, message: str, *args: Any, **kwargs: Any
) -> None:
    """`log_event` once `session` commits (dropped if it rolls back), for events whose record
    is written in the same transaction (the moderation log, the vault's audit chain). The
    actor and request id are taken now."""
    if kwargs.get("actor") is None:
        kwargs["actor"] = current_actor()
    pending = session.info.setdefault(PENDING_KEY, [])
    pending.append((action, outcome, message, args, kwargs, request_id()))
    _install_session_hooks()


def _emit_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer one may still fail
        return
    pending = session.info.pop(PENDING_KEY, None)
    if not pending or not has_app_context():
        return
    for action, outcome, message, args, kwargs, rid in pending:
        g.setdefault("request_id", rid)
        log_event(action, outcome, message, *args, **kwargs)


def _drop_pending(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:  # a savepoint's rollback leaves the outer transaction's events
        session.info.pop(PENDING_KEY, None)


_hooks_installed = False


def _install_session_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    event.listen(Session, "after_commit", _emit_pending)
    event.listen(Session, "after_soft_rollback", _drop_pending)
    _hooks_installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601 with Z), level, logger, msg, request_id
    (requests and CLI commands), path (requests), the event fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        created = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "ts": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id()
        if rid:
            entry["request_id"] = rid
        if has_request_context():
            entry["path"] = redact(request.path)  # one-time tokens in paths stay out (A44)
        for key, value in getattr(record, EVENT_ATTR, {}).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # json.dumps escapes CR and LF, so a logged value cannot forge a new line.
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.logger.propagate = False

    @app.before_request
    def _request_id() -> None:
        # Always a new one: tests and jobs may run several requests in one app context.
        g.request_id = secrets.token_hex(8)

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        g.pop("request_id", None)  # later records in a shared app context get their own
