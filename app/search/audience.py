"""Who may see a search document, as terms: the search face of `app.permissions`.

A document carries one *gate* per object its visibility depends on (a diary: the diary; a
comment: the comment and its diary). A gate names the owner, an audience term and whether a
moderator hid it. Audience terms:

    public          anyone, also guests
    members         any signed-in member
    fof:<owner>     the owner's friends and friends of friends
    friends:<owner> the owner's friends
    user:<owner>    only the owner

A viewer's scope is built at query time from SQL (friends, friends of friends, blocks in both
directions, suspended members), so friendship and block changes need no re-indexing. A
document is visible when every gate passes: the viewer owns it, or the owner is neither blocked
(either way) nor suspended (moderators see suspended members' content), the gate is not hidden
(moderators see hidden content), and its audience term is in the viewer's allowed set. These
are the rules of `app.permissions.can_view`; the property test in tests/search proves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from app.auth.models import AccountStatus, User
from app.db import utcnow
from app.permissions import Visibility, is_moderator, viewer_id
from app.sns.models import Block, Friendship

PUBLIC = "public"
MEMBERS = "members"


def level_term(level: Visibility | str | None, owner_id: int) -> str:
    """The audience term of content at `level` owned by `owner_id` (unknown: owner only)."""
    parsed = Visibility.parse(level)
    if parsed is Visibility.PUBLIC:
        return PUBLIC
    if parsed is Visibility.MEMBERS:
        return MEMBERS
    if parsed is Visibility.FRIENDS_OF_FRIENDS:
        return f"fof:{owner_id}"
    if parsed is Visibility.FRIENDS:
        return f"friends:{owner_id}"
    return f"user:{owner_id}"


@dataclass(frozen=True)
class Gate:
    owner: int
    audience: str
    hidden: bool = False

    def encode(self) -> str:
        return f"{self.owner}|{self.audience}|{1 if self.hidden else 0}"


def encode_gates(gates: Sequence[Gate]) -> str:
    return ";".join(gate.encode() for gate in gates)


def decode_gates(raw: str) -> tuple[tuple[int, str, bool], ...]:
    out = []
    for part in raw.split(";"):
        if not part:
            continue
        owner, audience, hidden = part.split("|")
        out.append((int(owner), audience, hidden == "1"))
    return tuple(out)


@dataclass(frozen=True)
class Scope:
    """What one viewer may see: allowed audience terms and owners whose content is out."""

    viewer_id: int | None
    moderator: bool
    allowed: frozenset[str]
    excluded: frozenset[int]  # blocked either way, and suspended members (unless moderator)

    def admits(self, gates: Iterable[tuple[int, str, bool]]) -> bool:
        """Whether a document with these gates is visible in this scope."""
        vid = self.viewer_id
        for owner, audience, hidden in gates:
            if owner == vid:
                continue
            if owner in self.excluded or (hidden and not self.moderator):
                return False
            if audience not in self.allowed:
                return False
        return True

    @property
    def cache_key(self) -> tuple[Any, ...]:
        return (self.viewer_id, self.moderator, hash(self.allowed), hash(self.excluded))


def suspended_ids(session: Session) -> set[int]:
    """Members suspended right now (the rule of `User.is_active`)."""
    stmt = select(User.id).where(
        User.status == AccountStatus.SUSPENDED.value,
        or_(User.suspended_until.is_(None), User.suspended_until > utcnow()),
    )
    return set(session.execute(stmt).scalars())


# Other features add audience terms a member holds (a secret community's members hold
# `community:<id>`): each function takes the viewer's id and a session.
SCOPE_TERMS: list[Callable[[int, Session], set[str]]] = []


def register_scope_terms(source: Callable[[int, Session], set[str]]) -> None:
    """Add a source of audience terms for signed-in viewers (idempotent)."""
    if source not in SCOPE_TERMS:
        SCOPE_TERMS.append(source)


def build_scope(viewer: Any, session: Session) -> Scope:
    """The viewer's scope, from SQL: friends, friends of friends, blocks, suspensions."""
    vid = viewer_id(viewer)
    moderator = is_moderator(viewer)
    excluded = set() if moderator else suspended_ids(session)
    if vid is None:
        return Scope(None, False, frozenset({PUBLIC}), frozenset(excluded))
    allowed = {PUBLIC, MEMBERS, f"user:{vid}", f"friends:{vid}", f"fof:{vid}"}
    friends = set(
        session.execute(select(Friendship.friend_id).where(Friendship.user_id == vid)).scalars()
    )
    f2 = aliased(Friendship)
    fof = set(
        session.execute(
            select(f2.friend_id)
            .join(Friendship, f2.user_id == Friendship.friend_id)
            .where(Friendship.user_id == vid)
            .distinct()
        ).scalars()
    )
    for source in SCOPE_TERMS:
        allowed.update(source(vid, session))
    allowed.update(f"friends:{f}" for f in friends)
    allowed.update(f"fof:{x}" for x in friends | fof)
    blocked = session.execute(
        select(Block.blocker_id, Block.blocked_id).where(
            or_(Block.blocker_id == vid, Block.blocked_id == vid)
        )
    ).all()
    for blocker, blocked_id in blocked:
        excluded.add(blocked_id if blocker == vid else blocker)
    excluded.discard(vid)
    return Scope(vid, moderator, frozenset(allowed), frozenset(excluded))


def scope_for(viewer: Any, session: Session) -> Scope:
    """`build_scope`, cached for the rest of the request."""
    if not has_request_context():
        return build_scope(viewer, session)
    # Kept in the WSGI environ: one request, one cache (g may outlive a request in tests).
    cache: dict[Any, Scope] = request.environ.setdefault("sankaku.search_scopes", {})
    key = (viewer_id(viewer), is_moderator(viewer))
    found = cache.get(key)
    if found is None:
        found = cache[key] = build_scope(viewer, session)
    return found
