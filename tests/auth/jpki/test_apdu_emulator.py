"""APDUs, status words, the emulated card's state machine and the client's flow logic.

These run the client against the emulator in-process (no pcscd) and against hostile fake
cards; `test_card_stack.py` repeats the important flows through the real PC/SC stack.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from app.auth.jpki.apdu import (
    JPKI_AID,
    CommandApdu,
    ResponseApdu,
    error_for_sw,
    mask_apdu,
    sw_meaning,
)
from app.auth.jpki.card import JpkiClient, _map_error, normalize_password, validate_pin
from app.auth.jpki.der import DerError, der_total_length, read_tlv
from app.auth.jpki.errors import (
    ApduError,
    CardProtocolError,
    CardRemoved,
    CertificateNotFound,
    InvalidPinFormat,
    JpkiClientError,
    NoCard,
    NoPcscd,
    NoReader,
    NotJpkiCard,
    PinBlocked,
    SecurityStatusNotSatisfied,
    WrongPin,
)
from app.auth.jpki.signature import login_message, verify_login_signature
from app.auth.jpki.testpki import TestPki
from app.auth.jpki.virtual_card import ATR, JpkiCardEmulator


class EmulatorTransport:
    """The emulator behind the CardTransport protocol, in-process."""

    def __init__(self, card: JpkiCardEmulator) -> None:
        self.card = card
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        self.sent.append(apdu)
        response = ResponseApdu.parse(self.card.process(apdu))
        return response.data, response.sw1, response.sw2


@pytest.fixture
def card(pki: TestPki) -> JpkiCardEmulator:
    return JpkiCardEmulator.from_pki(pki.root, "taro")


@pytest.fixture
def client(card: JpkiCardEmulator) -> JpkiClient:
    c = JpkiClient(EmulatorTransport(card))
    c.select_ap()
    return c


def sw(card: JpkiCardEmulator, hex_apdu: str) -> str:
    return card.process(bytes.fromhex(hex_apdu))[-2:].hex().upper()


# --- APDU encoding ----------------------------------------------------------------------------


def test_command_builders_match_jpki_md() -> None:
    assert CommandApdu.select_ap().to_bytes().hex() == "00a4040c0ad392f000260100000001"
    assert CommandApdu.select_ef(0x000A).to_bytes().hex() == "00a4020c02000a"
    assert CommandApdu.read_binary(0x0104, 256).to_bytes().hex() == "00b0010400"
    assert CommandApdu.tries_left().to_bytes().hex() == "00200080"
    assert CommandApdu.verify(b"1234").to_bytes().hex() == "002000800431323334"
    digest_info = bytes(51)
    assert CommandApdu.compute_signature(digest_info).to_bytes().hex() == (
        "802a008033" + "00" * 51 + "00"
    )


@pytest.mark.parametrize(
    "raw",
    ["00a4040c0ad392f000260100000001", "00b0000004", "00200080", "802a00800301020300", "00b00000"],
)
def test_parse_round_trip(raw: str) -> None:
    assert CommandApdu.parse(bytes.fromhex(raw)).to_bytes().hex() == raw


@pytest.mark.parametrize("raw", ["", "00", "00a404", "00a4040c05d392", "00a4040c00000102"])
def test_parse_refuses(raw: str) -> None:
    with pytest.raises(ApduError):
        CommandApdu.parse(bytes.fromhex(raw))


def test_builder_refuses_bad_fields() -> None:
    with pytest.raises(ApduError):
        CommandApdu(0x100, 0, 0, 0)
    with pytest.raises(ApduError):
        CommandApdu(0, 0, 0, 0, data=bytes(256))
    with pytest.raises(ApduError):
        CommandApdu.read_binary(0x8000, 1)
    with pytest.raises(ApduError):
        ResponseApdu.parse(b"\x90")


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.binary(max_size=300))
def test_hostile_bytes_raise_only_defined_errors(raw: bytes) -> None:
    with contextlib.suppress(ApduError):
        CommandApdu.parse(raw)
    with contextlib.suppress(ApduError):
        ResponseApdu.parse(raw)
    with contextlib.suppress(DerError):
        der_total_length(raw)
    with contextlib.suppress(DerError):
        read_tlv(raw, 0)
    sw1, sw2 = (raw + b"\x00\x00")[:2]
    assert isinstance(error_for_sw(sw1, sw2), JpkiClientError)
    assert sw_meaning(sw1, sw2)


@pytest.fixture(scope="module")
def shared_card(pki: TestPki) -> JpkiCardEmulator:
    return JpkiCardEmulator.from_pki(pki.root, "taro")


_PREFIXES = ["00a4040c0ad392f000260100000001", "00a4020c020018", "00a4020c020017", "802a0080"]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", *_PREFIXES]), st.binary(max_size=60)), max_size=8))
def test_emulator_never_raises(
    shared_card: JpkiCardEmulator, apdus: list[tuple[str, bytes]]
) -> None:
    shared_card.reset()
    shared_card.tries = {"auth": 3, "sign": 5}
    for prefix, tail in apdus:
        out = shared_card.process(bytes.fromhex(prefix) + tail)
        assert len(out) >= 2


def test_status_words_map_to_errors() -> None:
    wrong = error_for_sw(0x63, 0xC2)
    assert isinstance(wrong, WrongPin)
    assert wrong.tries_left == 2
    for sw1, sw2 in ((0x63, 0xC0), (0x69, 0x83), (0x69, 0x84)):
        assert isinstance(error_for_sw(sw1, sw2), PinBlocked)
    assert isinstance(error_for_sw(0x69, 0x82), SecurityStatusNotSatisfied)
    assert isinstance(error_for_sw(0x6A, 0x82), CertificateNotFound)
    assert isinstance(error_for_sw(0x6D, 0x00), CardProtocolError)
    assert sw_meaning(0x6B, 0x00) == "offset beyond end of file"


def test_every_client_error_has_both_languages() -> None:
    errors: list[JpkiClientError] = [
        NoPcscd(),
        NoReader(),
        NoCard(),
        NotJpkiCard(),
        CardRemoved(),
        WrongPin(2),
        WrongPin(4, "sign"),
        PinBlocked(),
        PinBlocked("sign"),
        SecurityStatusNotSatisfied(),
        InvalidPinFormat(),
    ]
    for error in errors:
        text = error.text
        assert text.ja and text.en and "\n" not in text.bilingual()
    assert "2" in WrongPin(2).text.en and "2" in WrongPin(2).text.ja
    assert "municipal office" in PinBlocked().text.en and "窓口" in PinBlocked().text.ja


def test_mask_hides_pin() -> None:
    masked = mask_apdu(CommandApdu.verify(b"1234").to_bytes())
    assert masked == "00 20 00 80 04 ** ** ** **"
    assert "31" not in masked.split("04", 1)[1]


def test_pin_formats() -> None:
    assert validate_pin("0123") == b"0123"
    for bad in ("123", "12345", "12a4", "１２３４", ""):
        with pytest.raises(InvalidPinFormat):
            validate_pin(bad)
    assert normalize_password("abc123") == b"ABC123"
    for bad in ("abc12", "a" * 17, "abc-123", "ａｂｃ１２３"):
        with pytest.raises(InvalidPinFormat):
            normalize_password(bad)


def test_pyscard_errors_are_mapped() -> None:
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.pcsc.PCSCExceptions import EstablishContextException

    assert isinstance(_map_error(EstablishContextException(0x8010001D), "list"), NoPcscd)
    assert isinstance(_map_error(NoCardException("x", hresult=0x8010000C), "connect"), NoCard)
    removed = CardConnectionException("x", hresult=0x80100069)
    assert isinstance(_map_error(removed, "transmit"), CardRemoved)
    stopped = CardConnectionException("x", hresult=0x8010001D)
    assert isinstance(_map_error(stopped, "transmit"), NoPcscd)


# --- the emulated card ------------------------------------------------------------------------


def test_emulator_basics(card: JpkiCardEmulator) -> None:
    assert ATR.hex().upper() == "3BE000FF8131FE4514"
    assert sw(card, "00a4020c02000a") == "6A82"  # EF before the AP is selected
    assert sw(card, "00a4040c0ad392f000260100000001") == "9000"
    assert sw(card, "00a4040c0aa00000000000000000ff") == "6A82"
    assert sw(card, "00a4020c020099") == "6A82"
    assert sw(card, "00ff000000") == "6D00"
    assert sw(card, "80b0000004") == "6E00"
    assert sw(card, "00a4020c020006") == "9000"
    label = card.process(bytes.fromhex("00b0000020"))
    assert label[:32] == b"JPKIAPICCTOKEN2".ljust(32) and label[-2:] == b"\x90\x00"


def test_emulator_reads_with_filler_and_end(card: JpkiCardEmulator, pki: TestPki) -> None:
    der = pki.read("cards/taro/auth.der")
    sw(card, "00a4040c0ad392f000260100000001")
    sw(card, "00a4020c02000a")
    size = len(card.files[0x000A])
    assert size > len(der)
    tail = card.process(bytes([0, 0xB0, len(der) >> 8, len(der) & 0xFF, 16]))
    assert tail == b"\xff" * 16 + b"\x90\x00"
    past = card.process(bytes([0, 0xB0, size >> 8, size & 0xFF, 1]))
    assert past == b"\x6b\x00"


def test_sign_ef_needs_password(card: JpkiCardEmulator) -> None:
    sw(card, "00a4040c0ad392f000260100000001")
    assert sw(card, "00a4020c020001") == "9000"
    assert sw(card, "00b0000004") == "6982"
    assert sw(card, "00a4020c02001b") == "9000"
    assert sw(card, "00200080") == "63C5"
    assert sw(card, "0020008006" + b"ABC123".hex()) == "9000"
    assert sw(card, "00a4020c020001") == "9000"
    assert sw(card, "00b0000004") == "9000"


def test_signature_needs_pin_and_reset_clears_it(card: JpkiCardEmulator) -> None:
    sw(card, "00a4040c0ad392f000260100000001")
    sw(card, "00a4020c020017")
    digest_info = "3031300d060960864801650304020105000420" + "11" * 32
    assert sw(card, "802a008033" + digest_info + "00") == "6982"
    sw(card, "00a4020c020018")
    assert sw(card, "0020008004" + b"1234".hex()) == "9000"
    sw(card, "00a4020c020017")
    out = card.process(bytes.fromhex("802a008033" + digest_info + "00"))
    assert len(out) == 258 and out[-2:] == b"\x90\x00"
    card.reset()  # power off / reset from vpcd
    sw(card, "00a4040c0ad392f000260100000001")
    sw(card, "00a4020c020017")
    assert sw(card, "802a008033" + digest_info + "00") == "6982"


def test_tries_counter_blocks_and_resets(card: JpkiCardEmulator) -> None:
    sw(card, "00a4040c0ad392f000260100000001")
    sw(card, "00a4020c020018")
    wrong = "0020008004" + b"0000".hex()
    right = "0020008004" + b"1234".hex()
    assert [sw(card, wrong), sw(card, wrong)] == ["63C2", "63C1"]
    assert sw(card, "00200080") == "63C1"
    assert sw(card, right) == "9000"
    assert sw(card, "00200080") == "63C3"
    assert [sw(card, wrong), sw(card, wrong), sw(card, wrong)] == ["63C2", "63C1", "63C0"]
    assert sw(card, right) == "6984"
    card.reset()  # the counter survives power cycles
    sw(card, "00a4040c0ad392f000260100000001")
    sw(card, "00a4020c020018")
    assert sw(card, right) == "6984"


def test_child_card_has_no_signing_files(pki: TestPki) -> None:
    card = JpkiCardEmulator.from_pki(pki.root, "child")
    sw(card, "00a4040c0ad392f000260100000001")
    for fid in ("0001", "0002", "001a", "001b"):
        assert sw(card, "00a4020c02" + fid) == "6A82"


# --- client flow logic over the in-process emulator -------------------------------------------


def test_client_reads_certificates(client: JpkiClient, pki: TestPki) -> None:
    assert client.read_certificate("auth") == pki.read("cards/taro/auth.der")
    assert client.read_certificate("auth_ca") == pki.read("cards/taro/auth_ca.der")
    assert client.read_certificate("sign_ca") == pki.read("cards/taro/sign_ca.der")
    with pytest.raises(SecurityStatusNotSatisfied):
        client.read_certificate("sign")
    client.verify_password("abc123")  # upper-cased like J-LIS clients
    assert client.read_certificate("sign") == pki.read("cards/taro/sign.der")
    assert client.token_label() == "JPKIAPICCTOKEN2"


def test_client_reads_by_length_header_not_until_error(client: JpkiClient, pki: TestPki) -> None:
    transport = client.transport
    assert isinstance(transport, EmulatorTransport)
    transport.sent.clear()
    der = client.read_certificate("auth")
    reads = [a for a in transport.sent if a[1] == 0xB0]
    assert reads[0][-1] == 4  # the 4-byte header first
    assert all(a[-1] in range(1, 256) or a[-1] == 0 for a in reads)
    offsets = [a[2] << 8 | a[3] for a in reads]
    assert offsets == sorted(offsets) and offsets[-1] < len(der)
    total_asked = sum(256 if a[-1] == 0 else a[-1] for a in reads)
    assert total_asked == len(der)  # nothing past the end, no 6B00 probing


def test_client_pin_flow(client: JpkiClient, pki: TestPki) -> None:
    assert client.tries_left("auth") == 3
    with pytest.raises(WrongPin) as first:
        client.verify_pin("9999")
    assert first.value.tries_left == 2
    client.verify_pin("1234")
    assert client.tries_left("auth") == 3
    message = login_message("https://x.example", "id", b"\x00" * 32)
    signature = client.sign_login(message)
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))
    assert verify_login_signature(cert, signature, message)


def test_client_never_logs_the_pin(client: JpkiClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="app.auth.jpki.card"):
        client.verify_pin("1234")
        client.sign_login(b"m")
    text = caplog.text
    assert "** ** ** **" in text
    assert "31 32 33 34" not in text and "1234" not in text


def test_client_refuses_other_cards(pki: TestPki) -> None:
    other = JpkiCardEmulator.from_pki(pki.root, "taro")
    other.aid = bytes.fromhex("A000000001")
    with pytest.raises(NotJpkiCard):
        JpkiClient(EmulatorTransport(other)).ensure_supported()
    juki = JpkiCardEmulator.from_pki(pki.root, "taro")
    juki.label = "JPKIAPICCTOKEN"
    juki.__post_init__()
    with pytest.raises(NotJpkiCard):
        JpkiClient(EmulatorTransport(juki)).ensure_supported()
    assert JpkiClient(EmulatorTransport(other)).transport is not None
    assert JPKI_AID.hex().upper() == "D392F000260100000001"


class HostileCard:
    """A card answering READ BINARY with whatever `respond(offset, le)` says."""

    def __init__(self, respond: Callable[[int, int], tuple[bytes, int, int]]) -> None:
        self.respond = respond

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        if apdu[1] == 0xB0:
            return self.respond(apdu[2] << 8 | apdu[3], apdu[4] or 256)
        return b"", 0x90, 0x00


@pytest.mark.parametrize(
    "respond",
    [
        lambda off, le: (b"\x30\x82\x20\x00", 0x90, 0x00),  # declares 8 KB
        lambda off, le: (b"\x31\x82\x01\x00", 0x90, 0x00),  # not a SEQUENCE
        lambda off, le: (b"\x30\x80\x00\x00", 0x90, 0x00),  # indefinite length
        lambda off, le: (
            (b"\x30\x82\x01\x00", 0x90, 0x00)  # short, then end of file
            if off == 0
            else (b"", 0x6B, 0x00)
        ),
        lambda off, le: (
            (b"\x30\x82\x01\x00", 0x90, 0x00)  # more bytes than asked
            if off == 0
            else (b"\x00" * (le + 1), 0x90, 0x00)
        ),
        lambda off, le: (
            (b"\x30\x82\x01\x00", 0x90, 0x00)  # empty answers
            if off == 0
            else (b"", 0x90, 0x00)
        ),
    ],
)
def test_client_refuses_hostile_reads(
    respond: Callable[[int, int], tuple[bytes, int, int]],
) -> None:
    with pytest.raises(CardProtocolError):
        JpkiClient(HostileCard(respond)).read_certificate("auth")
