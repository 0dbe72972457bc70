"""A55: the shipped nginx configuration, run in a real nginx on loopback ports.

`deploy/nginx/sankaku.conf` is loaded unchanged except for the listen addresses, the
certificate paths and the upstream port, which point at this test's own files and ports. An echo
application stands in for gunicorn so the test sees exactly what the proxy forwards.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "sankaku.conf"
HOST = "sankaku.example.jp"
ONE_YEAR = 365 * 24 * 3600

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="no database involved: runs once, on SQLite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with the request line and headers it received, plus an HSTS header of its own
    (the real app sends one too; the proxy must not double it)."""
    seen = {
        "method": environ["REQUEST_METHOD"],
        "path": environ.get("PATH_INFO", ""),
        "headers": {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        },
    }
    status = "404 Not Found" if seen["path"] == "/missing" else "200 OK"
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Strict-Transport-Security", "max-age=60"),
        ],
    )
    return [json.dumps(seen).encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def site_for_test(text: str, http_port: int, https_port: int, app_port: int, tmp: Path) -> str:
    """The shipped file with only addresses, ports and certificate paths replaced."""
    cert, key = write_certificate(tmp)
    replacements = [
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{app_port};"),
        (r"listen \[::\]:\d+[^;]*;\n", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        (r"ssl_certificate /\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key /\S+;", f"ssl_certificate_key {key};"),
        (r"access_log /var/log/nginx/sankaku-http\.log ", f"access_log {tmp / 'http.log'} "),
        (r"access_log /var/log/nginx/sankaku\.log ", f"access_log {tmp / 'https.log'} "),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count >= 1, f"the shipped config no longer has {pattern!r}"
    return text


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not nginx:
        pytest.fail("nginx is missing: run scripts/ensure-system.sh test")
    tmp = tmp_path_factory.mktemp("nginx")
    app_server = make_server("127.0.0.1", 0, echo_app, handler_class=QuietHandler)
    threading.Thread(target=app_server.serve_forever, daemon=True).start()
    ports = {"http": free_port(), "https": free_port(), "app": app_server.server_port}
    site = site_for_test(SITE.read_text(), ports["http"], ports["https"], ports["app"], tmp)
    (tmp / "sankaku.conf").write_text(site)
    temp_paths = (
        "\n".join(
            f"  {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi")
        )
        + "\n"
        + "\n".join(f"  {kind}_temp_path {tmp / kind};" for kind in ("uwsgi", "scgi"))
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\n"
        "events { worker_connections 64; }\n"
        f"http {{\n{temp_paths}\n  include {tmp / 'sankaku.conf'};\n}}\n"
    )
    command = [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports["https"]), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("nginx did not start: " + (tmp / "error.log").read_text())
                time.sleep(0.05)
        yield {**ports, "logs": tmp}  # type: ignore[dict-item]
    finally:
        server.terminate()
        server.wait(timeout=10)
        app_server.shutdown()
        app_server.server_close()


def tls_context(
    minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a throwaway certificate; the test is about versions
    # Let the client offer old versions, so that a refusal comes from the server's settings.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if minimum:
        context.minimum_version = minimum
    if maximum:
        context.maximum_version = maximum
    return context


def handshake(port: int, version: ssl.TLSVersion) -> str | None:
    """The negotiated version, or None when the server refused that version."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # asking for TLS 1.0/1.1 on purpose
        context = tls_context(version, version)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=HOST) as tls,
        ):
            return tls.version()
    except (ssl.SSLError, ConnectionResetError):
        return None


class Answer:
    """Status, headers and body of one request; the connection is closed already."""

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        try:
            connection.request(method, path, body=body or None, headers={"Host": HOST, **headers})
            response = connection.getresponse()
            self.status = response.status
            self.headers = response.headers
            self.body = response.read()
        finally:
            connection.close()


def https(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> Answer:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context(), timeout=10)
    return Answer(connection, method, path, headers or {}, body)


def plain(port: int, method: str, path: str) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    return Answer(connection, method, path, {}, b"")


def test_the_shipped_config_allows_only_tls_12_and_13():
    protocols = re.findall(r"^\s*ssl_protocols ([^;]+);", SITE.read_text(), re.MULTILINE)
    assert protocols == ["TLSv1.2 TLSv1.3"]


def test_tls_12_and_13_are_served_and_older_versions_refused(proxy):
    assert handshake(proxy["https"], ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert handshake(proxy["https"], ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(proxy["https"], ssl.TLSVersion.TLSv1_1) is None
    assert handshake(proxy["https"], ssl.TLSVersion.TLSv1) is None


@pytest.mark.parametrize("path", ["/", "/missing"])
def test_one_hsts_header_of_a_year_with_subdomains_on_every_answer(proxy, path):
    response = https(proxy["https"], "GET", path)
    assert response.status == (404 if path == "/missing" else 200)
    values = response.headers.get_all("Strict-Transport-Security") or []
    assert len(values) == 1, values
    max_age = int(re.search(r"max-age=(\d+)", values[0]).group(1))  # type: ignore[union-attr]
    assert max_age >= ONE_YEAR
    assert "includesubdomains" in values[0].lower()


def test_forwarded_headers_are_the_proxys_own(proxy):
    response = https(
        proxy["https"],
        "GET",
        "/",
        headers={"X-Forwarded-For": "203.0.113.9", "X-SSL-Client-Cert": "forged"},
    )
    seen = json.loads(response.body)
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert "X-Ssl-Client-Cert" not in seen["headers"]


def test_bodies_over_the_apps_limit_are_refused_at_the_proxy(proxy):
    response = https(proxy["https"], "POST", "/upload", body=b"x" * (11 * 1024 * 1024))
    assert response.status == 413


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_browser_pages_redirect_from_http_to_https(proxy, method):
    response = plain(proxy["http"], method, "/communities/3?page=2")
    assert response.status == 301
    assert response.headers["Location"] == f"https://{HOST}/communities/3?page=2"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/login"),
        ("POST", "/diary/new"),
        ("GET", "/auth/jpki/challenge/ABCD-1234"),
        ("POST", "/auth/jpki/response"),
        ("GET", "/auth/jpki/poll"),
        ("GET", "/healthz"),
    ],
)
def test_forms_and_machine_endpoints_are_refused_over_http_not_redirected(proxy, method, path):
    response = plain(proxy["http"], method, path)
    assert response.status == 403
    assert "Location" not in response.headers
    assert b"HTTPS is required" in response.body


def test_access_logs_keep_no_query_strings_or_referrers(proxy):
    secret = "tok3n-b1u3-s3cr3t"
    https(
        proxy["https"],
        "GET",
        f"/auth/reset/{secret[:4]}?token={secret}",
        headers={"Referer": f"https://{HOST}/x?token={secret}"},
    )
    plain(proxy["http"], "GET", f"/search?q={secret}")
    # nginx writes the log line after it has sent the response, so the client
    # can be back before the line is there (and other tests of this module
    # have already written to both logs): wait for these two lines.
    expected = ('"GET /search"', '"GET /auth/reset/tok3"')
    deadline = time.monotonic() + 10
    logs = proxy["logs"]
    joined = ""
    while time.monotonic() < deadline:
        joined = "".join(
            (logs / name).read_text()
            for name in ("http.log", "https.log")
            if (logs / name).exists()
        )
        if all(line in joined for line in expected):
            break
        time.sleep(0.05)
    assert all(line in joined for line in expected), f"nginx logged no such lines: {joined!r}"
    assert secret not in joined
