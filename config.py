"""Configuration: one class per environment, every setting overridable by environment variables.

`create_app()` picks a class by name (``APP_CONFIG`` or its argument), then applies environment
variables: any variable named like a setting below overrides it, and ``APP_<NAME>`` sets any
other Flask setting. Values are parsed as JSON when they look like JSON (numbers, booleans,
lists), otherwise kept as strings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

BASE_DIR = Path(__file__).resolve().parent
DEFAULT_INSTANCE = BASE_DIR / "instance"

# Secrets that must never be used outside development and tests.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 - refused in production
MIN_SECRET_KEY_LENGTH = 32


class Config:
    """Defaults for every environment: the embedded single-process deployment."""

    ENV_NAME = "default"
    SECRET_KEY: str | None = None
    APP_ROLE = "all"  # all | public | internal
    INSTANCE_DIR = str(DEFAULT_INSTANCE)

    # Databases: main store and the personal-data vault (a second bind).
    DATABASE_URL: str | None = None  # default: sqlite under INSTANCE_DIR
    PII_DATABASE_URL: str | None = None
    # The schema owner's URLs for `flask db upgrade` and table rewrites; unset: the URLs above.
    # In production DATABASE_URL is the runtime role, without DDL rights (A75, docs/operations.md).
    MIGRATION_DATABASE_URL: str | None = None
    PII_MIGRATION_DATABASE_URL: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = 10_000
    SQLITE_IMMEDIATE_OUTSIDE_REQUEST = True  # CLI commands and jobs write: take the lock at once

    SEARCH_DIR: str | None = None
    SEARCH_BACKEND = "whoosh"

    # Localisation: Japanese first.
    BABEL_DEFAULT_LOCALE = "ja"
    BABEL_DEFAULT_TIMEZONE = "Asia/Tokyo"
    LANGUAGES = ("ja", "en")

    # Web security.
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT: int | None = None  # the token lives as long as the server session
    SESSION_COOKIE_NAME = "sankaku_session"
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_IDLE_MINUTES = 30
    SESSION_ABSOLUTE_HOURS = 12
    SESSION_REMEMBER_IDLE_DAYS = 14
    SESSION_REMEMBER_ABSOLUTE_DAYS = 30
    MAX_CONTENT_LENGTH = 10 * 1024 * 1024
    PREFERRED_URL_SCHEME = "http"
    SERVER_BASE_URL = "http://127.0.0.1:5000"  # used in emails and by the card client
    TRUSTED_PROXIES: tuple[str, ...] = ()  # addresses allowed to set X-Forwarded-* / cert headers
    PROXY_FIX_HOPS = 0
    HSTS = False

    # Accounts.
    REGISTRATION_OPEN = False  # the regional SNS norm is invitation-only
    INVITATION_DAYS = 14
    EMAIL_TOKEN_HOURS = 48
    RESET_TOKEN_MINUTES = 30
    PASSWORD_MIN_LENGTH = 8
    PASSWORD_MAX_LENGTH = 256
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_KIB = 19_456
    ARGON2_PARALLELISM = 1
    DEFAULT_INVITE_QUOTA = 5

    # Rate limits (Flask-Limiter). Memory is per process: production needs Redis.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_LIMIT_PER_IP = "20 per minute; 200 per hour"
    LOGIN_LIMIT_PER_ACCOUNT = "5 per minute; 30 per hour"
    SECOND_FACTOR_LIMIT_PER_ACCOUNT = "5 per minute; 30 per hour"  # wrong TOTP codes (A08)
    MAIL_LIMIT_PER_IP = "5 per minute; 30 per hour"
    SURVEY_START_LIMIT = "10 per minute; 60 per hour"  # survey starts per address (A64)

    # Mail: every message is an outbox row; a backend delivers it.
    MAIL_BACKEND = "file"  # file | smtp
    MAIL_OUTBOX_DIR: str | None = None  # default: INSTANCE_DIR/outbox
    MAIL_DEFAULT_SENDER = "Sankaku <no-reply@sankaku.invalid>"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_TIMEOUT = 10
    MAIL_MAX_ATTEMPTS = 8
    MAIL_DELIVER_INLINE = True  # deliver right after the request that queued mail committed

    # JPKI (see docs/jpki-operations.md).
    JPKI_TRUST_DIR: str | None = None
    JPKI_TRUST_PINS = ""
    JPKI_CRL_DIR: str | None = None
    JPKI_REVOCATION = "fail-closed"
    JPKI_TEST_MODE = False
    JPKI_STEP_UP_MINUTES = 15
    JPKI_CHALLENGE_SECONDS = 300
    JPKI_PROXY_CERT_HEADER = "X-SSL-Client-Cert"
    JPKI_LIMIT = "30 per minute; 300 per hour"  # challenges and card answers per address

    # Retention: `flask retention prune`, daily from cron (docs/data-classification.md).
    RETENTION_CHALLENGE_HOURS = 24  # JPKI challenges, after they expired or were used
    RETENTION_INVITATION_DAYS = 30  # invitations, after they were accepted, revoked or expired
    RETENTION_OUTBOX_DAYS = 30  # sent mail (rows and .eml files), after sending
    RETENTION_NOTIFICATION_DAYS = 90  # read notifications, after they were created
    RETENTION_BATCH_SIZE = 500  # rows deleted per transaction

    # Municipality.
    MUNICIPALITY_NAME = "みどり市"
    MUNICIPALITY_NAME_EN = "Midori City"
    NPO_NAME = "NPOみどりネット"
    # A02: besides the names above, words a new password may not be (nor be followed by digits).
    PASSWORD_CONTEXT_WORDS: tuple[str, ...] = ("Sankaku", "参画")
    DISTRICTS = ("中央", "北町", "南町", "東が丘", "西浜", "山の手")

    # Personal-data vault (docs/privacy.md). Each key: a file under PRIVACY_KEYS_DIR (default
    # INSTANCE_DIR/keys), another file (…_FILE) or the value itself (base64) in the environment.
    PRIVACY_KEYS_DIR: str | None = None
    PRIVACY_MASTER_KEY: str | None = None
    PRIVACY_MASTER_KEY_FILE: str | None = None
    PRIVACY_AUDIT_KEY: str | None = None
    PRIVACY_AUDIT_KEY_FILE: str | None = None
    PRIVACY_INDEX_KEY: str | None = None
    PRIVACY_INDEX_KEY_FILE: str | None = None
    PRIVACY_VAULT_PRIVATE_KEY: str | None = None
    PRIVACY_VAULT_PRIVATE_KEY_FILE: str | None = None
    PRIVACY_VAULT_PUBLIC_KEY: str | None = None
    PRIVACY_VAULT_PUBLIC_KEY_FILE: str | None = None
    PRIVACY_GENERATE_KEYS: bool | None = None  # None: only for a new instance outside production
    PRIVACY_PROJECT_DAYS = 1095  # end date of a project created without one
    PRIVACY_RETENTION_WARNING_DAYS = 30
    PRIVACY_INTAKE_INTERVAL = 10  # seconds between inbox checks of `flask privacy intake --loop`
    PRIVACY_STAFF_RECIPIENT = "city"  # the party staff screens act for

    # Survey monitors.
    SURVEY_PROJECT = "default"  # the project new registrations join
    SURVEY_MIN_AGE = 18
    SURVEY_DISTRICTS_FILE: str | None = None  # CSV: postal-code prefix or address part, district
    SURVEY_POSTAL_DISTRICTS: ClassVar[dict[str, str]] = {}  # postal-code prefix -> district

    LOG_LEVEL = "INFO"
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    """The embedded default used by `make run`: SQLite, file outbox, generated secret, and the
    generated test PKI under instance/jpki-test/ for the emulated My Number Card."""

    ENV_NAME = "development"
    JPKI_DEMO_PKI = "jpki-test"  # under INSTANCE_DIR; used when JPKI_TRUST_DIR is not set


class TestConfig(Config):
    """Tests: CSRF off unless a test turns it on, rate limits off unless a test turns them on."""

    ENV_NAME = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    MAIL_DELIVER_INLINE = False
    # Test code reads between requests; a deferred BEGIN keeps it from blocking the app's writes.
    SQLITE_IMMEDIATE_OUTSIDE_REQUEST = False
    SQLITE_BUSY_TIMEOUT_MS = 5_000
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-tests"  # noqa: S105


class ProductionConfig(Config):
    """Production: PostgreSQL, Redis rate limits, SMTP, secure cookies. Refuses unsafe settings."""

    ENV_NAME = "production"
    SESSION_COOKIE_NAME = "__Host-sankaku"
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    HSTS = True
    MAIL_BACKEND = "smtp"
    MAIL_DELIVER_INLINE = False
    PRIVACY_GENERATE_KEYS = False


CONFIGS: dict[str, type[Config]] = {
    "default": DevelopmentConfig,
    "development": DevelopmentConfig,
    "testing": TestConfig,
    "production": ProductionConfig,
}


def parse_env_value(raw: str) -> Any:
    """Parse an environment value: JSON literals (numbers, booleans, lists) or a plain string."""
    text = raw.strip()
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    if text[:1] in "[{" or text.lstrip("-").isdigit():
        try:
            return json.loads(text)
        except ValueError:
            return raw
    return raw


def settings_from_env(cls: type[Config], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Collect overrides: `NAME` for settings the class defines, `APP_NAME` for any setting."""
    env = dict(os.environ if environ is None else environ)
    known = {name for name in dir(cls) if name.isupper()}
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key in known or key.startswith(("MAIL_", "JPKI_")):
            out[key] = parse_env_value(value)
    for key, value in env.items():
        if key.startswith("APP_") and key not in {"APP_ROLE", "APP_CONFIG"}:
            out[key[4:]] = parse_env_value(value)
    if "APP_ROLE" in env:
        out["APP_ROLE"] = env["APP_ROLE"]
    return out
