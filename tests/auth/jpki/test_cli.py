"""``flask jpki …`` commands (verify, make-test-pki, virtual-card) and the card client's
failures that need no card (network, insecure URL)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask

from app import create_app
from app.auth.jpki.card_commands import card_group
from app.auth.jpki.errors import InsecureUrl, NetworkError
from app.auth.jpki.testpki import TestPki


@pytest.fixture
def jpki_app(pki: TestPki, tmp_path: Path) -> Flask:
    return create_app(
        "testing",
        overrides={
            "INSTANCE_DIR": str(tmp_path / "instance"),
            "JPKI_TRUST_DIR": pki.trust_dir,
            "JPKI_CRL_DIR": pki.crl_dir,
            "JPKI_REVOCATION": "fail-closed",
            "JPKI_TEST_MODE": False,
        },
    )


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["jpki", *args])


def test_verify_valid_prints_one_json_object(jpki_app: Flask, pki: TestPki) -> None:
    result = run(jpki_app, "verify", "--cert", pki.path("cards/taro/auth.der"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert list(body) == ["ok", "reason", "subject", "serial", "issuer"]
    assert body["ok"] is True and body["reason"] is None
    assert body["serial"] == pki.manifest["cards"]["taro"]["auth_serial"]
    assert body["subject"].startswith("CN=") and "JPKI-DEVTEST" in body["issuer"]


def test_verify_sign_usage_and_pem(jpki_app: Flask, pki: TestPki, tmp_path: Path) -> None:
    pem = tmp_path / "sign.pem"
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/sign.der"))
    pem.write_bytes(cert.public_bytes(Encoding.PEM))
    assert run(jpki_app, "verify", "--cert", str(pem), "--usage", "sign").exit_code == 0
    login = run(jpki_app, "verify", "--cert", str(pem))
    assert login.exit_code == 1
    assert json.loads(login.stdout)["reason"] == "wrong_purpose"


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("bad/revoked_auth.der", "revoked"),
        ("bad/impostor.der", "untrusted_issuer"),
        ("bad/truncated.der", "malformed"),
        ("bad/expired.der", "expired"),
    ],
)
def test_verify_invalid_exits_1(jpki_app: Flask, pki: TestPki, file: str, reason: str) -> None:
    result = run(jpki_app, "verify", "--cert", pki.path(file))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["reason"] == reason
    assert set(body) == {"ok", "reason", "subject", "serial", "issuer"}


def test_verify_at(jpki_app: Flask, pki: TestPki) -> None:
    g1_end = datetime.fromisoformat(pki.manifest["anchors"]["auth_g1"]["not_after"])
    later = (g1_end + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run(jpki_app, "verify", "--cert", pki.path("cards/g1/auth.der"), "--at", later)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reason"] == "expired"


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--cert", "/nonexistent/cert.der"],
        ["verify", "--cert", "{auth}", "--at", "yesterday"],
        ["verify", "--cert", "{auth}", "--usage", "login"],
        ["verify"],
    ],
)
def test_verify_usage_errors_exit_2(jpki_app: Flask, pki: TestPki, args: list[str]) -> None:
    args = [a.replace("{auth}", pki.path("cards/taro/auth.der")) for a in args]
    result = run(jpki_app, *args)
    assert result.exit_code == 2
    assert result.stdout.strip() == "" or not result.stdout.lstrip().startswith("{")


def test_verify_without_trust_dir_is_a_usage_error(pki: TestPki, tmp_path: Path) -> None:
    app = create_app("testing", overrides={"INSTANCE_DIR": str(tmp_path), "JPKI_TRUST_DIR": None})
    result = run(app, "verify", "--cert", pki.path("cards/taro/auth.der"))
    assert result.exit_code == 2
    assert "JPKI_TRUST_DIR" in result.output


def test_make_test_pki_command(jpki_app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "pki"
    result = run(jpki_app, "make-test-pki", str(target))
    assert result.exit_code == 0, result.output
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["cards"]) == {"taro", "moved", "child", "renewed", "gaiji", "g1", "lost"}
    assert sorted(p.name for p in (target / "trust").iterdir()) == [
        "auth_g1.der",
        "auth_g2.der",
        "sign_g1.der",
        "sign_g2.pem",
    ]
    assert "JPKI_TRUST_PINS=" in result.output
    for rel in manifest["files"]:
        assert (target / rel).is_file(), rel
    assert (target / "cards/taro/auth.key.pem").stat().st_mode & 0o077 == 0


def test_virtual_card_command_refuses_unknown_card(jpki_app: Flask, pki: TestPki) -> None:
    result = run(jpki_app, "virtual-card", "--pki", pki.root, "--card", "nobody", "--port", "1")
    assert result.exit_code == 2
    assert "nobody" in result.output


def test_card_group_is_registered(jpki_app: Flask) -> None:
    result = run(jpki_app, "card", "--help")
    assert result.exit_code == 0
    for command in ("status", "read-cert", "login"):
        assert command in result.output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_login_network_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(card_group, ["login", url, "ABCD-EFGH", "--yes"])
    assert result.exit_code == 5
    assert NetworkError().text.bilingual() in result.output


@pytest.mark.parametrize(
    "url",
    ["http://sankaku.example.jp", "ftp://x.example", "https://user:pw@x.example", "https://x/?a"],
)
def test_login_refuses_insecure_urls(url: str) -> None:
    result = CliRunner().invoke(card_group, ["login", url, "ABCD-EFGH", "--yes"])
    assert result.exit_code == 1
    assert InsecureUrl().text.bilingual() in result.output


def test_sankaku_card_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.auth.jpki.card_cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "sankaku-card" in result.stdout
    for command in ("status", "read-cert", "login"):
        assert command in result.stdout
