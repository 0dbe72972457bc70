"""Login and mail throttling: per account, per address, path variants, shared across workers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(app_config):
    app_config.update(
        RATELIMIT_ENABLED=True,
        LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
        LOGIN_LIMIT_PER_IP="8 per minute",
        MAIL_LIMIT_PER_IP="2 per minute",
    )
    return app_config


def attempt(client, email, password="wrong password", path="/auth/login"):
    return client.post(path, data={"email": email, "password": password})


def test_per_account_limit_counts_failures_and_says_so(client, user):
    codes = [attempt(client, user.email).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    response = attempt(client, user.email, "correct horse battery staple")
    assert response.status_code == 429  # even the right password waits
    assert "数分待って" in response.get_data(as_text=True)
    # another account from the same address is not locked by this one
    assert attempt(client, "someone@example.jp").status_code == 401


def test_account_key_ignores_case_and_spaces(client, user):
    for variant in (user.email, user.email.upper(), f"  {user.email}  "):
        attempt(client, variant)
    assert attempt(client, user.email).status_code == 429


def test_per_address_limit(client):
    codes = [attempt(client, f"u{i}@example.jp").status_code for i in range(9)]
    assert codes[:8] == [401] * 8
    assert codes[8] == 429


def test_path_variants_share_the_limit(client, user):
    for path in ("/auth/login", "/auth/login?x=1", "/auth/login?next=/"):
        attempt(client, user.email, path=path)
    assert attempt(client, user.email).status_code == 429
    # other spellings are not a way around it: they are not login endpoints at all
    assert attempt(client, user.email, path="/auth/login/").status_code == 404
    assert attempt(client, user.email, path="/AUTH/LOGIN").status_code == 404


def test_successful_logins_do_not_count_against_the_account(client, user):
    for _ in range(5):
        assert attempt(client, user.email, "correct horse battery staple").status_code == 302
        client.post("/auth/logout")


def test_reset_mail_limited_per_address(client, user):
    codes = [client.post("/auth/forgot", data={"email": user.email}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_limits_hold_across_two_gunicorn_workers(app_config, tmp_path, user):
    """A04: with Redis storage, a limit hit on one worker holds on the other."""
    assert redis_available(), "Redis must run on 127.0.0.1:6379 for this test"
    port = free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "APP_CONFIG": "development",
        "INSTANCE_DIR": app_config["INSTANCE_DIR"],
        "DATABASE_URL": app_config["DATABASE_URL"],
        "PII_DATABASE_URL": app_config["PII_DATABASE_URL"],
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "APP_RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "LOGIN_LIMIT_PER_ACCOUNT": "3 per minute",
        "LOGIN_LIMIT_PER_IP": "100 per minute",
        "MAIL_DELIVER_INLINE": "false",
    }
    log_file = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(m)s %(U)s %(s)s",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        http = requests.Session()
        html = http.get(f"{base}/auth/login", timeout=5).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        statuses = []
        for _ in range(40):
            r = http.post(
                f"{base}/auth/login",
                data={"email": user.email, "password": "wrong", "csrf_token": token},
                headers={"Connection": "close"},
                allow_redirects=False,
                timeout=10,
            )
            statuses.append(r.status_code)
            pids = {
                line.split()[0]
                for line in access_log.read_text().splitlines()
                if " POST /auth/login 429" in line
            }
            if len(statuses) > 3 and len(pids) >= 2:
                break
        assert statuses[:3] == [401, 401, 401]
        assert set(statuses[3:]) == {429}
        assert len(pids) >= 2, "both workers must have refused a request"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log_file.close()
