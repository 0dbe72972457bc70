"""The append-only, hash-chained audit log of the vault (A46).

Each entry's `mac` is HMAC-SHA-256(audit key, previous mac ‖ canonical JSON of the entry), the
sequence numbers run 1, 2, 3 … without gaps, and the first entry chains from 64 zeros. Editing,
deleting or reordering an entry breaks the chain at that entry; `verify_chain` names the first
bad one. Deleting entries at the end is caught by comparing with an exported head
(`flask privacy audit head`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from app.db import utcnow
from app.extensions import db
from app.logging_setup import log_event_after_commit
from app.privacy import crypto
from app.privacy.keys import current_keys
from app.privacy.models import AuditEntry

GENESIS = "0" * 64
MAX_REASON = 500


def _canonical(entry: AuditEntry) -> bytes:
    at = entry.at.astimezone(dt.UTC).replace(microsecond=0).isoformat()
    body = {
        "seq": entry.seq,
        "at": at,
        "actor": entry.actor,
        "action": entry.action,
        "purpose": entry.purpose,
        "project": entry.project,
        "subjects": json.loads(entry.subjects_json),
        "fields": json.loads(entry.fields_json),
        "recipient": entry.recipient,
        "reason": entry.reason,
        "detail": json.loads(entry.detail_json),
        "key_id": entry.key_id,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _audit_key() -> bytes:
    key = current_keys().audit
    if key is None:
        raise RuntimeError("this server holds no audit key (APP_ROLE=public)")
    return key


def _lock_chain() -> None:
    """Serialise writers of the chain: an advisory lock on PostgreSQL; SQLite writers already
    hold the database lock (BEGIN IMMEDIATE)."""
    engine = db.engines["pii"]
    if engine.dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:k)"),
            {"k": 0x5A4B_0A0D},
            bind_arguments={"bind": engine},
        )


def record(
    action: str,
    *,
    actor: str,
    purpose: str = "",
    project: str = "",
    subjects: Iterable[str] = (),
    fields: Iterable[str] = (),
    recipient: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain in the current transaction and return it."""
    key = _audit_key()
    _lock_chain()
    last = db.session.execute(
        select(AuditEntry.seq, AuditEntry.mac).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    entry = AuditEntry(
        seq=seq,
        at=utcnow().replace(microsecond=0),
        actor=actor[:80],
        action=action[:40],
        purpose=purpose[:40],
        project=project[:40],
        subjects_json=json.dumps(sorted(set(subjects))),
        fields_json=json.dumps(list(fields)),
        recipient=recipient[:40],
        reason=" ".join(reason.split())[:MAX_REASON],
        detail_json=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        key_id=crypto.key_id(key, "audit"),
        prev_mac=prev,
        mac="",
    )
    entry.mac = crypto.audit_mac(key, prev, _canonical(entry))
    db.session.add(entry)
    db.session.flush()  # the next entry in this transaction must see this one
    # The application log gets a line pointing at the entry once it is committed (A43): codes
    # and counts only; a monitor's pseudonym stays in the chain.
    log_event_after_commit(
        db.session(),
        f"privacy.{entry.action}",
        "success",
        "privacy audit entry seq=%s action=%s",
        seq,
        entry.action,
        obj=f"audit_entry:{seq}",
        actor="monitor" if entry.actor.startswith("monitor:") else entry.actor,
        purpose=entry.purpose or None,
        project=entry.project or None,
        subjects=len(json.loads(entry.subjects_json)),
        recipient=entry.recipient or None,
    )
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    count: int
    head_seq: int
    head_mac: str
    bad_seq: int | None = None
    problem: str = ""


def verify_chain(
    entries: Sequence[AuditEntry] | None = None, key: bytes | None = None
) -> ChainReport:
    """Walk the chain in `seq` order; report the first entry that is edited, missing or moved."""
    key = key or _audit_key()
    rows = (
        entries
        if entries is not None
        else list(db.session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    )
    prev = GENESIS
    expected = 1
    for entry in rows:
        if entry.seq != expected:
            return ChainReport(
                False,
                len(rows),
                0,
                "",
                expected,
                f"entry #{expected} is missing (the next entry found is #{entry.seq})",
            )
        if entry.prev_mac != prev:
            return ChainReport(
                False,
                len(rows),
                0,
                "",
                entry.seq,
                f"entry #{entry.seq} does not follow entry #{entry.seq - 1} "
                "(an entry was deleted, inserted or reordered)",
            )
        if crypto.audit_mac(key, prev, _canonical(entry)) != entry.mac:
            return ChainReport(
                False,
                len(rows),
                0,
                "",
                entry.seq,
                f"entry #{entry.seq} was altered (its MAC does not match its content)",
            )
        prev = entry.mac
        expected += 1
    return ChainReport(True, len(rows), expected - 1, prev)
