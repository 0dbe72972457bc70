"""Sealed envelopes: the public server's only way to hand personal data to the vault.

The public role seals a payload to the vault's public key (HPKE, see `crypto`) the moment it
arrives and stores it in the inbox table of the main database; it keeps no other copy and cannot
open what it wrote. The internal role runs `run_intake()` (`flask privacy intake [--loop]`):
each envelope is opened, handed to the handler registered for its kind, and either filed (the
sealed bytes are then erased) or rejected with a reason, logged and audited, nothing filed.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.logging_setup import log_event
from app.privacy import audit, crypto
from app.privacy.keys import current_keys
from app.privacy.models import InboxEnvelope
from app.privacy.vault import PrivacyError, VaultUnavailable

MAX_PAYLOAD_BYTES = 64 * 1024


class IntakeRejected(Exception):  # noqa: N818 - reads as a verdict
    """A handler refuses an envelope's content; `code` is recorded on the inbox row."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


Handler = Callable[[dict[str, Any], InboxEnvelope], None]
HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    """Features register what to do with each kind of envelope (idempotent)."""
    HANDLERS[kind] = handler


def can_seal() -> bool:
    return current_keys().vault_public is not None


def seal_envelope(kind: str, project_code: str, payload: dict[str, Any]) -> InboxEnvelope:
    """Seal `payload` to the vault and add it to the inbox (the caller commits).

    Raises VaultUnavailable when this server has no vault public key.
    """
    keys = current_keys()
    if keys.vault_public is None:
        raise VaultUnavailable("no vault public key is configured on this server")
    plaintext = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    if len(plaintext) > MAX_PAYLOAD_BYTES:
        raise PrivacyError("the envelope is too large")
    envelope_id = secrets.token_urlsafe(24)
    sealed = crypto.seal(keys.vault_public, crypto.envelope_info(kind, envelope_id), plaintext)
    row = InboxEnvelope(
        envelope_id=envelope_id,
        kind=kind,
        project_code=project_code,
        recipient_key_id=keys.vault_public_id,
        sealed=sealed,
    )
    db.session.add(row)
    return row


def open_envelope(row: InboxEnvelope) -> dict[str, Any]:
    """Open one envelope with the vault private key. Raises DecryptionFailed or ValueError."""
    keys = current_keys()
    if keys.vault_private is None:
        raise VaultUnavailable("this server holds no vault private key")
    plain = crypto.open_sealed(
        keys.vault_private, crypto.envelope_info(row.kind, row.envelope_id), bytes(row.sealed)
    )
    data = json.loads(plain)
    if not isinstance(data, dict):
        raise ValueError("the envelope does not hold an object")
    return data


@dataclass
class IntakeReport:
    filed: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def _reject(row_id: int, code: str) -> None:
    row = db.session.get(InboxEnvelope, row_id)
    if row is None:
        return
    row.status = "rejected"
    row.error = code[:40]
    row.processed_at = utcnow()
    audit.record(
        "intake.rejected",
        actor="system:intake",
        project=row.project_code,
        reason=f"envelope refused: {code}",
        detail={"envelope": row.envelope_id[:12], "kind": row.kind, "error": code},
    )
    log_event(
        "privacy.intake",
        "failure",
        "privacy intake rejected envelope=%s kind=%s error=%s",
        row.envelope_id[:12],
        row.kind,
        code,
        obj=f"envelope:{row.envelope_id[:12]}",
        actor="system:intake",
        level=logging.WARNING,
        kind=row.kind,
        error=code,
    )


def _process(row: InboxEnvelope) -> str | None:
    """File one envelope; return None when filed or a rejection code."""
    if row.recipient_key_id != current_keys().vault_public_id:
        return "wrong_recipient_key"
    handler = HANDLERS.get(row.kind)
    if handler is None:
        return "unknown_kind"
    try:
        payload = open_envelope(row)
    except crypto.DecryptionFailed:
        return "tampered"
    except ValueError:
        return "malformed"
    try:
        handler(payload, row)
    except IntakeRejected as err:
        return err.code
    row.status = "filed"
    row.error = ""
    row.sealed = b""
    row.processed_at = utcnow()
    return None


def run_intake(limit: int = 100, only: list[int] | None = None) -> IntakeReport:
    """Open and file pending envelopes, one transaction each (a job: it commits).

    A refused or failing envelope is rolled back, then marked rejected, logged and audited in a
    transaction of its own, so nothing of it is filed.
    """
    report = IntakeReport()
    stmt = (
        select(InboxEnvelope.id).where(InboxEnvelope.status == "pending").order_by(InboxEnvelope.id)
    )
    if only is not None:
        stmt = stmt.where(InboxEnvelope.id.in_(only))
    ids = list(db.session.execute(stmt.limit(limit)).scalars())
    db.session.commit()
    for row_id in ids:
        row = db.session.execute(
            select(InboxEnvelope)
            .where(InboxEnvelope.id == row_id, InboxEnvelope.status == "pending")
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if row is None:
            db.session.rollback()
            continue
        try:
            code = _process(row)
        except Exception:
            log_event(
                "privacy.intake",
                "error",
                "privacy intake failed envelope id=%s",
                row_id,
                obj=f"inbox_envelope:{row_id}",
                actor="system:intake",
                level=logging.ERROR,
                exc_info=True,
            )
            code = "internal_error"
        if code is None:
            db.session.commit()
            report.filed += 1
            continue
        db.session.rollback()
        _reject(row_id, code)
        db.session.commit()
        report.rejected += 1
        report.errors.append(code)
    return report
