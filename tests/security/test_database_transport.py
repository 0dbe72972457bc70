"""A56: production reaches PostgreSQL over a Unix socket or TLS with verify-full, nothing else."""

from __future__ import annotations

import pytest

from app import ConfigError, create_app

STRONG = "Xk3-vq9ZpR2mWt"


def production(monkeypatch, tmp_path, role: str = "internal", **urls: str):
    """The settings are checked before the vault keys are loaded, so a refusal needs no keys."""
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    overrides = {
        "SECRET_KEY": "k" * 48,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "APP_ROLE": role,
        "DATABASE_URL": "postgresql://app@/sankaku?host=/run/postgresql",
        "PII_DATABASE_URL": "postgresql://vault@/sankaku_pii?host=/run/postgresql",
        **urls,
    }
    return create_app("production", overrides=overrides)


@pytest.mark.parametrize("key", ["DATABASE_URL", "PII_DATABASE_URL"])
@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app:{STRONG}@db.example/sankaku",
        f"postgresql+psycopg://app:{STRONG}@db.example:5432/sankaku?sslmode=prefer",
        f"postgresql://app:{STRONG}@db.example/sankaku?sslmode=require",
        f"postgresql://app:{STRONG}@db.example/sankaku?sslmode=verify-ca",
        f"postgresql://app:{STRONG}@127.0.0.1/sankaku",
        # a socket and a TCP host in one multi-host URL: the TCP one is unprotected
        f"postgresql://app:{STRONG}@/sankaku?host=/run/postgresql&host=db.example",
    ],
)
def test_tcp_without_verify_full_is_refused(monkeypatch, tmp_path, key, url):
    with pytest.raises(ConfigError, match=f"{key} reaches PostgreSQL over TCP"):
        production(monkeypatch, tmp_path, **{key: url})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@/sankaku",  # libpq's default socket
        "postgresql://app@/sankaku?host=/run/postgresql",
        "postgresql+psycopg://app@/sankaku?host=/var/run/postgresql",
        f"postgresql://app:{STRONG}@db.example/sankaku?sslmode=verify-full",
        f"postgresql+psycopg://app:{STRONG}@db.example:5432/sankaku"
        "?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
    ],
)
def test_a_socket_or_verify_full_starts(monkeypatch, tmp_path, url):
    app = production(monkeypatch, tmp_path, role="public", DATABASE_URL=url)
    assert app.config["ENV_NAME"] == "production"


def test_development_and_tests_may_use_plain_loopback_tcp(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    app = create_app(
        "testing", overrides={"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x"}
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
