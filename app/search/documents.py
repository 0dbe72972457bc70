"""The registry of indexable kinds. Each kind builds its search documents from the database,
says which documents an object change touches, and reloads hits through the visibility module.

Diaries, comments and member profiles are registered here. Communities, topics and events plug
in the same way: subclass `Kind`, fill in the methods and call `register_kind()`.

Profiles: one document per (member, visibility level) that has a field, each holding the
member's name and every field whose reach is at least that level (cumulative), so a query
matches a member when all its terms occur in what the viewer may see. Documents of one member
share a group and count as one hit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import url_for
from markupsafe import Markup
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.db import utcnow
from app.i18n import _l
from app.permissions import (
    LEVELS,
    Visibility,
    can_view,
    relation_between,
    visible_to,
)
from app.search.analyzer import ParsedQuery, highlight
from app.search.audience import Gate, level_term
from app.sns.models import Comment, Diary, ProfileField, ProfileValue

Ref = tuple[str, int]  # (kind name, object id)


@dataclass
class SearchDoc:
    """One document as both backends store it."""

    key: str  # unique: "diary:12", "profile:7:friends"
    kind: str
    object_id: int
    group: str  # documents of one group count as one hit: "diary:12", "profile:7"
    title: str
    body: str
    author_id: int
    created_at: dt.datetime
    gates: tuple[Gate, ...]
    parent: str = ""  # "diary:12" for comments: re-indexed with their diary
    community_id: int | None = None


@dataclass
class Hit:
    kind: str
    kind_label: str
    title: str
    url: str
    snippet: Markup
    created_at: dt.datetime | None
    author: User | None = None
    object_id: int = 0


class Kind:
    """An indexable kind. `name` is also the document key prefix."""

    name: str = ""
    label: Any = ""
    model: type = object

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        """Current documents of these objects (missing, deleted: no entry)."""
        raise NotImplementedError

    def refs_for_change(self, obj: Any) -> list[Ref]:
        """Which documents a flushed change of `obj` (of this kind's model) touches."""
        return [(self.name, int(obj.id))]

    def all_ids(self, session: Session, batch: int = 1000) -> Iterator[list[int]]:
        """Ids of every object to index, in batches (for rebuild and check)."""
        last = 0
        while True:
            ids = list(
                session.execute(
                    select(self.model.id)  # type: ignore[attr-defined]
                    .where(self.model.id > last)  # type: ignore[attr-defined]
                    .order_by(self.model.id)  # type: ignore[attr-defined]
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return
            yield ids
            last = ids[-1]

    def load_visible(self, session: Session, viewer: Any, ids: list[int]) -> dict[int, Any]:
        """Reload hits through `visible_to`, then re-check each with `can_view`."""
        model: Any = self.model
        stmt = visible_to(select(model).where(model.id.in_(ids)), viewer)
        found = {obj.id: obj for obj in session.execute(stmt).scalars()}
        return {oid: obj for oid, obj in found.items() if can_view(viewer, obj)}

    def hit(self, obj: Any, viewer: Any, query: ParsedQuery) -> Hit:
        raise NotImplementedError

    def fallback(
        self, session: Session, viewer: Any, like: ColumnElement[bool] | None, parts: list[str]
    ) -> Any:
        """A select of (object id, created_at) for the database fallback, or None."""
        return None


_kinds: dict[str, Kind] = {}
_by_model: dict[type, Kind] = {}


def register_kind(kind: Kind) -> None:
    """Add an indexable kind (idempotent)."""
    _kinds[kind.name] = kind
    _by_model[kind.model] = kind


def kinds() -> dict[str, Kind]:
    return dict(_kinds)


def kind_for_object(obj: Any) -> Kind | None:
    for klass in type(obj).__mro__:
        if klass in _by_model:
            return _by_model[klass]
    return None


def like_any(columns: Iterable[Any], variants: list[str]) -> ColumnElement[bool]:
    """SQL: any column contains any variant (LIKE with % and _ escaped)."""
    conds = []
    for variant in variants:
        pattern = "%" + variant.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for col in columns:
            conds.append(func.lower(col).like(pattern, escape="\\"))
    return or_(*conds)


# --- diaries ----------------------------------------------------------------------------------


class DiaryKind(Kind):
    name = "diary"
    label = _l("Diary")
    model = Diary

    @staticmethod
    def gate(diary: Diary) -> Gate:
        return Gate(
            diary.author_id,
            level_term(diary.visibility, diary.author_id),
            diary.hidden_at is not None,
        )

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        rows = session.execute(
            select(Diary).where(Diary.id.in_(ids), Diary.deleted_at.is_(None))
        ).scalars()
        return {
            d.id: [
                SearchDoc(
                    key=f"diary:{d.id}",
                    kind=self.name,
                    object_id=d.id,
                    group=f"diary:{d.id}",
                    title=d.title,
                    body=d.body,
                    author_id=d.author_id,
                    created_at=d.created_at,
                    gates=(self.gate(d),),
                )
            ]
            for d in rows
        }

    def hit(self, obj: Diary, viewer: Any, query: ParsedQuery) -> Hit:
        return Hit(
            kind=self.name,
            kind_label=str(self.label),
            title=obj.title,
            url=url_for("sns.diary", diary_id=obj.id),
            snippet=highlight(obj.title + " ― " + obj.body, query),
            created_at=obj.created_at,
            author=obj.author,
            object_id=obj.id,
        )

    def fallback(self, session: Session, viewer: Any, like: Any, parts: list[str]) -> Any:
        stmt = select(Diary.id, Diary.created_at, Diary.author_id).where(
            *[like_any([Diary.title, Diary.body], variants(p)) for p in parts]
        )
        return visible_to(stmt, viewer, Diary)


class CommentKind(Kind):
    name = "comment"
    label = _l("Comment")
    model = Comment

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        rows = session.execute(
            select(Comment, Diary)
            .join(Diary, Diary.id == Comment.diary_id)
            .where(Comment.id.in_(ids), Comment.deleted_at.is_(None), Diary.deleted_at.is_(None))
        ).all()
        out: dict[int, list[SearchDoc]] = {}
        for c, d in rows:
            gates = (
                Gate(c.author_id, "public", c.hidden_at is not None),
                DiaryKind.gate(d),
            )
            out[c.id] = [
                SearchDoc(
                    key=f"comment:{c.id}",
                    kind=self.name,
                    object_id=c.id,
                    group=f"comment:{c.id}",
                    title="",  # the diary's title is shown, not searched: it is the diary's
                    body=c.body,
                    author_id=c.author_id,
                    created_at=c.created_at,
                    gates=gates,
                    parent=f"diary:{d.id}",
                )
            ]
        return out

    def hit(self, obj: Comment, viewer: Any, query: ParsedQuery) -> Hit:
        return Hit(
            kind=self.name,
            kind_label=str(self.label),
            title=obj.diary.title,
            url=url_for("sns.diary", diary_id=obj.diary_id, _anchor=f"comment-{obj.id}"),
            snippet=highlight(obj.body, query),
            created_at=obj.created_at,
            author=obj.author,
            object_id=obj.id,
        )

    def fallback(self, session: Session, viewer: Any, like: Any, parts: list[str]) -> Any:
        stmt = select(Comment.id, Comment.created_at, Comment.author_id).where(
            *[like_any([Comment.body], variants(p)) for p in parts]
        )
        return visible_to(stmt, viewer, Comment)


# Profile fields that are searched: free text and choices shown as stored (districts, extra
# choice fields). Dates, years, photos and the sex field (a code behind a translated label)
# are not.
TEXT_KINDS = ("text", "textarea", "choice")
NOT_SEARCHED = ("sex", "avatar")


def searchable_fields(session: Session) -> set[str]:
    from app.sns.services import BUILTIN_FIELDS

    keys = {key for key, kind, *_ in BUILTIN_FIELDS if kind.value in TEXT_KINDS}
    inactive: set[str] = set()
    for row in session.execute(select(ProfileField)).scalars():
        if row.builtin:
            continue
        if row.active and row.kind in TEXT_KINDS:
            keys.add(row.key)
        else:
            inactive.add(row.key)
    return keys - set(NOT_SEARCHED) - inactive


class ProfileKind(Kind):
    name = "profile"
    label = _l("Member")
    model = User

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        users = {u.id: u for u in session.execute(select(User).where(User.id.in_(ids))).scalars()}
        fields = searchable_fields(session)
        values: dict[int, list[ProfileValue]] = {}
        for row in session.execute(
            select(ProfileValue).where(ProfileValue.user_id.in_(list(users)))
        ).scalars():
            if row.field_key in fields and row.value:
                values.setdefault(row.user_id, []).append(row)
        out: dict[int, list[SearchDoc]] = {}
        for uid, user in users.items():
            rows = values.get(uid, [])
            levels = {Visibility.PUBLIC} | {
                Visibility.parse(r.visibility) or Visibility.PRIVATE for r in rows
            }
            docs = []
            for level in LEVELS:  # widest first
                if level not in levels:
                    continue
                shown = [
                    r.value
                    for r in sorted(rows, key=lambda r: r.field_key)
                    if (Visibility.parse(r.visibility) or Visibility.PRIVATE).rank >= level.rank
                ]
                docs.append(
                    SearchDoc(
                        key=f"profile:{uid}:{level.value}",
                        kind=self.name,
                        object_id=uid,
                        group=f"profile:{uid}",
                        title=f"{user.display_name} {user.handle}",
                        body="\n".join(shown),
                        author_id=uid,
                        created_at=user.created_at if user.created_at else utcnow(),
                        gates=(Gate(uid, level_term(level, uid)),),
                    )
                )
            out[uid] = docs
        return out

    def refs_for_change(self, obj: Any) -> list[Ref]:
        if isinstance(obj, ProfileValue):
            return [(self.name, int(obj.user_id))]
        return [(self.name, int(obj.id))]

    def hit(self, obj: User, viewer: Any, query: ParsedQuery) -> Hit:
        from app.sns.services import profile_as

        relation = relation_between(viewer, obj.id)
        shown = [f.display for f in profile_as(obj, relation) if f.field.key not in NOT_SEARCHED]
        return Hit(
            kind=self.name,
            kind_label=str(self.label),
            title=obj.display_name,
            url=url_for("sns.profile", handle=obj.handle),
            snippet=highlight(" ".join([obj.display_name, *shown]), query),
            created_at=None,
            author=obj,
            object_id=obj.id,
        )

    def fallback(self, session: Session, viewer: Any, like: Any, parts: list[str]) -> Any:
        # A member matches when each part is in their name or in a field the viewer may see.
        conds = []
        for part in parts:
            pv = select(ProfileValue.user_id).where(
                like_any([ProfileValue.value], variants(part)),
                ProfileValue.field_key.not_in(NOT_SEARCHED),
            )
            pv = visible_to(pv, viewer, ProfileValue)
            conds.append(
                or_(
                    like_any([User.display_name, User.handle], variants(part)),
                    User.id.in_(pv),
                )
            )
        stmt = select(User.id, User.created_at, User.id.label("author_id")).where(*conds)
        return visible_to(stmt, viewer, User)


def variants(part: str) -> list[str]:
    """Spellings of a normalised query part for LIKE: as typed, in katakana, in hiragana."""
    kata = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in part)
    return sorted({part, kata})


register_kind(DiaryKind())
register_kind(CommentKind())
register_kind(ProfileKind())


def refs_for(obj: Any) -> list[Ref]:
    """The document refs a changed object touches ([] for objects search does not index)."""
    if isinstance(obj, ProfileValue):
        return _kinds["profile"].refs_for_change(obj)
    kind = kind_for_object(obj)
    if kind is None:
        return []
    return kind.refs_for_change(obj)
