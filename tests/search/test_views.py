"""GET /search: bad input never answers 500, filters are allowlisted, a box on every page."""

from __future__ import annotations

from typing import Any

import pytest

HOSTILE = [
    "",
    "   ",
    "\u3000",
    'AND OR NOT "',
    "title:秘密 OR *",
    "(((((",
    "夏祭り~2^3",
    "\x00\x01\x1b[31m",
    "あ" * 5000,
    "%" * 300,
    "' OR 1=1 --",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_bad_queries_never_fail(client: Any, user: Any, login_as: Any, q: str) -> None:
    for who in ("guest", "member"):
        if who == "member":
            login_as(user)
        response = client.get("/search", query_string={"q": q})
        assert response.status_code == 200, (who, q)


def test_invalid_utf8_never_fails(client: Any) -> None:
    assert client.get("/search?q=%ED%A0%80%FF%FE").status_code == 200


def test_long_query_notice(client: Any) -> None:
    body = client.get("/search", query_string={"q": "夏" * 500}).get_data(as_text=True)
    assert "100" in body  # "only its first 100 characters were used"


@pytest.mark.parametrize(
    "query_string",
    [{"q": "a", "order": "id"}, {"q": "a", "sort": "author_id"}, {"q": "a", "kind": "user"}],
)
def test_unknown_filters_are_refused(client: Any, query_string: dict[str, str]) -> None:
    assert client.get("/search", query_string=query_string).status_code == 400


def test_odd_values_are_forgiven(client: Any) -> None:
    for qs in ({"q": "a", "page": "abc"}, {"q": "a", "page": "99999"}, {"q": "a", "from": "x"}):
        assert client.get("/search", query_string=qs).status_code == 200


def test_search_box_on_every_page(client: Any, user: Any, login_as: Any) -> None:
    for path in ("/", "/auth/login", "/diary"):
        body = client.get(path).get_data(as_text=True)
        assert 'role="search"' in body and 'for="site-search-q"' in body, path
    login_as(user)
    body = client.get("/me", follow_redirects=True).get_data(as_text=True)
    assert 'id="site-search-q"' in body


def test_author_filter_does_not_leak(client: Any, make: Any, user: Any, other_user: Any) -> None:
    make.diary(user, title="自治会", body="総会", visibility="public")
    make.block(user, other_user)
    found = client.get("/search", query_string={"q": "自治会", "author": "alice"})
    assert "/diary/" in found.get_data(as_text=True)
    none = client.get("/search", query_string={"q": "自治会", "author": "nobody"})
    assert none.status_code == 200 and "/diary/" not in none.get_data(as_text=True)
