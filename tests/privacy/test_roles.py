"""Public and internal servers: the public one holds no vault secret and cannot read what it
seals; the internal one refuses to start without its keys; both side by side file a
registration end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app import ConfigError, create_app
from app.extensions import db
from app.privacy.keys import current_keys
from app.privacy.models import AuditEntry, InboxEnvelope
from app.survey.models import Monitor

FORM = {
    "name": "長岡 花子",
    "name_kana": "ながおか はなこ",
    "postal_code": "９４０－００６２",
    "address": "新潟県長岡市大手通1丁目",
    "sex": "female",
    "birth_date": "1990-01-02",
    "phone": "",
    "email": "hanako@example.jp",
    "mobile_email": "",
    "consent": ["registration:city", "survey_request:city"],
}


def _cli(app: Any, *args: str) -> Any:
    """Run a command in `app`'s own context (the CLI would reuse an already pushed one)."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args))
        db.session.remove()
    return result


def _pair(app: Any, tmp_path: Path, spawn_app: Any) -> tuple[Any, Any]:
    """An internal and a public app over the test's database pair."""
    base = {k: app.config[k] for k in ("DATABASE_URL", "PII_DATABASE_URL")}
    internal = spawn_app(**base, APP_ROLE="internal", INSTANCE_DIR=str(tmp_path / "internal"))
    result = _cli(internal, "privacy", "export-public-keys", str(tmp_path / "public-keys"))
    assert result.exit_code == 0, result.output
    public = spawn_app(
        DATABASE_URL=base["DATABASE_URL"],
        APP_ROLE="public",
        INSTANCE_DIR=str(tmp_path / "public"),
        PRIVACY_KEYS_DIR=str(tmp_path / "public-keys"),
    )
    from tests.conftest import IsolatedClient

    public.test_client_class = IsolatedClient
    return internal, public


def test_public_role_refuses_to_start_with_a_vault_secret(app_config, tmp_path, spawn_app):
    internal = spawn_app(**app_config, APP_ROLE="internal")
    keys_dir = Path(app_config["INSTANCE_DIR"]) / "keys"
    assert (keys_dir / "vault_private.key").exists()
    with pytest.raises(ConfigError, match="vault_private"):
        create_app("testing", overrides={**app_config, "APP_ROLE": "public"})
    private = (keys_dir / "vault_private.key").read_text().strip()
    with pytest.raises(ConfigError, match="PRIVACY_VAULT_PRIVATE_KEY"):
        create_app(
            "testing",
            overrides={
                **app_config,
                "APP_ROLE": "public",
                "INSTANCE_DIR": str(tmp_path / "elsewhere"),
                "PRIVACY_VAULT_PRIVATE_KEY": private,
            },
        )
    del internal


def test_internal_role_without_its_keys_does_not_start(app_config, tmp_path, spawn_app):
    spawn_app(**app_config, APP_ROLE="internal")
    (Path(app_config["INSTANCE_DIR"]) / "keys" / "master.key").unlink()
    with pytest.raises(ConfigError, match="master"):
        create_app("testing", overrides={**app_config, "APP_ROLE": "internal"})
    with pytest.raises(ConfigError, match="missing"):
        create_app(
            "testing",
            overrides={
                **app_config,
                "INSTANCE_DIR": str(tmp_path / "fresh"),
                "PRIVACY_GENERATE_KEYS": False,
            },
        )


def test_the_public_role_has_no_vault_and_cannot_open_its_envelopes(app, tmp_path, spawn_app):
    from app.privacy.envelopes import open_envelope, seal_envelope
    from app.privacy.vault import VaultUnavailable, access, vault_available

    _internal, public = _pair(app, tmp_path, spawn_app)
    with public.app_context():
        assert "pii" not in public.config["SQLALCHEMY_BINDS"]
        keys = current_keys()
        assert keys.master is None and keys.audit is None and keys.vault_private is None
        assert not vault_available()
        row = seal_envelope("registration", "default", {"fields": {"name": "秘密 花子"}})
        assert "秘密".encode() not in bytes(row.sealed)
        with pytest.raises(VaultUnavailable):
            open_envelope(row)
        with pytest.raises(VaultUnavailable):
            access("self", "user:1", ["M000000000"], "curious")
        db.session.rollback()


def test_both_roles_side_by_side_register_then_intake_then_filed(app, tmp_path, spawn_app):
    internal, public = _pair(app, tmp_path, spawn_app)
    client = public.test_client()
    page = client.get("/monitors/register")
    assert page.status_code == 200
    assert "ICカードリーダーの発送" in page.get_data(as_text=True)
    response = client.post("/monitors/register", data=FORM)
    assert response.status_code == 302, response.get_data(as_text=True)
    with public.app_context():
        [row] = db.session.execute(select(InboxEnvelope)).scalars().all()
        assert row.status == "pending"
        assert b"hanako" not in bytes(row.sealed)
        assert db.session.execute(select(Monitor)).first() is None
    result = _cli(internal, "privacy", "intake")
    assert result.exit_code == 0, result.output
    assert '"filed": 1' in result.output
    with internal.app_context():
        from app.privacy.vault import access

        monitor = db.session.execute(select(Monitor)).scalar_one()
        assert (monitor.district, monitor.sex, monitor.age_band) == ("", "female", 30)
        [view] = access("survey_request", "user:1", [monitor.pseudonym], "test")
        assert view.email == "hanako@example.jp"
        assert access("trial_contact", "user:1", [monitor.pseudonym], "test") == []
        [me] = access("self", "user:1", [monitor.pseudonym], "test")
        assert (me.name_kana, me.postal_code) == ("ナガオカ ハナコ", "940-0062")
        row = db.session.execute(select(InboxEnvelope)).scalar_one()
        assert row.status == "filed" and bytes(row.sealed) == b""
        db.session.rollback()


def test_a_tampered_envelope_is_rejected_logged_and_nothing_filed(app, tmp_path, spawn_app, capfd):
    internal, public = _pair(app, tmp_path, spawn_app)
    assert public.test_client().post("/monitors/register", data=FORM).status_code == 302
    with public.app_context():
        row = db.session.execute(select(InboxEnvelope)).scalar_one()
        sealed = bytearray(row.sealed)
        sealed[40] ^= 0x01
        row.sealed = bytes(sealed)
        db.session.commit()
    result = _cli(internal, "privacy", "intake")
    assert '"rejected": 1' in result.output
    with internal.app_context():
        row = db.session.execute(select(InboxEnvelope)).scalar_one()
        assert (row.status, row.error) == ("rejected", "tampered")
        assert db.session.execute(select(Monitor)).first() is None
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "intake.rejected")
        ).scalar_one()
        assert entry.detail["error"] == "tampered"
        from app.privacy.models import VaultRecord

        assert db.session.execute(select(VaultRecord)).first() is None
        db.session.rollback()
    assert "error=tampered" in capfd.readouterr().err


def test_an_envelope_moved_to_another_row_does_not_open(app, tmp_path, spawn_app):
    internal, public = _pair(app, tmp_path, spawn_app)
    client = public.test_client()
    client.post("/monitors/register", data=FORM)
    client.post("/monitors/register", data={**FORM, "email": "other@example.jp"})
    with public.app_context():
        first, second = db.session.execute(
            select(InboxEnvelope).order_by(InboxEnvelope.id)
        ).scalars()
        first.sealed, second.sealed = bytes(second.sealed), bytes(first.sealed)
        db.session.commit()
    result = _cli(internal, "privacy", "intake")
    assert '"rejected": 2' in result.output
