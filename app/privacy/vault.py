"""The vault: the one door to personal data.

Writes (`file_record`, `update_record`, `delete_record`) encrypt field by field under the
project's data key. Every read goes through `access(purpose, actor, monitors, reason)`, which
decrypts only the purpose's fields, hands back `PurposeView` objects that refuse any other
attribute, and appends an audit entry before returning anything. There is no other reader.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db import utcnow
from app.extensions import db
from app.privacy import audit, crypto
from app.privacy.keys import MasterKeyring, PrivacyKeys, current_keys
from app.privacy.models import FIELDS, Consent, DataKey, Project, Purpose, VaultRecord, VaultValue

TABLE = "vault_values"
MAX_VALUE_CHARS = 1000


class PrivacyError(Exception):
    """Base of the vault's refusals; `code` is stable, the message says what happened."""

    code = "privacy_error"


class VaultUnavailable(PrivacyError):  # noqa: N818 - reads as a verdict
    code = "vault_unavailable"


class UnknownPurpose(PrivacyError):  # noqa: N818 - reads as a verdict
    code = "unknown_purpose"


class UnknownRecipient(PrivacyError):  # noqa: N818 - reads as a verdict
    code = "unknown_recipient"


class FieldNotPermitted(PrivacyError):  # noqa: N818 - reads as a verdict
    """An attribute outside the purpose was asked for. Deliberately not an AttributeError, so
    that templates and `getattr(…, default)` cannot swallow it."""

    code = "field_not_permitted"


class RecordMissing(PrivacyError):  # noqa: N818 - reads as a verdict
    code = "record_missing"


class ProjectClosed(PrivacyError):  # noqa: N818 - reads as a verdict
    code = "project_closed"


class PurposeView:
    """The fields one purpose may see of one monitor, and nothing else."""

    __slots__ = ("_fields", "_purpose", "_values", "subject")

    def __init__(self, subject: str, purpose: str, values: Mapping[str, str | None]) -> None:
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "_purpose", purpose)
        object.__setattr__(self, "_fields", tuple(values))
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        purpose = object.__getattribute__(self, "_purpose")
        raise FieldNotPermitted(f"purpose {purpose!r} may not read {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise FieldNotPermitted("a purpose view is read-only")

    def __getitem__(self, name: str) -> str | None:
        value: str | None = self.__getattr__(name)
        return value

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(object.__getattribute__(self, "_fields"))

    @property
    def purpose(self) -> str:
        return str(object.__getattribute__(self, "_purpose"))

    def as_dict(self) -> dict[str, str | None]:
        return dict(object.__getattribute__(self, "_values"))

    def __repr__(self) -> str:  # never the values: reprs end up in logs
        return f"<PurposeView {self.purpose} {self.subject} fields={list(self.fields)}>"


# --- keys -------------------------------------------------------------------------------------


def _keys() -> PrivacyKeys:
    keys = current_keys()
    if not keys.has_vault or "pii" not in current_app.config["SQLALCHEMY_BINDS"]:
        raise VaultUnavailable("this server has no vault (APP_ROLE=public)")
    return keys


def _master() -> MasterKeyring:
    ring = _keys().master
    if ring is None:
        raise VaultUnavailable("this server holds no master key")
    return ring


def _index_key() -> bytes:
    key = current_keys().index
    if key is None:
        raise VaultUnavailable("this server holds no blind-index key")
    return key


def vault_available() -> bool:
    keys = current_app.extensions.get("privacy_keys")
    return bool(keys and keys.has_vault and "pii" in current_app.config["SQLALCHEMY_BINDS"])


def _dk_aad(row: DataKey) -> bytes:
    return f"vault_data_keys|{row.id}|{row.project_code}".encode()


def _unwrap(row: DataKey) -> bytes:
    keys = _keys()
    cached = keys.data_key_cache.get(row.id)
    if cached is not None:
        return cached
    if row.wrapped is None:
        raise ProjectClosed(f"the data key of project {row.project_code!r} was destroyed")
    master = _master().get(crypto.wrapped_master_id(row.wrapped))
    key = crypto.unwrap_key(master, row.wrapped, _dk_aad(row))
    keys.data_key_cache[row.id] = key
    return key


def _data_key_by_id(dk_id: int) -> bytes:
    row = db.session.get(DataKey, dk_id)
    if row is None:
        raise ProjectClosed(f"data key {dk_id} does not exist")
    return _unwrap(row)


def project_data_key(project_code: str) -> DataKey:
    """The project's live data key, created (and wrapped) on first use."""
    keys = _keys()
    project = get_project(project_code)
    if project.purge_started_at is not None or project.purged_at is not None:
        raise ProjectClosed(f"project {project_code!r} has been purged")
    row = db.session.execute(
        select(DataKey).where(DataKey.project_code == project_code, DataKey.wrapped.is_not(None))
    ).scalar_one_or_none()
    if row is not None:
        return row
    ring = _master()
    row = DataKey(project_code=project_code, master_key_id=ring.current_id)
    db.session.add(row)
    db.session.flush()  # the id is part of the wrapping's associated data
    data_key = crypto.new_key()
    row.wrapped = crypto.wrap_key(ring.current, ring.current_id, data_key, _dk_aad(row))
    keys.data_key_cache[row.id] = data_key
    return row


def rewrap_data_keys() -> int:
    """Re-wrap every live data key under the current master key. Records are not touched."""
    ring = _master()
    count = 0
    for row in db.session.execute(select(DataKey).where(DataKey.wrapped.is_not(None))).scalars():
        wrapped = row.wrapped or b""
        old_master = ring.get(crypto.wrapped_master_id(wrapped))
        data_key = crypto.unwrap_key(old_master, wrapped, _dk_aad(row))
        row.wrapped = crypto.wrap_key(ring.current, ring.current_id, data_key, _dk_aad(row))
        row.master_key_id = ring.current_id
        row.rewrapped_at = utcnow()
        count += 1
    return count


# --- projects and purposes --------------------------------------------------------------------


def get_project(code: str) -> Project:
    project = db.session.execute(select(Project).where(Project.code == code)).scalar_one_or_none()
    if project is None:
        raise PrivacyError(f"unknown project {code!r}")
    return project


def ensure_project(code: str, *, name: str = "", ends_on: dt.date | None = None) -> Project:
    """The project `code`, created with an end date PRIVACY_PROJECT_DAYS ahead if missing."""
    project = db.session.execute(select(Project).where(Project.code == code)).scalar_one_or_none()
    if project is None:
        days = int(current_app.config["PRIVACY_PROJECT_DAYS"])
        project = Project(
            code=code,
            name=name or code,
            ends_on=ends_on or (utcnow().date() + dt.timedelta(days=days)),
        )
        db.session.add(project)
        db.session.flush()
    return project


def purpose_by_code(code: Any) -> Purpose:
    if not isinstance(code, str) or not code:
        raise UnknownPurpose("a purpose is required for every read of personal data")
    purpose = db.session.execute(
        select(Purpose).where(Purpose.code == code, Purpose.active.is_(True))
    ).scalar_one_or_none()
    if purpose is None:
        raise UnknownPurpose(f"unknown purpose {code!r}")
    return purpose


def active_purposes(kind: str | None = None) -> list[Purpose]:
    stmt = (
        select(Purpose)
        .where(Purpose.active.is_(True))
        .options(selectinload(Purpose.recipients))
        .order_by(Purpose.position, Purpose.id)
    )
    if kind:
        stmt = stmt.where(Purpose.kind == kind)
    return list(db.session.execute(stmt).scalars())


def consenting_subjects(
    purpose: Purpose, recipient: str | None, subjects: Iterable[str]
) -> set[str]:
    """Which of `subjects` hold a current consent (this text version, not withdrawn)."""
    wanted = list(dict.fromkeys(subjects))
    if not wanted:
        return set()
    stmt = select(Consent.subject).where(
        Consent.subject.in_(wanted),
        Consent.purpose_code == purpose.code,
        Consent.text_version == purpose.version,
        Consent.withdrawn_at.is_(None),
    )
    if recipient:
        stmt = stmt.where(Consent.recipient_code == recipient)
    return set(db.session.execute(stmt).scalars())


# --- writing ----------------------------------------------------------------------------------


def _check_values(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if name not in FIELDS:
            raise PrivacyError(f"unknown personal field {name!r}")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE_CHARS):
            raise PrivacyError(
                f"field {name!r} must be text of at most {MAX_VALUE_CHARS} characters"
            )


def _set_values(record: VaultRecord, key: bytes, values: Mapping[str, str | None]) -> None:
    existing = {v.field: v for v in record.values}
    for name, value in values.items():
        if value is None or value == "":
            if name in existing:
                db.session.delete(existing[name])
            continue
        aad = crypto.field_aad(TABLE, record.id, name, record.data_key_id)
        blob = crypto.encrypt_value(key, record.data_key_id, aad, value)
        if name in existing:
            existing[name].value = blob
        else:
            record.values.append(VaultValue(field=name, value=blob))


def _indexes(record: VaultRecord, values: Mapping[str, str | None]) -> None:
    if "email" in values:
        email = values["email"]
        record.email_index = crypto.blind_index(_index_key(), "email", email) if email else None


def identity_index(name: str, birth_date: str) -> str:
    """Blind index of a verified identity (name + birth date) for certificate renewal."""
    return crypto.blind_index(_index_key(), "identity", f"{name}|{birth_date}")


def file_record(
    subject: str,
    project_code: str,
    values: Mapping[str, str | None],
    *,
    actor: str,
    reason: str,
    identity: str | None = None,
) -> VaultRecord:
    """Store a new record for `subject`; audited as `record.create` with the fields written."""
    _keys()
    _check_values(values)
    dk = project_data_key(project_code)
    record = VaultRecord(
        id=secrets.token_hex(16),
        subject=subject,
        project_code=project_code,
        data_key_id=dk.id,
        identity_index=identity,
    )
    db.session.add(record)
    _indexes(record, values)
    _set_values(record, _unwrap(dk), values)
    audit.record(
        "record.create",
        actor=actor,
        project=project_code,
        subjects=[subject],
        fields=[k for k, v in values.items() if v],
        reason=reason,
    )
    return record


def get_record(subject: str) -> VaultRecord:
    _keys()
    record = db.session.execute(
        select(VaultRecord).where(VaultRecord.subject == subject)
    ).scalar_one_or_none()
    if record is None:
        raise RecordMissing(f"no vault record for {subject}")
    return record


def update_record(
    subject: str,
    values: Mapping[str, str | None],
    *,
    actor: str,
    reason: str,
    identity: str | None = None,
) -> VaultRecord:
    """Replace some field values of `subject`'s record; audited as `record.update`."""
    _keys()
    _check_values(values)
    record = get_record(subject)
    _indexes(record, values)
    _set_values(record, _data_key_by_id(record.data_key_id), values)
    if identity is not None:
        record.identity_index = identity
    record.updated_at = utcnow()
    audit.record(
        "record.update",
        actor=actor,
        project=record.project_code,
        subjects=[subject],
        fields=sorted(values),
        reason=reason,
    )
    return record


def delete_record(subject: str, *, actor: str, reason: str) -> bool:
    """Delete `subject`'s record and all its values; audited. False when there was none."""
    _keys()
    record = db.session.execute(
        select(VaultRecord).where(VaultRecord.subject == subject)
    ).scalar_one_or_none()
    if record is None:
        return False
    project = record.project_code
    db.session.delete(record)
    audit.record("record.delete", actor=actor, project=project, subjects=[subject], reason=reason)
    return True


def find_subject(index_kind: str, value: str, project_code: str | None = None) -> str | None:
    """The subject whose `email` or `identity` blind index equals `value`'s (no decryption)."""
    _keys()
    column = {"email": VaultRecord.email_index, "identity": VaultRecord.identity_index}[index_kind]
    probe = crypto.blind_index(_index_key(), index_kind, value)
    stmt = select(VaultRecord.subject).where(column == probe)
    if project_code:
        stmt = stmt.where(VaultRecord.project_code == project_code)
    return db.session.execute(stmt.limit(1)).scalar_one_or_none()


# --- the one door -----------------------------------------------------------------------------


def access(
    purpose: str,
    actor: str,
    monitors: Sequence[str],
    reason: str,
    *,
    recipient: str | None = None,
    action: str = "access",
) -> list[PurposeView]:
    """Read personal data for a declared purpose; the only way to decrypt a record.

    `monitors` are pseudonyms. Purposes of kind "consent" return only monitors with a current
    consent (for `recipient` when given). Only the purpose's fields are decrypted. An audit entry
    (actor, purpose, monitors actually read, fields, recipient, reason) is appended first.
    Raises UnknownPurpose (also for a missing purpose), UnknownRecipient, PrivacyError for a
    missing actor or reason, VaultUnavailable on the public server.
    """
    _keys()
    spec = purpose_by_code(purpose)
    if not actor:
        raise PrivacyError("an actor is required for every read of personal data")
    if not reason or not reason.strip():
        raise PrivacyError("a reason is required for every read of personal data")
    if recipient is not None and recipient not in {r.code for r in spec.recipients}:
        raise UnknownRecipient(f"purpose {spec.code!r} does not hand data to {recipient!r}")
    wanted = list(dict.fromkeys(monitors))
    if spec.kind == "consent":
        allowed = consenting_subjects(spec, recipient, wanted)
        wanted = [s for s in wanted if s in allowed]
    fields = spec.fields
    records = (
        list(
            db.session.execute(select(VaultRecord).where(VaultRecord.subject.in_(wanted))).scalars()
        )
        if wanted
        else []
    )
    by_subject = {r.subject: r for r in records}
    read = [s for s in wanted if s in by_subject]
    audit.record(
        action,
        actor=actor,
        purpose=spec.code,
        project=",".join(sorted({r.project_code for r in records}))[:40],
        subjects=read,
        fields=fields,
        recipient=recipient or "",
        reason=reason,
        detail={"requested": len(monitors), "returned": len(read)},
    )
    views: list[PurposeView] = []
    value_rows: Iterable[VaultValue] = (
        db.session.execute(
            select(VaultValue).where(
                VaultValue.record_id.in_([r.id for r in records]), VaultValue.field.in_(fields)
            )
        ).scalars()
        if records
        else []
    )
    values: dict[str, dict[str, bytes]] = {}
    for row in value_rows:
        values.setdefault(row.record_id, {})[row.field] = bytes(row.value)
    for subject in read:
        record = by_subject[subject]
        key = _data_key_by_id(record.data_key_id)
        plain: dict[str, str | None] = {}
        for name in fields:
            blob = values.get(record.id, {}).get(name)
            if blob is None:
                plain[name] = None
                continue
            aad = crypto.field_aad(TABLE, record.id, name, record.data_key_id)
            plain[name] = crypto.decrypt_value(key, aad, blob)
        views.append(PurposeView(subject, spec.code, plain))
    return views


def certificate_value(anchor: str, serial: str, spki_sha256: str, not_after: dt.datetime) -> str:
    """The stored form of a certificate binding (issuer anchor, serial, key hash, expiry)."""
    return json.dumps(
        {
            "anchor": anchor.lower(),
            "serial": serial.upper(),
            "spki_sha256": spki_sha256.lower(),
            "not_after": not_after.astimezone(dt.UTC).isoformat(),
        },
        sort_keys=True,
    )
