"""JPKI (公的個人認証) for Sankaku: certificate verification with CRLs, the login challenge,
the card client, the emulated card and the test PKI.

The verification core imports no Flask; the CLI lives in `app.auth.jpki.cli` (``jpki_cli``).
"""

from .login import (
    CHALLENGE_TTL,
    Challenge,
    challenge_json,
    decode_login_response,
    new_challenge,
    normalize_code,
    verify_login_response,
)
from .proxy import ProxyHeaderError, certificate_from_proxy_header
from .reasons import REASON_TEXTS, Reason, Text, reason_text
from .san import BasicFacts, SanError, parse_basic_facts
from .settings import JpkiSettings
from .signature import login_message, verify_login_signature
from .verify import (
    VerificationResult,
    clear_store_cache,
    get_stores,
    load_certificate,
    verify_certificate,
)

__all__ = [
    "CHALLENGE_TTL",
    "REASON_TEXTS",
    "BasicFacts",
    "Challenge",
    "JpkiSettings",
    "ProxyHeaderError",
    "Reason",
    "SanError",
    "Text",
    "VerificationResult",
    "certificate_from_proxy_header",
    "challenge_json",
    "clear_store_cache",
    "decode_login_response",
    "get_stores",
    "load_certificate",
    "login_message",
    "new_challenge",
    "normalize_code",
    "parse_basic_facts",
    "reason_text",
    "verify_certificate",
    "verify_login_response",
    "verify_login_signature",
]
