"""Shared fixtures of the moderation tests."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.models import RoleCode


@pytest.fixture
def mod(make: Any) -> Any:
    """An NPO moderator."""
    return make.user(handle="npo_mod", display_name="NPO 職員", role=RoleCode.MODERATOR)
