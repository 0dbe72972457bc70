"""Privacy operations other than reading: purposes as data, consents, key rotation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db import utcnow
from app.extensions import db
from app.privacy import audit, crypto
from app.privacy.keys import current_keys, write_master_keyring
from app.privacy.models import FIELDS, Consent, Purpose, Recipient
from app.privacy.vault import (
    PrivacyError,
    UnknownPurpose,
    UnknownRecipient,
    purpose_by_code,
    rewrap_data_keys,
)

CODE_RE = re.compile(r"[a-z][a-z0-9_]{1,39}")


def rotate_master_key(actor: str) -> int:
    """Generate a new master key and re-wrap every data key with it; records stay untouched.

    Safe to interrupt: the key file holds the new and the old keys until the re-wrap has
    committed, and unwrapping finds the right one by key id. Returns the number of data keys.
    """
    keys = current_keys()
    ring = keys.master
    if ring is None:
        raise PrivacyError("this server holds no master key")
    old_ids = [ring.current_id] + [kid for kid in ring.keys if kid != ring.current_id]
    new = crypto.new_key()
    new_id = crypto.key_id(new, "master")
    ring.keys[new_id] = new
    write_master_keyring(ring, [new_id, *old_ids])
    ring.current_id = new_id
    count = rewrap_data_keys()
    audit.record(
        "keys.rotate_master",
        actor=actor,
        reason="master key rotated; data keys re-wrapped",
        detail={"new_key": new_id, "retired": old_ids, "data_keys": count},
    )
    db.session.commit()
    for kid in old_ids:
        ring.keys.pop(kid, None)
    write_master_keyring(ring, [new_id])
    return count


def _recipients(codes: Iterable[str]) -> list[Recipient]:
    wanted = list(dict.fromkeys(codes))
    found = list(db.session.execute(select(Recipient).where(Recipient.code.in_(wanted))).scalars())
    missing = set(wanted) - {r.code for r in found}
    if missing:
        raise UnknownRecipient(f"unknown recipient(s) {sorted(missing)}")
    return found


def _check_fields(fields: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(fields))
    unknown = [f for f in out if f not in FIELDS]
    if unknown or not out:
        raise PrivacyError(f"fields must be some of {list(FIELDS)}; unknown: {unknown}")
    return out


def add_purpose(
    code: str,
    *,
    name_ja: str,
    name_en: str,
    text_ja: str,
    text_en: str,
    fields: Iterable[str],
    recipients: Iterable[str],
    actor: str,
) -> Purpose:
    """Declare a new purpose (kind "consent"); monitors must consent before it reads anything."""
    if not CODE_RE.fullmatch(code):
        raise PrivacyError("a purpose code is 2-40 lower-case letters, digits or _")
    if db.session.execute(select(Purpose.id).where(Purpose.code == code)).first():
        raise PrivacyError(f"purpose {code!r} exists")
    purpose = Purpose(
        code=code,
        kind="consent",
        name_ja=name_ja,
        name_en=name_en,
        text_ja=text_ja,
        text_en=text_en,
        fields_json=json.dumps(_check_fields(fields)),
        recipients=_recipients(recipients),
    )
    db.session.add(purpose)
    audit.record(
        "purpose.add", actor=actor, purpose=code, fields=purpose.fields, reason="new purpose"
    )
    return purpose


def change_purpose_fields(code: str, fields: Iterable[str], *, actor: str, reason: str) -> Purpose:
    """Change what a purpose may read. Its version goes up, so every earlier consent stops
    counting until the monitor consents again to the new text."""
    purpose = purpose_by_code(code)
    if purpose.kind != "consent":
        raise PrivacyError("only consent purposes can be changed")
    purpose.fields_json = json.dumps(_check_fields(fields))
    purpose.version += 1
    purpose.updated_at = utcnow()
    audit.record(
        "purpose.change",
        actor=actor,
        purpose=code,
        fields=purpose.fields,
        reason=reason,
        detail={"version": purpose.version},
    )
    return purpose


def set_consents(
    subject: str, pairs: Iterable[tuple[str, str]], *, actor: str, replace: bool = False
) -> list[Consent]:
    """Record consent to (purpose, recipient) pairs at the purposes' current text versions.

    With `replace`, pairs not listed are withdrawn. Raises UnknownPurpose / UnknownRecipient for
    a purpose that is not a consent purpose or a recipient the purpose does not name.
    """
    wanted = list(dict.fromkeys(pairs))
    active = {
        p.code: p
        for p in db.session.execute(
            select(Purpose)
            .where(Purpose.active.is_(True))
            .options(selectinload(Purpose.recipients))
        ).scalars()
    }
    specs: dict[str, Purpose] = {}
    for purpose_code, recipient_code in wanted:
        spec = active.get(purpose_code)
        if spec is None:
            raise UnknownPurpose(f"unknown purpose {purpose_code!r}")
        if spec.kind != "consent":
            raise UnknownPurpose(f"purpose {purpose_code!r} takes no consent")
        if recipient_code not in {r.code for r in spec.recipients}:
            raise UnknownRecipient(f"purpose {purpose_code!r} does not name {recipient_code!r}")
        specs[purpose_code] = spec
    existing = {
        (c.purpose_code, c.recipient_code): c
        for c in db.session.execute(select(Consent).where(Consent.subject == subject)).scalars()
    }
    now = utcnow()
    out = []
    for purpose_code, recipient_code in wanted:
        row = existing.get((purpose_code, recipient_code))
        version = specs[purpose_code].version
        if row is None:
            row = Consent(
                subject=subject,
                purpose_code=purpose_code,
                recipient_code=recipient_code,
                text_version=version,
                granted_at=now,
            )
            db.session.add(row)
        elif row.withdrawn_at is not None or row.text_version != version:
            row.text_version = version
            row.granted_at = now
            row.withdrawn_at = None
        out.append(row)
    withdrawn = []
    if replace:
        for pair, row in existing.items():
            if pair not in set(wanted) and row.withdrawn_at is None:
                row.withdrawn_at = now
                withdrawn.append(pair)
    audit.record(
        "consent.set",
        actor=actor,
        subjects=[subject],
        reason="consent recorded",
        detail={
            "granted": [f"{p}:{r}@{specs[p].version}" for p, r in wanted],
            "withdrawn": [f"{p}:{r}" for p, r in withdrawn],
        },
    )
    return out


def withdraw_consent(subject: str, purpose_code: str, *, actor: str) -> int:
    """Withdraw every consent of `subject` to `purpose_code`; the required purpose cannot be
    withdrawn this way (leaving the panel does that). Returns how many were withdrawn."""
    spec = purpose_by_code(purpose_code)
    if spec.required:
        raise PrivacyError("the required purpose ends only by leaving the panel")
    now = utcnow()
    count = 0
    for row in db.session.execute(
        select(Consent).where(
            Consent.subject == subject,
            Consent.purpose_code == purpose_code,
            Consent.withdrawn_at.is_(None),
        )
    ).scalars():
        row.withdrawn_at = now
        count += 1
    audit.record(
        "consent.withdraw",
        actor=actor,
        purpose=purpose_code,
        subjects=[subject],
        reason="withdrawn",
    )
    return count


def current_consents(subject: str) -> dict[str, list[str]]:
    """purpose code → recipients with a consent that still counts (current text version)."""
    versions = {p.code: p.version for p in db.session.execute(select(Purpose)).scalars()}
    out: dict[str, list[str]] = {}
    for row in db.session.execute(
        select(Consent)
        .where(Consent.subject == subject, Consent.withdrawn_at.is_(None))
        .order_by(Consent.id)
    ).scalars():
        if versions.get(row.purpose_code) == row.text_version:
            out.setdefault(row.purpose_code, []).append(row.recipient_code)
    return out
