"""An emulated My Number Card (JPKI application) for Debian's vsmartcard-vpcd reader driver.

pcscd loads the vpcd driver, which listens on 127.0.0.1:35963 for the first virtual slot
("Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01"). This module connects to it as the card:
every message is a 2-byte big-endian length then the payload; a 1-byte payload is a control
(0 power off, 1 power on, 2 reset, 4 send the ATR), anything else is a command APDU to answer.
To pcscd and pyscard it is a real card in a real reader.

The card follows jpki.md §2.8. It is for tests, development and demos only: its keys are the
test PKI's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .apdu import (
    EF_AUTH_CA,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    EF_PRESENCE,
    EF_SIGN_CA,
    EF_SIGN_CERT,
    EF_SIGN_KEY,
    EF_SIGN_PASSWORD,
    EF_TOKEN,
    INS_CHANGE_PIN,
    INS_COMPUTE_SIGNATURE,
    INS_READ_BINARY,
    INS_SELECT,
    INS_VERIFY,
    JPKI_AID,
    CommandApdu,
)
from .errors import ApduError
from .signature import sign_digest_info

__all__ = [
    "ATR",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "JpkiCardEmulator",
    "VirtualCardServer",
    "main",
]

log = logging.getLogger(__name__)

ATR = bytes.fromhex("3BE000FF8131FE4514")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
TOKEN_LABEL = "JPKIAPICCTOKEN2"  # noqa: S105 - a card label, not a secret

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4

_PIN_KIND = {EF_AUTH_PIN: "auth", EF_SIGN_PASSWORD: "sign"}
_KEY_KIND = {EF_AUTH_KEY: "auth", EF_SIGN_KEY: "sign"}
MAX_TRIES = {"auth": 3, "sign": 5}
MAX_SIGN_INPUT = 245  # k - 11 for RSA-2048


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


def _padded(der: bytes) -> bytes:
    """EF contents: the DER object then filler, as on real cards (EFs are larger than the
    certificate), so a reader that reads "until error" gets garbage and notices."""
    size = max(2048, len(der) + 256)
    return der + b"\xff" * (size - len(der))


@dataclass
class JpkiCardEmulator:
    """State machine of the JPKI application on one card."""

    auth_cert: bytes
    auth_key: rsa.RSAPrivateKey
    auth_ca: bytes
    sign_cert: bytes | None = None
    sign_key: rsa.RSAPrivateKey | None = None
    sign_ca: bytes | None = None
    pin: str = "1234"
    password: str = "ABC123"  # noqa: S105 - the emulated test card's default
    label: str = TOKEN_LABEL
    aid: bytes = JPKI_AID  # another AID makes it "some other card" for tests
    tries: dict[str, int] = field(default_factory=lambda: dict(MAX_TRIES))
    app_selected: bool = False
    current_ef: int | None = None
    verified: dict[str, bool] = field(default_factory=lambda: {"auth": False, "sign": False})

    def __post_init__(self) -> None:
        self.files: dict[int, bytes] = {
            EF_TOKEN: self.label.encode("ascii").ljust(32, b" ") + bytes(128),
            EF_PRESENCE: bytes([0x8F if self.sign_cert else 0x00, 0x8F, 0x00]),
            EF_AUTH_CERT: _padded(self.auth_cert),
            EF_AUTH_CA: _padded(self.auth_ca),
        }
        if self.sign_cert is not None and self.sign_key is not None:
            self.files[EF_SIGN_CERT] = _padded(self.sign_cert)
            self.files[EF_SIGN_CA] = _padded(self.sign_ca or b"")

    @classmethod
    def from_pki(
        cls, pki_dir: str, card: str, *, pin: str | None = None, password: str | None = None
    ) -> JpkiCardEmulator:
        """Load a card of the test PKI (``DIR/cards/NAME/``); PIN/password default to card.json."""
        base = os.path.join(pki_dir, "cards", card)
        if not os.path.isdir(base):
            raise FileNotFoundError(f"no card {card!r} in {pki_dir}")

        def read(name: str) -> bytes | None:
            path = os.path.join(base, name)
            if not os.path.exists(path):
                return None
            with open(path, "rb") as fh:
                return fh.read()

        def key(name: str) -> rsa.RSAPrivateKey | None:
            data = read(name)
            if data is None:
                return None
            loaded = serialization.load_pem_private_key(data, password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{name} is not an RSA key")
            return loaded

        with open(os.path.join(base, "card.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
        auth_cert, auth_key, auth_ca = read("auth.der"), key("auth.key.pem"), read("auth_ca.der")
        if auth_cert is None or auth_key is None or auth_ca is None:
            raise FileNotFoundError(f"card {card!r} lacks its authentication certificate or key")
        return cls(
            auth_cert=auth_cert,
            auth_key=auth_key,
            auth_ca=auth_ca,
            sign_cert=read("sign.der"),
            sign_key=key("sign.key.pem"),
            sign_ca=read("sign_ca.der"),
            pin=pin if pin is not None else meta["pin"],
            password=(password if password is not None else meta.get("password") or "").upper(),
        )

    # -- power -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Power off, power on or reset: volatile state goes, tries counters stay."""
        self.app_selected = False
        self.current_ef = None
        self.verified = {"auth": False, "sign": False}

    # -- commands ----------------------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU (response data + SW). Never raises."""
        try:
            cmd = CommandApdu.parse(raw)
        except ApduError:
            return _sw(0x6700)
        try:
            return self._dispatch(cmd)
        except Exception:  # a bug in the emulator must not kill the reader loop
            log.exception("virtual card: error answering %s", raw[:4].hex())
            return _sw(0x6F00)

    def _dispatch(self, cmd: CommandApdu) -> bytes:
        if cmd.cla not in (0x00, 0x80):
            return _sw(0x6E00)
        handlers: dict[int, Callable[[CommandApdu], bytes]] = {
            INS_SELECT: self._select,
            INS_READ_BINARY: self._read_binary,
            INS_VERIFY: self._verify,
            INS_CHANGE_PIN: self._change_pin,
            INS_COMPUTE_SIGNATURE: self._compute_signature,
        }
        handler = handlers.get(cmd.ins)
        if handler is None:
            return _sw(0x6D00)
        expected_cla = 0x80 if cmd.ins == INS_COMPUTE_SIGNATURE else 0x00
        if cmd.cla != expected_cla:
            return _sw(0x6E00)
        return handler(cmd)

    def _exists(self, fid: int) -> bool:
        if fid in self.files:
            return True
        if fid in (EF_AUTH_KEY, EF_AUTH_PIN):
            return True
        return fid in (EF_SIGN_KEY, EF_SIGN_PASSWORD) and self.sign_key is not None

    def _select(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 == 0x04:
            if cmd.p2 not in (0x0C, 0x00):
                return _sw(0x6A86)
            if cmd.data != self.aid:
                return _sw(0x6A82)
            self.app_selected = True
            self.current_ef = None
            return _sw(0x9000)
        if cmd.p1 == 0x02:
            if cmd.p2 != 0x0C:
                return _sw(0x6A86)
            if len(cmd.data) != 2:
                return _sw(0x6700)
            fid = int.from_bytes(cmd.data, "big")
            if not self.app_selected or not self._exists(fid):
                return _sw(0x6A82)
            self.current_ef = fid
            return _sw(0x9000)
        return _sw(0x6A86)

    def _read_binary(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 & 0x80:
            return _sw(0x6A86)  # short-EF-id addressing is not offered
        if cmd.le is None or cmd.data:
            return _sw(0x6700)
        fid = self.current_ef
        if fid is None or fid not in self.files:
            return _sw(0x6986)
        if fid == EF_SIGN_CERT and not self.verified["sign"]:
            return _sw(0x6982)
        content = self.files[fid]
        offset = cmd.p1 << 8 | cmd.p2
        if offset >= len(content):
            return _sw(0x6B00)
        return _sw(0x9000, content[offset : offset + cmd.le])

    def _pin_kind(self, cmd: CommandApdu) -> str | None:
        if cmd.p2 != 0x80 or self.current_ef is None:
            return None
        return _PIN_KIND.get(self.current_ef)

    def _verify(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 != 0x00:
            return _sw(0x6A86)
        kind = self._pin_kind(cmd)
        if kind is None:
            return _sw(0x6985)
        if not cmd.data:
            return _sw(0x63C0 | self.tries[kind])
        if self.tries[kind] == 0:
            return _sw(0x6984)
        secret = (self.pin if kind == "auth" else self.password).encode("ascii")
        if cmd.data != secret:
            self.tries[kind] -= 1
            self.verified[kind] = False
            return _sw(0x63C0 | self.tries[kind])
        self.tries[kind] = MAX_TRIES[kind]
        self.verified[kind] = True
        return _sw(0x9000)

    def _change_pin(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 != 0x01:
            return _sw(0x6A86)
        kind = self._pin_kind(cmd)
        if kind is None:
            return _sw(0x6985)
        if not self.verified[kind]:
            return _sw(0x6982)
        new = cmd.data.decode("ascii", "replace")
        valid = (
            len(new) == 4 and new.isdigit()
            if kind == "auth"
            else 6 <= len(new) <= 16 and all(c.isdigit() or "A" <= c <= "Z" for c in new)
        )
        if not valid:
            return _sw(0x6A80)
        if kind == "auth":
            self.pin = new
        else:
            self.password = new
        return _sw(0x9000)

    def _compute_signature(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 != 0x80:
            return _sw(0x6A86)
        kind = _KEY_KIND.get(self.current_ef) if self.current_ef is not None else None
        if kind is None:
            return _sw(0x6985)
        key = self.auth_key if kind == "auth" else self.sign_key
        if key is None:
            return _sw(0x6A82)
        if not self.verified[kind]:
            return _sw(0x6982)
        if not cmd.data or len(cmd.data) > MAX_SIGN_INPUT:
            return _sw(0x6700)
        if cmd.le is not None and cmd.le != 256:
            return _sw(0x6700)
        return _sw(0x9000, sign_digest_info(key, cmd.data))


class VirtualCardServer:
    """Keeps the emulated card "inserted" in a vpcd slot; reconnects when vpcd restarts.

    ``remove_after_apdus``: after answering that many more APDUs, the next APDU is not answered
    and the connection is closed, as if the card were pulled out mid-operation; the card is
    re-inserted after ``reinsert_delay`` seconds (None: stays out until `insert`).
    """

    def __init__(
        self,
        card: JpkiCardEmulator,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        retry_delay: float = 0.3,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.retry_delay = retry_delay
        self.remove_after_apdus: int | None = None
        # pcscd polls the slot every 400 ms and only notices a removal it polled itself; a card
        # back within one period looks as if it never left (and stays "empty" to clients).
        self.reinsert_delay: float | None = 1.0
        self.apdu_count = 0
        self.connected = threading.Event()
        self._present = threading.Event()
        self._present.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> VirtualCardServer:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="virtual-card", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Remove the card and stop the thread."""
        self._stop.set()
        self._close()
        if self._thread is not None:
            self._thread.join(timeout)

    def remove(self) -> None:
        """Pull the card out and keep it out until `insert`."""
        self._present.clear()
        self._close()

    def insert(self) -> None:
        """Put the card (back) in; the server connects to vpcd again."""
        self._present.set()

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        self.connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def serve_forever(self) -> None:
        """Connect to vpcd and answer it until stopped; retry while vpcd is not there."""
        while not self._stop.is_set():
            if not self._present.is_set():
                self._stop.wait(0.05)
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError:
                self._stop.wait(self.retry_delay)
                continue
            sock.settimeout(0.2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self.apdu_count = 0
            self.card.reset()
            self.connected.set()
            log.info("virtual card inserted at %s:%d", self.host, self.port)
            removed_by_hook = self._session(sock)
            self._close()
            log.info("virtual card removed")
            if removed_by_hook:
                if self.reinsert_delay is None:
                    self._present.clear()
                else:
                    self._stop.wait(self.reinsert_delay)
            elif self._present.is_set():
                # vpcd went away (pcscd restarted): try again shortly.
                self._stop.wait(self.retry_delay)

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            if self._stop.is_set() or self._sock is not sock:
                return None
            try:
                chunk = sock.recv(n - len(buf))
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
            # vpcd writes the length and the APDU separately; acknowledging at once avoids a
            # delayed-ACK/Nagle stall of about 40 ms per APDU (Linux only).
            quickack = getattr(socket, "TCP_QUICKACK", None)
            if quickack is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
        return bytes(buf)

    def _send(self, sock: socket.socket, payload: bytes) -> bool:
        try:
            sock.sendall(struct.pack(">H", len(payload)) + payload)
        except OSError:
            return False
        return True

    def _session(self, sock: socket.socket) -> bool:
        """Serve one connection; True when it ended because the removal hook fired."""
        while True:
            header = self._recv_exact(sock, 2)
            if header is None:
                return False
            (length,) = struct.unpack(">H", header)
            payload = self._recv_exact(sock, length) if length else b""
            if payload is None:
                return False
            if length == 1:
                control = payload[0]
                log.debug("virtual card: control %d", control)
                if control in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                    self.card.reset()
                elif control == CTRL_ATR and not self._send(sock, ATR):
                    return False
                continue
            if not payload:
                continue
            if self.remove_after_apdus is not None:
                if self.remove_after_apdus <= 0:
                    self.remove_after_apdus = None
                    return True
                self.remove_after_apdus -= 1
            self.apdu_count += 1
            if not self._send(sock, self.card.process(payload)):
                return False


def main(argv: list[str] | None = None) -> int:
    """``python -m app.auth.jpki.virtual_card --pki DIR --card NAME`` (as the flask command)."""
    parser = argparse.ArgumentParser(description="Emulated JPKI card for vsmartcard-vpcd")
    parser.add_argument("--pki", required=True, help="test PKI directory (make-test-pki)")
    parser.add_argument("--card", required=True, help="card name under DIR/cards/")
    parser.add_argument("--pin", default=None)
    parser.add_argument("--password", default=None)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(args.pki, args.card, pin=args.pin, password=args.password, host=args.host, port=args.port)
    return 0


def run(
    pki: str,
    card: str,
    *,
    pin: str | None = None,
    password: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> None:
    """Serve the card until interrupted (Ctrl-C)."""
    emulator = JpkiCardEmulator.from_pki(pki, card, pin=pin, password=password)
    server = VirtualCardServer(emulator, host, port)
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
