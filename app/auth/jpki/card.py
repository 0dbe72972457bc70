"""The JPKI card client: APDU flows over a small transport Protocol, and the pyscard transport.

Flow logic (`JpkiClient`) only needs something with ``transmit(apdu) -> (data, sw1, sw2)``;
`PyscardTransport` is the real one over pcscd. PINs and passwords never reach a log: VERIFY
data is masked and response data is logged by length only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .apdu import (
    EF_AUTH_CA,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    EF_SIGN_CA,
    EF_SIGN_CERT,
    EF_SIGN_KEY,
    EF_SIGN_PASSWORD,
    EF_TOKEN,
    SW_AUTH_BLOCKED,
    SW_OFFSET,
    SW_OK,
    SW_REF_DATA_BLOCKED,
    CommandApdu,
    error_for_sw,
    mask_apdu,
    sw_meaning,
)
from .der import DerError, der_total_length
from .errors import (
    ApduError,
    CardProtocolError,
    CardRemoved,
    InvalidPinFormat,
    JpkiCardError,
    NoCard,
    NoPcscd,
    NoReader,
    NotJpkiCard,
)
from .signature import digest_info_sha256

__all__ = [
    "MAX_CERTIFICATE_BYTES",
    "CardTransport",
    "CertKind",
    "JpkiClient",
    "PyscardTransport",
    "ReaderInfo",
    "card_present",
    "list_readers",
    "normalize_password",
    "open_jpki_card",
    "reader_infos",
    "reader_states",
    "validate_pin",
]

log = logging.getLogger(__name__)

CertKind = Literal["auth", "sign", "auth_ca", "sign_ca"]
PinKind = Literal["auth", "sign"]
MAX_CERTIFICATE_BYTES = 4096
READ_CHUNK = 256
SIGNATURE_BYTES = 256
MAX_TRIES: dict[PinKind, int] = {"auth": 3, "sign": 5}
JUKI_LABEL = "JPKIAPICCTOKEN"

_CERT_FILES: dict[CertKind, int] = {
    "auth": EF_AUTH_CERT,
    "sign": EF_SIGN_CERT,
    "auth_ca": EF_AUTH_CA,
    "sign_ca": EF_SIGN_CA,
}
_PIN_FILES: dict[PinKind, int] = {"auth": EF_AUTH_PIN, "sign": EF_SIGN_PASSWORD}
_KEY_FILES: dict[PinKind, int] = {"auth": EF_AUTH_KEY, "sign": EF_SIGN_KEY}
_PIN_RE = re.compile(r"[0-9]{4}")
_PASSWORD_RE = re.compile(r"[A-Z0-9]{6,16}")


class CardTransport(Protocol):
    """Anything that sends a command APDU to a card and returns ``(data, sw1, sw2)``."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send one APDU; raise a JpkiCardError (e.g. CardRemoved) on transport failure."""
        ...


def validate_pin(pin: str) -> bytes:
    """The 4-digit authentication PIN as sent to the card; raises InvalidPinFormat."""
    if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
        raise InvalidPinFormat("auth")
    return pin.encode("ascii")


def normalize_password(password: str) -> bytes:
    """The signing password upper-cased (as J-LIS clients do) and checked: 6–16 of A–Z, 0–9."""
    if not isinstance(password, str):
        raise InvalidPinFormat("sign")
    upper = password.strip().upper()
    if not _PASSWORD_RE.fullmatch(upper):
        raise InvalidPinFormat("sign")
    return upper.encode("ascii")


class JpkiClient:
    """JPKI application commands (jpki.md §2.3) over a `CardTransport`."""

    def __init__(self, transport: CardTransport) -> None:
        self.transport = transport

    def _send(self, command: CommandApdu) -> tuple[bytes, int, int]:
        raw = command.to_bytes()
        log.debug("card > %s", mask_apdu(raw))
        data, sw1, sw2 = self.transport.transmit(raw)
        # Response data may be a signature: log its size only (security A14).
        log.debug("card < %d bytes, SW %02X %02X (%s)", len(data), sw1, sw2, sw_meaning(sw1, sw2))
        return data, sw1, sw2

    def _expect_ok(self, command: CommandApdu, kind: PinKind = "auth") -> bytes:
        data, sw1, sw2 = self._send(command)
        if (sw1 << 8 | sw2) != SW_OK:
            raise error_for_sw(sw1, sw2, kind)
        return data

    def select_ap(self) -> None:
        """SELECT the JPKI application; raises NotJpkiCard when the card has none."""
        _data, sw1, sw2 = self._send(CommandApdu.select_ap())
        if (sw1 << 8 | sw2) != SW_OK:
            raise NotJpkiCard(sw_meaning(sw1, sw2))

    def select_ef(self, fid: int, kind: PinKind = "auth") -> None:
        """SELECT an EF of the application."""
        self._expect_ok(CommandApdu.select_ef(fid), kind)

    def _read(self, offset: int, length: int, kind: PinKind) -> bytes:
        data, sw1, sw2 = self._send(CommandApdu.read_binary(offset, length))
        sw = sw1 << 8 | sw2
        if sw == SW_OFFSET:
            raise CardProtocolError("card returned fewer bytes than the certificate declares")
        if sw != SW_OK:
            raise error_for_sw(sw1, sw2, kind)
        if not data or len(data) > length:
            raise CardProtocolError(f"READ BINARY returned {len(data)} bytes for {length}")
        return data

    def read_certificate(self, kind: CertKind = "auth") -> bytes:
        """Read a certificate EF by its DER length header (never "until error").

        Reads 4 bytes, computes the total, refuses more than 4 KB, then reads the rest in chunks
        of at most 256 bytes; fails if the card returns fewer bytes. The signing certificate
        needs `verify_password` first (else SecurityStatusNotSatisfied).
        """
        pin_kind: PinKind = "sign" if kind == "sign" else "auth"
        self.select_ef(_CERT_FILES[kind], pin_kind)
        head = self._read(0, 4, pin_kind)
        if head[0] != 0x30:
            raise CardProtocolError("the file does not start with a DER SEQUENCE")
        try:
            total = der_total_length(head)
        except DerError as exc:
            raise CardProtocolError(f"bad DER length header: {exc}") from exc
        if total > MAX_CERTIFICATE_BYTES:
            raise CardProtocolError(f"declared certificate length {total} is implausible")
        out = bytearray(head[:total])
        while len(out) < total:
            chunk = min(READ_CHUNK, total - len(out))
            out += self._read(len(out), chunk, pin_kind)
        if len(out) != total:
            raise CardProtocolError("card returned more bytes than requested")
        return bytes(out)

    def token_label(self) -> str:
        """The token label of EF 0006 (first 32 bytes, ASCII, padding stripped)."""
        self.select_ef(EF_TOKEN)
        data = self._read(0, 32, "auth")
        return data.decode("ascii", "replace").rstrip(" \x00")

    def ensure_supported(self) -> str:
        """Select the application and refuse a Juki card (jpki.md §1); returns the label."""
        self.select_ap()
        try:
            label = self.token_label()
        except JpkiCardError:
            label = ""
        if label == JUKI_LABEL:
            raise NotJpkiCard("Juki card")
        return label

    def tries_left(self, kind: PinKind = "auth") -> int:
        """Remaining tries of the PIN (``auth``) or signing password (``sign``); uses no try."""
        self.select_ef(_PIN_FILES[kind], kind)
        _data, sw1, sw2 = self._send(CommandApdu.tries_left())
        sw = sw1 << 8 | sw2
        if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
            return sw2 & 0x0F
        if sw in (SW_AUTH_BLOCKED, SW_REF_DATA_BLOCKED):
            return 0
        if sw == SW_OK:
            # Already verified in this session: the counter is at its maximum.
            return MAX_TRIES[kind]
        raise error_for_sw(sw1, sw2, kind)

    def _verify(self, kind: PinKind, secret: bytes) -> None:
        self.select_ef(_PIN_FILES[kind], kind)
        self._expect_ok(CommandApdu.verify(secret), kind)

    def verify_pin(self, pin: str) -> None:
        """VERIFY the 4-digit authentication PIN; raises WrongPin(tries_left) or PinBlocked."""
        self._verify("auth", validate_pin(pin))

    def verify_password(self, password: str) -> None:
        """VERIFY the signing password (upper-cased); raises WrongPin or PinBlocked."""
        self._verify("sign", normalize_password(password))

    def sign_digest_info(self, digest_info: bytes, kind: PinKind = "auth") -> bytes:
        """COMPUTE DIGITAL SIGNATURE over a DigestInfo with the auth (or signing) key."""
        self.select_ef(_KEY_FILES[kind], kind)
        data = self._expect_ok(CommandApdu.compute_signature(digest_info), kind)
        if len(data) != SIGNATURE_BYTES:
            raise CardProtocolError(f"signature of {len(data)} bytes")
        return data

    def sign_login(self, message: bytes) -> bytes:
        """Sign SHA-256(message) with the authentication key (PIN must be verified)."""
        return self.sign_digest_info(digest_info_sha256(message), "auth")


# --- pyscard -------------------------------------------------------------------------------

_SCARD_E_NO_SERVICE = 0x8010001D
_SCARD_E_SERVICE_STOPPED = 0x8010001E
_SCARD_E_NO_READERS = 0x8010002E
_SCARD_E_UNKNOWN_READER = 0x80100009
_SCARD_E_READER_UNAVAILABLE = 0x80100017


def _hresult(exc: BaseException) -> int:
    value = getattr(exc, "hresult", -1)
    try:
        return int(value) & 0xFFFFFFFF
    except (TypeError, ValueError):
        return 0xFFFFFFFF


def _map_error(exc: Exception, stage: Literal["list", "connect", "transmit"]) -> JpkiCardError:
    """Translate a pyscard exception into our error hierarchy."""
    from smartcard.Exceptions import NoCardException

    name = type(exc).__name__
    hresult = _hresult(exc)
    if hresult in (_SCARD_E_NO_SERVICE, _SCARD_E_SERVICE_STOPPED) or name in {
        "EstablishContextException",
        "CardServiceNotFoundException",
        "CardServiceStoppedException",
    }:
        return NoPcscd(str(exc))
    if stage == "list":
        return NoReader(str(exc))
    if hresult in (_SCARD_E_UNKNOWN_READER, _SCARD_E_READER_UNAVAILABLE):
        return NoReader(str(exc))
    if stage == "connect" or isinstance(exc, NoCardException):
        return NoCard(str(exc))
    return CardRemoved(str(exc))


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """One reader as `flask jpki card status` shows it."""

    name: str
    card_present: bool
    atr: str = ""


def list_readers() -> list[str]:
    """Names of the PC/SC readers; raises NoPcscd when pcscd is not running."""
    try:
        from smartcard.System import readers
    except ImportError as exc:  # pyscard is a dependency; this only happens in broken installs
        raise NoPcscd(f"pyscard unavailable: {exc}") from exc
    try:
        return [str(r) for r in readers()]
    except Exception as exc:
        raise _map_error(exc, "list") from exc


class PyscardTransport:
    """A connection to one reader's card through pcscd (pyscard)."""

    def __init__(self, connection: Any, reader: str) -> None:
        self._connection = connection
        self.reader = reader

    @classmethod
    def connect(cls, reader: str) -> PyscardTransport:
        """Connect to the card in ``reader``; raises NoPcscd, NoReader or NoCard."""
        from smartcard.System import readers

        try:
            matches = [r for r in readers() if str(r) == reader]
        except Exception as exc:
            raise _map_error(exc, "list") from exc
        if not matches:
            raise NoReader(reader)
        try:
            connection = matches[0].createConnection()
            # Unpower on disconnect (pyscard's default, stated here because it matters): the
            # card forgets a verified PIN when we are done.
            from smartcard.scard import SCARD_UNPOWER_CARD

            connection.connect(disposition=SCARD_UNPOWER_CARD)
        except Exception as exc:
            raise _map_error(exc, "connect") from exc
        return cls(connection, reader)

    def atr(self) -> bytes:
        """The card's answer to reset."""
        try:
            return bytes(self._connection.getATR())
        except Exception as exc:
            raise _map_error(exc, "transmit") from exc

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send one APDU; raises CardRemoved (or NoPcscd) when the card or service went away."""
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except Exception as exc:
            raise _map_error(exc, "transmit") from exc
        return bytes(data), int(sw1), int(sw2)

    def close(self) -> None:
        """Disconnect (unpowering the card) and release the PC/SC context."""
        try:
            self._connection.disconnect()
        except Exception as exc:
            log.debug("disconnect failed: %s", exc)
        try:
            self._connection.release()
        except Exception as exc:
            log.debug("release failed: %s", exc)


def reader_states() -> dict[str, int]:
    """PC/SC state flags of every reader, without connecting to (and so powering) any card."""
    from smartcard import scard

    try:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise NoPcscd(scard.SCardGetErrorMessage(hresult))
        try:
            hresult, names = scard.SCardListReaders(context, [])
            if hresult != scard.SCARD_S_SUCCESS or not names:
                return {}
            hresult, states = scard.SCardGetStatusChange(
                context, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in names]
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise _map_error(RuntimeError(scard.SCardGetErrorMessage(hresult)), "list")
            return {str(name): int(state) for name, state, _atr in states}
        finally:
            scard.SCardReleaseContext(context)
    except JpkiCardError:
        raise
    except Exception as exc:
        raise _map_error(exc, "list") from exc


def card_present(reader: str) -> bool:
    """True when pcscd reports a card in ``reader`` (no connection is made)."""
    from smartcard import scard

    state = reader_states().get(reader)
    return state is not None and bool(state & scard.SCARD_STATE_PRESENT)


def reader_infos() -> list[ReaderInfo]:
    """Every reader with whether a card is present and its ATR (for the status command)."""
    infos = []
    for name in list_readers():
        try:
            transport = PyscardTransport.connect(name)
        except (NoCard, NoReader):
            infos.append(ReaderInfo(name, False))
            continue
        try:
            infos.append(ReaderInfo(name, True, transport.atr().hex(" ").upper()))
        except JpkiCardError:
            infos.append(ReaderInfo(name, False))
        finally:
            transport.close()
    return infos


@contextmanager
def open_jpki_card(reader: str | None = None) -> Iterator[tuple[JpkiClient, PyscardTransport]]:
    """Yield a client for the first reader whose card answers SELECT of the JPKI application
    (or for ``reader``, matched exactly or as a unique substring). The card is unpowered on exit.

    Raises NoPcscd, NoReader, NoCard or NotJpkiCard.
    """
    names = list_readers()
    if reader is not None:
        exact = [n for n in names if n == reader]
        names = exact or [n for n in names if reader in n]
        if len(names) != 1:
            raise NoReader(reader)
    if not names:
        raise NoReader("no readers")
    saw_card = False
    last_error: JpkiCardError | None = None
    for name in names:
        try:
            transport = PyscardTransport.connect(name)
        except NoCard as exc:
            last_error = exc
            continue
        saw_card = True
        client = JpkiClient(transport)
        try:
            client.ensure_supported()
        except (NotJpkiCard, ApduError, CardProtocolError) as exc:
            transport.close()
            last_error = exc
            continue
        except JpkiCardError:
            transport.close()
            raise
        try:
            yield client, transport
        finally:
            transport.close()
        return
    if not saw_card:
        raise NoCard(str(last_error) if last_error else "")
    raise NotJpkiCard(str(last_error) if last_error else "")
