"""Moderation rules: the queue, actions on content and members, appeals, invitations
oversight, the dashboard figures and the word filter's list.

Services take the acting moderator explicitly, never commit (views do), write every action to
the log with `record_action`, and raise `ModerationError` with a message for the moderator.
Role checks happen in the views (`role_required`), through the roles table.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, or_, select

from app.auth.models import Invitation, RoleCode, User
from app.auth.services import lift_suspension as auth_lift_suspension
from app.auth.services import suspend_user
from app.db import utcnow
from app.extensions import db
from app.i18n import _, _l
from app.moderation import hooks, wordfilter
from app.moderation.content import ContentKind, content_kind
from app.moderation.log import Action, record_action
from app.moderation.models import Appeal, FilterEntry, MemberWarning, ModerationAction
from app.sessions import WebSession
from app.sns.models import Comment, Diary, Report

JST = ZoneInfo("Asia/Tokyo")
REASON_MAX = 1000
APPEAL_MAX = 2000
SUSPEND_DAYS_MAX = 365
QUEUE_LIMIT = 100
PRIOR_ACTIONS = 5

OPEN = "open"
DISMISSED = "dismissed"
RESOLVED = "resolved"

# Higher first in the queue; within a severity, the oldest first.
SEVERITY: dict[str, int] = {
    "personal_info": 3,
    "harassment": 3,
    wordfilter.HELD_REASON: 2,
    "inappropriate": 2,
    "other": 1,
    "spam": 1,
}
SEVERITY_LABELS: dict[int, Any] = {3: _l("High"), 2: _l("Medium"), 1: _l("Low")}
REASON_LABELS: dict[str, Any] = {
    "spam": _l("Spam or advertising"),
    "harassment": _l("Harassment or bullying"),
    "personal_info": _l("Someone's personal information"),
    "inappropriate": _l("Inappropriate content"),
    "other": _l("Something else"),
    wordfilter.HELD_REASON: _l("Held by the word filter"),
}
# Actions a member sees on their own content or account, and may reply to once.
MEMBER_ACTIONS = (
    Action.HIDE,
    Action.RESTORE,
    Action.HOLD,
    Action.APPROVE,
    Action.WARN,
    Action.SUSPEND,
    Action.LIFT_SUSPENSION,
)
APPEALABLE = (Action.HIDE, Action.HOLD, Action.WARN, Action.SUSPEND)


class ModerationError(Exception):
    """A rule refused the action; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ModerationError):  # noqa: N818 - named like werkzeug NotFound
    """The target does not exist (or is not the member's): views answer 404."""

    def __init__(self) -> None:
        super().__init__("not found")


def _reason(text: str | None, *, required: bool = True, name: str = "reason") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ModerationError(_("This field is required."), name)
    if len(text) > REASON_MAX:
        raise ModerationError(_("Please use at most %(n)d characters.", n=REASON_MAX), name)
    return text


# --- the queue --------------------------------------------------------------------------------


def severity_of(reason: str) -> int:
    return SEVERITY.get(reason, 1)


def reason_label(reason: str) -> str:
    label = REASON_LABELS.get(reason)
    return str(label) if label is not None else reason


@dataclass
class QueueItem:
    report: Report
    kind: ContentKind | None
    obj: Any  # the reported object, None when it is gone
    author: User | None
    reporter: User | None
    severity: int
    prior: list[ModerationAction] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.report.reason == wordfilter.HELD_REASON

    @property
    def hidden(self) -> bool:
        return self.obj is not None and getattr(self.obj, "hidden_at", None) is not None

    @property
    def severity_label(self) -> str:
        return str(SEVERITY_LABELS[self.severity])

    @property
    def reason_label(self) -> str:
        return reason_label(self.report.reason)

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        return (now or utcnow()) - self.report.created_at


def _severity_order() -> Any:
    return case(
        *((Report.reason == reason, level) for reason, level in SEVERITY.items()), else_=1
    ).desc()


def queue(limit: int = QUEUE_LIMIT) -> list[QueueItem]:
    """Open reports, most severe first and, within a severity, oldest first; each with its
    object, author, reporter and the last actions on the same member (constant queries)."""
    reports = list(
        db.session.execute(
            select(Report)
            .where(Report.status == OPEN)
            .order_by(_severity_order(), Report.created_at, Report.id)
            .limit(limit)
        ).scalars()
    )
    return _decorate(reports)


def report_item(report_id: int) -> QueueItem:
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound()
    return _decorate([report])[0]


def _decorate(reports: list[Report]) -> list[QueueItem]:
    by_kind: dict[str, set[int]] = defaultdict(set)
    for r in reports:
        by_kind[r.kind].add(r.object_id)
    objects: dict[tuple[str, int], Any] = {}
    kinds: dict[str, ContentKind] = {}
    for key, ids in by_kind.items():
        try:
            kind = kinds[key] = content_kind(key)
        except KeyError:
            continue  # a kind whose package is not loaded: shown without its object
        model: Any = kind.model
        for found in db.session.execute(select(model).where(model.id.in_(ids))).scalars():
            objects[(key, found.id)] = found
    author_ids: set[int] = set()
    for (key, _oid), obj in objects.items():
        aid = kinds[key].author_id(obj)
        if aid is not None:
            author_ids.add(aid)
    user_ids = author_ids | {r.reporter_id for r in reports if r.reporter_id}
    users = _users(user_ids)
    prior: dict[int, list[ModerationAction]] = defaultdict(list)
    if author_ids:
        rows = db.session.execute(
            select(ModerationAction)
            .where(
                ModerationAction.member_id.in_(author_ids),
                ModerationAction.action != Action.DISMISS.value,
            )
            .order_by(ModerationAction.created_at.desc(), ModerationAction.id.desc())
            .limit(PRIOR_ACTIONS * len(author_ids) * 4)
        ).scalars()
        for row in rows:
            if row.member_id is not None and len(prior[row.member_id]) < PRIOR_ACTIONS:
                prior[row.member_id].append(row)
    items = []
    for r in reports:
        rkind = kinds.get(r.kind)
        obj = objects.get((r.kind, r.object_id))
        aid = rkind.author_id(obj) if rkind is not None and obj is not None else None
        items.append(
            QueueItem(
                report=r,
                kind=rkind,
                obj=obj,
                author=users.get(aid) if aid else None,
                reporter=users.get(r.reporter_id) if r.reporter_id else None,
                severity=severity_of(r.reason),
                prior=prior.get(aid, []) if aid else [],
            )
        )
    return items


def _users(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    rows = db.session.execute(select(User).where(User.id.in_(ids))).scalars()
    return {u.id: u for u in rows}


def _close_reports(kind_key: str, object_id: int, status: str = RESOLVED) -> int:
    """Close every open report on one object (its matter is settled)."""
    rows = db.session.execute(
        select(Report).where(
            Report.kind == kind_key, Report.object_id == object_id, Report.status == OPEN
        )
    ).scalars()
    n = 0
    for r in rows:
        r.status = status
        n += 1
    return n


# --- telling the member -----------------------------------------------------------------------

NOTIFICATION_KIND = "moderation"


def notify_member(entry: ModerationAction) -> None:
    """Tell the member an action was taken on their content or account, through the SNS
    notifications (in-app, and by email when they chose it). The moderator is not named."""
    if entry.member_id is None:
        return
    member = db.session.get(User, entry.member_id)
    if member is None:
        return
    from app.sns.services import notify

    db.session.flush()  # the notification links to the log entry
    notify(member, NOTIFICATION_KIND, None, entry.id)


def own_action_ids(member: User, ids: set[int]) -> set[int]:
    """Of the log entries `ids`, those about `member` (what their notifications may show)."""
    if not ids:
        return set()
    rows = db.session.execute(
        select(ModerationAction.id).where(
            ModerationAction.id.in_(ids), ModerationAction.member_id == member.id
        )
    ).scalars()
    return {int(r) for r in rows}


# --- actions on content -----------------------------------------------------------------------


def load_content(kind_key: str, object_id: int) -> tuple[ContentKind, Any]:
    """A registered kind and its object; NotFound for an unknown kind or a missing object."""
    try:
        kind = content_kind(kind_key)
    except KeyError:
        raise NotFound() from None
    obj = db.session.get(kind.model, object_id)
    if obj is None:
        raise NotFound()
    return kind, obj


def dismiss_report(actor: User, report: Report, reason: str) -> ModerationAction:
    """Close a report without acting on the content; held content cannot be dismissed."""
    if report.status != OPEN:
        raise ModerationError(_("This report has already been handled."))
    if report.reason == wordfilter.HELD_REASON:
        raise ModerationError(_("Held content is approved or hidden, not dismissed."))
    report.status = DISMISSED
    member_id = None
    try:
        kind, obj = load_content(report.kind, report.object_id)
        member_id = kind.author_id(obj)
    except NotFound:
        pass
    return record_action(
        actor,
        Action.DISMISS,
        target_kind="report",
        target_id=report.id,
        member_id=member_id,
        reason=_reason(reason, required=False),
    )


def hide_content(actor: User, kind: ContentKind, obj: Any, reason: str) -> ModerationAction:
    """Hide content from everyone but its author and moderators; the author sees `reason`."""
    if not kind.hideable:
        raise ModerationError(_("This kind of content cannot be hidden; warn or suspend."))
    reason = _reason(reason)
    obj.hidden_at = utcnow()
    obj.hidden_reason = reason[:500]
    _close_reports(kind.key, obj.id)
    entry = record_action(
        actor,
        Action.HIDE,
        target_kind=kind.key,
        target_id=obj.id,
        member_id=kind.author_id(obj),
        reason=reason,
    )
    notify_member(entry)
    return entry


def restore_content(
    actor: User, kind: ContentKind, obj: Any, reason: str = "", *, approve: bool = False
) -> ModerationAction:
    """Show hidden (or held) content again. `approve` logs it as approving held content."""
    if not kind.hideable or obj.hidden_at is None:
        raise ModerationError(_("This content is not hidden."))
    if getattr(obj, "status", None) in ("pending", "rejected"):
        # A community waiting for (or refused) approval is approved, not restored.
        raise ModerationError(_("This community waits for approval: approve it instead."))
    obj.hidden_at = None
    obj.hidden_reason = ""
    _close_reports(kind.key, obj.id)
    entry = record_action(
        actor,
        Action.APPROVE if approve else Action.RESTORE,
        target_kind=kind.key,
        target_id=obj.id,
        member_id=kind.author_id(obj),
        reason=_reason(reason, required=False),
    )
    notify_member(entry)
    return entry


# --- actions on members -----------------------------------------------------------------------


def _check_member_target(actor: User, member: User) -> None:
    if member.id == actor.id:
        raise ModerationError(_("You cannot take this action on yourself."))
    if member.has_role(RoleCode.MODERATOR) and not actor.has_role(RoleCode.ADMIN):
        raise ModerationError(_("Only an administrator can take this action on a moderator."))


def warn_member(actor: User, member: User, message: str) -> MemberWarning:
    """Warn a member; they must acknowledge the message before using the site again."""
    _check_member_target(actor, member)
    message = _reason(message, name="message")
    entry = record_action(actor, Action.WARN, member_id=member.id, reason=message)
    db.session.flush()  # the warning refers to its log entry
    warning = MemberWarning(member_id=member.id, action_id=entry.id, message=message)
    db.session.add(warning)
    flag_sessions(member.id, True)
    notify_member(entry)
    return warning


WARNING_FLAG = "moderation_warning"


def flag_sessions(member_id: int, pending: bool) -> None:
    """Mark (or unmark) the member's open sessions as holding an unread warning.

    The warning gate reads this flag from the session it loads anyway, so ordinary pages pay
    no extra query; a new login sets it from the warnings table (`on_login`).
    """
    rows = db.session.execute(select(WebSession).where(WebSession.user_id == member_id)).scalars()
    for row in rows:
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            data = {}
        if pending:
            data[WARNING_FLAG] = True
        else:
            data.pop(WARNING_FLAG, None)
        row.data = json.dumps(data)


def pending_warning(member_id: int) -> MemberWarning | None:
    """The oldest warning the member has not acknowledged yet."""
    return db.session.execute(
        select(MemberWarning)
        .where(MemberWarning.member_id == member_id, MemberWarning.acknowledged_at.is_(None))
        .order_by(MemberWarning.created_at, MemberWarning.id)
        .limit(1)
    ).scalar_one_or_none()


def acknowledge_warning(member: User, warning_id: Any) -> MemberWarning:
    """Mark the member's own warning as read; NotFound for anybody else's."""
    try:
        wid = int(warning_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    warning = db.session.get(MemberWarning, wid) if 0 < wid < 2**63 else None
    if warning is None or warning.member_id != member.id:
        raise NotFound()
    if warning.acknowledged_at is None:
        warning.acknowledged_at = utcnow()
    return warning


def suspend_member(actor: User, member: User, days: Any, reason: str) -> ModerationAction:
    """Suspend for `days` days (1–365): no login, sessions ended, content hidden from others."""
    _check_member_target(actor, member)
    try:
        n = int(days)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= SUSPEND_DAYS_MAX:
        raise ModerationError(
            _("Please enter a number between 1 and %(n)d.", n=SUSPEND_DAYS_MAX), "days"
        )
    reason = _reason(reason)
    until = utcnow() + dt.timedelta(days=n)
    suspend_user(member, until)
    entry = record_action(
        actor,
        Action.SUSPEND,
        member_id=member.id,
        reason=_("%(reason)s (until %(until)s)", reason=reason, until=format_jst(until)),
    )
    notify_member(entry)
    return entry


def lift_suspension(actor: User, member: User, reason: str = "") -> ModerationAction:
    if member.is_active:
        raise ModerationError(_("This member is not suspended."))
    auth_lift_suspension(member)
    entry = record_action(
        actor, Action.LIFT_SUSPENSION, member_id=member.id, reason=_reason(reason, required=False)
    )
    notify_member(entry)
    return entry


def format_jst(value: dt.datetime) -> str:
    return value.astimezone(JST).strftime("%Y/%m/%d %H:%M")


def member_by_handle(handle: str) -> User | None:
    from app.sns.services import member_by_handle as sns_member_by_handle

    return sns_member_by_handle(handle)


HIDDEN_LIMIT = 50


def hidden_content(member: User, limit: int = HIDDEN_LIMIT) -> list[tuple[ContentKind, Any]]:
    """The member's hidden or held content of every hideable kind, newest hidden first (one
    query per kind), for restoring it from the member's page."""
    from app.moderation.content import content_kinds

    found: list[tuple[ContentKind, Any]] = []
    for kind in content_kinds():
        if not kind.hideable:
            continue
        model: Any = kind.model
        rows = db.session.execute(
            select(model)
            .where(getattr(model, kind.author_attr) == member.id, model.hidden_at.is_not(None))
            .order_by(model.hidden_at.desc())
            .limit(limit)
        ).scalars()
        found.extend((kind, obj) for obj in rows)
    found.sort(key=lambda pair: pair[1].hidden_at, reverse=True)
    return found[:limit]


def member_summary(member: User) -> dict[str, Any]:
    """What a moderator needs on a member's page: log entries about them, open reports."""
    actions = list(
        db.session.execute(
            select(ModerationAction)
            .where(ModerationAction.member_id == member.id)
            .order_by(ModerationAction.created_at.desc(), ModerationAction.id.desc())
            .limit(50)
        ).scalars()
    )
    return {
        "actions": actions,
        "actors": _users({a.actor_id for a in actions if a.actor_id}),
        "hidden": hidden_content(member),
    }


# --- what an action was about ------------------------------------------------------------------

# Log targets that are not content kinds (content kinds bring their own label).
TARGET_LABELS: dict[str, Any] = {
    "report": _l("A report"),
    "appeal": _l("Appeal"),
    "invitation": _l("An invitation"),
    "filter": _l("Word filter"),
}


@dataclass(frozen=True)
class Target:
    """What a log entry was about, as a reader may see it: the kind's name in their language,
    the id, and the object's own page when this reader can open it (else None)."""

    label: str
    target_id: int | None
    url: str | None


def describe_targets(viewer: Any, actions: list[ModerationAction]) -> dict[int, Target]:
    """Targets of `actions` by action id: one query per content kind, and a link only to what
    `viewer` may see (through the visibility module: deleted or invisible content is named,
    not linked). Kinds without a page rule of their own (messages) are named, never linked."""
    from app.permissions import rule_for, visible_to

    by_kind: dict[str, set[int]] = defaultdict(set)
    for a in actions:
        if a.target_kind and a.target_id is not None:
            by_kind[a.target_kind].add(a.target_id)
    kinds: dict[str, ContentKind] = {}
    urls: dict[tuple[str, int], str] = {}
    for key, ids in by_kind.items():
        try:
            kind = kinds[key] = content_kind(key)
        except KeyError:
            continue
        model: Any = kind.model
        try:
            rule_for(model)
        except TypeError:
            continue
        stmt = visible_to(select(model).where(model.id.in_(ids)), viewer, model)
        for obj in db.session.execute(stmt).scalars():
            urls[(key, obj.id)] = str(kind.url(obj))
    out: dict[int, Target] = {}
    for a in actions:
        if not a.target_kind:
            continue
        known = kinds.get(a.target_kind)
        if known is not None:
            label = str(known.label)
        elif a.target_kind in TARGET_LABELS:
            label = str(TARGET_LABELS[a.target_kind])
        else:
            label = a.target_kind
        url = urls.get((a.target_kind, a.target_id)) if a.target_id is not None else None
        out[a.id] = Target(label=label, target_id=a.target_id, url=url or None)
    return out


# --- what members see: actions on their own content, appeals ----------------------------------


@dataclass
class OwnAction:
    action: ModerationAction
    appeal: Appeal | None

    @property
    def appealable(self) -> bool:
        return self.appeal is None and self.action.action in APPEALABLE


def actions_on_member(member: User) -> list[OwnAction]:
    """Actions taken on the member's content or account, newest first, with their appeals."""
    rows = list(
        db.session.execute(
            select(ModerationAction, Appeal)
            .outerjoin(Appeal, Appeal.action_id == ModerationAction.id)
            .where(
                ModerationAction.member_id == member.id,
                ModerationAction.action.in_([a.value for a in MEMBER_ACTIONS]),
            )
            .order_by(ModerationAction.created_at.desc(), ModerationAction.id.desc())
            .limit(200)
        )
    )
    return [OwnAction(action, appeal) for action, appeal in rows]


def file_appeal(member: User, action_id: Any, body: str) -> Appeal:
    """The member's one reply to an action on their content or account."""
    try:
        aid = int(action_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    action = db.session.get(ModerationAction, aid) if 0 < aid < 2**63 else None
    if action is None or action.member_id != member.id:
        raise NotFound()
    if action.action not in [a.value for a in APPEALABLE]:
        raise ModerationError(_("This action takes no reply."))
    exists_already = db.session.execute(
        select(Appeal.id).where(Appeal.action_id == action.id)
    ).first()
    if exists_already:
        raise ModerationError(_("You have already replied to this action."))
    body = (body or "").strip()
    if not body:
        raise ModerationError(_("This field is required."), "body")
    if len(body) > APPEAL_MAX:
        raise ModerationError(_("Please use at most %(n)d characters.", n=APPEAL_MAX), "body")
    appeal = Appeal(action_id=action.id, member_id=member.id, body=body)
    db.session.add(appeal)
    return appeal


def open_appeals(limit: int = 100) -> list[Appeal]:
    from sqlalchemy.orm import selectinload

    return list(
        db.session.execute(
            select(Appeal)
            .where(Appeal.closed_at.is_(None))
            .options(selectinload(Appeal.member), selectinload(Appeal.action))
            .order_by(Appeal.created_at, Appeal.id)
            .limit(limit)
        ).scalars()
    )


def close_appeal(actor: User, appeal: Appeal, reason: str) -> ModerationAction:
    """Answer an appeal (the answer is logged; acting on it is a separate action)."""
    if appeal.closed_at is not None:
        raise ModerationError(_("This appeal has already been answered."))
    appeal.closed_at = utcnow()
    return record_action(
        actor,
        Action.APPEAL_CLOSE,
        target_kind="appeal",
        target_id=appeal.id,
        member_id=appeal.member_id,
        reason=_reason(reason),
    )


# --- the log ----------------------------------------------------------------------------------


def log_page(
    page: int = 1, per_page: int = 50, member_id: int | None = None
) -> tuple[list[ModerationAction], dict[int, User], bool]:
    """One page of the log, newest first; the users it names; whether there is a next page."""
    page = max(1, min(int(page), 10_000))
    stmt = select(ModerationAction)
    if member_id is not None:
        stmt = stmt.where(ModerationAction.member_id == member_id)
    rows = list(
        db.session.execute(
            stmt.order_by(ModerationAction.created_at.desc(), ModerationAction.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        ).scalars()
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    ids = {r.actor_id for r in rows if r.actor_id} | {r.member_id for r in rows if r.member_id}
    return rows, _users(ids), more


# --- invitations ------------------------------------------------------------------------------


def invitations(limit: int = 200) -> list[Invitation]:
    """Recent invitations with inviter, newest first: who invited whom."""
    from sqlalchemy.orm import selectinload

    return list(
        db.session.execute(
            select(Invitation)
            .options(selectinload(Invitation.inviter))
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
            .limit(limit)
        ).scalars()
    )


def invited_members(ids: set[int]) -> dict[int, User]:
    return _users(ids)


def invitation_status(inv: Invitation, now: dt.datetime | None = None) -> str:
    if inv.accepted_at is not None:
        return "accepted"
    if inv.revoked_at is not None:
        return "revoked"
    if inv.expires_at <= (now or utcnow()):
        return "expired"
    return "open"


def revoke_invitation(actor: User, invitation_id: Any, reason: str = "") -> ModerationAction:
    """Revoke an unused invitation (its link stops working, the inviter's quota frees up)."""
    try:
        iid = int(invitation_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    inv = db.session.get(Invitation, iid) if 0 < iid < 2**63 else None
    if inv is None:
        raise NotFound()
    if invitation_status(inv) != "open":
        raise ModerationError(_("Only an unused invitation can be revoked."))
    inv.revoked_at = utcnow()
    return record_action(
        actor,
        Action.INVITE_REVOKE,
        target_kind="invitation",
        target_id=inv.id,
        member_id=inv.inviter_id,
        reason=_reason(reason, required=False),
    )


def set_invite_quota(actor: User, member: User, quota: Any) -> ModerationAction:
    """Set how many invitations a member may send in total (0–1000)."""
    try:
        n = int(quota)
    except (TypeError, ValueError):
        n = -1
    if not 0 <= n <= 1000:
        raise ModerationError(_("Please enter a number between 0 and 1000."), "quota")
    member.invite_quota = n
    return record_action(actor, Action.INVITE_QUOTA, member_id=member.id, reason=str(n))


# --- dashboard --------------------------------------------------------------------------------


@dataclass
class WeekCount:
    start: dt.date
    diaries: int
    comments: int

    @property
    def total(self) -> int:
        return self.diaries + self.comments


@dataclass
class Dashboard:
    active_members: int
    members: int
    weeks: list[WeekCount]
    open_reports: int
    oldest_open: dt.timedelta | None
    open_by_severity: dict[int, int]
    open_appeals: int
    pending: list[tuple[Any, int, str | None]]


def _week_starts(now: dt.datetime, weeks: int) -> list[dt.datetime]:
    """Monday 00:00 Japan time of each of the last `weeks` weeks, oldest first, in UTC."""
    local = now.astimezone(JST)
    monday = (local - dt.timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return [(monday - dt.timedelta(weeks=i)).astimezone(dt.UTC) for i in range(weeks - 1, -1, -1)]


def _weekly(column: Any, starts: list[dt.datetime], end: dt.datetime, model: Any) -> list[int]:
    bounds = [*starts, end]
    sums = [
        func.coalesce(func.sum(case((and_(column >= lo, column < hi), 1), else_=0)), 0)
        for lo, hi in itertools.pairwise(bounds)
    ]
    where = [column >= starts[0]]
    if hasattr(model, "deleted_at"):
        where.append(model.deleted_at.is_(None))
    row = db.session.execute(select(*sums).where(*where)).one()
    return [int(v) for v in row]


def dashboard(now: dt.datetime | None = None, weeks: int = 8) -> Dashboard:
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=30)
    recent_session = exists().where(
        WebSession.user_id == User.id, WebSession.last_seen_at >= cutoff
    )
    active = db.session.execute(
        select(func.count(User.id)).where(or_(User.last_login_at >= cutoff, recent_session))
    ).scalar_one()
    members = db.session.execute(select(func.count(User.id))).scalar_one()
    starts = _week_starts(now, weeks)
    diaries = _weekly(Diary.created_at, starts, now, Diary)
    comments = _weekly(Comment.created_at, starts, now, Comment)
    week_rows = [
        WeekCount(start.astimezone(JST).date(), d, c)
        for start, d, c in zip(starts, diaries, comments, strict=True)
    ]
    open_rows = db.session.execute(
        select(Report.reason, func.count(Report.id), func.min(Report.created_at))
        .where(Report.status == OPEN)
        .group_by(Report.reason)
    ).all()
    by_severity: dict[int, int] = {3: 0, 2: 0, 1: 0}
    oldest: dt.datetime | None = None
    total_open = 0
    for reason, count, first in open_rows:
        by_severity[severity_of(reason)] += int(count)
        total_open += int(count)
        if first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
            oldest = first if oldest is None or first < oldest else oldest
    appeals = db.session.execute(
        select(func.count(Appeal.id)).where(Appeal.closed_at.is_(None))
    ).scalar_one()
    pending = [
        (p.label, int(p.count()), p.url() if p.url else None) for p in hooks.pending_counts()
    ]
    return Dashboard(
        active_members=int(active),
        members=int(members),
        weeks=week_rows,
        open_reports=total_open,
        oldest_open=(now - oldest) if oldest else None,
        open_by_severity=by_severity,
        open_appeals=int(appeals),
        pending=pending,
    )


def format_age(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "—"
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return _("under an hour")
    if hours < 48:
        return _("%(n)d hours", n=hours)
    return _("%(n)d days", n=hours // 24)


# --- word filter ------------------------------------------------------------------------------


def filter_entries() -> list[FilterEntry]:
    return list(
        db.session.execute(
            select(FilterEntry)
            .where(FilterEntry.kind != "preset")
            .order_by(FilterEntry.kind, FilterEntry.value)
        ).scalars()
    )


def add_filter_entry(actor: User, kind: str, value: str) -> FilterEntry:
    """Add a word or a regular expression; FilterError (a ModerationError) for bad input."""
    try:
        if kind == "word":
            cleaned = wordfilter.validate_word(value)
        elif kind == "pattern":
            cleaned = wordfilter.validate_pattern(value)
        else:
            raise ModerationError(_("Please choose one of the listed options."), "kind")
    except wordfilter.FilterError as err:
        raise ModerationError(str(err), "value") from None
    found = db.session.execute(
        select(FilterEntry).where(FilterEntry.kind == kind, FilterEntry.value == cleaned)
    ).scalar_one_or_none()
    if found is not None:
        raise ModerationError(_("This entry is already on the list."), "value")
    entry = FilterEntry(kind=kind, value=cleaned, active=True)
    db.session.add(entry)
    record_action(actor, Action.FILTER_ADD, target_kind="filter", reason=f"{kind}: {cleaned}")
    return entry


def remove_filter_entry(actor: User, entry_id: Any) -> None:
    try:
        eid = int(entry_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    entry = db.session.get(FilterEntry, eid) if 0 < eid < 2**63 else None
    if entry is None or entry.kind == "preset":
        raise NotFound()
    record_action(
        actor, Action.FILTER_REMOVE, target_kind="filter", reason=f"{entry.kind}: {entry.value}"
    )
    db.session.delete(entry)


def set_preset(actor: User, key: str, on: bool) -> None:
    """Switch a preset (phone numbers, email addresses) on or off."""
    if key not in wordfilter.PRESETS:
        raise NotFound()
    row = db.session.execute(
        select(FilterEntry).where(FilterEntry.kind == "preset", FilterEntry.value == key)
    ).scalar_one_or_none()
    if row is None:
        row = FilterEntry(kind="preset", value=key, active=on)
        db.session.add(row)
    row.active = on
    record_action(
        actor,
        Action.FILTER_ADD if on else Action.FILTER_REMOVE,
        target_kind="filter",
        reason=f"preset: {key}",
    )
