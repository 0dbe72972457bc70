"""Retention: the purge destroys the key and the records and leaves no residue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.privacy import retention
from app.privacy.models import (
    AuditEntry,
    Consent,
    DataKey,
    InboxEnvelope,
    Project,
    VaultRecord,
    VaultValue,
)
from app.privacy.vault import ProjectClosed
from app.survey.models import Monitor, MonitorCertificate

CANARIES = ("滅却 テスト子", "purge-canary@example.jp", "0258-77-6543", "メッキャク テストコ")


def _fill(make):
    monitor = make.monitor(
        name=CANARIES[0],
        email=CANARIES[1],
        phone=CANARIES[2],
        name_kana=CANARIES[3],
        project="trial2026",
    )
    other = make.monitor(project="keep")
    ciphertexts = [
        bytes(v)
        for v in db.session.execute(
            select(VaultValue.value)
            .join(VaultRecord, VaultRecord.id == VaultValue.record_id)
            .where(VaultRecord.project_code == "trial2026")
        ).scalars()
    ]
    wrapped = [
        bytes(w)
        for w in db.session.execute(
            select(DataKey.wrapped).where(DataKey.project_code == "trial2026")
        ).scalars()
    ]
    from app.privacy.envelopes import seal_envelope

    sealed = seal_envelope("registration", "trial2026", {"fields": {"name": CANARIES[0]}})
    db.session.commit()
    return monitor, other, ciphertexts + wrapped + [bytes(sealed.sealed)]


def _database_files(app) -> list[Path]:
    files = []
    for url in (app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_BINDS"]["pii"]):
        path = Path(url.removeprefix("sqlite:///"))
        files.extend(path.parent.glob(path.name + "*"))
    return files


def test_purge_leaves_no_plaintext_and_no_known_ciphertext(app, make):
    monitor, other, known = _fill(make)
    mine, theirs = monitor.pseudonym, other.pseudonym
    assert len(known) > 8
    result = app.test_cli_runner().invoke(
        args=["privacy", "purge", "--project", "trial2026", "--yes"]
    )
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert (
        db.session.execute(
            select(func.count())
            .select_from(VaultRecord)
            .where(VaultRecord.project_code == "trial2026")
        ).scalar()
        == 0
    )
    assert db.session.execute(select(Monitor).where(Monitor.pseudonym == mine)).first() is None
    assert db.session.execute(select(Consent).where(Consent.subject == mine)).first() is None
    assert (
        db.session.execute(
            select(InboxEnvelope).where(InboxEnvelope.project_code == "trial2026")
        ).first()
        is None
    )
    key = db.session.execute(
        select(DataKey).where(DataKey.project_code == "trial2026")
    ).scalar_one()
    assert key.wrapped is None and key.destroyed_at is not None
    # the other project is untouched
    assert db.session.execute(select(Monitor).where(Monitor.pseudonym == theirs)).scalar_one()
    entry = db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "project.purge")
    ).scalar_one()
    assert entry.actor == "cli" and entry.project == "trial2026"
    assert entry.detail["records"] == 1 and entry.detail["data_keys"] == 1
    assert db.session.get(
        Project, db.session.execute(select(Project.id).where(Project.code == "trial2026")).scalar()
    ).purged_at
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
        files = _database_files(app)
        raw = b"".join(p.read_bytes() for p in files)
        assert raw, files
        for canary in CANARIES:
            assert canary.encode() not in raw, canary
        for blob in known:
            assert blob[-16:] not in raw  # not even the GCM tag of a known ciphertext
    else:
        rows = db.session.execute(select(VaultValue.value)).scalars().all()
        assert not set(map(bytes, rows)) & set(known)
        sealed = db.session.execute(select(InboxEnvelope.sealed)).scalars().all()
        assert not set(map(bytes, sealed)) & set(known)


def test_an_interrupted_purge_finishes_when_run_again(app, make, monkeypatch):
    monitor, _other, _known = _fill(make)
    mine = monitor.pseudonym
    real = retention.audit.record

    def crash(action, **kw):
        if action == "project.purge":
            raise RuntimeError("killed")
        return real(action, **kw)

    monkeypatch.setattr(retention.audit, "record", crash)
    with pytest.raises(RuntimeError):
        retention.purge_project("trial2026", actor="cli")
    db.session.rollback()
    # half done: the project is closed to new data, the vault record is still there
    assert db.session.execute(select(VaultRecord).where(VaultRecord.subject == mine)).first()
    with pytest.raises(ProjectClosed):
        make.monitor(project="trial2026")
    db.session.rollback()
    monkeypatch.undo()
    report = retention.purge_project("trial2026", actor="cli")
    assert report.resumed and report.records == 1
    assert (
        db.session.execute(
            select(VaultRecord).where(VaultRecord.project_code == "trial2026")
        ).first()
        is None
    )
    assert db.session.execute(select(MonitorCertificate)).all() == []


def test_purge_asks_for_the_project_code_without_yes(app, make):
    _fill(make)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["privacy", "purge", "--project", "trial2026"], input="wrong\n")
    assert result.exit_code == 1
    assert db.session.execute(
        select(VaultRecord).where(VaultRecord.project_code == "trial2026")
    ).first()


def test_staff_are_warned_thirty_days_before_the_end(app, make, outbox):
    from app.auth.models import RoleCode
    from app.privacy.vault import ensure_project

    make.user(handle="staffer", role=RoleCode.STAFF)
    make.user(handle="resident")
    today = dt.date(2030, 1, 1)
    ensure_project("soon", ends_on=today + dt.timedelta(days=30))
    ensure_project("later", ends_on=today + dt.timedelta(days=31))
    db.session.commit()
    assert [p.code for p in retention.projects_near_end(today)] == ["soon"]
    assert retention.warn_staff(today) == 1
    db.session.commit()
    assert retention.warn_staff(today) == 0  # once per project
    db.session.commit()
    mails = outbox()
    assert [m.to_addr for m in mails] == ["staffer@example.jp"]
    assert "soon" in mails[0].body
