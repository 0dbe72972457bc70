"""Accounts: members, roles as data, invitations and single-use email tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime, utcnow
from app.extensions import db


class RoleCode(enum.StrEnum):
    """Site-wide roles. Community admins are per community and live with communities."""

    MEMBER = "member"
    MODERATOR = "moderator"
    STAFF = "staff"
    ADMIN = "admin"


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


user_roles = Table(
    "user_roles",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Role(db.Model):  # type: ignore[name-defined]
    """A role row; codes come from `RoleCode`. Seeded by the first migration."""

    __tablename__ = "roles"
    __table_args__ = {"info": {"reference_data": True}}  # noqa: RUF012 - SQLAlchemy's API

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)


class User(db.Model):  # type: ignore[name-defined]
    """A member account. Email and handle are unique case-insensitively."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    handle: Mapped[str] = mapped_column(String(30))
    handle_key: Mapped[str] = mapped_column(String(30), unique=True)
    display_name: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(5), default="ja")
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE.value)
    suspended_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    invite_quota: Mapped[int] = mapped_column(default=5)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")
    invited_by: Mapped[User | None] = relationship(remote_side=[id])

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        """Suspended members cannot log in; a suspension that has run out no longer counts."""
        if self.status != AccountStatus.SUSPENDED.value:
            return True
        until = self.suspended_until
        return until is not None and until <= utcnow()

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, code: RoleCode) -> bool:
        """Whether the member holds a site role. Admins hold every role."""
        codes = {role.code for role in self.roles}
        return code.value in codes or RoleCode.ADMIN.value in codes

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


def role_by_code(code: RoleCode) -> Role:
    """The role row for a code (seeded by the migration)."""
    role = db.session.execute(select(Role).where(Role.code == code.value)).scalar_one_or_none()
    if role is None:
        role = Role(code=code.value)
        db.session.add(role)
    return role


class Invitation(db.Model):  # type: ignore[name-defined]
    """An invitation to join: single use, expiring, remembering who invited whom."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(String(1000), default="")
    role: Mapped[str] = mapped_column(String(32), default=RoleCode.MEMBER.value)
    inviter_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    inviter: Mapped[User | None] = relationship(foreign_keys=[inviter_id])


class TokenPurpose(enum.StrEnum):
    CONFIRM_EMAIL = "confirm_email"
    CHANGE_EMAIL = "change_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a password


class EmailToken(db.Model):  # type: ignore[name-defined]
    """A single-use token sent by email. Only its SHA-256 is stored."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    new_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_email_tokens_user_id_purpose", "user_id", "purpose"),)


def count_users() -> int:
    return int(db.session.execute(select(func.count(User.id))).scalar_one())


class JpkiChallenge(db.Model):  # type: ignore[name-defined]
    """A JPKI login challenge: 32 random bytes, single use, bound to one browser session.

    The card client fetches it by its short code and posts a signature; the browser that asked
    for it (recognised by `browser_key`, a secret kept in its server-side session) then
    completes the login. `verified_at` is set once, atomically, by the card client's post;
    `completed_at` once by the browser.
    """

    __tablename__ = "jpki_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(64))
    origin: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20), default="login")
    browser_key: Mapped[str] = mapped_column(String(64))
    next_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str] = mapped_column(String(40), default="")
    cert_issuer_fp: Mapped[str] = mapped_column(String(64), default="")
    cert_serial: Mapped[str] = mapped_column(String(64), default="")
    cert_spki_sha256: Mapped[str] = mapped_column(String(64), default="")
    cert_not_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revocation_unknown: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (Index("ix_jpki_challenges_expires_at", "expires_at"),)


class CertificateBinding(db.Model):  # type: ignore[name-defined]
    """A JPKI authentication certificate bound to one member (one card identity, one account).

    `cert_key` is an HMAC of issuer anchor, serial and public-key hash (A12): unique, and
    useless to anyone without the index key.
    """

    __tablename__ = "certificate_bindings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cert_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    serial_hint: Mapped[str] = mapped_column(String(8))
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


PRIVILEGED_ROLES = frozenset({RoleCode.MODERATOR.value, RoleCode.STAFF.value, RoleCode.ADMIN.value})


def is_privileged(user: object) -> bool:
    """Whether an account holds a site role that needs a second factor (A08)."""
    roles = getattr(user, "roles", None) or []
    return any(getattr(role, "code", None) in PRIVILEGED_ROLES for role in roles)


class TotpCredential(db.Model):  # type: ignore[name-defined]
    """A member's TOTP authenticator (RFC 6238, 30 s, 6 digits), one per account (A08).

    `secret_ciphertext` is the base32 seed sealed with AES-GCM under a key derived from the
    app's secret key, bound to the account. `confirmed_at` is None while enrolment waits for a
    first correct code. `last_step` is the time-step of the last accepted code: a code for that
    step or an earlier one is refused, so each code works once.
    """

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
