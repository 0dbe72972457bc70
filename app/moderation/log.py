"""The moderation log: who did what, when and why. Append-only.

`record_action` is the only way in. Updates and deletes of log rows are refused here (a flush
with a changed or deleted row, or an UPDATE/DELETE statement on the table, raises
`LogIsAppendOnly`) and, in the database, by a trigger (migration 0007).
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from app.extensions import db
from app.i18n import _l
from app.logging_setup import actor_of, log_event_after_commit, object_ref
from app.moderation.models import ModerationAction


class Action(enum.StrEnum):
    DISMISS = "dismiss"
    HIDE = "hide"
    RESTORE = "restore"
    HOLD = "hold"  # the word filter held new content for review (no actor)
    APPROVE = "approve"  # a moderator let held content appear
    WARN = "warn"
    SUSPEND = "suspend"
    LIFT_SUSPENSION = "lift_suspension"
    APPEAL_CLOSE = "appeal_close"
    INVITE_QUOTA = "invite_quota"
    INVITE_REVOKE = "invite_revoke"
    FILTER_ADD = "filter_add"
    FILTER_REMOVE = "filter_remove"
    COMMUNITY_APPROVE = "community_approve"
    COMMUNITY_REJECT = "community_reject"
    COMMUNITY_EDIT = "community_edit"
    COMMUNITY_EDIT_KIND = "community_edit_kind"
    COMMUNITY_EDIT_ADMIN = "community_edit_admin"

    @property
    def label(self) -> str:
        return str(ACTION_LABELS[self])


ACTION_LABELS: dict[Action, Any] = {
    Action.DISMISS: _l("Report dismissed"),
    Action.HIDE: _l("Content hidden"),
    Action.RESTORE: _l("Content restored"),
    Action.HOLD: _l("Held for review by the word filter"),
    Action.APPROVE: _l("Held content approved"),
    Action.WARN: _l("Warning"),
    Action.SUSPEND: _l("Suspension"),
    Action.LIFT_SUSPENSION: _l("Suspension lifted"),
    Action.APPEAL_CLOSE: _l("Appeal answered"),
    Action.INVITE_QUOTA: _l("Invitation quota set"),
    Action.INVITE_REVOKE: _l("Invitation revoked"),
    Action.FILTER_ADD: _l("Word filter entry added"),
    Action.FILTER_REMOVE: _l("Word filter entry removed"),
    Action.COMMUNITY_APPROVE: _l("Community approved"),
    Action.COMMUNITY_REJECT: _l("Community rejected"),
    Action.COMMUNITY_EDIT: _l("Community edited"),
    Action.COMMUNITY_EDIT_KIND: _l("Community kind changed"),
    Action.COMMUNITY_EDIT_ADMIN: _l("Community admin changed"),
}

REASON_MAX = 2000


class LogIsAppendOnly(RuntimeError):  # noqa: N818 - reads as a statement of the rule
    """Something tried to change or delete a moderation log entry."""


def action_label(action: str) -> str:
    """The translated name of a logged action (the raw value for an unknown one)."""
    try:
        return Action(action).label
    except ValueError:
        return action


def record_action(
    actor: Any,
    action: str,
    *,
    target_kind: str | None = None,
    target_id: int | None = None,
    member_id: int | None = None,
    reason: str = "",
) -> ModerationAction:
    """Append an entry to the moderation log (the caller commits).

    `actor` is the moderator (a User) or None for the system; `action` a value of `Action`
    (ValueError otherwise); `reason` is cut to 2000 characters.
    """
    Action(action)
    entry = ModerationAction(
        actor_id=getattr(actor, "id", None),
        action=str(action),
        target_kind=target_kind,
        target_id=target_id,
        member_id=member_id,
        reason=(reason or "").strip()[:REASON_MAX],
    )
    db.session.add(entry)
    target = object_ref(target_kind, target_id) if target_kind and target_id is not None else ""
    log_event_after_commit(
        db.session(),
        f"moderation.{action}",
        "success",
        "moderation %s target=%s",
        str(action),
        target or "-",
        obj=target,
        actor=actor_of(actor) if actor is not None else "system",
        member=f"user:{member_id}" if member_id is not None else None,
    )
    return entry


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, ModerationAction):
            raise LogIsAppendOnly("moderation log entries cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, ModerationAction) and session.is_modified(obj):
            raise LogIsAppendOnly("moderation log entries cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) == ModerationAction.__tablename__:
        raise LogIsAppendOnly("moderation log entries cannot be changed or deleted")
