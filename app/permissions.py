"""Graded visibility: one set of rules with two faces that always agree.

- `can_view(viewer, obj)` decides for one object in Python;
- `visible_to(stmt, viewer)` adds the same rules as SQL to a listing, timeline, count or search.

Levels, smallest reach first: private < friends < friends_of_friends < members < public.
On top of the level:

- the owner always sees their own object (also when a moderator hid it);
- a block hides each side from the other completely (both directions);
- moderator-hidden content is seen only by its owner and by moderators;
- a suspended member's content is hidden from everyone but moderators;
- soft-deleted content is seen by nobody through these rules (the owner's trash is its own page);
- an object with a parent (a comment on a diary) is visible only where its parent is;
- a gated object (a secret community) is seen only by the members of its group, and its
  children (topics, posts, events) inherit that through their parent.

Moderators get no extra reach over levels or blocks: a friends-only diary stays friends-only.
Reports carry a snapshot of the reported text, so moderation does not need to break privacy.

The module knows the social graph (friendships and blocks) only through `configure_graph`,
which the SNS models call on import, and each model's rule through `register_rule`, so it
imports no feature package.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import abort, has_request_context, request
from flask_login import AnonymousUserMixin
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    false,
    func,
    inspect,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased, lazyload

from app.auth.models import AccountStatus, RoleCode, User
from app.extensions import db
from app.i18n import _l
from app.logging_setup import actor_of, log_event, object_ref

T = TypeVar("T")
S = TypeVar("S")  # a Select


class Visibility(enum.StrEnum):
    """How far an object reaches. Compare reach with `rank`, not with `<` (these are strings)."""

    PRIVATE = "private"
    FRIENDS = "friends"
    FRIENDS_OF_FRIENDS = "friends_of_friends"
    MEMBERS = "members"
    PUBLIC = "public"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    @property
    def label(self) -> str:
        return str(_LABELS[self])

    @classmethod
    def parse(cls, value: Any) -> Visibility | None:
        """The level named by `value`, or None when it names none (a forged form value)."""
        try:
            return cls(value)
        except ValueError:
            return None


_ORDER = [
    Visibility.PRIVATE,
    Visibility.FRIENDS,
    Visibility.FRIENDS_OF_FRIENDS,
    Visibility.MEMBERS,
    Visibility.PUBLIC,
]
_LABELS = {
    Visibility.PRIVATE: _l("Only me"),
    Visibility.FRIENDS: _l("Friends"),
    Visibility.FRIENDS_OF_FRIENDS: _l("Friends of friends"),
    Visibility.MEMBERS: _l("All members"),
    Visibility.PUBLIC: _l("Everyone (also people who are not logged in)"),
}
LEVELS: tuple[Visibility, ...] = tuple(reversed(_ORDER))  # widest first, as forms list them


def level_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a select field, widest reach first."""
    return [(level.value, level.label) for level in LEVELS]


class Relation(enum.IntEnum):
    """How a viewer stands to an owner, closest last. Blocks are checked separately."""

    GUEST = 0
    MEMBER = 1
    FRIEND_OF_FRIEND = 2
    FRIEND = 3
    SELF = 4


_MIN_RELATION = {
    Visibility.PUBLIC: Relation.GUEST,
    Visibility.MEMBERS: Relation.MEMBER,
    Visibility.FRIENDS_OF_FRIENDS: Relation.FRIEND_OF_FRIEND,
    Visibility.FRIENDS: Relation.FRIEND,
    Visibility.PRIVATE: Relation.SELF,
}


def level_reaches(level: Visibility | str, relation: Relation) -> bool:
    """Whether content at `level` reaches a viewer standing in `relation` to its owner.

    An unknown level reaches only the owner (fail closed).
    """
    parsed = Visibility.parse(level)
    if parsed is None:
        return relation is Relation.SELF
    return relation >= _MIN_RELATION[parsed]


class AnonymousViewer(AnonymousUserMixin):
    """A visitor who is not logged in: no id, no friends, no roles."""

    id = None

    def has_role(self, code: RoleCode) -> bool:
        return False


Viewer = Any  # a User or an AnonymousViewer (Flask-Login's current_user)


def viewer_id(viewer: Viewer) -> int | None:
    """The viewer's user id, or None for a guest."""
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return None
    return int(viewer.id)


def is_moderator(viewer: Viewer) -> bool:
    """Whether `viewer` sees with a moderator's eyes (hidden content, held communities …).

    The signed-in member of the current request keeps those powers in member pages only once
    this session passed the second factor, like the moderators' own pages (A08): with the
    password alone a moderator sees what any member sees."""
    if viewer_id(viewer) is None or not viewer.has_role(RoleCode.MODERATOR):
        return False
    return not _waits_for_second_factor(int(viewer.id))


def _waits_for_second_factor(user_id: int) -> bool:
    """Whether `user_id` is this request's signed-in member and has not passed the second
    factor in this session (worked out once per request)."""
    if not has_request_context():
        return False
    from flask_login import current_user

    if getattr(current_user, "id", None) != user_id:
        return False
    # Kept with the request, not in `g`: an application context can outlive one request.
    known: dict[int, bool] = request.environ.setdefault("sankaku.waits_for_second_factor", {})
    if user_id not in known:
        from app.auth.second_factor import needs_second_factor

        known[user_id] = needs_second_factor(current_user)
    return known[user_id]


# --- the social graph -------------------------------------------------------------------------


@dataclass
class _Graph:
    friendships: Table | None = None  # one row per direction: (user_id, friend_id)
    blocks: Table | None = None  # (blocker_id, blocked_id)


_graph = _Graph()


def configure_graph(*, friendships: Table, blocks: Table) -> None:
    """Tell the module where friendships and blocks live (called by the SNS models)."""
    _graph.friendships = friendships
    _graph.blocks = blocks


def _friend_table() -> Table:
    if _graph.friendships is None:
        raise RuntimeError("permissions: configure_graph() was not called")
    return _graph.friendships


def _block_table() -> Table:
    if _graph.blocks is None:
        raise RuntimeError("permissions: configure_graph() was not called")
    return _graph.blocks


# Aliases are built once and reused: building them for every query costs more than the query.
# Every EXISTS below names its alias in `correlate_except`, so a reused alias is never
# correlated with the same alias in an enclosing query.
_alias_cache: dict[str, Any] = {}


def _alias(name: str) -> Any:
    found = _alias_cache.get(name)
    if found is None:
        if name.startswith("vis_f"):
            found = _friend_table().alias(name)
        elif name == "vis_bl":
            found = _block_table().alias(name)
        else:
            found = aliased(User, name=name)
        _alias_cache[name] = found
    return found


def friend_exists(a: Any, b: Any) -> ColumnElement[bool]:
    """SQL: `a` and `b` (ids or columns) are friends."""
    f = _alias("vis_f")
    return exists().where(f.c.user_id == a, f.c.friend_id == b).correlate_except(f)


def friend_of_friend_exists(a: Any, b: Any) -> ColumnElement[bool]:
    """SQL: some friend of `a` is a friend of `b` (a friend-of-friend, computed in the database)."""
    f1, f2 = _alias("vis_f1"), _alias("vis_f2")
    return (
        exists()
        .where(f1.c.user_id == a, f2.c.user_id == f1.c.friend_id, f2.c.friend_id == b)
        .correlate_except(f1, f2)
    )


def block_exists(a: Any, b: Any) -> ColumnElement[bool]:
    """SQL: `a` blocked `b` or `b` blocked `a`."""
    bl = _alias("vis_bl")
    return (
        exists()
        .where(
            or_(
                and_(bl.c.blocker_id == a, bl.c.blocked_id == b),
                and_(bl.c.blocker_id == b, bl.c.blocked_id == a),
            )
        )
        .correlate_except(bl)
    )


def suspended_exists(owner: Any) -> ColumnElement[bool]:
    """SQL: the member `owner` is suspended right now (same rule as `User.is_active`)."""
    u = _alias("vis_u")
    return (
        exists()
        .where(
            u.id == owner,
            u.status == AccountStatus.SUSPENDED.value,
            # The database's clock, so the condition can be built once and reused.
            or_(u.suspended_until.is_(None), u.suspended_until > func.now()),
        )
        .correlate_except(u)
    )


def _scalar(clause: ColumnElement[bool]) -> bool:
    return bool(db.session.execute(select(clause)).scalar())


def are_friends(a_id: int, b_id: int) -> bool:
    return _scalar(friend_exists(a_id, b_id))


def is_blocked_between(a_id: int | None, b_id: int | None) -> bool:
    """Whether either member blocked the other. A guest is never blocked."""
    if a_id is None or b_id is None or a_id == b_id:
        return False
    return _scalar(block_exists(a_id, b_id))


def is_suspended(user: User | None) -> bool:
    return user is not None and not user.is_active


def relation_between(viewer: Viewer, owner_id: int) -> Relation:
    """The viewer's relation to the owner (blocks are not considered here)."""
    vid = viewer_id(viewer)
    if vid is None:
        return Relation.GUEST
    if vid == owner_id:
        return Relation.SELF
    if are_friends(vid, owner_id):
        return Relation.FRIEND
    if _scalar(friend_of_friend_exists(vid, owner_id)):
        return Relation.FRIEND_OF_FRIEND
    return Relation.MEMBER


def reaches(viewer: Viewer, owner_id: int, level: Visibility | str) -> bool:
    """Whether something of `owner_id` at `level` reaches `viewer`, blocks included.

    Used for per-member settings such as the friend list's visibility.
    """
    vid = viewer_id(viewer)
    if vid == owner_id:
        return True
    if is_blocked_between(vid, owner_id):
        return False
    parsed = Visibility.parse(level)
    if parsed is None or parsed is Visibility.PRIVATE:
        return False
    if parsed is Visibility.PUBLIC:
        return True
    if vid is None:
        return False
    if parsed is Visibility.MEMBERS:
        return True
    return level_reaches(parsed, relation_between(viewer, owner_id))


def level_clause(level: Any, owner: Any, viewer: Viewer) -> ColumnElement[bool]:
    """SQL: content at `level` (a column) of `owner` (a column) reaches `viewer`, blocks aside."""
    return _level_clause(level, owner, viewer_id(viewer))


def _level_clause(level: Any, owner: Any, vid: int | None) -> ColumnElement[bool]:
    if vid is None:
        return level == Visibility.PUBLIC.value
    return or_(
        owner == vid,
        # Equalities rather than IN lists: "expanding" IN parameters are re-rendered on
        # every execution, which is costly in a statement this size.
        level == Visibility.PUBLIC.value,
        level == Visibility.MEMBERS.value,
        and_(
            or_(level == Visibility.FRIENDS.value, level == Visibility.FRIENDS_OF_FRIENDS.value),
            friend_exists(vid, owner),
        ),
        and_(level == Visibility.FRIENDS_OF_FRIENDS.value, friend_of_friend_exists(vid, owner)),
    )


# --- rules per model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How one model is seen. Attribute names refer to mapped columns of the model.

    owner: the member whose content it is; level: the column holding its Visibility, or None
    for a fixed `fixed_level`; hidden/deleted: timestamp columns set by a moderator / by a soft
    delete; parent: (parent model, foreign-key attribute) when visibility is inherited.
    """

    owner: str
    level: str | None = None
    fixed_level: Visibility = Visibility.PUBLIC
    hidden: str | None = None
    deleted: str | None = None
    parent: tuple[type, str] | None = None
    gate: MembershipGate | None = None
    social: bool = True  # False: the owner's blocks and suspension do not hide the object


@dataclass(frozen=True)
class MembershipGate:
    """Rows whose `flag` column equals `gated_value` are seen only by members of their group.

    `membership` is a model with `group_column` (the group's id) and `user_column`; `key` is the
    attribute of the gated model holding its group id (its own `id` for a community). The
    owner gets no exception: membership alone opens the gate.
    """

    flag: str
    gated_value: str
    membership: type
    group_column: str
    user_column: str
    key: str = "id"

    def admits(self, vid: int | None, obj: Any) -> bool:
        if getattr(obj, self.flag) != self.gated_value:
            return True
        if vid is None:
            return False
        model: Any = self.membership
        stmt = select(model).where(
            getattr(model, self.group_column) == getattr(obj, self.key),
            getattr(model, self.user_column) == vid,
        )
        return _scalar(stmt.exists())

    def clause(self, entity: Any, vid: int | None) -> ColumnElement[bool]:
        open_rows = getattr(entity, self.flag) != self.gated_value
        if vid is None:
            return open_rows
        member: Any = _member_alias(self.membership)
        return or_(
            open_rows,
            exists()
            .where(
                getattr(member, self.group_column) == getattr(entity, self.key),
                getattr(member, self.user_column) == vid,
            )
            .correlate_except(member),
        )


_member_aliases: dict[type, Any] = {}


def _member_alias(model: type) -> Any:
    found = _member_aliases.get(model)
    if found is None:
        found = _member_aliases[model] = aliased(model, name=f"vis_member_{model.__name__}")
    return found


_rules: dict[type, Rule] = {}


def register_rule(model: type, rule: Rule) -> None:
    """Declare how `model` is seen (idempotent)."""
    _rules[model] = rule


def rule_for(model: type) -> Rule:
    for klass in model.__mro__:
        if klass in _rules:
            return _rules[klass]
    raise TypeError(f"no visibility rule for {model.__name__}")


register_rule(User, Rule(owner="id"))


def can_view(viewer: Viewer, obj: Any) -> bool:
    """Whether `viewer` may see `obj` (a member's profile page, a diary, a comment …).

    Raises TypeError for an object without a registered rule. Agrees with `visible_to`.
    """
    if obj is None:
        return False
    rule = rule_for(type(obj))
    if rule.deleted and getattr(obj, rule.deleted) is not None:
        return False
    if rule.parent is not None:
        parent_model, fk = rule.parent
        parent = db.session.get(parent_model, getattr(obj, fk))
        if parent is None or not can_view(viewer, parent):
            return False
    owner_id = getattr(obj, rule.owner)
    vid = viewer_id(viewer)
    if rule.gate is not None and not rule.gate.admits(vid, obj):
        return False
    if vid is not None and vid == owner_id:
        return True
    moderator = is_moderator(viewer)
    if not moderator and rule.hidden and getattr(obj, rule.hidden) is not None:
        return False
    if not moderator and rule.social:
        owner = (
            obj
            if isinstance(obj, User)
            else db.session.get(User, owner_id, options=[lazyload(User.roles)])
        )
        if owner is None or is_suspended(owner):
            return False
    if rule.social and is_blocked_between(vid, owner_id):
        return False
    level = getattr(obj, rule.level) if rule.level else rule.fixed_level
    if vid is not None and Visibility.parse(level) in (Visibility.MEMBERS, Visibility.PUBLIC):
        return True
    return level_reaches(level, relation_between(viewer, owner_id))


def visibility_clause(entity: Any, viewer: Viewer) -> ColumnElement[bool]:
    """SQL condition: rows of `entity` (a model or an alias of one) that `viewer` may see."""
    return _clause(entity, viewer_id(viewer), is_moderator(viewer))


# The condition depends only on the entity, the viewer's id and whether they moderate, never on
# data, so it is built once per combination and reused (building it costs more than running it).
@functools.lru_cache(maxsize=4096)
def _clause(entity: Any, vid: int | None, moderator: bool) -> ColumnElement[bool]:
    model = inspect(entity).mapper.class_
    rule = rule_for(model)
    owner = getattr(entity, rule.owner)
    conditions: list[ColumnElement[bool]] = []
    if rule.deleted:
        conditions.append(getattr(entity, rule.deleted).is_(None))
    if rule.parent is not None:
        parent_model, fk = rule.parent
        parent: Any = _parent_alias(parent_model)
        conditions.append(
            exists()
            .where(parent.id == getattr(entity, fk), _clause(parent, vid, moderator))
            .correlate_except(parent)
        )
    if rule.gate is not None:
        conditions.append(rule.gate.clause(entity, vid))
    level = getattr(entity, rule.level) if rule.level else None
    others: list[ColumnElement[bool]] = []
    if not moderator:
        if rule.hidden:
            others.append(getattr(entity, rule.hidden).is_(None))
        if rule.social:
            others.append(~suspended_exists(owner))
    if vid is not None and rule.social:
        others.append(~block_exists(vid, owner))
    if level is not None:
        others.append(_level_clause(level, owner, vid))
    elif not level_reaches(rule.fixed_level, Relation.GUEST if vid is None else Relation.MEMBER):
        others.append(false())  # narrower fixed levels are used by no model; fail closed
    rest = and_(true(), *others)
    conditions.append(or_(owner == vid, rest) if vid is not None else rest)
    return and_(true(), *conditions)


_parent_aliases: dict[type, Any] = {}


def _parent_alias(model: type) -> Any:
    found = _parent_aliases.get(model)
    if found is None:
        found = _parent_aliases[model] = aliased(model, name=f"vis_parent_{model.__name__}")
    return found


def visible_to(stmt: S, viewer: Viewer, entity: Any = None) -> S:
    """Add the visibility rules for `viewer` to `stmt` (a select of `entity` rows).

    `entity` defaults to the statement's first selected entity. Agrees with `can_view`.
    """
    select_stmt = cast(Select[Any], stmt)
    if entity is None:
        entity = select_stmt.column_descriptions[0]["entity"]
    return cast(S, select_stmt.where(visibility_clause(entity, viewer)))


def get_visible_or_404(model: type[T], object_id: Any, viewer: Viewer | None = None) -> T:
    """Load `model` by id for the viewer (default: the current user); 404 if missing or unseen.

    A hidden object and a missing one answer the same 404, so existence does not leak.
    """
    if viewer is None:
        from flask_login import current_user

        viewer = current_user._get_current_object()
    try:
        key = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < key < 2**63:
        abort(404)
    obj = db.session.get(model, key)
    if obj is None:
        abort(404)
    if not can_view(viewer, obj):
        # The same 404 as a missing id; the log keeps the real reason (A45).
        log_event(
            "authz.view",
            "denied",
            "denied %s id=%s viewer=%s reason=not_visible",
            model.__name__,
            key,
            getattr(viewer, "id", None) or "guest",
            obj=object_ref(model, key),
            actor=actor_of(viewer),
            reason="not_visible",
        )
        abort(404)
    return obj


_edit_rules: dict[type, Callable[[Viewer, Any], bool]] = {}


def register_edit_rule(model: type, rule: Callable[[Viewer, Any], bool]) -> None:
    """Declare who may change objects of `model` beyond their owner (idempotent)."""
    _edit_rules[model] = rule


def can_edit(viewer: Viewer, obj: Any) -> bool:
    """Whether `viewer` may change or delete `obj`: its owner (and whom its edit rule adds).

    Views answer 403 when this is false for an object the viewer can see.
    """
    vid = viewer_id(viewer)
    if vid is None or obj is None:
        return False
    rule = rule_for(type(obj))
    if getattr(obj, rule.owner) == vid:
        return True
    for klass in type(obj).__mro__:
        extra = _edit_rules.get(klass)
        if extra is not None:
            return bool(extra(viewer, obj))
    return False


def init_app(app: Any) -> None:
    """Expose the rules to templates and make visitors `AnonymousViewer`s (idempotent)."""
    from app.extensions import login_manager

    login_manager.anonymous_user = AnonymousViewer
    app.jinja_env.globals.update(can_view=can_view, can_edit=can_edit, Visibility=Visibility)
