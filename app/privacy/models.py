"""Privacy tables.

Main database: projects, purposes, recipients (all data, not code), consents keyed by a
monitor's pseudonym, and the inbox of sealed envelopes from the public server.
Vault (bind "pii"): wrapped data keys, records and their encrypted field values, and the
hash-chained audit log. The two are never joined in SQL.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime, utcnow
from app.extensions import db

# Every personal field the vault knows, in display order.
FIELDS: tuple[str, ...] = (
    "name",
    "name_kana",
    "postal_code",
    "address",
    "sex",
    "birth_date",
    "phone",
    "email",
    "mobile_email",
    "certificate",
    "sns_member",
    "verified",
)


# --- main database ----------------------------------------------------------------------------


class Project(db.Model):  # type: ignore[name-defined]
    """A survey project (the trial): its personal data is destroyed after `ends_on`."""

    __tablename__ = "privacy_projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purge_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


purpose_recipients = db.Table(
    "privacy_purpose_recipients",
    db.Column(
        "purpose_id", ForeignKey("privacy_purposes.id", ondelete="CASCADE"), primary_key=True
    ),
    db.Column(
        "recipient_id", ForeignKey("privacy_recipients.id", ondelete="CASCADE"), primary_key=True
    ),
    info={"reference_data": True},
)


class Recipient(db.Model):  # type: ignore[name-defined]
    """A party a purpose may hand data to: the city, the NPO, a named vendor."""

    __tablename__ = "privacy_recipients"
    __table_args__ = {"info": {"reference_data": True}}  # noqa: RUF012 - SQLAlchemy's API

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class Purpose(db.Model):  # type: ignore[name-defined]
    """A declared purpose: the fields it may read and the recipients it may hand them to.

    kind: "consent" (the monitor consents per recipient), "subject" (the monitor reading their
    own record), "system" (deriving the coarse segment; covered by the required consent).
    Changing the fields raises `version`; consents given to an older version no longer count.
    """

    __tablename__ = "privacy_purposes"
    __table_args__ = {"info": {"reference_data": True}}  # noqa: RUF012 - SQLAlchemy's API

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="consent")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    text_ja: Mapped[str] = mapped_column(Text, default="")
    text_en: Mapped[str] = mapped_column(Text, default="")
    fields_json: Mapped[str] = mapped_column(Text, default="[]")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    recipients: Mapped[list[Recipient]] = relationship(
        secondary=purpose_recipients, order_by=Recipient.id
    )

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(json.loads(self.fields_json))

    def name_for(self, locale: str) -> str:
        return self.name_ja if locale == "ja" else self.name_en

    def text_for(self, locale: str) -> str:
        return self.text_ja if locale == "ja" else self.text_en


class Consent(db.Model):  # type: ignore[name-defined]
    """A monitor's consent to one purpose for one recipient, with the text version shown."""

    __tablename__ = "privacy_consents"
    __table_args__ = (UniqueConstraint("subject", "purpose_code", "recipient_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(20), index=True)  # the monitor's pseudonym
    purpose_code: Mapped[str] = mapped_column(String(40))
    recipient_code: Mapped[str] = mapped_column(String(40))
    text_version: Mapped[int] = mapped_column(Integer)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InboxEnvelope(db.Model):  # type: ignore[name-defined]
    """A sealed envelope written by the public server; only the vault's private key opens it.

    Once filed, the sealed bytes are erased: the vault holds the data, the inbox the fact.
    """

    __tablename__ = "privacy_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    project_code: Mapped[str] = mapped_column(String(40), index=True)
    recipient_key_id: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|filed|rejected
    error: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_privacy_inbox_status_id", "status", "id"),)


# --- the vault ----------------------------------------------------------------------------------


class DataKey(db.Model):  # type: ignore[name-defined]
    """A project's data key, wrapped by the master key. Purging sets `wrapped` to NULL."""

    __tablename__ = "vault_data_keys"
    __bind_key__ = "pii"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_code: Mapped[str] = mapped_column(String(40), index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rewrapped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class VaultRecord(db.Model):  # type: ignore[name-defined]
    """One monitor's personal data. `subject` is the pseudonym the main database knows."""

    __tablename__ = "vault_records"
    __bind_key__ = "pii"
    __table_args__ = (UniqueConstraint("project_code", "email_index"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(20), unique=True)
    project_code: Mapped[str] = mapped_column(String(40), index=True)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("vault_data_keys.id"))
    email_index: Mapped[str | None] = mapped_column(String(64))
    identity_index: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    values: Mapped[list[VaultValue]] = relationship(
        back_populates="record", cascade="all, delete-orphan", passive_deletes=True
    )


class VaultValue(db.Model):  # type: ignore[name-defined]
    """One encrypted field value (AES-256-GCM; associated data: table, record, field, key)."""

    __tablename__ = "vault_values"
    __bind_key__ = "pii"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("vault_records.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)

    record: Mapped[VaultRecord] = relationship(back_populates="values")


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """Append-only, hash-chained: `mac` = HMAC(audit key, previous mac ‖ canonical entry)."""

    __tablename__ = "vault_audit"
    __bind_key__ = "pii"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40), index=True)
    purpose: Mapped[str] = mapped_column(String(40), default="")
    project: Mapped[str] = mapped_column(String(40), default="")
    subjects_json: Mapped[str] = mapped_column(Text, default="[]")
    fields_json: Mapped[str] = mapped_column(Text, default="[]")
    recipient: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    key_id: Mapped[str] = mapped_column(String(16))
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))

    @property
    def subjects(self) -> list[str]:
        return list(json.loads(self.subjects_json))

    @property
    def fields(self) -> list[str]:
        return list(json.loads(self.fields_json))

    @property
    def detail(self) -> dict[str, object]:
        return dict(json.loads(self.detail_json))
