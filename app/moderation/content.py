"""The registry of moderatable content: what can be reported, shown in the queue and hidden.

A feature package registers each kind of content once (at import or in its `register(app)`):

    register_content_kind(ContentKind(key="diary", model=Diary, author_attr="author_id", ...))

and the report flow (`/report/<kind>/<id>`), the queue and the hide/restore actions work for it
without knowing the package. This module imports no feature package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.permissions import Viewer, can_view


@dataclass(frozen=True)
class ContentKind:
    """How one kind of content is moderated.

    key: the name used in URLs and stored in reports and the log (at most 20 characters);
    model: the SQLAlchemy model, with `id` and, unless `hideable=False`, `hidden_at` and
    `hidden_reason`; author_attr: the attribute holding the author's (owner's) user id;
    label: a lazily translated name for the queue; snapshot: the text a report stores;
    url: the object's own URL path (called in a request); may_report: who may report it
    (default: whoever can see it through `app.permissions.can_view`).
    """

    key: str
    model: type
    author_attr: str
    label: Any
    snapshot: Callable[[Any], str]
    url: Callable[[Any], str]
    hideable: bool = True
    may_report: Callable[[Viewer, Any], bool] | None = None

    def author_id(self, obj: Any) -> int | None:
        value = getattr(obj, self.author_attr, None)
        return int(value) if value is not None else None

    def reportable_by(self, viewer: Viewer, obj: Any) -> bool:
        if obj is None:
            return False
        check = self.may_report or can_view
        return bool(check(viewer, obj))


_kinds: dict[str, ContentKind] = {}


def register_content_kind(kind: ContentKind) -> None:
    """Make a kind of content reportable and moderatable (idempotent: the last one wins)."""
    if not kind.key or len(kind.key) > 20:
        raise ValueError(f"content kind key {kind.key!r} must have 1 to 20 characters")
    if kind.hideable and not (
        hasattr(kind.model, "hidden_at") and hasattr(kind.model, "hidden_reason")
    ):
        raise ValueError(f"{kind.model.__name__} needs hidden_at and hidden_reason to be hideable")
    _kinds[kind.key] = kind


def content_kind(key: str) -> ContentKind:
    """The registered kind named `key`; KeyError when there is none."""
    return _kinds[key]


def content_kinds() -> list[ContentKind]:
    """Every registered kind, in registration order."""
    return list(_kinds.values())
