"""Helpers of the moderation tests."""

from __future__ import annotations

from typing import Any


def client_of(app: Any, login_as: Any, who: Any) -> Any:
    """A test client of its own, logged in as `who` (through the second factor if asked)."""
    c = app.test_client()
    login_as(who, the_client=c)
    return c
