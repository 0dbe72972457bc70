"""Checks of security.md that no other test proved (docs/security-checks.md cites each one)."""

from __future__ import annotations

import ast
import inspect
import json
import logging
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.debug import DebuggedApplication

from app import ConfigError, create_app
from app.auth.models import User
from app.extensions import db
from tests.auth.test_accounts import link_from

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
FOREIGN = "https://evil.example"


# --- A01: password rules -------------------------------------------------------------------------


def change_password(client, new: str):
    return client.post(
        "/auth/settings/password",
        data={"current_password": PASSWORD, "password": new, "password_confirm": new},
    )


def test_password_length_unicode_and_paste(client, login_as, user):
    login_as(user)
    page = client.get("/auth/settings/password").get_data(as_text=True)
    fields = re.findall(
        r"<input[^>]*name=\"(?:current_password|password|password_confirm)\"[^>]*>", page
    )
    assert len(fields) == 3
    for field in fields:
        assert 'type="password"' in field
        assert "onpaste" not in field and 'autocomplete="off"' not in field
    assert "onpaste" not in page.lower()

    short = change_password(client, "seven!!")
    assert short.status_code == 200
    assert "8 文字以上で入力してください。" in short.get_data(as_text=True)

    # 8 characters of any kind, no composition rules: all lower-case letters will do
    assert change_password(client, "abcdefgh").status_code == 302
    client.post("/auth/logout")

    # 64 and more characters, full-width and kana included, accepted exactly as typed
    long = "ながおか　市民の　パスワード" * 5 + "ＡＢＣ"
    assert len(long) >= 64
    login_as(user, password="abcdefgh")
    response = client.post(
        "/auth/settings/password",
        data={"current_password": "abcdefgh", "password": long, "password_confirm": long},
    )
    assert response.status_code == 302
    client.post("/auth/logout")
    wrong = client.post("/auth/login", data={"email": user.email, "password": long[:-1]})
    assert wrong.status_code == 401
    right = client.post("/auth/login", data={"email": user.email, "password": long})
    assert right.status_code == 302


# --- A06, A40, R09: one-time mail links ----------------------------------------------------------


def test_mail_link_tokens_carry_128_bits(client, login_as, user, outbox):
    client.post("/auth/forgot", data={"email": user.email})
    login_as(user)
    client.post("/auth/settings/email", data={"email": "new@example.jp", "password": PASSWORD})
    links = [link_from(m.body) for m in outbox() if m.kind in ("reset_password", "change_email")]
    assert len(links) == 2
    for link in links:
        token = link.rstrip("/").rsplit("/", 1)[-1]
        # URL-safe base64 from `secrets`: 22 characters hold 128 bits
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token), link


def test_get_on_one_time_links_uses_nothing(client, login_as, user, outbox):
    """A mail scanner following the links (GET, twice) leaves them usable (R09)."""
    login_as(user)
    client.post("/auth/settings/email", data={"email": "new@example.jp", "password": PASSWORD})
    change = link_from(next(m for m in outbox() if m.kind == "change_email").body)
    client.post("/auth/logout")
    client.post("/auth/forgot", data={"email": user.email})
    reset = link_from(next(m for m in outbox() if m.kind == "reset_password").body)

    scanner = client.application.test_client()
    for path in (change, reset, change, reset):
        assert scanner.get(path).status_code == 200
    db.session.rollback()
    assert db.session.get(User, user.id).email == user.email

    new = "a brand new secret"
    done = client.post(reset, data={"password": new, "password_confirm": new})
    assert done.status_code == 302
    assert client.post(change).status_code == 302
    db.session.rollback()
    assert db.session.get(User, user.id).email == "new@example.jp"


# --- A14: authentication events are logged ------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def captured_app_log(app: Flask) -> Iterator[Capture]:
    capture = Capture()
    previous = app.logger.level
    app.logger.addHandler(capture)
    app.logger.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        app.logger.removeHandler(capture)
        app.logger.setLevel(previous)


def test_auth_events_are_logged_with_method_and_outcome(app, client, user, outbox):
    new = "a brand new secret"
    with captured_app_log(app) as capture:
        client.post("/auth/login", data={"email": user.email, "password": "wrong password"})
        client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
        client.post("/auth/logout")
        client.post("/auth/forgot", data={"email": user.email})
        reset = link_from(next(m for m in outbox() if m.kind == "reset_password").body)
        done = client.post(reset, data={"password": new, "password_confirm": new})
        assert done.status_code == 302
    auth = [m for m in capture.messages if m.startswith(("login", "logout", "password"))]
    assert auth == [
        "login failed method=password",
        f"login ok user={user.id} method=password",
        f"logout user={user.id}",
        f"password reset user={user.id} method=mail_link",
    ]
    assert not any(s in m for m in capture.messages for s in (PASSWORD, "wrong password", new))


# --- A19, A42, A55: production settings -----------------------------------------------------------


@pytest.fixture
def production(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@/x?host=/run/postgresql")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")
    monkeypatch.setenv("APP_ROLE", "public")
    return create_app("production")


def test_production_has_no_debugger_and_sends_hsts(production):
    assert production.debug is False
    assert production.config["DEBUG"] is False
    assert not production.config.get("PROPAGATE_EXCEPTIONS")
    client = production.test_client()
    with client.get("/static/css/site.css") as response:
        assert response.status_code == 200
        hsts = response.headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 365 * 24 * 3600
    assert "includeSubDomains" in hsts
    # the Werkzeug debugger is neither wrapped around the app nor routed
    assert not isinstance(production.wsgi_app, DebuggedApplication)
    assert not [r.rule for r in production.url_map.iter_rules() if "console" in r.rule]


def test_production_session_cookie_is_host_prefixed_and_secure(production, request, app_config):
    assert production.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production.config["SESSION_COOKIE_SECURE"] is True
    # The same cookie settings on a test database: the cookie the browser gets.
    app_config.update(
        SESSION_COOKIE_NAME=production.config["SESSION_COOKIE_NAME"],
        SESSION_COOKIE_SECURE=True,
    )
    app = request.getfixturevalue("app")
    user = request.getfixturevalue("user")
    response = app.test_client().post(
        "/auth/login", data={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    header = response.headers["Set-Cookie"]
    assert header.startswith("__Host-")
    assert "; Secure" in header and "; HttpOnly" in header and "Path=/" in header
    assert "Domain=" not in header


# --- A31, A52: templates and static files ---------------------------------------------------------

# Every place that turns a string into Markup, each reviewed (count of `Markup(` calls).
MARKUP_ALLOWED = {
    "app/sns/text.py": 1,  # nh3 output, the one sanitiser
    "app/search/analyzer.py": 1,  # escaped pieces and literal <mark>
    "app/survey/charts.py": 1,  # SVG built from escaped labels and numbers
    "app/__init__.py": 1,  # strips bidi controls from what is already Markup
}
UNSAFE_TEMPLATE = re.compile(r"\|\s*safe\b|autoescape\s+false|\|\s*tojson\s*\|\s*safe")


def markup_calls() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        count = len(re.findall(r"\bMarkup\(", path.read_text(encoding="utf-8")))
        if count:
            found[str(path.relative_to(ROOT))] = count
    return found


def unsafe_templates() -> list[str]:
    return [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "app").rglob("*.html"))
        if UNSAFE_TEMPLATE.search(path.read_text(encoding="utf-8"))
    ]


def test_markup_only_from_reviewed_places(app):
    assert markup_calls() == MARKUP_ALLOWED
    assert unsafe_templates() == []
    assert app.jinja_env.autoescape("page.html") is True
    assert UNSAFE_TEMPLATE.search("{{ body|safe }}") and UNSAFE_TEMPLATE.search("{{ x | safe }}")


FOREIGN_LOAD = re.compile(
    r"<(?:script|img|iframe|audio|video|source|embed|object)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
    r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//"
    r"|url\(\s*[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


def test_templates_load_nothing_from_other_origins():
    files = [
        *(ROOT / "app").rglob("*.html"),
        *(ROOT / "app" / "static").rglob("*.css"),
        *(ROOT / "app" / "static").rglob("*.js"),
    ]
    assert len(files) > 20
    offenders = [
        str(p.relative_to(ROOT)) for p in files if FOREIGN_LOAD.search(p.read_text("utf-8"))
    ]
    assert offenders == []
    for hostile in (
        '<script src="https://cdn.example/x.js">',
        "<link rel=stylesheet href=//fonts.example/css>",
        "@font-face { src: url('https://fonts.example/a.woff2') }",
    ):
        assert FOREIGN_LOAD.search(hostile), hostile
    assert not FOREIGN_LOAD.search('<a href="https://www.city.example.jp/">市のサイト</a>')


# --- A57: the proxy -------------------------------------------------------------------------------


def test_gunicorn_is_at_least_23():
    assert int(version("gunicorn").split(".")[0]) >= 23
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    assert "gunicorn>=23" in deps


@pytest.mark.parametrize("hops", [0, 1])
def test_spoofed_forwarded_for_does_not_escape_the_address_limit(request, app_config, hops):
    """A client writing its own X-Forwarded-For keeps its own rate-limit key, with or without a
    trusted proxy in front (which appends the real address last)."""
    app_config.update(
        RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_IP="8 per minute", PROXY_FIX_HOPS=hops
    )
    client = request.getfixturevalue("client")
    codes = []
    for i in range(9):
        spoofed = f"203.0.113.{i}"
        forwarded = spoofed if hops == 0 else f"{spoofed}, 198.51.100.7"
        response = client.post(
            "/auth/login",
            data={"email": f"u{i}@example.jp", "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded},
        )
        codes.append(response.status_code)
    assert codes[:8] == [401] * 8
    assert codes[8] == 429


# --- A71: no CORS ---------------------------------------------------------------------------------


def test_no_cors_headers_for_a_foreign_origin(client, login_as, user):
    login_as(user)
    for method, path in [
        ("GET", "/"),
        ("GET", "/auth/settings"),
        ("GET", "/healthz"),
        ("OPTIONS", "/auth/login"),
        ("OPTIONS", "/"),
    ]:
        response = client.open(
            path,
            method=method,
            headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
        )
        cors = [k for k, _ in response.headers.items() if k.lower().startswith("access-control-")]
        assert cors == [], (method, path, cors)


# --- A64, R17: anti-automation limits ------------------------------------------------------------

LIMITED = [
    ("SNS_POST_LIMIT", "/diary/new"),
    ("SNS_POST_LIMIT", "/diary/999999/comments"),
    ("SNS_FRIEND_REQUEST_LIMIT", "/members/bob/friend-request"),
    ("SNS_MESSAGE_LIMIT", "/messages/with/bob"),
    ("SNS_REPORT_LIMIT", "/report/diary/999999"),
    ("COMMUNITY_POST_LIMIT", "/communities/new"),
    ("COMMUNITY_POST_LIMIT", "/topics/999999/reply"),
    ("JPKI_LIMIT", "/auth/jpki/start"),
    ("MAIL_LIMIT_PER_IP", "/auth/settings/email"),  # confirmation mail to a new address
    ("MAIL_LIMIT_PER_IP", "/auth/forgot"),
    ("SURVEY_START_LIMIT", "/monitors/surveys/nosuch/start"),
]


@pytest.mark.parametrize(("setting", "path"), LIMITED)
def test_each_automatable_action_has_its_limit(request, app_config, setting, path):
    app_config.update({"RATELIMIT_ENABLED": True, setting: "2 per minute"})
    client = request.getfixturevalue("client")
    user = request.getfixturevalue("user")
    request.getfixturevalue("other_user")  # "bob"
    request.getfixturevalue("login_as")(user)
    codes = [client.post(path, data={}).status_code for _ in range(3)]
    assert 429 not in codes[:2], codes
    assert codes[2] == 429, codes


# --- A07: the endpoints that create sessions are the documented pathways -------------------------


def session_creators() -> set[tuple[str, str]]:
    """(module, function) of every function in app/ that reaches flask_login.login_user,
    following calls to local functions and to names imported with `from … import …`."""
    calls: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for path in (ROOT / "app").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = parts[:-1]  # a module's package; for __init__.py, the package itself
        module = ".".join(parts[:-1] if path.name == "__init__.py" else parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported: dict[str, tuple[str, str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package[: len(package) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    imported[alias.asname or alias.name] = (base, alias.name)
        local = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                callees = {
                    (module, c.func.id) if c.func.id in local else imported.get(c.func.id, ("", ""))
                    for c in ast.walk(node)
                    if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                }
                calls[(module, node.name)] = callees
    creators = {("flask_login", "login_user")}
    while new := {f for f, callees in calls.items() if f not in creators and callees & creators}:
        creators |= new
    return creators


def documented_pathways() -> set[str]:
    text = (ROOT / "docs" / "security-checks.md").read_text(encoding="utf-8")
    section = text.split("## Authentication pathways", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([\w.]+)`:", section, re.MULTILINE))


def test_session_creating_endpoints_are_the_documented_pathways(app):
    creators = session_creators()
    assert ("app.auth.views", "start_session") in creators  # the oracle follows helpers
    found = set()
    for endpoint, view in app.view_functions.items():
        inner = inspect.unwrap(view)
        if (inner.__module__, inner.__name__) in creators:
            found.add(endpoint)
    assert found == documented_pathways()


# --- A45: denials, CSRF failures and rate-limit hits are logged ----------------------------------


def test_denials_and_rate_limit_hits_are_logged(request, app_config):
    app_config.update(RATELIMIT_ENABLED=True, SNS_REPORT_LIMIT="1 per minute")
    app = request.getfixturevalue("app")
    make = request.getfixturevalue("make")
    user = request.getfixturevalue("user")
    other = request.getfixturevalue("other_user")
    client = request.getfixturevalue("login_as")(other)
    entry = make.diary(user, visibility="private")
    with captured_app_log(app) as capture:
        hidden = client.get(f"/diary/{entry.id}")
        missing = client.get("/diary/999999")
        codes = [client.post("/report/diary/999999", data={}).status_code for _ in range(2)]
    assert hidden.status_code == missing.status_code == 404
    assert codes[1] == 429
    denied = [m for m in capture.messages if m.startswith("denied ")]
    # the 404 of a hidden diary names its reason; a missing id is not a denial
    assert denied == [f"denied Diary id={entry.id} viewer={other.id} reason=not_visible"]
    assert "rate limit hit path=/report/diary/999999" in capture.messages


def test_csrf_failures_are_logged(request, app_config):
    app_config.update(WTF_CSRF_ENABLED=True)
    app = request.getfixturevalue("app")
    with captured_app_log(app) as capture:
        response = app.test_client().post("/auth/login", data={"email": "a@example.jp"})
    assert response.status_code == 400
    assert capture.messages == ["csrf failure path=/auth/login"]


# --- A05: no default accounts ---------------------------------------------------------------------


def test_a_new_database_has_no_accounts(app):
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_the_demo_town_is_refused_in_production(production):
    result = production.test_cli_runner().invoke(args=["sample", "demo"])
    assert result.exit_code == 1
    assert "not built in production" in result.output


# --- A59: the release SBOM ------------------------------------------------------------------------


def test_sbom_lists_every_runtime_dependency(tmp_path):
    """`make sbom` runs this command: CycloneDX JSON naming the project and, with its version
    and package URL, every runtime dependency of pyproject.toml."""
    pytest.importorskip("cyclonedx_py", reason="cyclonedx-bom is a test dependency")
    out = tmp_path / "sbom.cdx.json"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "cyclonedx-py environment --pyproject pyproject.toml --of JSON" in makefile
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("cyclonedx-py")),
            "environment",
            "--pyproject",
            "pyproject.toml",
            "--of",
            "JSON",
            "-o",
            str(out),
            sys.executable,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    bom = json.loads(out.read_text(encoding="utf-8"))
    assert bom["bomFormat"] == "CycloneDX"
    assert tuple(map(int, bom["specVersion"].split("."))) >= (1, 5)
    assert bom["metadata"]["component"]["name"] == "sankaku"

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    listed = {norm(c["name"]): c for c in bom["components"]}
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    for requirement in deps:
        name = norm(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0])
        assert name in listed, f"{name} missing from the SBOM"
        assert listed[name]["version"]
        assert listed[name]["purl"].startswith(f"pkg:pypi/{name}@")


# --- A75: no default database password in production ---------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sankaku:postgres@db.example/sankaku",
        "postgresql://sankaku:sankaku@db.example/sankaku",
        "postgresql://app:ChangeMe@db.example/sankaku",
        "postgresql://app:@db.example/sankaku",
    ],
)
def test_production_refuses_a_default_database_password(monkeypatch, tmp_path, url):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    overrides = {
        "SECRET_KEY": "k" * 48,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "APP_ROLE": "public",
        "DATABASE_URL": url,
    }
    with pytest.raises(ConfigError, match="DATABASE_URL uses a default password"):
        create_app("production", overrides=overrides)
    # a random password, or none at all (peer authentication), starts
    overrides["DATABASE_URL"] = (
        "postgresql://app:Xk3-vq9ZpR2mWt@db.example/sankaku?sslmode=verify-full"
    )
    assert create_app("production", overrides=overrides).config["ENV_NAME"] == "production"


# --- A19: SameSite=Strict for admins --------------------------------------------------------------


def test_admin_cookie_is_samesite_strict_and_members_lax(client, user, admin):
    member = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert "SameSite=Lax" in member.headers["Set-Cookie"]
    client.post("/auth/logout")
    boss = client.post("/auth/login", data={"email": admin.email, "password": PASSWORD})
    assert boss.status_code == 302
    assert "SameSite=Strict" in boss.headers["Set-Cookie"]
    logout = client.post("/auth/logout")
    assert "SameSite=Lax" in logout.headers["Set-Cookie"]  # the anonymous session after it
