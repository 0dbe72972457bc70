"""The card client through the real stack: pyscard → pcscd → vpcd → the emulated JPKI card.

Marker `card`. The session fixtures start pcscd when needed and insert the emulated card into
vpcd slot 0; a missing pcscd or vpcd makes these tests error, never skip. They share one slot,
so they run serially.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cryptography import x509

from app.auth.jpki.card import open_jpki_card
from app.auth.jpki.card_commands import card_group
from app.auth.jpki.client import login
from app.auth.jpki.errors import (
    CardRemoved,
    NoCard,
    NoReader,
    NotJpkiCard,
    PinBlocked,
    SecurityStatusNotSatisfied,
    WrongPin,
)
from app.auth.jpki.reasons import reason_text
from app.auth.jpki.settings import JpkiSettings
from app.auth.jpki.signature import login_message, verify_login_signature
from app.auth.jpki.testpki import TestPki
from app.auth.jpki.virtual_card import JpkiCardEmulator, VirtualCardServer

from .conftest import VPCD_READER, wait_for_card
from .fake_site import running_site

pytestmark = pytest.mark.card


def _cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
    """Run a card command on the test slot (a demo card may sit in the other one)."""
    return CliRunner().invoke(card_group, [*args, "--reader", VPCD_READER], env=env, input=input)


def test_reads_both_certificates(vcard: VirtualCardServer, pki: TestPki) -> None:
    with open_jpki_card(VPCD_READER) as (client, transport):
        assert transport.reader == VPCD_READER
        assert transport.atr().hex().upper() == "3BE000FF8131FE4514"
        assert client.token_label() == "JPKIAPICCTOKEN2"
        assert client.read_certificate("auth") == pki.read("cards/taro/auth.der")
        with pytest.raises(SecurityStatusNotSatisfied):
            client.read_certificate("sign")  # 69 82 before the password
        client.verify_password("ABC123")
        assert client.read_certificate("sign") == pki.read("cards/taro/sign.der")


def test_wrong_pin_twice_then_right_resets_counter(vcard: VirtualCardServer, pki: TestPki) -> None:
    with open_jpki_card(VPCD_READER) as (client, _):
        assert client.tries_left("auth") == 3
        for expected in (2, 1):
            with pytest.raises(WrongPin) as wrong:
                client.verify_pin("0000")
            assert wrong.value.tries_left == expected
        client.verify_pin("1234")
        assert client.tries_left("auth") == 3
        message = login_message("https://example.jp", "id", b"\x07" * 32)
        signature = client.sign_login(message)
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))
    assert verify_login_signature(cert, signature, message)


def test_pin_state_is_gone_after_disconnect(vcard: VirtualCardServer) -> None:
    with open_jpki_card(VPCD_READER) as (client, _):
        client.verify_pin("1234")
    with open_jpki_card(VPCD_READER) as (client, _), pytest.raises(SecurityStatusNotSatisfied):
        client.sign_login(b"message")


def test_card_removed_mid_read(vcard: VirtualCardServer) -> None:
    # SELECT AP, SELECT 0006, READ label, SELECT 000A, READ header: the first chunk read after
    # that finds the card gone.
    vcard.remove_after_apdus = 5
    with pytest.raises(CardRemoved), open_jpki_card(VPCD_READER) as (client, _):
        client.read_certificate("auth")
    wait_for_card(True)
    vcard.remove_after_apdus = 5
    result = _cli("read-cert", "--kind", "auth", "--out", "/dev/null")
    assert result.exit_code == 3, (result.output, result.exception)
    assert CardRemoved().text.bilingual() in result.output, (result.stdout, result.stderr)
    wait_for_card(True)


def test_no_card_and_no_reader(vcard: VirtualCardServer) -> None:
    vcard.remove()
    wait_for_card(False)
    with pytest.raises(NoCard), open_jpki_card(VPCD_READER):
        pass
    result = _cli("status")
    assert result.exit_code == 3
    assert "カードなし" in result.output
    assert NoCard().text.bilingual() in result.output
    vcard.insert()
    wait_for_card(True)
    with pytest.raises(NoReader), open_jpki_card("No Such Reader"):
        pass


def test_not_a_jpki_card(vcard: VirtualCardServer, pki: TestPki) -> None:
    other = JpkiCardEmulator.from_pki(pki.root, "taro")
    other.aid = bytes.fromhex("A0000000041010")
    vcard.card = other
    with pytest.raises(NotJpkiCard), open_jpki_card(VPCD_READER):
        pass
    result = _cli("login", "https://example.jp", "ABCD-EFGH", "--yes")
    assert result.exit_code != 0


def test_status_command(vcard: VirtualCardServer) -> None:
    result = _cli("status")
    assert result.exit_code == 0, result.output
    assert f"reader: {VPCD_READER}" in result.output
    assert "3B E0 00 FF 81 31 FE 45 14" in result.output
    assert "token label: JPKIAPICCTOKEN2" in result.output
    assert "pin tries left: 3" in result.output
    assert "password tries left: 5" in result.output


def test_status_for_card_without_signing_certificate(
    vcard: VirtualCardServer, pki: TestPki
) -> None:
    vcard.card = JpkiCardEmulator.from_pki(pki.root, "child")
    result = _cli("status")
    assert result.exit_code == 0, result.output
    assert "no signing certificate" in result.output


def test_read_cert_command(vcard: VirtualCardServer, pki: TestPki, tmp_path: Any) -> None:
    out = tmp_path / "sign.der"
    denied = _cli(
        "read-cert", "--kind", "sign", "--out", str(out), "--pin-env", "PW", env={"PW": "WRONG1"}
    )
    assert denied.exit_code == 4
    assert "4" in denied.output  # tries left
    result = _cli(
        "read-cert", "--kind", "sign", "--out", str(out), "--pin-env", "PW", env={"PW": "abc123"}
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == pki.read("cards/taro/sign.der")
    prompted = _cli("read-cert", "--kind", "sign", "--out", str(out), input="ABC123\n")
    assert prompted.exit_code == 0
    assert "ABC123" not in prompted.output  # the prompt does not echo


def test_login_end_to_end_and_replay(vcard: VirtualCardServer, settings: JpkiSettings) -> None:
    posted: list[dict[str, Any]] = []

    class Recording(requests.Session):
        def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            posted.append(kwargs["json"])
            return super().post(url, *args, **kwargs)

    with running_site(settings) as site:
        challenge = site.issue()
        shown: list[str] = []
        outcome = login(
            site.origin + "/",
            challenge.code.lower().replace("-", " "),
            get_pin=lambda: "1234",
            reader=VPCD_READER,
            confirm=lambda origin, code: shown.append(f"{origin} {code}") is None,
            warn=lambda text: None,
            session=Recording(),
        )
        assert shown == [f"{site.origin} {challenge.code}"]
        assert site.logins == [outcome.certificate_serial]
        replay = requests.post(site.origin + "/auth/jpki/response", json=posted[0], timeout=5)
        assert replay.json() == {
            "ok": False,
            "reason": "challenge_used",
            "message": reason_text("challenge_used").en,
        }


def test_login_command(vcard: VirtualCardServer, settings: JpkiSettings) -> None:
    with running_site(settings) as site:
        code = site.issue().code
        result = _cli("login", site.origin, code, "--pin-env", "PIN", "--yes", env={"PIN": "1234"})
        assert result.exit_code == 0, result.output
        assert site.origin in result.output and code in result.output
        assert "Logged in" in result.output
        # Confirmation answered no: nothing is signed.
        code = site.issue().code
        result = _cli("login", site.origin, code, input="n\n")
        assert result.exit_code == 1
        assert "cancelled" in result.output
        # PIN typed at the prompt is not echoed.
        code = site.issue().code
        result = _cli("login", site.origin, code, input="y\n1234\n")
        assert result.exit_code == 0, result.output
        assert "1234" not in result.output
        assert len(site.logins) == 2


def test_three_wrong_pins_block_and_client_says_so(
    vcard: VirtualCardServer, settings: JpkiSettings
) -> None:
    with running_site(settings) as site:
        outputs = []
        for _ in range(4):
            code = site.issue().code
            result = _cli(
                "login", site.origin, code, "--pin-env", "PIN", "--yes", env={"PIN": "9999"}
            )
            assert result.exit_code == 4
            outputs.append(result.output)
        assert WrongPin(2).text.bilingual() in outputs[0]
        assert WrongPin(1).text.bilingual() in outputs[1]
        assert "Only 1 PIN try left" in outputs[2]
        assert PinBlocked().text.bilingual() in outputs[2]
        assert "municipal office" in outputs[3] and "窓口" in outputs[3]
        # Even the right PIN no longer works.
        code = site.issue().code
        result = _cli("login", site.origin, code, "--pin-env", "PIN", "--yes", env={"PIN": "1234"})
        assert result.exit_code == 4
        assert PinBlocked().text.bilingual() in result.output
        assert site.logins == []


def test_login_refused_by_server(vcard: VirtualCardServer, pki: TestPki, tmp_path: Any) -> None:
    no_crls = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=str(tmp_path))
    with running_site(no_crls) as site:
        code = site.issue().code
        result = _cli("login", site.origin, code, "--pin-env", "PIN", "--yes", env={"PIN": "1234"})
        assert result.exit_code == 1
        assert reason_text("revocation_unknown").bilingual() in result.output


def test_login_refuses_foreign_origin(vcard: VirtualCardServer, settings: JpkiSettings) -> None:
    with running_site(settings) as site:
        site.origin_override = "https://evil.example"
        code = site.issue().code
        result = _cli("login", site.origin, code, "--pin-env", "PIN", "--yes", env={"PIN": "9999"})
        assert result.exit_code == 1
        assert "https://evil.example" in result.output
    # The card was never asked: a wrong PIN would have used a try.
    with open_jpki_card(VPCD_READER) as (client, _):
        assert client.tries_left("auth") == 3


def test_login_unknown_code(vcard: VirtualCardServer, settings: JpkiSettings) -> None:
    with running_site(settings) as site:
        result = _cli("login", site.origin, "ZZZZ-ZZZZ", "--yes")
        assert result.exit_code == 1
        assert reason_text("challenge_unknown").bilingual() in result.output
        assert re.search(r"ログイン画面", result.output)


def test_revoked_card_is_refused_with_readable_message(
    vcard: VirtualCardServer, pki: TestPki, settings: JpkiSettings
) -> None:
    vcard.card = JpkiCardEmulator.from_pki(pki.root, "lost")
    with running_site(settings) as site:
        code = site.issue().code
        result = _cli("login", site.origin, code, "--pin-env", "PIN", "--yes", env={"PIN": "7890"})
        assert result.exit_code == 1
        assert reason_text("revoked").bilingual() in result.output
        assert site.logins == []
