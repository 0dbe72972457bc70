"""CSRF is enforced when enabled (TestConfig turns it off for the other tests)."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_post_without_token_is_refused(csrf_app, client, user):
    response = client.post(
        "/auth/login", data={"email": user.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 400
    assert "有効期限" in response.get_data(as_text=True)
    assert client.get("/auth/settings").status_code == 302  # not logged in


def test_post_with_token_from_another_session_is_refused(csrf_app, client, user):
    other = csrf_app.test_client()
    html = other.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    client.get("/auth/login")
    response = client.post(
        "/auth/login",
        data={"email": user.email, "password": "correct horse battery staple", "csrf_token": token},
    )
    assert response.status_code == 400


def test_logout_needs_token(csrf_app, client, user):
    html = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    client.post(
        "/auth/login",
        data={"email": user.email, "password": "correct horse battery staple", "csrf_token": token},
    )
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/auth/settings").status_code == 200  # still logged in
