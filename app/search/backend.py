"""What both index backends share: filters, a page of hit references, updates, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Ref = tuple[str, int]


class IndexUnavailable(Exception):  # noqa: N818 - reads as a state, like werkzeug's NotFound
    """The index cannot answer (missing, locked, corrupt, stale): use the database instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()
    author_id: int | None = None
    community_id: int | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive


@dataclass
class SearchPage:
    total: int
    refs: list[Ref]


@dataclass
class Update:
    """Objects whose documents are to be rebuilt from the database, plus what to delete."""

    refs: set[Ref] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)  # delete every document of these groups
    parents: set[str] = field(default_factory=set)  # … and of these parents (comments)
    owners_gone: set[int] = field(default_factory=set)  # … and of these deleted members

    def __bool__(self) -> bool:
        return bool(self.refs or self.groups or self.parents or self.owners_gone)

    def merge(self, other: Update) -> Update:
        return Update(
            self.refs | other.refs,
            self.groups | other.groups,
            self.parents | other.parents,
            self.owners_gone | other.owners_gone,
        )

    def to_json(self) -> dict[str, Any]:
        return {"refs": sorted([k, i] for k, i in self.refs)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Update:
        return cls(refs={(str(k), int(i)) for k, i in data["refs"]})


def signature(group: str, gates: Iterable[tuple[int, str, bool]]) -> str:
    """A comparable form of a document's group and gates (for `flask search check`)."""
    return group + "\t" + ";".join(f"{o}|{a}|{1 if h else 0}" for o, a, h in gates)
