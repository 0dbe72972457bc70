"""`flask privacy audit verify` catches edited, deleted and reordered entries and names them."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import delete, select, update

from app.extensions import db
from app.privacy import audit
from app.privacy.models import AuditEntry


def _chain(n: int = 5) -> list[int]:
    for i in range(n):
        audit.record("test.event", actor="user:1", reason=f"event {i}", subjects=[f"M{i:09d}"])
    db.session.commit()
    return list(db.session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())


def _verify(app):
    db.session.commit()
    return app.test_cli_runner().invoke(args=["privacy", "audit", "verify"])


def test_an_intact_chain_verifies(app):
    seqs = _chain()
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert f"{len(seqs)} entries" in result.output


def test_an_edited_entry_is_named(app):
    _chain()
    db.session.execute(
        update(AuditEntry).where(AuditEntry.seq == 3).values(reason="nothing to see")
    )
    result = _verify(app)
    assert result.exit_code == 1
    assert "entry #3" in result.output
    assert "altered" in result.output


def test_an_edited_subject_list_is_caught(app):
    _chain()
    db.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(subjects_json="[]"))
    result = _verify(app)
    assert result.exit_code == 1
    assert "entry #2" in result.output


def test_a_deleted_entry_is_named(app):
    _chain()
    db.session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    result = _verify(app)
    assert result.exit_code == 1
    assert "entry #2 is missing" in result.output


def test_reordered_entries_are_named(app):
    _chain()
    db.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2))
    db.session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
    db.session.execute(update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3))
    result = _verify(app)
    assert result.exit_code == 1
    assert "entry #2" in result.output


def test_a_cut_off_tail_is_caught_against_the_exported_head(app):
    _chain()
    head = app.test_cli_runner().invoke(args=["privacy", "audit", "head"]).output.strip()
    db.session.execute(delete(AuditEntry).where(AuditEntry.seq >= 4))
    db.session.commit()
    assert _verify(app).exit_code == 0  # a shorter chain is still a chain …
    result = app.test_cli_runner().invoke(
        args=["privacy", "audit", "verify", "--expect-head", head]
    )
    assert result.exit_code == 1  # … but not the one exported yesterday
    assert "entry #4" in result.output


def test_a_forged_entry_without_the_key_is_caught(app):
    _chain(3)
    last = db.session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
    db.session.add(
        AuditEntry(
            seq=last.seq + 1,
            at=last.at,
            actor="intruder",
            action="access",
            key_id=last.key_id,
            prev_mac=last.mac,
            mac="0" * 64,
        )
    )
    result = _verify(app)
    assert result.exit_code == 1
    assert f"entry #{last.seq + 1}" in result.output


@pytest.mark.parametrize("count", [1, 30])
def test_chain_links_each_entry_to_the_previous(app, count):
    _chain(count)
    entries = list(db.session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    assert entries[0].prev_mac == audit.GENESIS
    assert all(b.prev_mac == a.mac for a, b in itertools.pairwise(entries))
    assert audit.verify_chain().ok
