"""ISO 7816-4 short APDUs for the JPKI application, status words and their meanings.

Parsing raises only `ApduError`, whatever the input, so card traffic (and the emulated card's
input from vpcd) can be fuzzed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    ApduError,
    CardProtocolError,
    CertificateNotFound,
    JpkiCardError,
    PinBlocked,
    PinKind,
    SecurityStatusNotSatisfied,
    WrongPin,
)

__all__ = [
    "EF_AUTH_CA",
    "EF_AUTH_CERT",
    "EF_AUTH_KEY",
    "EF_AUTH_PIN",
    "EF_PRESENCE",
    "EF_SIGN_CA",
    "EF_SIGN_CERT",
    "EF_SIGN_KEY",
    "EF_SIGN_PASSWORD",
    "EF_TOKEN",
    "JPKI_AID",
    "SW_MEANINGS",
    "CommandApdu",
    "ResponseApdu",
    "error_for_sw",
    "mask_apdu",
    "sw_meaning",
]

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_SIGN_CERT = 0x0001
EF_SIGN_CA = 0x0002
EF_TOKEN = 0x0006
EF_PRESENCE = 0x0008
EF_AUTH_CERT = 0x000A
EF_AUTH_CA = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
EF_SIGN_KEY = 0x001A
EF_SIGN_PASSWORD = 0x001B

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_CHANGE_PIN = 0x24
INS_COMPUTE_SIGNATURE = 0x2A

SW_OK = 0x9000
SW_SECURITY_STATUS = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_REF_DATA_BLOCKED = 0x6984
SW_CONDITIONS = 0x6985
SW_FILE_NOT_FOUND = 0x6A82
SW_BAD_P1P2 = 0x6A86
SW_WRONG_LENGTH = 0x6700
SW_OFFSET = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00

# jpki.md §2.7
SW_MEANINGS: dict[int, str] = {
    SW_OK: "success",
    SW_SECURITY_STATUS: "security status not satisfied (PIN not verified)",
    SW_AUTH_BLOCKED: "authentication method blocked",
    SW_REF_DATA_BLOCKED: "reference data blocked",
    SW_CONDITIONS: "conditions of use not satisfied",
    SW_FILE_NOT_FOUND: "file not found",
    SW_BAD_P1P2: "incorrect P1/P2",
    SW_WRONG_LENGTH: "wrong length",
    SW_OFFSET: "offset beyond end of file",
    SW_INS: "instruction not supported",
    SW_CLA: "class not supported",
}


def sw_meaning(sw1: int, sw2: int) -> str:
    """Human meaning of a status word (for traces and errors)."""
    sw = sw1 << 8 | sw2
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        tries = sw2 & 0x0F
        return "blocked (0 tries left)" if tries == 0 else f"wrong PIN, {tries} tries left"
    return SW_MEANINGS.get(sw, f"status {sw:04X}")


@dataclass(frozen=True, slots=True)
class CommandApdu:
    """A short command APDU (cases 1–4; Lc ≤ 255, Le ≤ 256 with 0 meaning 256)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # None: no Le field; 256 is encoded as 00

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ApduError(f"{name} must be a byte")
        if not isinstance(self.data, bytes) or len(self.data) > 255:
            raise ApduError("data must be at most 255 bytes")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ApduError("Le must be 1..256")

    def to_bytes(self) -> bytes:
        """Encode as sent to the card."""
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode a short APDU; raises ApduError for extended or inconsistent encodings."""
        if not isinstance(raw, bytes | bytearray):
            raise ApduError("APDU must be bytes")
        raw = bytes(raw)
        if len(raw) < 4:
            raise ApduError("APDU shorter than 4 bytes")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ApduError("extended APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=body[1:])
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=body[1 : 1 + lc], le=body[1 + lc] or 256)
        raise ApduError("Lc does not match the data length")

    # Builders for the JPKI commands (jpki.md §2.3).

    @classmethod
    def select_ap(cls) -> CommandApdu:
        """SELECT the JPKI application by DF name, no FCI."""
        return cls(0x00, INS_SELECT, 0x04, 0x0C, JPKI_AID)

    @classmethod
    def select_ef(cls, fid: int) -> CommandApdu:
        """SELECT an elementary file under the application by its 2-byte id."""
        if not 0 <= fid <= 0xFFFF:
            raise ApduError("file id must be 2 bytes")
        return cls(0x00, INS_SELECT, 0x02, 0x0C, fid.to_bytes(2, "big"))

    @classmethod
    def read_binary(cls, offset: int, length: int) -> CommandApdu:
        """READ BINARY ``length`` (1..256) bytes at a 15-bit ``offset``."""
        if not 0 <= offset <= 0x7FFF:
            raise ApduError("offset must be 15 bits")
        return cls(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=length)

    @classmethod
    def tries_left(cls) -> CommandApdu:
        """Empty VERIFY: asks the selected PIN's tries counter without using a try."""
        return cls(0x00, INS_VERIFY, 0x00, 0x80)

    @classmethod
    def verify(cls, secret: bytes) -> CommandApdu:
        """VERIFY the selected PIN/password (the secret is masked in traces)."""
        return cls(0x00, INS_VERIFY, 0x00, 0x80, secret)

    @classmethod
    def compute_signature(cls, digest_info: bytes) -> CommandApdu:
        """COMPUTE DIGITAL SIGNATURE with the selected key over a DigestInfo (CLA 80)."""
        return cls(0x80, INS_COMPUTE_SIGNATURE, 0x00, 0x80, digest_info, le=256)


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    """A response: data and the two status bytes."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        """SW1SW2 as one integer."""
        return self.sw1 << 8 | self.sw2

    @property
    def ok(self) -> bool:
        """True for 90 00."""
        return self.sw == SW_OK

    def to_bytes(self) -> bytes:
        """Encode as the card sends it."""
        return self.data + bytes([self.sw1, self.sw2])

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        """Decode a response; raises ApduError when shorter than the two status bytes."""
        if not isinstance(raw, bytes | bytearray) or len(raw) < 2:
            raise ApduError("response shorter than 2 bytes")
        raw = bytes(raw)
        return cls(raw[:-2], raw[-2], raw[-1])


def mask_apdu(apdu: bytes) -> str:
    """Hex of an APDU for traces, with VERIFY data (PINs, passwords) replaced by ``**``."""
    if len(apdu) >= 5 and apdu[1] in (INS_VERIFY, INS_CHANGE_PIN) and len(apdu) > 5:
        return apdu[:5].hex(" ").upper() + " " + " ".join("**" for _ in apdu[5:])
    return apdu.hex(" ").upper()


def error_for_sw(sw1: int, sw2: int, kind: PinKind = "auth") -> JpkiCardError:
    """The client error for a non-success status word (``kind`` names the PIN concerned)."""
    sw = sw1 << 8 | sw2
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        tries = sw2 & 0x0F
        return PinBlocked(kind) if tries == 0 else WrongPin(tries, kind)
    if sw in (SW_AUTH_BLOCKED, SW_REF_DATA_BLOCKED):
        return PinBlocked(kind)
    if sw == SW_SECURITY_STATUS:
        return SecurityStatusNotSatisfied(sw_meaning(sw1, sw2))
    if sw == SW_FILE_NOT_FOUND:
        return CertificateNotFound(sw_meaning(sw1, sw2))
    return CardProtocolError(sw_meaning(sw1, sw2))
