"""The resident's side of the JPKI login: fetch the challenge, sign it with the card, post it.

Server protocol (the web login implements exactly this):

* ``GET {URL}/auth/jpki/challenge/{CODE}`` → ``{"challenge_id": str, "nonce": base64,
  "origin": str, "expires_at": ISO-8601}``; an unknown or expired code answers 404/410 with
  ``{"ok": false, "reason": code, "message": text}``.
* ``POST {URL}/auth/jpki/response`` with JSON ``{"challenge_id": str, "certificate": base64
  DER, "signature": base64}`` → ``{"ok": true}`` or ``{"ok": false, "reason": code,
  "message": text}``.

The client refuses a challenge whose origin differs from the scheme, host and port of the URL
the resident gave, and signs `login_message(origin, challenge_id, nonce)` — the client composes
the signed bytes, so a hostile site cannot make the card sign anything else.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from cryptography import x509

from .card import JpkiClient, PyscardTransport, open_jpki_card
from .errors import (
    InsecureUrl,
    LoginAborted,
    NetworkError,
    OriginMismatch,
    PinBlocked,
    ServerRefused,
)
from .login import normalize_code
from .reasons import Text
from .signature import login_message

__all__ = [
    "ChallengeInfo",
    "LoginOutcome",
    "fetch_challenge",
    "login",
    "origin_of",
    "post_response",
    "sanitize",
]

TIMEOUT = 15.0
MIN_NONCE_BYTES = 32
_DEFAULT_PORTS = {"http": 80, "https": 443}

CardOpener = Callable[[str | None], AbstractContextManager[tuple[JpkiClient, PyscardTransport]]]


def sanitize(text: object, limit: int = 200) -> str:
    """Server-supplied text made safe to print on one terminal line."""
    clean = "".join(ch for ch in str(text) if unicodedata.category(ch)[0] != "C" or ch == " ")
    return clean[:limit]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a site URL, lower-cased, default port omitted.

    Raises InsecureUrl for anything but https (http only for this computer), or for URLs with
    credentials, queries or fragments.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InsecureUrl(f"bad URL: {exc}") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        raise InsecureUrl(url)
    if parts.query or parts.fragment:
        raise InsecureUrl(url)
    if scheme == "http" and not _is_loopback(host):
        raise InsecureUrl(url)
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown}:{port}"
    return f"{scheme}://{shown}"


@dataclass(frozen=True, slots=True)
class ChallengeInfo:
    """What ``GET /auth/jpki/challenge/<code>`` returned."""

    challenge_id: str
    nonce: bytes
    origin: str
    expires_at: str


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """A successful login."""

    origin: str
    certificate_serial: str


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:  # deeply nested arrays exhaust the stack
        raise NetworkError(f"HTTP {response.status_code}: not JSON") from exc
    if not isinstance(body, dict):
        raise NetworkError(f"HTTP {response.status_code}: not a JSON object")
    return body


def _refusal(body: dict[str, Any], status: int) -> ServerRefused | NetworkError:
    reason = body.get("reason")
    if isinstance(reason, str) and reason:
        return ServerRefused(sanitize(reason, 64), sanitize(body.get("message", "")))
    return NetworkError(f"HTTP {status}")


def fetch_challenge(session: requests.Session, url: str, code: str) -> ChallengeInfo:
    """GET the challenge for ``code``; raises NetworkError or ServerRefused."""
    target = f"{url.rstrip('/')}/auth/jpki/challenge/{quote(normalize_code(code), safe='')}"
    try:
        response = session.get(target, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise NetworkError(type(exc).__name__) from exc
    body = _json(response)
    if response.status_code != 200:
        raise _refusal(body, response.status_code)
    challenge_id, nonce_b64 = body.get("challenge_id"), body.get("nonce")
    origin, expires_at = body.get("origin"), body.get("expires_at")
    if not (
        isinstance(challenge_id, str)
        and isinstance(nonce_b64, str)
        and isinstance(origin, str)
        and isinstance(expires_at, str)
    ):
        raise NetworkError("challenge JSON lacks challenge_id, nonce, origin or expires_at")
    try:
        nonce = base64.b64decode(nonce_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NetworkError("challenge nonce is not base64") from exc
    if len(nonce) < MIN_NONCE_BYTES or not 0 < len(challenge_id) <= 128:
        raise NetworkError("challenge nonce or id has an implausible size")
    if "\n" in origin or "\n" in challenge_id or "\r" in origin or "\r" in challenge_id:
        raise NetworkError("line break in challenge fields")
    return ChallengeInfo(challenge_id, nonce, origin, expires_at)


def post_response(
    session: requests.Session, url: str, challenge_id: str, certificate: bytes, signature: bytes
) -> None:
    """POST certificate and signature; returns on ``{"ok": true}``, raises otherwise."""
    payload = {
        "challenge_id": challenge_id,
        "certificate": base64.b64encode(certificate).decode("ascii"),
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    try:
        response = session.post(
            f"{url.rstrip('/')}/auth/jpki/response",
            json=payload,
            timeout=TIMEOUT,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise NetworkError(type(exc).__name__) from exc
    body = _json(response)
    if response.status_code == 200 and body.get("ok") is True:
        return
    raise _refusal(body, response.status_code)


def login(
    url: str,
    code: str,
    *,
    get_pin: Callable[[], str],
    confirm: Callable[[str, str], bool],
    warn: Callable[[Text], None],
    reader: str | None = None,
    open_card: CardOpener = open_jpki_card,
    session: requests.Session | None = None,
) -> LoginOutcome:
    """Run the whole card login against ``url`` with the human ``code``.

    ``confirm(origin, code)`` shows the site and code and returns the resident's answer;
    ``get_pin()`` asks the PIN (never echoed); ``warn`` shows a warning such as "1 try left".
    Raises a JpkiClientError subclass for every failure.
    """
    expected = origin_of(url)
    http = session or requests.Session()
    challenge = fetch_challenge(http, url, code)
    if challenge.origin != expected:
        raise OriginMismatch(expected, sanitize(challenge.origin))
    if not confirm(challenge.origin, normalize_code(code)):
        raise LoginAborted()
    with open_card(reader) as (card, _transport):
        certificate = card.read_certificate("auth")
        tries = card.tries_left("auth")
        if tries == 0:
            raise PinBlocked("auth")
        if tries == 1:
            warn(
                Text(
                    "暗証番号の残り回数は1回です。間違えるとロックされ、窓口での解除が必要です。",
                    "Only 1 PIN try left: one more wrong PIN blocks the card (office visit).",
                )
            )
        card.verify_pin(get_pin())
        signature = card.sign_login(
            login_message(challenge.origin, challenge.challenge_id, challenge.nonce)
        )
    post_response(http, url, challenge.challenge_id, certificate, signature)
    try:
        serial = f"{x509.load_der_x509_certificate(certificate).serial_number:X}"
    except ValueError:
        serial = ""
    return LoginOutcome(challenge.origin, serial)
