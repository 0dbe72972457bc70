"""The web JPKI login: challenge, the card client's answer, completion, binding, step-up."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from flask import Blueprint
from sqlalchemy import func, select, update

from app.auth.jpki.signature import login_message
from app.auth.jpki.verify import clear_store_cache
from app.auth.jpki_web import jpki_required
from app.auth.models import CertificateBinding, JpkiChallenge
from app.db import utcnow
from app.extensions import db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app_config(app_config, pki):
    clear_store_cache()
    app_config.update(
        JPKI_TRUST_DIR=pki.trust_dir,
        JPKI_CRL_DIR=pki.crl_dir,
        JPKI_REVOCATION="fail-closed",
        SERVER_BASE_URL="http://localhost",
        TRUSTED_PROXIES=["10.9.8.7"],
    )
    return app_config


def card(pki, name):
    """(certificate DER, private key) of a test card or a bad case."""
    if "/" in name:
        cert = pki.read(f"{name}.der")
        key_pem = pki.read(f"{name}.key.pem")
    else:
        cert = pki.read(f"cards/{name}/auth.der")
        key_pem = pki.read(f"cards/{name}/auth.key.pem")
    return cert, serialization.load_pem_private_key(key_pem, password=None)


def start(client):
    """Ask for a challenge the way the page does; return the code shown to the resident."""
    assert client.post("/auth/jpki/start").status_code == 302
    html = client.get("/auth/jpki/wait").get_data(as_text=True)
    return re.search(r'<strong class="code" lang="en">([A-Z0-9-]+)</strong>', html).group(1)


def answer(client, code, pki, name="taro", *, tamper=None):
    """Do what the card client does: fetch the challenge, sign it, post the answer."""
    info = client.get(f"/auth/jpki/challenge/{code}").get_json()
    cert, key = card(pki, name)
    nonce = base64.b64decode(info["nonce"])
    message = login_message(info["origin"], info["challenge_id"], nonce)
    if tamper == "other_nonce":
        message = login_message(info["origin"], info["challenge_id"], b"\x00" * 32)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    body = {
        "challenge_id": info["challenge_id"],
        "certificate": base64.b64encode(cert).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    return body


def post_answer(client, body):
    return client.post(
        "/auth/jpki/response", data=json.dumps(body), content_type="application/json"
    )


def bind(client, login_as, user, pki, name="taro"):
    login_as(user, the_client=client)
    code = start(client)
    assert post_answer(client, answer(client, code, pki, name)).get_json() == {"ok": True}
    assert client.post("/auth/jpki/complete").headers["Location"].startswith("/auth/jpki/bind")
    response = client.post("/auth/jpki/bind", data={"password": PASSWORD})
    assert response.status_code == 302
    client.post("/auth/logout")


def test_start_needs_post_and_shows_a_code_and_command(client):
    assert client.get("/auth/jpki/start").status_code == 405
    code = start(client)
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    html = client.get("/auth/jpki/wait").get_data(as_text=True)
    assert f"sankaku-card login http://localhost {code}" in html
    assert client.get("/auth/jpki/poll").get_json() == {"state": "pending"}


def test_challenge_json_for_the_card_client(client):
    code = start(client)
    typed = code.lower().replace("-", " ")  # residents type codes loosely
    info = client.get(f"/auth/jpki/challenge/{typed}").get_json()
    assert set(info) == {"challenge_id", "nonce", "origin", "expires_at"}
    assert info["origin"] == "http://localhost"
    assert len(base64.b64decode(info["nonce"])) == 32
    row = db.session.get(JpkiChallenge, info["challenge_id"])
    assert row.expires_at - row.created_at <= dt.timedelta(minutes=5)
    missing = client.get("/auth/jpki/challenge/ZZZZ-ZZZZ")
    assert missing.status_code == 404
    assert missing.get_json()["reason"] == "challenge_unknown"


def test_login_with_a_bound_card_rotates_session_and_marks_step_up(
    app, client, login_as, user, pki
):
    bind(client, login_as, user, pki)
    code = start(client)
    before = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert post_answer(client, answer(client, code, pki)).get_json() == {"ok": True}
    assert client.get("/auth/jpki/poll").get_json() == {"state": "verified"}
    response = client.post("/auth/jpki/complete")
    assert response.status_code == 302
    after = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert after != before
    assert "長岡 花子" in client.get("/").get_data(as_text=True)
    db.session.rollback()
    binding = db.session.execute(select(CertificateBinding)).scalar_one()
    assert binding.user_id == user.id
    assert binding.last_used_at is not None
    # the completion is single use too
    assert client.post("/auth/jpki/complete").status_code == 400


def test_replayed_answer_is_refused(client, pki):
    code = start(client)
    body = answer(client, code, pki)
    assert post_answer(client, body).status_code == 200
    again = post_answer(client, body)
    assert again.status_code == 403
    assert again.get_json()["reason"] == "challenge_used"


def test_unbound_card_for_a_guest_explains_what_to_do(client, pki):
    code = start(client)
    post_answer(client, answer(client, code, pki))
    response = client.post("/auth/jpki/complete")
    assert response.headers["Location"] == "/auth/jpki/unbound"
    html = client.get("/auth/jpki/unbound").get_data(as_text=True)
    assert "まだアカウントに登録されていません" in html
    assert client.get("/auth/settings").status_code == 302  # nobody was logged in


def test_binding_needs_the_password_and_one_card_one_account(
    app, client, login_as, user, other_user, pki
):
    login_as(user)
    code = start(client)
    post_answer(client, answer(client, code, pki))
    client.post("/auth/jpki/complete")
    wrong = client.post("/auth/jpki/bind", data={"password": "nope"})
    assert wrong.status_code == 200
    assert "正しくありません" in wrong.get_data(as_text=True)
    assert client.post("/auth/jpki/bind", data={"password": PASSWORD}).status_code == 302
    other = app.test_client()
    login_as(other_user, the_client=other)
    code = start(other)
    post_answer(other, answer(other, code, pki))
    refused = other.post("/auth/jpki/complete")
    assert refused.headers["Location"] == "/auth/jpki"
    assert "別のアカウント" in other.get("/auth/jpki").get_data(as_text=True)
    assert "千代田 太郎" in other.get("/").get_data(as_text=True)  # still their own account
    assert other.get("/auth/jpki/bind").headers["Location"] == "/auth/jpki"
    db.session.rollback()
    assert db.session.execute(select(func.count(CertificateBinding.id))).scalar_one() == 1


def test_bindings_are_listed_with_expiry_and_can_be_removed(client, login_as, user, pki):
    bind(client, login_as, user, pki)
    login_as(user)
    html = client.get("/auth/jpki").get_data(as_text=True)
    match = re.search(r"/auth/jpki/bindings/(\d+)/remove", html)
    assert match
    assert "有効期限" in html or "まで" in html
    assert client.post(f"/auth/jpki/bindings/{match.group(1)}/remove").status_code == 302
    db.session.rollback()
    assert db.session.execute(select(func.count(CertificateBinding.id))).scalar_one() == 0


def test_someone_elses_binding_cannot_be_removed(app, client, login_as, user, other_user, pki):
    bind(client, login_as, user, pki)
    db.session.rollback()
    binding_id = db.session.execute(select(CertificateBinding.id)).scalar_one()
    login_as(other_user)
    assert client.post(f"/auth/jpki/bindings/{binding_id}/remove").status_code == 404


@pytest.mark.parametrize(
    ("name", "reason", "text"),
    [
        ("bad/revoked_auth", "revoked", "失効"),
        ("bad/expired", "expired", "有効期限"),
        ("bad/impostor", "untrusted_issuer", None),
        ("bad/cross_purpose", "wrong_purpose", None),
    ],
)
def test_refused_certificates_are_explained_to_the_waiting_browser(client, pki, name, reason, text):
    code = start(client)
    response = post_answer(client, answer(client, code, pki, name))
    assert response.status_code == 403
    assert response.get_json()["reason"] == reason
    poll = client.get("/auth/jpki/poll").get_json()
    assert poll["state"] == "failed"
    assert poll["reason"] == reason
    if text:
        assert text in poll["message"]
    html = client.get("/auth/jpki/wait").get_data(as_text=True)
    assert poll["message"] in html
    # the challenge stays open: the resident can retry with the right card
    assert post_answer(client, answer(client, code, pki)).get_json() == {"ok": True}


def test_signing_certificate_is_refused_for_login(client, pki):
    code = start(client)
    info = client.get(f"/auth/jpki/challenge/{code}").get_json()
    cert = pki.read("cards/taro/sign.der")
    key = serialization.load_pem_private_key(pki.read("cards/taro/sign.key.pem"), None)
    message = login_message(info["origin"], info["challenge_id"], base64.b64decode(info["nonce"]))
    body = {
        "challenge_id": info["challenge_id"],
        "certificate": base64.b64encode(cert).decode(),
        "signature": base64.b64encode(
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        ).decode(),
    }
    assert post_answer(client, body).get_json()["reason"] == "wrong_purpose"


def test_signature_over_another_challenge_is_refused(client, pki):
    code = start(client)
    response = post_answer(client, answer(client, code, pki, tamper="other_nonce"))
    assert response.get_json()["reason"] == "bad_signature"


def test_expired_challenge(client, pki):
    code = start(client)
    body = answer(client, code, pki)
    db.session.execute(update(JpkiChallenge).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert post_answer(client, body).get_json()["reason"] == "challenge_expired"
    assert client.get(f"/auth/jpki/challenge/{code}").status_code == 404
    assert client.get("/auth/jpki/poll").get_json()["state"] == "expired"


def test_malformed_answers(client):
    for body in [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"challenge_id": "x"}),
        json.dumps({"challenge_id": "x", "certificate": "!!", "signature": "AA=="}),
    ]:
        response = client.post("/auth/jpki/response", data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["reason"] == "malformed"
    unknown = {"challenge_id": "nope", "certificate": "AAAA", "signature": "AAAA"}
    assert post_answer(client, unknown).get_json()["reason"] == "challenge_unknown"


def test_another_browser_cannot_complete_my_challenge(app, client, pki):
    code = start(client)
    post_answer(client, answer(client, code, pki))
    thief = app.test_client()
    assert thief.post("/auth/jpki/complete").status_code == 400
    assert thief.get("/auth/jpki/poll").get_json() == {"state": "none"}


def test_same_answer_at_once_verifies_exactly_once(app, client, pki):
    code = start(client)
    body = answer(client, code, pki)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def worker():
        c = app.test_client()
        barrier.wait()
        results.append(post_answer(c, body).status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 403, 403, 403]


def test_step_up_decorator(app, client, login_as, user, pki):
    bp = Blueprint("stepup_test", __name__)

    @bp.route("/certified-only")
    @jpki_required
    def certified():
        return "certified page"

    app.register_blueprint(bp)
    login_as(user)
    response = client.get("/certified-only")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/jpki?next=/certified-only")
    client.post("/auth/logout")
    bind(client, login_as, user, pki)
    code = start(client)
    post_answer(client, answer(client, code, pki))
    client.post("/auth/jpki/complete")
    assert client.get("/certified-only").get_data(as_text=True) == "certified page"
    app.config["JPKI_STEP_UP_MINUTES"] = 0.0001
    assert client.get("/certified-only").status_code == 302


def test_csrf_exempt_only_for_the_signed_answer(app, client, pki):
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/auth/jpki/start").status_code == 400
    assert client.post("/auth/jpki/complete").status_code == 400
    response = post_answer(
        client, {"challenge_id": "x", "certificate": "AAAA", "signature": "AAAA"}
    )
    assert response.status_code == 403  # judged by its signature, not refused for CSRF


def test_proxy_entry_only_from_trusted_proxies(app, client, login_as, user, pki):
    bind(client, login_as, user, pki)
    header = base64.b64encode(pki.read("cards/taro/auth.der")).decode()
    name = app.config["JPKI_PROXY_CERT_HEADER"]
    spoofed = client.get("/auth/jpki/proxy", headers={name: header})
    assert spoofed.status_code == 404
    trusted = client.get(
        "/auth/jpki/proxy", headers={name: header}, environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert trusted.status_code == 302
    assert "長岡 花子" in client.get("/").get_data(as_text=True)
    revoked = base64.b64encode(pki.read("bad/revoked_auth.der")).decode()
    refused = app.test_client().get(
        "/auth/jpki/proxy", headers={name: revoked}, environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert refused.status_code == 403


def test_unbound_card_continues_to_monitor_pages(client, pki):
    """Survey monitors have no SNS account: the monitor pages map the certificate."""
    assert client.post("/auth/jpki/start", data={"next": "/monitors/jpki-done"}).status_code == 302
    html = client.get("/auth/jpki/wait").get_data(as_text=True)
    code = re.search(r'<strong class="code" lang="en">([A-Z0-9-]+)</strong>', html).group(1)
    post_answer(client, answer(client, code, pki))
    response = client.post("/auth/jpki/complete")
    assert response.headers["Location"] == "/monitors/jpki-done"


def test_demo_card_command_links_the_emulated_card(app, make, client, pki):
    haruka = make.user(handle="haruka", display_name="鈴木 はるか")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sample", "demo-card"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["sample", "demo-card"]).exit_code == 0  # idempotent
    db.session.rollback()
    bindings = db.session.execute(select(CertificateBinding)).scalars().all()
    assert [b.user_id for b in bindings] == [haruka.id]
    code = start(client)
    post_answer(client, answer(client, code, pki, "taro"))
    client.post("/auth/jpki/complete")
    assert "鈴木 はるか" in client.get("/").get_data(as_text=True)
