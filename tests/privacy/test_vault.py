"""The vault's one door: purpose-bound fields, consent, audit entries, AEAD binding, keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.privacy import crypto
from app.privacy.keys import current_keys
from app.privacy.models import AuditEntry, DataKey, VaultRecord, VaultValue
from app.privacy.services import change_purpose_fields, set_consents
from app.privacy.vault import (
    FieldNotPermitted,
    PrivacyError,
    UnknownPurpose,
    UnknownRecipient,
    access,
)


def _values(subject: str) -> dict[str, bytes]:
    record = db.session.execute(
        select(VaultRecord).where(VaultRecord.subject == subject)
    ).scalar_one()
    return {v.field: bytes(v.value) for v in record.values}


def test_access_returns_only_the_purposes_fields(make):
    monitor = make.monitor(name="長岡 花子")
    [view] = access("reader_shipping", "user:1", [monitor.pseudonym], "card reader labels")
    assert view.name == "長岡 花子"
    assert view.postal_code == "940-0062"
    assert set(view.as_dict()) == {"name", "postal_code", "address"}
    with pytest.raises(FieldNotPermitted):
        _ = view.email
    with pytest.raises(FieldNotPermitted):
        _ = view.birth_date
    with pytest.raises(FieldNotPermitted):
        view.name = "x"
    assert "長岡" not in repr(view)


def test_a_read_without_a_declared_purpose_fails(make):
    monitor = make.monitor()
    with pytest.raises(TypeError):
        access(actor="user:1", monitors=[monitor.pseudonym], reason="x")  # type: ignore[call-arg]
    for purpose in (None, "", "everything", "REGISTRATION"):
        with pytest.raises(UnknownPurpose):
            access(purpose, "user:1", [monitor.pseudonym], "curious")  # type: ignore[arg-type]
    with pytest.raises(PrivacyError):
        access("self", "", [monitor.pseudonym], "no actor")
    with pytest.raises(PrivacyError):
        access("self", "user:1", [monitor.pseudonym], "  ")
    with pytest.raises(UnknownRecipient):
        access("npo_invitation", "user:1", [monitor.pseudonym], "x", recipient="vendor_shipping")
    assert (
        db.session.execute(select(AuditEntry).where(AuditEntry.actor == "user:1")).first() is None
    )


def test_every_read_is_audited_with_who_what_why(make):
    monitor = make.monitor()
    access("trial_contact", "user:7", [monitor.pseudonym], "phone campaign", recipient="npo")
    entry = (
        db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "access").order_by(AuditEntry.seq.desc())
        )
        .scalars()
        .first()
    )
    assert entry.actor == "user:7"
    assert entry.purpose == "trial_contact"
    assert entry.subjects == [monitor.pseudonym]
    assert entry.fields == ["name", "email"]
    assert entry.recipient == "npo"
    assert entry.reason == "phone campaign"


def test_only_consenting_monitors_are_returned(make):
    yes = make.monitor()
    no = make.monitor(consents=["registration"])
    views = access("trial_contact", "user:1", [yes.pseudonym, no.pseudonym], "newsletter")
    assert [v.subject for v in views] == [yes.pseudonym]
    # consent for one recipient does not cover another
    only_city = make.monitor(consents=["registration", ["trial_contact", "city"]])
    assert access("trial_contact", "u", [only_city.pseudonym], "r", recipient="npo") == []
    assert len(access("trial_contact", "u", [only_city.pseudonym], "r", recipient="city")) == 1


def test_changing_a_purposes_fields_needs_fresh_consent(make):
    monitor = make.monitor()
    change_purpose_fields(
        "trial_interview", ["email", "phone"], actor="user:1", reason="phone interviews"
    )
    assert access("trial_interview", "u", [monitor.pseudonym], "r") == []
    set_consents(monitor.pseudonym, [("trial_interview", "city")], actor="monitor")
    [view] = access("trial_interview", "u", [monitor.pseudonym], "r")
    assert view.phone == "0258-00-0000"
    change_purpose_fields("trial_interview", ["email"], actor="user:1", reason="undo")
    db.session.commit()


def test_swapping_ciphertexts_between_rows_or_fields_fails(make):
    a = make.monitor(name="甲野 一郎")
    b = make.monitor(name="乙野 二郎")
    va, vb = _values(a.pseudonym), _values(b.pseudonym)
    ra = db.session.execute(
        select(VaultRecord.id).where(VaultRecord.subject == a.pseudonym)
    ).scalar_one()
    db.session.execute(
        update(VaultValue)
        .where(VaultValue.record_id == ra, VaultValue.field == "name")
        .values(value=vb["name"])
    )
    with pytest.raises(crypto.DecryptionFailed):
        access("self", "u", [a.pseudonym], "r")
    db.session.rollback()
    db.session.execute(
        update(VaultValue)
        .where(VaultValue.record_id == ra, VaultValue.field == "name")
        .values(value=va["address"])
    )
    with pytest.raises(crypto.DecryptionFailed):
        access("self", "u", [a.pseudonym], "r")


def test_a_tampered_ciphertext_fails_and_every_ciphertext_names_its_key(make):
    monitor = make.monitor()
    record = db.session.execute(
        select(VaultRecord).where(VaultRecord.subject == monitor.pseudonym)
    ).scalar_one()
    for value in record.values:
        assert crypto.ciphertext_key_id(bytes(value.value)) == record.data_key_id
    blob = bytearray(_values(monitor.pseudonym)["email"])
    blob[-1] ^= 0x01
    db.session.execute(
        update(VaultValue)
        .where(VaultValue.record_id == record.id, VaultValue.field == "email")
        .values(value=bytes(blob))
    )
    with pytest.raises(crypto.DecryptionFailed):
        access("survey_request", "u", [monitor.pseudonym], "r")


def test_blind_indexes_are_keyed_not_plain_hashes(make):
    import hashlib

    monitor = make.monitor(email="Canary.Person@Example.jp")
    record = db.session.execute(
        select(VaultRecord).where(VaultRecord.subject == monitor.pseudonym)
    ).scalar_one()
    assert record.email_index != hashlib.sha256(b"canary.person@example.jp").hexdigest()
    assert record.email_index == crypto.blind_index(
        current_keys().index, "email", "canary.person@example.jp"
    )


def test_no_plaintext_reaches_the_vault_file(app, make):
    make.monitor(name="檜山 透明", email="canary-plain@example.jp", phone="0258-99-1234")
    db.session.remove()
    url = app.config["SQLALCHEMY_BINDS"]["pii"]
    if not url.startswith("sqlite"):
        rows = db.session.execute(select(VaultValue.value)).scalars().all()
        assert all("檜山".encode() not in bytes(v) for v in rows)
        return
    from pathlib import Path

    path = Path(url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for canary in ("檜山 透明", "canary-plain@example.jp", "0258-99-1234"):
        assert canary.encode() not in raw


def test_master_key_rotation_rewraps_data_keys_and_leaves_records_alone(app, make, spawn_app):
    from app.privacy.keys import key_path
    from app.privacy.services import rotate_master_key

    monitor = make.monitor(name="回転 鍵子")
    before = _values(monitor.pseudonym)
    old_wrapped = {
        k.id: (bytes(k.wrapped), k.master_key_id)
        for k in db.session.execute(select(DataKey)).scalars()
    }
    old_id = current_keys().master.current_id
    assert rotate_master_key("cli") == len(old_wrapped)
    db.session.expire_all()
    assert _values(monitor.pseudonym) == before
    for key in db.session.execute(select(DataKey)).scalars():
        assert bytes(key.wrapped) != old_wrapped[key.id][0]
        assert key.master_key_id != old_id
    lines = key_path(app.config, "master").read_text().split()
    assert len(lines) == 1
    # a fresh process with only the new key file reads the records
    other = spawn_app(
        **{k: app.config[k] for k in ("DATABASE_URL", "PII_DATABASE_URL", "INSTANCE_DIR")}
    )
    with other.app_context():
        [view] = access("self", "u", [monitor.pseudonym], "after rotation")
        assert view.name == "回転 鍵子"
        db.session.rollback()


def test_an_interrupted_rotation_keeps_both_keys_and_can_be_rerun(app, make, monkeypatch):
    from app.privacy import services
    from app.privacy.keys import key_path

    monitor = make.monitor()

    def crash() -> int:
        raise RuntimeError("power cut")

    monkeypatch.setattr(services, "rewrap_data_keys", crash)
    with pytest.raises(RuntimeError):
        services.rotate_master_key("cli")
    db.session.rollback()
    assert len(key_path(app.config, "master").read_text().split()) == 2
    current_keys().data_key_cache.clear()
    assert access("self", "u", [monitor.pseudonym], "still readable")
    monkeypatch.undo()
    services.rotate_master_key("cli")
    assert len(key_path(app.config, "master").read_text().split()) == 1
    current_keys().data_key_cache.clear()
    assert access("self", "u", [monitor.pseudonym], "after the re-run")
