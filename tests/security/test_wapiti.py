"""wapiti against a live server on 127.0.0.1 with the demo town, as a guest and as a member.

Modules xss, sql, exec, crlf, csrf, csp, http_headers, cookieflags, redirect and file, time
bounded so that one run stays under about four minutes (both scans run side by side).
scripts/wapiti_check.py reads the JSON reports and fails on any finding that
wapiti_allowlist.toml does not list with a reason.

SQLite only: the scan looks for injection and header faults in the app's own request handling,
which is the same code on both databases; SQL is built with bound parameters on both (bandit
B608 and the query tests hold that), and a second scan on PostgreSQL would double the time of
the slowest test in the suite for no other code path.

Rate limits are off on the scanned server: they would answer most attack requests with 429 and
hide the pages from the scanner (tests/auth/test_throttling.py tests the limits themselves).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ALLOWLIST = Path(__file__).with_name("wapiti_allowlist.toml")
CHECK = ROOT / "scripts" / "wapiti_check.py"
RUN = ROOT / "scripts" / "wapiti_run.py"
MODULES = "xss,sql,exec,crlf,csrf,csp,http_headers,cookieflags,redirect,file"
MEMBER = ("haruka@midori.example", "midori-demo-2026")
# Forms a crawler must not send as the member: they end the session or destroy the account.
EXCLUDED = (
    "/auth/logout",
    "/*/delete",
    "/auth/sessions/*",
    "/auth/settings/delete",
    "/*/unfriend",
    "/*/block",
    "/blocks/*",
    "/auth/jpki/bindings/*",
    "/monitors/me/leave",
    "/terms/decline",
)

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="the wapiti scan runs on SQLite only")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wapiti_python() -> str:
    """The interpreter with Debian's wapitiCore (installed by scripts/ensure-system.sh test)."""
    wapiti = shutil.which("wapiti")
    if wapiti is None:
        pytest.fail("wapiti is missing: run scripts/ensure-system.sh test")
    first = Path(wapiti).read_text(encoding="utf-8", errors="replace").splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else "/usr/bin/python3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo town served by gunicorn on a free loopback port, with its access log."""
    instance = tmp_path_factory.mktemp("wapiti_instance")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "PII_DATABASE_URL", "APP_", "TEST_DATABASE"))
    }
    env.update(
        FLASK_APP="app:create_app",
        APP_CONFIG="development",
        INSTANCE_DIR=str(instance),
        SERVER_BASE_URL=base,
        RATELIMIT_ENABLED="false",
    )
    for command in (["db", "upgrade"], ["sample", "demo"]):
        subprocess.run(
            [str(BIN / "flask"), *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    access_log = instance / "access.log"
    with (instance / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                *(str(BIN / "gunicorn"), "--workers", "1", "--threads", "4"),
                *("--bind", f"127.0.0.1:{port}", "--access-logfile", str(access_log)),
                *("--control-socket", str(instance / "gunicorn.ctl")),
                *("--logger-class", "app.access_log.RedactingLogger"),
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(60):
            try:
                if requests.get(f"{base}/healthz", timeout=30).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the server did not start: " + (instance / "server.log").read_text())
        yield {"base": base, "dir": str(instance), "access_log": str(access_log)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def member_cookie_file(base: str, path: Path) -> requests.Session:
    """Log the demo member in through the real form and write the cookie in wapiti's format."""
    session = requests.Session()
    page = session.get(f"{base}/auth/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, "no CSRF token on the login form"
    response = session.post(
        f"{base}/auth/login",
        data={"csrf_token": token.group(1), "email": MEMBER[0], "password": MEMBER[1]},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    cookies = {
        cookie.name: {
            "value": cookie.value,
            "expires": None,
            "secure": False,
            "port": None,
            "version": 0,
        }
        for cookie in session.cookies
    }
    path.write_text(json.dumps({"127.0.0.1": {"/": cookies}}), encoding="utf-8")
    return session


def wapiti(base: str, out: Path, work: Path, cookie: Path | None) -> subprocess.Popen[bytes]:
    command = [wapiti_python(), str(RUN), "-u", f"{base}/", "--scope", "folder", "-m", MODULES]
    command += ["--max-scan-time", "80", "--max-attack-time", "10", "-t", "10"]
    command += ["-f", "json", "-o", str(out), "--flush-session", "--no-bugreport", "-v", "1"]
    command += ["--store-session", str(work / "session"), "--store-config", str(work / "config")]
    for pattern in EXCLUDED:
        command += ["-x", f"{base}{pattern}"]
    if cookie is not None:
        command += ["-c", str(cookie)]
    with (work / "wapiti.log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)


def test_wapiti_finds_nothing_beyond_the_allowlist(server: dict[str, str], tmp_path: Path) -> None:
    base = server["base"]
    cookie = tmp_path / "cookies.json"
    member = member_cookie_file(base, cookie)
    scans = {}
    try:
        for name, jar in (("guest", None), ("member", cookie)):
            work = tmp_path / name
            work.mkdir()
            scans[name] = (work / "report.json", wapiti(base, work / "report.json", work, jar))
        for name, (report, proc) in scans.items():
            assert proc.wait(timeout=300) == 0, (tmp_path / name / "wapiti.log").read_text()
            assert report.exists(), f"{name}: no report"
    finally:
        for _report, proc in scans.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # The scans reached the site, and the member's one ran logged in from start to end.
    log = Path(server["access_log"]).read_text(encoding="utf-8")
    # (how far a time-bounded scan gets depends on the machine's load: only check it ran)
    assert log.count('"POST ') > 0 and log.count('"GET ') > 30
    assert re.search(r'"GET /messages HTTP/[0-9.]+" 200', log), "member pages were not scanned"
    assert member.get(f"{base}/messages", timeout=10, allow_redirects=False).status_code == 200
    assert not re.search(r'" 500 ', log), "the scan caused server errors"

    result = subprocess.run(
        [sys.executable, str(CHECK), str(ALLOWLIST)] + [str(r) for r, _ in scans.values()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_fails_on_an_unlisted_finding(tmp_path: Path) -> None:
    listed = {
        "vulnerabilities": {
            "Secure Flag cookie": [
                {
                    "method": "GET",
                    "path": "/",
                    "info": "Secure flag is not set in the cookie : lang",
                }
            ]
        },
        "anomalies": {},
    }
    report = tmp_path / "listed.json"
    report.write_text(json.dumps(listed), encoding="utf-8")
    check = [sys.executable, str(CHECK), str(ALLOWLIST)]
    assert subprocess.run([*check, str(report)], check=False).returncode == 0

    for category, info in (
        ("Cross Site Scripting", "XSS vulnerability found via injection in the parameter q"),
        ("Secure Flag cookie", "Secure flag is not set in the cookie : remember_token"),
    ):
        unlisted = {"vulnerabilities": {category: [{"method": "GET", "path": "/", "info": info}]}}
        report.write_text(json.dumps(unlisted), encoding="utf-8")
        result = subprocess.run([*check, str(report)], capture_output=True, text=True, check=False)
        assert result.returncode == 1 and info in result.stdout
    # The multipart CSRF entry covers upload forms only, never a urlencoded form.
    info = "CSRF token 'csrf_token' is not properly checked in backend"
    for content_type, code in (
        ("multipart/form-data", 0),
        ("application/x-www-form-urlencoded", 1),
    ):
        finding = {"path": "/x", "info": info, "http_request": f"Content-Type: {content_type}"}
        report.write_text(
            json.dumps({"vulnerabilities": {"Cross Site Request Forgery": [finding]}})
        )
        assert (
            subprocess.run([*check, str(report)], capture_output=True, check=False).returncode
            == code
        )
    anomaly = {"anomalies": {"Internal Server Error": [{"path": "/x", "info": "500 on q"}]}}
    report.write_text(json.dumps(anomaly), encoding="utf-8")
    assert subprocess.run([*check, str(report)], capture_output=True, check=False).returncode == 1
