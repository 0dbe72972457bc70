"""JPKI library fixtures: verifier settings and CRL folders.

The test PKI and the real PC/SC stack (pcscd, vpcd, the emulated card) are shared fixtures in
tests/jpki_fixtures.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth.jpki.settings import JpkiSettings
from app.auth.jpki.testpki import TestPki
from app.auth.jpki.verify import Stores, clear_store_cache, get_stores
from tests.jpki_fixtures import VPCD_PORT, VPCD_READER, wait_for_card

__all__ = ["VPCD_PORT", "VPCD_READER", "crl_dir_with", "wait_for_card"]


@pytest.fixture(scope="session")
def settings(pki: TestPki) -> JpkiSettings:
    """Production-like settings over the test anchors and current CRLs (fail-closed)."""
    return JpkiSettings(trust_dir=pki.trust_dir, crl_dir=pki.crl_dir)


@pytest.fixture
def stores(settings: JpkiSettings) -> Stores:
    """Loaded anchors and CRLs for `settings`."""
    return get_stores(settings)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """Tests that rewrite anchor or CRL folders start and end with an empty store cache."""
    clear_store_cache()
    yield
    clear_store_cache()


def crl_dir_with(tmp_path: Path, pki: TestPki, *relative: str) -> str:
    """A new CRL folder holding copies of the named test-PKI files."""
    target = tmp_path / "crl"
    target.mkdir(parents=True, exist_ok=True)
    for rel in relative:
        shutil.copy(pki.path(rel), target / Path(rel).name)
    return str(target)
