"""A14 for the card: a JPKI step-up and its refusal are logged with method and outcome, and
neither the signature nor the certificate reaches the log (docs/security-checks.md)."""

from __future__ import annotations

import base64

import pytest

from app.auth.jpki.verify import clear_store_cache
from tests.auth.test_jpki_web import answer, bind, post_answer, start
from tests.security.test_checklist_gaps import captured_app_log


@pytest.fixture
def app_config(app_config, pki):
    clear_store_cache()
    app_config.update(
        JPKI_TRUST_DIR=pki.trust_dir,
        JPKI_CRL_DIR=pki.crl_dir,
        JPKI_REVOCATION="fail-closed",
        SERVER_BASE_URL="http://localhost",
    )
    return app_config


def test_step_up_and_refusal_are_logged_without_the_signature(app, client, login_as, user, pki):
    bind(client, login_as, user, pki)
    with captured_app_log(app) as capture:
        code = start(client)
        body = answer(client, code, pki)
        assert post_answer(client, body).get_json() == {"ok": True}
        assert client.post("/auth/jpki/complete").status_code == 302
        # the same answer again: refused, and the refusal says why
        assert post_answer(client, body).status_code != 200

    messages = capture.messages
    assert any(m.startswith("jpki verified challenge=") for m in messages), messages
    assert f"login ok user={user.id} method=jpki" in messages
    assert any(m.startswith("jpki refused reason=") for m in messages), messages
    signature = base64.b64decode(body["signature"])
    for secret in (body["signature"], body["certificate"], signature.hex()):
        assert not any(secret[:24] in m for m in messages)
