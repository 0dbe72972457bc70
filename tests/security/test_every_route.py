"""Checks over every route in the URL map (security.md A69, A73, A74, A51).

These walk `app.url_map`, so every new route is held to them automatically.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.security.route_policies import POLICIES

# The only endpoints without a CSRF token are those proven by a JPKI signature over this
# server's single-use challenge, each declared with its reason in route_policies.py (A69).
CSRF_EXEMPT = {name: p.reason for name, p in POLICIES.items() if p.access == "signature"}


def concrete_path(app: Flask, rule) -> str:
    """A URL for a rule, with placeholder values for its arguments."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        values[name] = 1 if "Integer" in converter else "x"
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values)


def state_changing_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}:
            yield rule


# The sandbox policy of served photos (A67): stricter than the page policy, no scripts at all.
IMAGE_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def assert_security_headers(response, where: str, authenticated: bool) -> None:
    """A73, A74, A51: the headers every response carries, whatever its status or type."""
    csp = response.headers.get("Content-Security-Policy", "")
    for banned in ("unsafe-inline", "unsafe-eval"):
        assert banned not in csp, where
    if csp != IMAGE_CSP:
        assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'", csp), (where, csp)
        for directive in ("object-src 'none'", "base-uri 'none'", "form-action 'self'"):
            assert directive in csp, (where, directive)
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where
    if authenticated:
        assert "no-store" in response.headers.get("Cache-Control", ""), where


def test_every_state_change_needs_a_csrf_token(app, client, user, login_as):
    app.config["WTF_CSRF_ENABLED"] = True
    login_as_csrf(app, client, user)
    checked = 0
    for rule in state_changing_rules(app):
        if rule.endpoint in CSRF_EXEMPT:
            continue
        path = concrete_path(app, rule)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            response = client.open(path, method=method, data={"anything": "1"})
            assert response.status_code == 400, f"{method} {path} ({rule.endpoint}) without token"
            assert_security_headers(response, f"{method} {path}", authenticated=True)
            checked += 1
    # Cookie-authenticated JSON is no exception (A69).
    response = client.post("/notifications/read", json={"anything": 1})
    assert response.status_code == 400
    assert checked > 10


def test_csrf_exempt_list_is_exactly_the_signed_endpoints(app):
    exempt = {
        rule.endpoint for rule in app.url_map.iter_rules() if _view_is_exempt(app, rule.endpoint)
    }
    assert exempt == set(CSRF_EXEMPT)
    assert all(reason.strip() for reason in CSRF_EXEMPT.values())


def _view_is_exempt(app: Flask, endpoint: str) -> bool:
    from app.extensions import csrf

    view = app.view_functions.get(endpoint)
    if view is None:
        return False
    name = f"{view.__module__}.{view.__name__}"
    return name in csrf._exempt_views


def login_as_csrf(app: Flask, client, user) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found is not None
    token = found.group(1)
    response = client.post(
        "/auth/login",
        data={"email": user.email, "password": "correct horse battery staple", "csrf_token": token},
    )
    assert response.status_code == 302


def get_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and "GET" in (rule.methods or ()):
            yield rule


@pytest.mark.parametrize("as_member", [False, True], ids=["guest", "member"])
def test_security_headers_on_every_page(app, client, user, login_as, as_member):
    if as_member:
        login_as(user)
    for rule in get_rules(app):
        path = concrete_path(app, rule)
        response = client.get(path)
        assert response.status_code < 500, f"GET {path} gave {response.status_code}"
        assert_security_headers(response, f"GET {path}", authenticated=as_member)


@pytest.mark.parametrize("as_member", [False, True], ids=["guest", "member"])
def test_security_headers_on_errors_redirects_json_and_images(
    app, client, user, make, login_as, as_member
):
    """Not only pages: 404, 405, 400, redirects, JSON and served photos carry them too."""
    from tests.security.matrix_world import _png

    owner = make.user(handle="photo_owner")
    from app.sns.services import create_diary

    diary = create_diary(owner, title="写真", body="本文", visibility="public", uploads=[_png()])
    from app.community import services as community_services
    from app.extensions import db

    community = community_services.create_community(
        owner, name="写真の会", category="地域", kind="open", image=_png()
    )
    db.session.commit()
    photo = diary.images[0].token
    community_photo = community.image_token
    if as_member:
        login_as(user)
    requests = [
        ("GET", "/no/such/page", 404),
        ("GET", "/static/", 404),  # no directory listings (A74)
        ("GET", "/search-static/", 404),
        ("GET", "/diary/2000000", 404),
        ("GET", "/healthz", None),
        ("GET", "/auth/jpki/challenge/NOSUCH", 404),
        ("POST", "/auth/jpki/response", 400),
        ("GET", "/api/nothing", 404),
        ("TRACE", "/", 405),
        ("DELETE", "/", 405),
        ("GET", "/timeline", 200 if as_member else 302),
        ("GET", "/me", 302),
        ("GET", "/lang/en", 302),
        ("GET", f"/images/{photo}", 200),
        ("GET", f"/community-images/{community_photo}", 200 if as_member else None),
    ]
    for method, path, status in requests:
        response = client.open(path, method=method)
        if status is not None:
            assert response.status_code == status, (method, path, response.status_code)
        assert_security_headers(response, f"{method} {path}", authenticated=as_member)
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/diary/new", data={"title": "x"})
    assert response.status_code == 400
    assert_security_headers(response, "POST /diary/new without token", authenticated=as_member)


def test_one_time_links_send_no_referrer(app, client):
    """A51: pages reached by a secret in the URL keep it out of the Referer header."""
    checked = 0
    for rule in get_rules(app):
        policy = POLICIES.get(rule.endpoint)
        if policy is None or policy.access != "token" or rule.endpoint == "auth.jpki_challenge":
            continue
        path = concrete_path(app, rule)
        response = client.get(path)
        assert response.headers.get("Referrer-Policy") == "no-referrer", (
            path,
            response.status_code,
        )
        checked += 1
    assert checked >= 5


def test_trace_is_refused(client):
    assert client.open("/", method="TRACE").status_code == 405
