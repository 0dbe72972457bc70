"""Sankaku: the application factory."""

from __future__ import annotations

import importlib
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

import config as config_module
from app.db import configure_sqlite_engine
from app.extensions import babel, csrf, db, limiter, login_manager, migrate
from app.i18n import _, select_locale, select_timezone
from app.logging_setup import configure_logging, log_event

ROLES = ("all", "public", "internal")


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the message says what to change."""


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints for the APP_ROLE, CLI. Runs no queries."""
    name = config_name or os.environ.get("APP_CONFIG", "default")
    try:
        config_cls = config_module.CONFIGS[name]
    except KeyError as exc:
        choices = ", ".join(sorted(config_module.CONFIGS))
        raise ConfigError(f"unknown APP_CONFIG {name!r}; use one of {choices}") from exc

    app = Flask(__name__, instance_path=None)
    app.config.from_object(config_cls)
    app.config.update(config_module.settings_from_env(config_cls))
    if overrides:
        app.config.update(overrides)
    _finish_config(app)

    configure_logging(app)
    if app.config["PROXY_FIX_HOPS"]:
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from app.sessions import DatabaseSessionInterface

    app.session_interface = DatabaseSessionInterface()
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                configure_sqlite_engine(
                    engine,
                    int(app.config["SQLITE_BUSY_TIMEOUT_MS"]),
                    immediate_outside_request=bool(app.config["SQLITE_IMMEDIATE_OUTSIDE_REQUEST"]),
                )
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)
    _init_login(app)
    _register_models()
    _register_blueprints(app)
    _register_security(app)
    _register_errors(app)
    _register_template_globals(app)
    _register_mail_hook(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _finish_config(app: Flask) -> None:
    cfg = app.config
    role = cfg["APP_ROLE"]
    if role not in ROLES:
        raise ConfigError(f"APP_ROLE must be one of {', '.join(ROLES)}, not {role!r}")
    instance = Path(cfg["INSTANCE_DIR"])
    cfg["INSTANCE_DIR"] = str(instance)
    if cfg["ENV_NAME"] in ("development", "default"):
        instance.mkdir(parents=True, exist_ok=True)
    secret = cfg.get("SECRET_KEY")
    if not secret and cfg["ENV_NAME"] in ("development", "default"):
        secret = _dev_secret(instance)
    if cfg["ENV_NAME"] == "production":
        if not secret:
            raise ConfigError("SECRET_KEY is not set: set it to a random value of 32+ characters")
        too_short = len(secret) < config_module.MIN_SECRET_KEY_LENGTH
        if secret == config_module.DEV_SECRET_KEY or too_short:
            raise ConfigError(
                "SECRET_KEY is a default or shorter than 32 characters: set a random value"
            )
        if not cfg.get("DATABASE_URL"):
            raise ConfigError("DATABASE_URL is not set: production needs PostgreSQL")
        if str(cfg["RATELIMIT_STORAGE_URI"]).startswith("memory"):
            raise ConfigError(
                "RATELIMIT_STORAGE_URI is memory: set redis://… so limits hold across workers"
            )
        # The migration role's URLs too: set in the same environment file as the runtime ones.
        for key in DATABASE_URL_KEYS:
            if _default_db_password(cfg.get(key)):
                raise ConfigError(f"{key} uses a default password: set a random one (A75)")
            if _unprotected_db_transport(cfg.get(key)):
                raise ConfigError(
                    f"{key} reaches PostgreSQL over TCP without sslmode=verify-full: use a"
                    " Unix socket (host=/run/postgresql) or TLS with verify-full (A56)"
                )
    cfg["SECRET_KEY"] = secret
    demo_pki = cfg.get("JPKI_DEMO_PKI")
    if demo_pki and not cfg.get("JPKI_TRUST_DIR"):
        cfg["JPKI_TRUST_DIR"] = str(instance / demo_pki / "trust")
        cfg["JPKI_CRL_DIR"] = cfg.get("JPKI_CRL_DIR") or str(instance / demo_pki / "crl")
    main_url = cfg.get("DATABASE_URL") or f"sqlite:///{instance / 'sankaku.db'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = _normalise_url(main_url)
    binds: dict[str, str] = {}
    if role != "public":
        pii_url = cfg.get("PII_DATABASE_URL") or f"sqlite:///{instance / 'pii.db'}"
        binds["pii"] = _normalise_url(pii_url)
    cfg["SQLALCHEMY_BINDS"] = binds
    cfg["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories())
    cfg["SEARCH_DIR"] = cfg.get("SEARCH_DIR") or str(instance / "search")
    cfg["MAIL_OUTBOX_DIR"] = cfg.get("MAIL_OUTBOX_DIR") or str(instance / "outbox")
    cfg["RATELIMIT_STORAGE_URI"] = cfg["RATELIMIT_STORAGE_URI"]
    cfg["SESSION_COOKIE_SECURE"] = bool(cfg["SESSION_COOKIE_SECURE"])
    if cfg["SESSION_COOKIE_NAME"].startswith("__Host-") and not cfg["SESSION_COOKIE_SECURE"]:
        raise ConfigError("a __Host- session cookie needs SESSION_COOKIE_SECURE=true")


def translation_directories() -> list[str]:
    """Every `translations` folder in the package: one per feature package, then the core one.

    Flask-Babel merges them in this order and a later catalogue wins, so the core's wording
    of shared messages (field errors, buttons) is the same on every page.
    """
    root = Path(__file__).resolve().parent
    found = [
        *sorted(root.glob("*/*/translations")),
        *sorted(root.glob("*/translations")),
        root / "translations",
    ]
    unique = list(dict.fromkeys(path for path in found if path.is_dir()))
    return [str(path) for path in unique]


def _normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _dev_secret(instance: Path) -> str:
    """A development secret generated once and kept under instance/ (never in the repo)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _init_login(app: Flask) -> None:
    from app.auth.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # sessions are server-side and rotated at login

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        try:
            user = db.session.get(User, int(user_id))
        except (TypeError, ValueError):
            return None
        if user is None or not user.is_active:
            return None
        return user


# Feature packages: each names its model modules and its blueprint, and the roles serving it.
# A feature package may also have a `register(app)` function (CLI groups, sample-data hooks).
MODEL_MODULES = (
    "app.auth.models",
    "app.mail.models",
    "app.sessions",
    "app.sns.models",
    "app.privacy.models",
    "app.survey.models",
    "app.survey.surveys_models",
    "app.search.models",
    "app.community.models",
    "app.notices.models",
    "app.moderation.models",
)
BLUEPRINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("app.site", ROLES),
    ("app.auth", ROLES),
    ("app.sns", ("all", "public")),
    ("app.privacy", ("all", "internal")),
    ("app.privacy.proof_views", ("all", "public")),
    ("app.survey", ("all", "public")),
    ("app.survey.staff", ("all", "internal")),
    ("app.survey.admin_views", ("all", "internal")),
    ("app.search", ("all", "public")),
    ("app.community", ("all", "public")),
    ("app.notices", ROLES),
    ("app.moderation", ("all", "public")),
)


def _register_models() -> None:
    """Import every model module so metadata (and Alembic) sees all tables."""
    for module in MODEL_MODULES:
        importlib.import_module(module)


def _register_blueprints(app: Flask) -> None:
    role = app.config["APP_ROLE"]
    for module_name, roles in BLUEPRINTS:
        module = importlib.import_module(module_name)
        if role == "all" or role in roles:
            app.register_blueprint(module.bp)
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


JSON_PREFIXES = ("/healthz", "/api/", "/auth/jpki/challenge", "/auth/jpki/response")

CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def _register_security(app: Flask) -> None:
    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _headers(response: Response) -> Response:
        nonce = g.get("csp_nonce") or secrets.token_urlsafe(16)
        response.headers["Content-Security-Policy"] = CSP.format(nonce=nonce)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config["HSTS"]:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if current_user.is_authenticated or request.path.startswith("/auth/"):
            response.headers["Cache-Control"] = "no-store"
        return response


def _register_errors(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> tuple[str, int]:
        log_event(
            "security.csrf",
            "failure",
            "csrf failure path=%s",
            request.path,
            obj=f"endpoint:{request.endpoint}" if request.endpoint else "",
            level=logging.WARNING,
        )
        reason = _("The form expired. Please go back, reload the page and try again.")
        return render_template("errors/400.html", reason=reason), 400

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        code = err.code or 500
        if code == 429:
            log_event(  # A45
                "security.rate_limit",
                "denied",
                "rate limit hit path=%s",
                request.path,
                obj=f"endpoint:{request.endpoint}" if request.endpoint else "",
                level=logging.WARNING,
            )
        if request.path.startswith(JSON_PREFIXES):
            return {"ok": False, "error": err.name, "status": code}, code
        if code == 413:
            # The body was refused: the layout's forms must not read it again (that raised a
            # second 413 inside this handler, so a too-large upload ended in a 500).
            request.form = ImmutableMultiDict()
            request.files = ImmutableMultiDict()
        template = f"errors/{code}.html"
        try:
            body = render_template(template, error=err)
        except Exception:
            body = render_template("errors/generic.html", error=err, code=code)
        response = err.get_response()
        response.set_data(body)
        response.content_type = "text/html; charset=utf-8"
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[str, int]:
        if isinstance(err, HTTPException):
            return _http(err)
        app.logger.exception("unhandled error path=%s", request.path)
        db.session.rollback()
        return render_template("errors/500.html"), 500


# Bidi embeddings, overrides and isolates: a name like "\u202etxt.exe" would reorder the text
# around it on the page (A31, R11). Template output never carries them.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_HAS_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(value: Any) -> Any:
    """The Jinja `finalize` hook: every `{{ … }}` value without bidi control characters.

    It runs for every expression of every page, so values without such characters (nearly all)
    pass after one C-level search instead of a per-character translation."""
    if not isinstance(value, str) or _HAS_BIDI_CONTROL.search(value) is None:
        return value
    if isinstance(value, Markup):
        return Markup(str.translate(value, BIDI_CONTROLS))  # noqa: S704 - already safe markup
    return value.translate(BIDI_CONTROLS)


def _register_template_globals(app: Flask) -> None:
    from app.forms import EmptyForm

    app.jinja_env.finalize = without_bidi_controls

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        town = app.config["MUNICIPALITY_NAME" if locale == "ja" else "MUNICIPALITY_NAME_EN"]
        return {
            "csp_nonce": g.get("csp_nonce", ""),
            "current_locale": locale,
            "empty_form": EmptyForm,
            "municipality": town,
        }


def _register_mail_hook(app: Flask) -> None:
    """Embedded mode: deliver queued mail right after the request that queued it committed."""

    @app.after_request
    def _deliver(response: Response) -> Response:
        wanted = g.get("mail_queued") and app.config["MAIL_DELIVER_INLINE"]
        if wanted and response.status_code < 500:
            from app.mail.services import deliver_pending

            try:
                if db.session().in_transaction():
                    db.session.rollback()
                deliver_pending(limit=20)
            except Exception:
                app.logger.exception("inline mail delivery failed")
                db.session.rollback()
        return response


logging.getLogger("werkzeug").setLevel(logging.WARNING)


DATABASE_URL_KEYS = (
    "DATABASE_URL",
    "PII_DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "PII_MIGRATION_DATABASE_URL",
)
DEFAULT_DB_PASSWORDS = frozenset(
    {"postgres", "password", "passw0rd", "sankaku", "changeme", "secret", "admin", "root", "test"}
)


def _unprotected_db_transport(url: str | None) -> bool:
    """True when a PostgreSQL URL would talk over plain or unverified TCP.

    Production must use a Unix socket (no host, or a host that is a directory) or TLS that checks
    the server's certificate and name (`sslmode=verify-full`). `require`/`verify-ca` are refused:
    they encrypt but accept any server presenting some certificate. SQLite URLs are local files.
    """
    if not url:
        return False
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return False
    hosts = [parsed.host or ""]
    query_host = parsed.query.get("host")
    if query_host:
        hosts = [query_host] if isinstance(query_host, str) else list(query_host)
    if all(not host or host.startswith("/") for host in hosts):
        return False  # Unix-domain socket
    return parsed.query.get("sslmode") != "verify-full"


def _default_db_password(url: str | None) -> bool:
    """True when a database URL carries a well-known or empty password, or the user's name.
    A URL without a password (socket peer auth, .pgpass) is fine."""
    if not url:
        return False
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password is None:
        return False
    password = str(parsed.password)
    return (
        not password
        or password.lower() in DEFAULT_DB_PASSWORDS
        or password.lower() == (parsed.username or "").lower()
    )
