"""Monitor test fixtures: a JPKI test PKI (once per session) and a monitor logged in by card."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.jpki.testpki import TestPki, make_test_pki
from tests.privacy.conftest import spawn_app  # noqa: F401 - shared fixture


@pytest.fixture(scope="session")
def monitor_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(str(tmp_path_factory.mktemp("monitor-pki")))


@pytest.fixture
def jpki_config(app_config: dict[str, Any], monitor_pki: TestPki) -> dict[str, Any]:
    """Trust the test PKI in this test's app (set before `app` is created)."""
    from app.auth.jpki.verify import clear_store_cache

    clear_store_cache()
    app_config.update(
        JPKI_TRUST_DIR=monitor_pki.trust_dir, JPKI_CRL_DIR=monitor_pki.crl_dir, JPKI_TEST_MODE=True
    )
    return app_config


@pytest.fixture
def monitor_login(client: Any) -> Any:
    """Make `client` the JPKI-verified session of a monitor (as the JPKI login would)."""
    from app.db import utcnow
    from app.survey import identity

    def _login(monitor: Any) -> Any:
        with client.session_transaction() as sess:
            sess[identity.SESSION_MONITOR] = monitor.pseudonym
            sess[identity.SESSION_AT] = utcnow().isoformat()
        return client

    return _login
