"""Fuzzing the parsers that take bytes or JSON from outside (security.md §3, issue #9).

Each property feeds hostile input (random, or a valid object with bytes flipped, cut or
extended) to one parser and accepts only the rejection error that parser defines: ApduError /
CardProtocolError / JpkiCardError for the card, DerError for TLV, MalformedCertificate for
certificates (the verifier then answers "malformed" without raising), CrlError for CRL files,
ValueError for the card's JSON answer, NetworkError / ServerRefused for the server's challenge,
SampleError for the sample-load format. Anything else (IndexError, TypeError, RecursionError …)
fails. Examples are bounded and derandomized, and the deadline catches a hang (it is generous:
a slow machine must not fail it, an endless loop will).
"""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.jpki.apdu import CommandApdu, ResponseApdu
from app.auth.jpki.card import JpkiClient
from app.auth.jpki.certinfo import walk_certificate
from app.auth.jpki.client import fetch_challenge, post_response
from app.auth.jpki.crl import CrlError, index_revoked, load_crl_file
from app.auth.jpki.der import (
    DerError,
    der_total_length,
    pem_blocks,
    read_tlv,
    require_single_object,
)
from app.auth.jpki.errors import (
    ApduError,
    CardProtocolError,
    JpkiCardError,
    NetworkError,
    ServerRefused,
)
from app.auth.jpki.login import decode_login_response
from app.auth.jpki.settings import JpkiSettings
from app.auth.jpki.testpki import TestPki
from app.auth.jpki.trust import TrustStore
from app.auth.jpki.verify import MalformedCertificate, load_certificate, verify_certificate

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Properties that go through the app (a request, the database) take fewer examples.
FUZZ_APP = settings(FUZZ, max_examples=50)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with a few bytes changed, inserted or removed, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut", "length"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif action == "cut":
            del data[pos:]
        else:  # a length byte made huge or indefinite
            data[pos] = draw(st.sampled_from([0x80, 0x84, 0x88, 0xFF, 0x82]))
    return bytes(data)


# --- APDU and TLV ---------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600))
def test_apdu_and_tlv_parsers_raise_only_their_errors(raw: bytes) -> None:
    with contextlib.suppress(ApduError):
        parsed = CommandApdu.parse(raw)
        assert CommandApdu.parse(parsed.to_bytes()) == parsed
    with contextlib.suppress(ApduError):
        response = ResponseApdu.parse(raw)
        assert response.to_bytes() == raw
    with contextlib.suppress(DerError):
        assert der_total_length(raw) >= 2
    with contextlib.suppress(DerError):
        _tag, start, end = read_tlv(raw, 0)
        assert 0 <= start <= end <= len(raw)
    with contextlib.suppress(DerError):
        require_single_object(raw)
    with contextlib.suppress(DerError):
        pem_blocks(b"-----BEGIN CERTIFICATE-----\n" + raw, "CERTIFICATE")


@FUZZ
@given(data=st.data())
def test_der_walkers_on_mutated_certificates_raise_only_der_error(
    pki: TestPki, data: st.DataObject
) -> None:
    raw = data.draw(mutated(pki.read("cards/taro/auth.der")))
    with contextlib.suppress(DerError):
        walk_certificate(raw)
    crl = Path(pki.crl_dir)
    crl_der = next(p for p in sorted(crl.iterdir()) if p.suffix == ".crl").read_bytes()
    if crl_der.lstrip().startswith(b"-----BEGIN"):
        crl_der = pem_blocks(crl_der, "X509 CRL")[0]
    with contextlib.suppress(DerError):
        index_revoked(data.draw(mutated(crl_der)))


# --- the card client's response parsing -----------------------------------------------------


class HostileCard:
    """A transport whose answers come from Hypothesis: any bytes, any status word."""

    def __init__(self, data: st.DataObject, certificate: bytes) -> None:
        self.data = data
        self.certificate = certificate

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        draw = self.data.draw
        ok = draw(st.booleans())
        sw = (0x90, 0x00) if ok else (draw(st.integers(0, 255)), draw(st.integers(0, 255)))
        if apdu[1] == 0xB0 and ok and draw(st.booleans()):
            offset = int.from_bytes(apdu[2:4], "big")
            body = self.certificate[offset : offset + (apdu[4] or 256)]
            return draw(st.sampled_from([body, body[:-1], body + b"\x00", b""])), *sw
        return draw(st.binary(max_size=300)), *sw


@FUZZ
@given(data=st.data())
def test_card_client_raises_only_card_errors(pki: TestPki, data: st.DataObject) -> None:
    certificate = data.draw(mutated(pki.read("cards/taro/auth.der")) | st.just(b"\x30\x82"))
    client = JpkiClient(HostileCard(data, certificate))
    operation = data.draw(
        st.sampled_from(
            [
                lambda: client.ensure_supported(),
                lambda: client.read_certificate("auth"),
                lambda: client.read_certificate("sign"),
                lambda: client.tries_left("auth"),
                lambda: client.verify_pin("1234"),
                lambda: client.sign_login(b"message"),
                lambda: client.token_label(),
            ]
        )
    )
    refusal: JpkiCardError | None = None
    try:
        result = operation()
    except JpkiCardError as exc:
        refusal = exc
    else:
        if isinstance(result, bytes):
            assert len(result) <= 4096
    if refusal is not None:
        assert str(refusal.text)  # every refusal has a message for the resident


def test_a_short_read_is_a_protocol_error(pki: TestPki) -> None:
    """The property's oracle can fail: a card that stops mid-certificate is refused."""

    class Stingy:
        def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
            if apdu[1] == 0xB0:
                return pki.read("cards/taro/auth.der")[:4], 0x90, 0x00
            return b"", 0x90, 0x00

    with pytest.raises(CardProtocolError):
        JpkiClient(Stingy()).read_certificate("auth")


# --- certificate and CRL wrappers -----------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_certificate_wrapper_raises_only_malformed(pki: TestPki, data: st.DataObject) -> None:
    original = pki.read("cards/taro/auth.der")
    raw = data.draw(
        mutated(original)
        | st.binary(max_size=400)
        | mutated(b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(original) + b"-----END")
    )
    with contextlib.suppress(MalformedCertificate):
        load_certificate(raw)
    result = verify_certificate(
        raw, "auth", settings=JpkiSettings(trust_dir=pki.trust_dir, crl_dir=pki.crl_dir)
    )
    if raw != original:
        assert not result.ok or walk_certificate(raw) is not None


@FUZZ
@given(data=st.data())
def test_crl_file_loader_raises_only_crl_or_der_error(
    pki: TestPki, tmp_path: Path, data: st.DataObject
) -> None:
    trust = TrustStore.load(pki.trust_dir, ())
    source = next(p for p in sorted(Path(pki.crl_dir).iterdir()) if p.suffix == ".crl")
    raw = data.draw(mutated(source.read_bytes()) | st.binary(max_size=300))
    path = tmp_path / "fuzzed.crl"  # one file, rewritten by each example
    path.write_bytes(raw)
    with contextlib.suppress(CrlError, DerError):  # its documented refusals
        load_crl_file(str(path), trust)


# --- the challenge JSON: the card's answer to the server, the server's challenge to the card -

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
B64 = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
ANSWER_FIELD = JSON | B64 | st.text(alphabet="AZaz09+/=-_ \n", max_size=40)


@FUZZ
@given(
    body=JSON
    | st.fixed_dictionaries(
        {},
        optional={
            "challenge_id": ANSWER_FIELD,
            "certificate": ANSWER_FIELD,
            "signature": ANSWER_FIELD,
            "extra": JSON,
        },
    )
)
def test_login_answer_parser_raises_only_value_error(body: Any) -> None:
    try:
        challenge_id, certificate, signature = decode_login_response(body)
    except ValueError:
        return
    assert isinstance(challenge_id, str) and 0 < len(challenge_id) <= 128
    assert isinstance(certificate, bytes) and isinstance(signature, bytes)


@FUZZ_APP
@given(
    body=st.binary(max_size=300)
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 100_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
)
def test_the_card_answer_endpoint_refuses_hostile_bodies_without_error(
    client: Any, body: bytes
) -> None:
    response = client.post("/auth/jpki/response", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["reason"] == "malformed"


class CannedSession(requests.Session):
    """A requests session that answers every call with one prepared response."""

    def __init__(self, status: int, content: bytes) -> None:
        super().__init__()
        self.status = status
        self.content = content

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code = self.status
        response._content = self.content
        response.headers["Content-Type"] = "application/json"
        return response


CHALLENGE = st.fixed_dictionaries(
    {},
    optional={
        "challenge_id": ANSWER_FIELD,
        "nonce": ANSWER_FIELD | st.just(base64.b64encode(bytes(32)).decode()),
        "origin": ANSWER_FIELD,
        "expires_at": ANSWER_FIELD,
        "reason": ANSWER_FIELD,
        "message": ANSWER_FIELD,
        "ok": JSON,
    },
)


@FUZZ
@given(
    status=st.sampled_from([200, 400, 403, 404, 429, 500]),
    content=st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | CHALLENGE.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)
def test_card_client_parses_server_answers_into_defined_errors(status: int, content: bytes) -> None:
    session = CannedSession(status, content)
    refusals: list[NetworkError | ServerRefused] = []
    try:
        info = fetch_challenge(session, "https://sankaku.example", "ABCD-EFGH")
    except (NetworkError, ServerRefused) as exc:
        refusals.append(exc)
    else:
        assert len(info.nonce) >= 16 and "\n" not in info.origin
    try:
        post_response(session, "https://sankaku.example", "id", b"cert", b"sig")
    except (NetworkError, ServerRefused) as exc:
        refusals.append(exc)
    assert all(str(refusal.text) for refusal in refusals)


# --- the sample-load format -----------------------------------------------------------------

SAMPLE: dict[str, Any] = {
    "members": [
        {
            "key": "alice",
            "email": "alice@example.jp",
            "password": "alice-password-1",
            "display_name": "長岡 花子",
            "handle": "alice",
            "district": "北町",
            "profile": {"self_intro": {"value": "よろしく", "visibility": "friends"}},
        },
        {
            "key": "bob",
            "email": "bob@example.jp",
            "password": "bob-password-1",
            "display_name": "千代田 太郎",
            "handle": "bob",
        },
    ],
    "friendships": [["alice", "bob"]],
    "blocks": [],
    "diaries": [
        {"key": "d1", "author": "alice", "title": "桜", "body": "きれい", "visibility": "friends"}
    ],
    "comments": [{"key": "c1", "diary": "d1", "author": "bob", "body": "いいですね"}],
}


@st.composite
def sample_documents(draw: st.DrawFn) -> Any:
    """The valid sample with a few values replaced by hostile JSON, keys added or removed."""
    doc = json.loads(json.dumps(SAMPLE))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(doc)))
        entries = doc[section]
        if not isinstance(entries, list) or not entries or draw(st.integers(0, 5)) == 0:
            doc[section] = draw(JSON)
            continue
        i = draw(st.integers(0, len(entries) - 1))
        if isinstance(entries[i], dict):
            field = draw(st.sampled_from([*sorted(entries[i]), "unknown", "created_at", "role"]))
            if draw(st.booleans()):
                entries[i][field] = draw(JSON | st.text(max_size=300))
            else:
                entries[i].pop(field, None)
        else:
            entries[i] = draw(JSON)
    if draw(st.integers(0, 9)) == 0:
        doc = draw(JSON)
    return doc


@FUZZ_APP
@given(doc=sample_documents())
def test_sample_loader_raises_only_sample_error(app: Any, doc: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    from app.extensions import db
    from app.sample.loader import SampleError, load_sample

    paths: dict[str, str] = {}
    try:
        paths = load_sample(doc)
        db.session.flush()
    except (SampleError, IntegrityError):
        pass  # the CLI prints these as a clear refusal and stores nothing
    finally:
        db.session.rollback()
    assert all(isinstance(p, str) and p.startswith("/") for p in paths.values())


def test_the_sample_oracle_accepts_the_valid_document(app: Any) -> None:
    """Without mutations the loader succeeds, so the fuzzed failures are due to the input."""
    from app.extensions import db
    from app.sample.loader import load_sample

    try:
        assert set(load_sample(json.loads(json.dumps(SAMPLE)))) == {"alice", "bob", "d1", "c1"}
    finally:
        db.session.rollback()
