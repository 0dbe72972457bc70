"""Certificates handed over by a TLS-terminating proxy in a request header.

Accept the header only from configured trusted proxy addresses (the web layer's job); this
module only decodes it. Two encodings are understood: nginx's ``$ssl_client_escaped_cert``
(URL-encoded PEM) and base64 DER.
"""

from __future__ import annotations

import base64
import binascii
import re

from .der import DerError, pem_blocks, require_single_object

__all__ = ["MAX_HEADER_CHARS", "ProxyHeaderError", "certificate_from_proxy_header"]

MAX_HEADER_CHARS = 16 * 1024
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_URLENCODED_PEM_CHARS = re.compile(r"[A-Za-z0-9%+/=\-_.~ ]*")


class ProxyHeaderError(ValueError):
    """The header does not hold exactly one certificate in a known encoding."""


def _percent_decode(value: str) -> bytes:
    # Strict: every % starts a valid escape; urllib's unquote would pass bad ones through.
    if "%" in _PERCENT.sub("", value):
        raise ProxyHeaderError("bad percent escape")
    if not _URLENCODED_PEM_CHARS.fullmatch(value):
        raise ProxyHeaderError("unexpected character in URL-encoded PEM")
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%":
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(ch))
            i += 1
    return bytes(out)


def certificate_from_proxy_header(value: str | None) -> bytes:
    """DER bytes of the one certificate in a proxy header value.

    Raises ProxyHeaderError for an empty or oversized value, a value with several certificates,
    bad escapes or base64, or trailing data. The DER is then verified like any other
    certificate with `verify_certificate`.
    """
    if not value or not isinstance(value, str):
        raise ProxyHeaderError("no certificate")
    if len(value) > MAX_HEADER_CHARS:
        raise ProxyHeaderError("header too large")
    text = value.strip()
    try:
        if text.startswith("-----BEGIN") or text.upper().startswith("%2D%2D%2D%2D%2DBEGIN"):
            pem = _percent_decode(text) if "%" in text else text.encode("ascii")
            if b"-----BEGIN" not in pem:
                raise ProxyHeaderError("not a PEM certificate")
            blocks = pem_blocks(pem, "CERTIFICATE")
            if len(blocks) != 1 or pem.count(b"-----BEGIN") != 1:
                raise ProxyHeaderError("expected exactly one certificate")
            der = blocks[0]
        else:
            der = base64.b64decode(text, validate=True)
        require_single_object(der)
    except (DerError, binascii.Error, UnicodeEncodeError, ValueError) as exc:
        if isinstance(exc, ProxyHeaderError):
            raise
        raise ProxyHeaderError(str(exc)) from exc
    return der
