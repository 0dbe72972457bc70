"""Shared JPKI fixtures (a pytest plugin loaded by tests/conftest.py): one generated test PKI
per run, and the real PC/SC stack — pcscd, Debian's vsmartcard-vpcd virtual reader and the
project's emulated My Number Card — for `card` tests, JPKI web tests and end-to-end journeys.

Card tests need pcscd and vsmartcard-vpcd. When they are missing the tests ERROR instead of
skipping, so a green run always means the card path was tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from app.auth.jpki.testpki import TestPki, make_test_pki
from app.auth.jpki.virtual_card import JpkiCardEmulator, VirtualCardServer

# The second vpcd slot, so tests do not collide with a demo card running in the first one
# (`flask jpki virtual-card` defaults to 127.0.0.1:35963 = "Virtual PCD 00 00").
VPCD_READER = "Virtual PCD 00 01"
VPCD_PORT = 35964


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The generated test PKI (RSA key generation is slow: once per run)."""
    return make_test_pki(str(tmp_path_factory.mktemp("jpki-pki")))


# --- the real PC/SC stack ---------------------------------------------------------------------


def _reader_has_card(name: str) -> bool:
    from app.auth.jpki.card import card_present

    # Ask pcscd's reader state instead of connecting: a connect while vpcd is still handing
    # over the ATR can make pcscd give up on the inserted card.
    return card_present(name)


def wait_for_card(present: bool, timeout: float = 10.0) -> None:
    """Wait until pcscd reports the vpcd slot with (or without) a card."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reader_has_card(VPCD_READER) == present:
            return
        time.sleep(0.05)
    from app.auth.jpki.card import reader_states

    state = reader_states().get(VPCD_READER, 0)
    pytest.fail(
        f"pcscd did not see the virtual card {'inserted' if present else 'removed'} "
        f"(reader state {state:#x})"
    )


@pytest.fixture(scope="session")
def pcscd() -> None:
    """pcscd running with the vpcd reader; started here (it daemonises) when it is not."""
    from app.auth.jpki.card import list_readers
    from app.auth.jpki.errors import NoPcscd

    if subprocess.run(["pidof", "pcscd"], capture_output=True, check=False).returncode != 0:
        binary = shutil.which("pcscd") or (
            "/usr/sbin/pcscd" if os.path.exists("/usr/sbin/pcscd") else None
        )
        if binary is None:
            pytest.fail("pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)")
        subprocess.run([binary], check=True)
    deadline = time.monotonic() + 10
    readers: list[str] = []
    while time.monotonic() < deadline:
        try:
            readers = list_readers()
        except NoPcscd:
            readers = []
        if VPCD_READER in readers:
            return
        time.sleep(0.1)
    pytest.fail(
        f"pcscd shows no {VPCD_READER!r} reader (readers: {readers}); "
        "install vsmartcard-vpcd and restart pcscd"
    )


@pytest.fixture(scope="session")
def vcard_server(pcscd: None, pki: TestPki) -> Iterator[VirtualCardServer]:
    """The emulated card inserted into the test vpcd slot for the whole session."""
    server = VirtualCardServer(JpkiCardEmulator.from_pki(pki.root, "taro"), port=VPCD_PORT)
    server.start()
    if not server.connected.wait(10):
        server.stop()
        pytest.fail(f"could not connect the virtual card to vpcd on 127.0.0.1:{VPCD_PORT}")
    wait_for_card(True)
    yield server
    server.stop()


@pytest.fixture
def vcard(vcard_server: VirtualCardServer, pki: TestPki) -> Iterator[VirtualCardServer]:
    """A freshly personalised card (taro; full tries) in the reader for one test."""
    server = vcard_server
    server.remove_after_apdus = None
    server.reinsert_delay = 1.0
    server.card = JpkiCardEmulator.from_pki(pki.root, "taro")
    server.insert()
    wait_for_card(True)
    yield server
    server.remove_after_apdus = None
    server.insert()
