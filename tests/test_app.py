"""The factory, configuration, health check, headers and error pages."""

from __future__ import annotations

import pytest

from app import ConfigError, create_app


def test_healthz_reports_each_dependency(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "ok"
    assert data["database"] == "ok"
    assert data["vault"] == "ok"
    assert data["mail"] == {"pending": 0}
    assert data["search"] in {"ok", "degraded"}


@pytest.mark.parametrize("secret", [None, "", "short", "dev-only-insecure-secret-key-change-me"])
def test_production_refuses_missing_or_default_secret(monkeypatch, secret):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    overrides = {
        "DATABASE_URL": "postgresql://postgres@/x?host=/run/postgresql",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "SECRET_KEY": secret,
    }
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app("production", overrides=overrides)


def test_production_refuses_memory_rate_limits():
    overrides = {
        "DATABASE_URL": "postgresql://postgres@/x?host=/run/postgresql",
        "SECRET_KEY": "x" * 40,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        create_app("production", overrides=overrides)


def test_production_secret_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))  # no key files lying around
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@/x?host=/run/postgresql")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")
    monkeypatch.setenv("APP_ROLE", "public")  # the public role needs no vault keys
    app = create_app("production")
    assert app.config["SECRET_KEY"] == "k" * 48
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-sankaku"
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_unknown_role_refused():
    with pytest.raises(ConfigError, match="APP_ROLE"):
        create_app("testing", overrides={"APP_ROLE": "everything"})


def test_public_role_has_no_vault(app_config):
    app = create_app("testing", overrides={**app_config, "APP_ROLE": "public"})
    assert "pii" not in app.config["SQLALCHEMY_BINDS"]


def test_security_headers_on_every_page(client):
    for path in ["/", "/auth/login", "/does-not-exist"]:
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"]


def test_pages_have_one_h1_lang_and_skip_link(client):
    body = client.get("/auth/login").get_data(as_text=True)
    assert body.count("<h1") == 1
    assert '<html lang="ja">' in body
    assert 'href="#main"' in body
    assert 'id="main"' in body
    assert "<script>" not in body  # no inline script: the CSP forbids it


def test_not_found_page_in_both_languages(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.get_data(as_text=True)
    client.get("/lang/en")
    response = client.get("/nothing-here")
    assert "Page not found" in response.get_data(as_text=True)


def test_unexpected_error_gives_friendly_500_without_details(app, client):
    @app.route("/boom-test")
    def boom():
        raise RuntimeError("secret internal detail")

    response = client.get("/boom-test")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internal detail" not in body
    assert "Traceback" not in body
    assert "<h1" in body


def test_language_switch_only_accepts_known_languages_and_local_next(client):
    response = client.get("/lang/en?next=https://evil.example/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    response = client.get("/lang/xx?next=/auth/login")
    assert response.headers["Location"] == "/auth/login"
    assert "lang=ja" in response.headers["Set-Cookie"]
