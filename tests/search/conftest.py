"""Search fixtures: the backend under test (Whoosh, or PostgreSQL when the tests run there and
SEARCH_TEST_BACKEND asks for it), and a helper that searches as a viewer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import PG_URL


def backends() -> list[str]:
    """Whoosh always; the PostgreSQL backend too when the tests run on PostgreSQL."""
    return ["whoosh", "postgres"] if PG_URL else ["whoosh"]


@pytest.fixture(params=backends())
def search_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app_config(app_config: dict[str, Any], search_backend: str) -> dict[str, Any]:
    app_config["SEARCH_BACKEND"] = search_backend
    return app_config


@pytest.fixture
def find(app: Any) -> Callable[..., list[tuple[str, int]]]:
    """find(viewer, "query", **kw) -> [(kind, id), …] of the hits, in order."""
    from app.search.service import search

    def _find(viewer: Any, q: str, **kw: Any) -> list[tuple[str, int]]:
        with app.test_request_context():
            results = search(viewer, q, **kw)
            assert not results.degraded, results.degraded
            return [(hit.kind, hit.object_id) for hit in results.hits]

    return _find
