"""Signing-certificate proofs on the web: a monitor whose card was renewed links the new card
by uploading a proof signed with the card's signing certificate (issue: certificate renewal)."""

from __future__ import annotations

import base64
import io
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import select

from app.auth.jpki.errors import WrongPin
from app.auth.jpki.testpki import TestPki, make_test_pki
from app.db import utcnow
from app.extensions import db
from app.privacy import proofs
from app.privacy.models import AuditEntry, InboxEnvelope
from app.survey import identity, services

PASSWORD = "ABC123"


@pytest.fixture(scope="session")
def proof_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(str(tmp_path_factory.mktemp("proof-pki")))


@pytest.fixture
def jpki_app(app_config: dict[str, Any], proof_pki: TestPki) -> dict[str, Any]:
    """Trust the test PKI in this test's app (before `app` is created)."""
    from app.auth.jpki.verify import clear_store_cache

    clear_store_cache()
    app_config.update(
        JPKI_TRUST_DIR=proof_pki.trust_dir, JPKI_CRL_DIR=proof_pki.crl_dir, JPKI_TEST_MODE=True
    )
    return app_config


class FakeCard:
    """A card client over the test PKI's files: the signing password, certificate and key."""

    def __init__(self, pki: TestPki, card: str) -> None:
        self.dir = Path(pki.card_dir(card))
        self.unlocked = False

    def verify_password(self, password: str) -> None:
        if password.upper() != PASSWORD:
            raise WrongPin(4, "sign")
        self.unlocked = True

    def read_certificate(self, kind: Any = "auth") -> bytes:
        assert kind == "sign" and self.unlocked
        return (self.dir / "sign.der").read_bytes()

    def sign_digest_info(self, digest_info: bytes, kind: Any = "auth") -> bytes:
        assert kind == "sign" and self.unlocked
        key = load_pem_private_key((self.dir / "sign.key.pem").read_bytes(), None)
        return key.sign(  # type: ignore[union-attr]
            digest_info[-32:], padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )


def _auth(pki: TestPki, card: str) -> services.CertIdentity:
    return services.certificate_identity(Path(pki.card_dir(card), "auth.der").read_bytes())


def _registration_proof(pki: TestPki, card: str, email: str) -> dict[str, str]:
    message = services.signing_message("registration", {"email": email, "project": "default"})
    return proofs.sign_with_card(FakeCard(pki, card), PASSWORD, message)


def _verified_monitor(make: Any, pki: TestPki, old: services.CertIdentity) -> Any:
    data = services.validate_fields({**make.MONITOR, "email": "taro@example.jp"})
    monitor = services.file_registration(
        services.registration_payload(
            data,
            services.expand_consents("all"),
            certificate=old,
            signing_proof=_registration_proof(pki, "taro", "taro@example.jp"),
        ),
        actor="test",
    )
    db.session.commit()
    return monitor


def _card_session(client: Any, cert: services.CertIdentity) -> None:
    """The browser logged in with `cert` by JPKI (as the card login records it)."""
    with client.session_transaction() as sess:
        sess[identity.SESSION_CERT] = cert.as_json()
        sess[identity.SESSION_AT] = utcnow().isoformat()


def _upload(client: Any, body: bytes) -> Any:
    return client.post(
        "/proofs/renew",
        data={"proof": (io.BytesIO(body), "proof.json")},
        content_type="multipart/form-data",
    )


def test_a_renewed_card_is_linked_with_a_signing_proof(jpki_app, app, client, make, proof_pki):
    old = _auth(proof_pki, "taro")
    monitor = _verified_monitor(make, proof_pki, old)
    new = _auth(proof_pki, "moved")  # stands in for the renewed card's certificate
    _card_session(client, new)
    page = client.get("/proofs/renew")
    assert page.status_code == 200
    message_b64 = base64.b64encode(proofs.renewal_message(new)).decode()
    assert message_b64 in page.get_data(as_text=True)
    proof = proofs.sign_with_card(
        FakeCard(proof_pki, "taro"), PASSWORD, base64.b64decode(message_b64)
    )
    response = _upload(client, json.dumps(proof).encode())
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/proofs/renewed?filed=1")
    db.session.rollback()
    bound = services.monitor_for_certificate(new.anchor, new.serial, new.spki_sha256)
    assert bound is not None and bound.id == monitor.id
    assert services.monitor_for_certificate(old.anchor, old.serial, old.spki_sha256) is None
    reasons = list(db.session.execute(select(AuditEntry.reason)).scalars())
    assert "certificate renewal with a signing-certificate proof" in reasons
    # The browser is now this monitor's session.
    assert client.get("/monitors/me").status_code == 200


def test_a_proof_for_another_certificate_is_refused_and_nothing_sealed(
    jpki_app, app, client, make, proof_pki
):
    old = _auth(proof_pki, "taro")
    _verified_monitor(make, proof_pki, old)
    new = _auth(proof_pki, "moved")
    _card_session(client, new)
    stale = proofs.sign_with_card(  # signed for a different certificate than this login's
        FakeCard(proof_pki, "taro"), PASSWORD, proofs.renewal_message(old)
    )
    response = _upload(client, json.dumps(stale).encode())
    assert response.status_code == 422
    assert "署名用電子証明書" in response.get_data(as_text=True)
    assert db.session.execute(select(InboxEnvelope)).first() is None


def test_someone_elses_signing_certificate_matches_no_monitor(
    jpki_app, app, client, make, proof_pki
):
    _verified_monitor(make, proof_pki, _auth(proof_pki, "taro"))
    new = _auth(proof_pki, "moved")
    _card_session(client, new)
    proof = proofs.sign_with_card(
        FakeCard(proof_pki, "renewed"), PASSWORD, proofs.renewal_message(new)
    )
    response = _upload(client, json.dumps(proof).encode())
    assert response.status_code == 422
    assert "市役所" in response.get_data(as_text=True)
    db.session.rollback()
    assert services.monitor_for_certificate(new.anchor, new.serial, new.spki_sha256) is None
    [row] = db.session.execute(select(InboxEnvelope)).scalars()
    assert (row.status, row.error) == ("rejected", "no_verified_match")


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'["a"]', b'{"certificate": "***", "signature": "AA=="}', b"x" * 20_000],
)
def test_a_broken_proof_file_gets_a_clear_message(jpki_app, app, client, proof_pki, body):
    _card_session(client, _auth(proof_pki, "moved"))
    response = _upload(client, body)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert any(
        text in html
        for text in ("カードクライアント", "証明ファイルを選んで", "証明ファイルとしては大きすぎ")
    )
    assert db.session.execute(select(InboxEnvelope)).first() is None


def test_without_a_card_login_the_page_asks_for_one(client):
    page = client.get("/proofs/renew")
    assert page.status_code == 200
    assert 'href="/monitors/login"' in page.get_data(as_text=True)
    assert client.post("/proofs/renew").status_code == 200  # the same page; nothing done
    assert 'href="/proofs/renew"' in client.get("/monitors/renew").get_data(as_text=True)


def test_an_already_linked_card_goes_to_the_monitor_page(jpki_app, app, client, make, proof_pki):
    old = _auth(proof_pki, "taro")
    _verified_monitor(make, proof_pki, old)
    _card_session(client, old)
    response = client.get("/proofs/renew")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/monitors/me")


def test_the_card_command_writes_a_proof_the_server_accepts(
    jpki_app, app, proof_pki, tmp_path, monkeypatch
):
    new = _auth(proof_pki, "moved")
    message = proofs.renewal_message(new)

    @contextmanager
    def fake_open(reader=None):
        yield FakeCard(proof_pki, "taro"), None

    monkeypatch.setattr("app.auth.jpki.card.open_jpki_card", fake_open)
    monkeypatch.setenv("SIGN_PW", "abc123")
    out = tmp_path / "proof.json"
    args = ["privacy", "proof", "sign", "--out", str(out), "--pin-env", "SIGN_PW"]
    result = app.test_cli_runner().invoke(
        args=[*args, "--message", base64.b64encode(message).decode()]
    )
    assert result.exit_code == 0, result.output
    proofs.check_renewal_proof(new, proofs.parse_proof(out.read_bytes()))
    monkeypatch.setenv("SIGN_PW", "WRONG1")
    wrong = app.test_cli_runner().invoke(
        args=[*args, "--message", base64.b64encode(message).decode()]
    )
    assert wrong.exit_code == WrongPin.exit_code
    forged = app.test_cli_runner().invoke(
        args=[*args, "--message", base64.b64encode(b"pay 100 yen").decode()]
    )
    assert forged.exit_code == 2


# --- verified registration ----------------------------------------------------------------------

FORM = {
    "name": "入力 した名前",
    "name_kana": "ニュウリョク シタナマエ",
    "postal_code": "940-0062",
    "address": "みどり市北町3丁目2番1号",
    "sex": "female",
    "birth_date": "1990-01-01",
    "phone": "0258-12-3456",
    "email": "taro@example.jp",
    "mobile_email": "",
    "consent": ["registration:city"],
}


def test_verified_registration_takes_the_facts_from_the_signing_certificate(
    jpki_app, app, client, proof_pki
):
    from app.privacy.vault import access
    from app.survey.models import Monitor

    assert "署名用電子証明書で登録" in client.get("/monitors/register").get_data(as_text=True)
    page = client.post("/proofs/register", data={"email": "taro@example.jp"})
    assert page.status_code == 200
    message = proofs.registration_message("taro@example.jp", "default")
    assert base64.b64encode(message).decode() in page.get_data(as_text=True)
    proof = proofs.sign_with_card(FakeCard(proof_pki, "taro"), PASSWORD, message)
    response = client.post(
        "/proofs/register",
        data={
            "email": "taro@example.jp",
            "proof": (io.BytesIO(json.dumps(proof).encode()), "proof.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/monitors/register")
    assert "taro@example.jp" in client.get("/monitors/register").get_data(as_text=True)
    assert client.post("/monitors/register", data=FORM).status_code == 302
    db.session.rollback()
    monitor = db.session.execute(select(Monitor)).scalar_one()
    assert monitor.verified
    [me] = access("self", "test", [monitor.pseudonym], "check")
    assert me.name != "入力 した名前" and me.birth_date != "1990-01-01"
    assert me.verified == "name,address,sex,birth_date"
    # The proof is used once: the next registration in this browser is an ordinary one.
    assert "署名用電子証明書で登録" in client.get("/monitors/register").get_data(as_text=True)


def test_a_registration_proof_for_another_address_is_refused(jpki_app, app, client, proof_pki):
    other = proofs.registration_message("someone@example.jp", "default")
    proof = proofs.sign_with_card(FakeCard(proof_pki, "taro"), PASSWORD, other)
    response = client.post(
        "/proofs/register",
        data={
            "email": "taro@example.jp",
            "proof": (io.BytesIO(json.dumps(proof).encode()), "proof.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "メールアドレス" in response.get_data(as_text=True)
    # Without a checked proof the registration is an ordinary, unverified one.
    assert client.post("/monitors/register", data=FORM).status_code == 302
    db.session.rollback()
    from app.survey.models import Monitor

    assert db.session.execute(select(Monitor)).scalar_one().verified is False


def test_a_bad_email_on_the_proof_page_gets_a_message(client):
    response = client.post("/proofs/register", data={"email": "not an address"})
    assert response.status_code == 422
    assert "正しいメールアドレスを入力してください。" in response.get_data(as_text=True)
