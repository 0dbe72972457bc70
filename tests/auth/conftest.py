"""Fixtures shared by the account and JPKI tests: one generated test PKI per run."""

from __future__ import annotations

import pytest

from app.auth.jpki.testpki import TestPki, make_test_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The generated JPKI-shaped test PKI (RSA key generation is slow: once per run)."""
    return make_test_pki(str(tmp_path_factory.mktemp("jpki-pki")))
