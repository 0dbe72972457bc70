"""Checks over every route in the URL map (security.md A69, A73, A74, A51).

These walk `app.url_map`, so every new route is held to them automatically.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

# The only POST endpoint without a CSRF token: the card's signature over this server's
# single-use challenge is the proof (security.md A69; issue "JPKI login").
CSRF_EXEMPT = {"auth.jpki_response"}


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
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            yield rule


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
            checked += 1
    assert checked > 10


def test_csrf_exempt_list_is_exactly_the_signed_endpoints(app):
    exempt = {
        rule.endpoint for rule in app.url_map.iter_rules() if _view_is_exempt(app, rule.endpoint)
    }
    assert exempt == CSRF_EXEMPT


def _view_is_exempt(app: Flask, endpoint: str) -> bool:
    from app.extensions import csrf

    view = app.view_functions.get(endpoint)
    if view is None:
        return False
    name = f"{view.__module__}.{view.__name__}"
    return name in csrf._exempt_views


def login_as_csrf(app: Flask, client, user) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(
        "/auth/login",
        data={"email": user.email, "password": "correct horse battery staple", "csrf_token": token},
    )
    assert response.status_code == 302


def get_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and "GET" in rule.methods:
            yield rule


@pytest.mark.parametrize("as_member", [False, True], ids=["guest", "member"])
def test_security_headers_on_every_page(app, client, user, login_as, as_member):
    if as_member:
        login_as(user)
    for rule in get_rules(app):
        path = concrete_path(app, rule)
        response = client.get(path)
        assert response.status_code < 500, f"GET {path} gave {response.status_code}"
        csp = response.headers.get("Content-Security-Policy", "")
        assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'", csp), path
        for banned in ("unsafe-inline", "unsafe-eval"):
            assert banned not in csp, path
        for directive in (
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in csp, (path, directive)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy"), path
        if as_member:
            assert "no-store" in response.headers.get("Cache-Control", ""), path


def test_trace_is_refused(client):
    assert client.open("/", method="TRACE").status_code == 405
