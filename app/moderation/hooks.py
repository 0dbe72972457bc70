"""Counts other packages add to the moderation dashboard, without moderation importing them.

    register_pending_count("communities", _l("Communities awaiting approval"), count_fn)

`count_fn()` runs in a request and returns an int. A package whose tables are not there (its
blueprint not loaded) simply never registers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PendingCount:
    key: str
    label: Any
    count: Callable[[], int]
    url: Callable[[], str] | None = None


_counts: dict[str, PendingCount] = {}


def register_pending_count(
    key: str, label: Any, count: Callable[[], int], url: Callable[[], str] | None = None
) -> None:
    """Show `count()` on the dashboard under `label` (idempotent: the last one wins)."""
    _counts[key] = PendingCount(key, label, count, url)


def pending_counts() -> list[PendingCount]:
    return list(_counts.values())
