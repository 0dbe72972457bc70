"""The production build (security.md A60): no test routes, debug toolbar, `.git` or internal docs.

The production artefact is the wheel `make dist` builds (scripts/build-wheel.py). It holds the
`app` package with its templates, static files, data and compiled catalogues (.mo; the .po
sources are build inputs and stay out), `config` and the Alembic migrations, and nothing else:
no tests, bench, docs, scripts or repository files. The wheel is built once here and unpacked,
and the app is built from the unpacked files alone under the production config, as the whole
app and as the public server (tests/security/production_probe.py): the packaged migrations
build the schema, the packaged templates and catalogues render the Japanese login page, and the
URL map holds no test or debug route, Flask's debug mode is off and neither the Werkzeug
debugger nor a debug toolbar is imported.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-wheel.py"
PROBE = Path(__file__).with_name("production_probe.py")

# The wheel's top level: everything else (tests/, bench/, docs/, scripts/, .git, conftest.py,
# README, the Makefile) is refused, and named again below so a loosened allowlist still fails.
TOP_LEVEL = re.compile(r"^(app|migrations)/|^config\.py$|^sankaku-[^/]+\.dist-info/")
REFUSED_PARTS = {"tests", "bench", "docs", "scripts", ".git", "node_modules", "instance"}
REFUSED_NAME = re.compile(r"^(conftest\.py|test_.*\.py|.*_test\.py|.*\.po|.*\.pot|\.git.*)$")
# A route whose rule or endpoint has one of these words as a segment is a test or debug route.
DEBUG_WORD = re.compile(
    r"(^|[/._<-])_*(test|tests|testing|debug|debugger|console|profiler|toolbar|dev)(_*)([/._>-]|$)",
    re.IGNORECASE,
)
DEBUG_MODULES = ("flask_debugtoolbar", "werkzeug.debug", "debugpy", "pydevd")


def refused_members(names: list[str]) -> list[str]:
    """The wheel members that have no place in the production build."""
    bad = []
    for name in names:
        parts = name.split("/")
        if (
            not TOP_LEVEL.match(name)
            or REFUSED_PARTS.intersection(parts)
            or REFUSED_NAME.match(parts[-1])
        ):
            bad.append(name)
    return bad


def debug_routes(rules: list[list[str]]) -> list[str]:
    """Routes whose rule or endpoint looks like a test or debug route."""
    return [
        f"{rule} ({endpoint})"
        for rule, endpoint in rules
        if DEBUG_WORD.search(rule) or DEBUG_WORD.search(endpoint)
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, str(BUILD), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def probe(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    unpacked = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    instance = tmp_path_factory.mktemp("instance")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APP_", "TEST_", "FLASK_")) and key not in {"PYTHONPATH"}
    }
    env.update(
        PYTHONPATH=str(unpacked),
        APP_CONFIG="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        INSTANCE_DIR=str(instance),
        DATABASE_URL=f"sqlite:///{instance / 'main.db'}",
        PII_DATABASE_URL=f"sqlite:///{instance / 'pii.db'}",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",  # required; never contacted:
        APP_RATELIMIT_ENABLED="false",  # the limits are not what this test is about
        MAIL_OUTBOX_DIR=str(instance / "outbox"),
    )
    done = subprocess.run(
        [sys.executable, str(PROBE)],
        cwd=instance,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(report["app_file"]).is_relative_to(unpacked), "the probe must use the wheel"
    report["unpacked"] = unpacked
    return report


def test_wheel_holds_only_the_app_config_and_migrations(members):
    assert members
    assert refused_members(members) == []
    assert any(name.startswith("app/templates/") for name in members)
    assert any(name.startswith("app/static/") for name in members)
    assert "migrations/env.py" in members and "migrations/alembic.ini" in members


def test_wheel_carries_a_compiled_catalogue_for_every_translation(members):
    sources = sorted(ROOT.glob("app/**/translations/*/LC_MESSAGES/messages.po"))
    assert sources
    for po in sources:
        mo = po.with_suffix(".mo").relative_to(ROOT).as_posix()
        assert mo in members, f"{mo} is missing: run `make translations` before `make dist`"


def test_wheel_carries_every_migration(members):
    revisions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    packaged = {
        name.rsplit("/", 1)[1] for name in members if name.startswith("migrations/versions/")
    }
    assert revisions and revisions <= packaged


def test_production_app_from_the_wheel_works(probe):
    """Migrations, templates and catalogues are found in the installed package, not the tree."""
    for role, seen in probe["roles"].items():
        assert Path(seen["migrations"]).is_relative_to(probe["unpacked"]), role
        assert seen["healthz"] == 200, role
        assert seen["login"] == [200, True], role
    revisions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert revisions <= set(probe["versions"])


def test_production_app_has_no_test_or_debug_route_and_no_debugger(probe):
    for role, seen in probe["roles"].items():
        assert seen["rules"], role
        assert debug_routes(seen["rules"]) == [], role
        assert seen["debug"] is False and seen["testing"] is False, role
    loaded = [m for m in probe["modules"] if m.startswith(DEBUG_MODULES)]
    assert loaded == [], "debug tooling imported by the production app"


def test_no_debug_toolbar_in_the_dependencies():
    text = (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8").lower()
    assert "debugtoolbar" not in text and "debug-toolbar" not in text
    assert "debugtoolbar" not in (ROOT / "pyproject.toml").read_text(encoding="utf-8").lower()


def test_the_oracles_can_fail():
    """Each kind of unwanted member or route is caught; the production ones pass."""
    assert refused_members(["app/__init__.py", "config.py", "migrations/env.py"]) == []
    unwanted = [
        "tests/test_app.py",
        "app/tests/test_x.py",
        "bench/soak.py",
        "docs/operations.md",
        "app/docs/security.md",
        ".git/config",
        "app/.gitignore",
        "conftest.py",
        "app/conftest.py",
        "scripts/run-tests.sh",
        "app/translations/ja/LC_MESSAGES/messages.po",
        "README.md",
        "Makefile",
    ]
    assert refused_members(unwanted) == unwanted
    routes = [
        ["/_test/login", "testing.login"],
        ["/debug/sql", "debug.sql"],
        ["/__debugger__", "static"],
        ["/console", "console"],
        ["/admin/reset", "dev_tools.reset"],
    ]
    assert len(debug_routes(routes)) == len(routes)
    fine = [["/healthz", "healthz"], ["/staff/surveys/<key>/preview", "survey_admin.preview"]]
    fine += [["/moderation/content/<kind>/<int:object_id>/<action>", "moderation.act"]]
    fine += [["/devices", "auth.devices"], ["/latest", "sns.latest"]]
    assert debug_routes(fine) == []
