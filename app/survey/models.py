"""Survey tables in the main database. A monitor here is a pseudonym with a coarse segment; the
person behind it lives only in the vault (`app.privacy`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime, utcnow
from app.extensions import db

SEXES = ("female", "male", "other", "unstated")


class Monitor(db.Model):  # type: ignore[name-defined]
    """A survey monitor: pseudonymous id and coarse segment (district, sex, 10-year age band).

    `age_band` is the decade (20 for 20–29); None when unknown. The segment is derived in the
    vault through the `segment` purpose and copied here; nothing finer is kept.
    """

    __tablename__ = "survey_monitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(20), unique=True)
    project_code: Mapped[str] = mapped_column(String(40), index=True)
    district: Mapped[str] = mapped_column(String(40), default="")
    sex: Mapped[str] = mapped_column(String(10), default="unstated")
    age_band: Mapped[int | None] = mapped_column(Integer)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | left
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    segment_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    certificates: Mapped[list[MonitorCertificate]] = relationship(
        back_populates="monitor", cascade="all, delete-orphan", passive_deletes=True
    )


class MonitorCertificate(db.Model):  # type: ignore[name-defined]
    """A JPKI authentication certificate bound to a monitor, as a keyed blind index only
    (HMAC of issuer anchor, serial and public-key hash). One certificate, one monitor."""

    __tablename__ = "survey_monitor_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("survey_monitors.id", ondelete="CASCADE"), index=True
    )
    cert_index: Mapped[str] = mapped_column(String(64), unique=True)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    monitor: Mapped[Monitor] = relationship(back_populates="certificates")
