"""Vault test fixtures: further apps (other roles, other key files) that are cleaned up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.extensions import db


@pytest.fixture
def spawn_app() -> Iterator[Callable[..., Flask]]:
    """`spawn_app(**overrides)`: a testing app whose database connections are closed at the end."""
    made: list[Flask] = []

    def _spawn(**overrides: Any) -> Flask:
        application = create_app("testing", overrides=overrides)
        made.append(application)
        return application

    yield _spawn
    for application in made:
        with application.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
