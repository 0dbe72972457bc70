"""Account rules: invitations, registration, login, email tokens, password and email changes.

Services take explicit arguments and raise `AuthError` subclasses; they never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import delete, func, select

from app.auth.models import (
    AccountStatus,
    EmailToken,
    Invitation,
    RoleCode,
    TokenPurpose,
    User,
    role_by_code,
)
from app.auth.passwords import burn_time, hash_password, needs_rehash, verify_password
from app.db import utcnow
from app.extensions import db
from app.i18n import _
from app.mail.services import queue_template_mail
from app.sessions import end_user_sessions

HANDLE_RE = re.compile(r"^[a-z0-9_]{3,30}$")
RESERVED_HANDLES = frozenset(
    {"admin", "root", "staff", "moderator", "sankaku", "system", "support", "me", "new"}
)


# Sent with the new member as sender, inside the registration's transaction, by both ways of
# registering (invitation and open registration): features record what registration implies,
# such as acceptance of the current terms of use.
_signals = Namespace()
user_registered = _signals.signal("user-registered")


class AuthError(Exception):
    """A rule refused the action; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def email_key(email: str) -> str:
    """Unique key of an email: NFKC, trimmed, lower-cased (case-insensitive uniqueness)."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def handle_key(handle: str) -> str:
    return unicodedata.normalize("NFKC", handle).strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A 256-bit URL-safe secret from `secrets` (A40)."""
    return secrets.token_urlsafe(32)


def absolute_url(endpoint: str, **values: Any) -> str:
    """A link for an email: SERVER_BASE_URL plus the endpoint's path."""
    base = str(current_app.config["SERVER_BASE_URL"]).rstrip("/")
    # Built from the URL map so it works in CLI commands and jobs too, not only in requests.
    return base + current_app.url_map.bind("localhost").build(endpoint, values)


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email_key == email_key(email))
    ).scalar_one_or_none()


def find_user_by_handle(handle: str) -> User | None:
    return db.session.execute(
        select(User).where(User.handle_key == handle_key(handle))
    ).scalar_one_or_none()


# --- invitations -----------------------------------------------------------------------------


@dataclass
class IssuedInvitation:
    invitation: Invitation
    token: str
    url: str


def invitations_left(user: User) -> int:
    """How many more invitations a member may send (quota minus open and accepted ones)."""
    used = db.session.execute(
        select(func.count(Invitation.id)).where(
            Invitation.inviter_id == user.id, Invitation.revoked_at.is_(None)
        )
    ).scalar_one()
    return max(int(user.invite_quota) - int(used), 0)


def create_invitation(
    inviter: User | None,
    email: str,
    *,
    message: str = "",
    role: RoleCode = RoleCode.MEMBER,
    days: int | None = None,
    send: bool = True,
    locale: str = "ja",
) -> IssuedInvitation:
    """Invite someone by email. Members are limited by their quota; the CLI invites freely.

    Raises AuthError when the quota is used up or the address already has an account.
    """
    limited = inviter is not None and not inviter.has_role(RoleCode.MODERATOR)
    if limited and inviter is not None and invitations_left(inviter) <= 0:
        raise AuthError(_("You have no invitations left."), "email")
    if find_user_by_email(email) is not None:
        raise AuthError(_("This person already has an account."), "email")
    token = new_token()
    days = days or int(current_app.config["INVITATION_DAYS"])
    invitation = Invitation(
        token_hash=token_hash(token),
        email=email.strip(),
        message=message.strip(),
        role=role.value,
        inviter_id=inviter.id if inviter else None,
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    db.session.add(invitation)
    url = absolute_url("auth.accept_invitation", token=token)
    if send:
        queue_template_mail(
            invitation.email,
            "invitation",
            locale,
            kind="invitation",
            inviter=inviter,
            message=invitation.message,
            url=url,
            days=days,
        )
    return IssuedInvitation(invitation, token, url)


def load_invitation(token: str) -> Invitation:
    """The open invitation for a token; AuthError if unknown, used, revoked or expired."""
    invitation = db.session.execute(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if invitation is None or invitation.revoked_at is not None:
        raise AuthError(_("This invitation link is not valid."))
    if invitation.accepted_at is not None:
        raise AuthError(_("This invitation has already been used."))
    if invitation.expires_at <= utcnow():
        raise AuthError(_("This invitation has expired. Please ask for a new one."))
    return invitation


# --- registration ----------------------------------------------------------------------------


def check_new_account(email: str, handle: str) -> None:
    """Raise AuthError when the email or handle is taken or the handle is not allowed."""
    if find_user_by_email(email) is not None:
        raise AuthError(_("An account with this email address already exists."), "email")
    key = handle_key(handle)
    if not HANDLE_RE.match(key):
        raise AuthError(
            _("Use 3 to 30 letters a–z, digits or underscores for your user name."), "handle"
        )
    if key in RESERVED_HANDLES or find_user_by_handle(key) is not None:
        raise AuthError(_("This user name is already taken."), "handle")


def create_user(
    *,
    email: str,
    handle: str,
    display_name: str,
    password: str,
    role: RoleCode = RoleCode.MEMBER,
    confirmed: bool = False,
    invited_by: User | None = None,
    locale: str = "ja",
) -> User:
    """Create a member account (checks uniqueness; flushes to get the id)."""
    check_new_account(email, handle)
    user = User(
        email=email.strip(),
        email_key=email_key(email),
        handle=handle_key(handle),
        handle_key=handle_key(handle),
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        locale=locale if locale in ("ja", "en") else "ja",
        invited_by=invited_by,
        invite_quota=int(current_app.config["DEFAULT_INVITE_QUOTA"]),
        email_confirmed_at=utcnow() if confirmed else None,
        password_changed_at=utcnow(),
    )
    user.roles.append(role_by_code(RoleCode.MEMBER))
    if role != RoleCode.MEMBER:
        user.roles.append(role_by_code(role))
    db.session.add(user)
    db.session.flush()  # the id is needed for tokens and the caller's redirect
    return user


def register_from_invitation(
    invitation: Invitation,
    *,
    email: str,
    handle: str,
    display_name: str,
    password: str,
    locale: str,
) -> User:
    """Accept an invitation. The invited address counts as confirmed; another needs a link."""
    same_address = email_key(email) == email_key(invitation.email)
    user = create_user(
        email=email,
        handle=handle,
        display_name=display_name,
        password=password,
        role=RoleCode(invitation.role),
        confirmed=same_address,
        invited_by=invitation.inviter,
        locale=locale,
    )
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    if not same_address:
        send_confirmation(user)
    user_registered.send(user)
    return user


def register_open(
    *, email: str, handle: str, display_name: str, password: str, locale: str
) -> User:
    """Open registration (when REGISTRATION_OPEN): the address must be confirmed by link."""
    user = create_user(
        email=email, handle=handle, display_name=display_name, password=password, locale=locale
    )
    send_confirmation(user)
    user_registered.send(user)
    return user


# --- email tokens ----------------------------------------------------------------------------


def issue_token(
    user: User, purpose: TokenPurpose, lifetime: dt.timedelta, new_email: str | None = None
) -> str:
    """A new single-use token; earlier unused tokens of the same purpose stop working."""
    db.session.execute(
        delete(EmailToken).where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == purpose.value,
            EmailToken.used_at.is_(None),
        )
    )
    token = new_token()
    db.session.add(
        EmailToken(
            token_hash=token_hash(token),
            purpose=purpose.value,
            user_id=user.id,
            new_email=new_email,
            expires_at=utcnow() + lifetime,
        )
    )
    return token


def peek_token(token: str, purpose: TokenPurpose) -> EmailToken:
    """The valid token row (for the GET confirm page); AuthError if used, unknown or expired."""
    row = db.session.execute(
        select(EmailToken).where(
            EmailToken.token_hash == token_hash(token), EmailToken.purpose == purpose.value
        )
    ).scalar_one_or_none()
    if row is None:
        raise AuthError(_("This link is not valid."))
    if row.used_at is not None:
        raise AuthError(_("This link has already been used."))
    if row.expires_at <= utcnow():
        raise AuthError(_("This link has expired. Please request a new one."))
    return row


def use_token(token: str, purpose: TokenPurpose) -> EmailToken:
    """Consume a token (single use): a second use raises AuthError."""
    row = peek_token(token, purpose)
    row.used_at = utcnow()
    return row


def send_confirmation(user: User) -> None:
    hours = int(current_app.config["EMAIL_TOKEN_HOURS"])
    token = issue_token(user, TokenPurpose.CONFIRM_EMAIL, dt.timedelta(hours=hours))
    queue_template_mail(
        user.email,
        "confirm_email",
        user.locale,
        kind="confirm_email",
        user=user,
        url=absolute_url("auth.confirm_email", token=token),
        hours=hours,
    )


def confirm_email(token: str) -> User:
    row = use_token(token, TokenPurpose.CONFIRM_EMAIL)
    user = row.user
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    return user


# --- login -----------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User:
    """The member with these credentials; AuthError otherwise (one message for both cases)."""
    user = find_user_by_email(email)
    if user is None:
        burn_time(password)
        raise AuthError(_("The email address or password is not correct."))
    if not verify_password(user.password_hash, password):
        raise AuthError(_("The email address or password is not correct."))
    if not user.is_active:
        raise AuthError(_("This account is suspended. Please contact the site's moderators."))
    if not user.email_confirmed:
        raise AuthError(_("Please confirm your email address first: follow the link we sent you."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


# --- password reset --------------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """Send a reset link if the address has an account. Says nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        return
    minutes = int(current_app.config["RESET_TOKEN_MINUTES"])
    token = issue_token(user, TokenPurpose.RESET_PASSWORD, dt.timedelta(minutes=minutes))
    queue_template_mail(
        user.email,
        "reset_password",
        user.locale,
        kind="reset_password",
        user=user,
        url=absolute_url("auth.reset_password", token=token),
        minutes=minutes,
    )


def reset_password(token: str, new_password: str) -> User:
    """Set a new password with a reset token; every session of the member ends (R16)."""
    row = use_token(token, TokenPurpose.RESET_PASSWORD)
    user = row.user
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()  # the reset mail proved the address
    end_user_sessions(user.id)
    return user


# --- account settings ------------------------------------------------------------------------


def change_password(
    user: User, current: str, new: str, *, keep_sid_hash: str | None, logout_others: bool
) -> None:
    """Change the password; the current one is required (A03)."""
    if not verify_password(user.password_hash, current):
        raise AuthError(_("Your current password is not correct."), "current_password")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    if logout_others:
        end_user_sessions(user.id, except_sid_hash=keep_sid_hash)
    queue_template_mail(
        user.email, "password_changed", user.locale, kind="password_changed", user=user
    )


def request_email_change(user: User, password: str, new_email: str) -> None:
    """Send a confirmation link to the new address and a notice to the old one (A03)."""
    if not verify_password(user.password_hash, password):
        raise AuthError(_("Your password is not correct."), "password")
    if email_key(new_email) == user.email_key:
        raise AuthError(_("This is already your email address."), "email")
    if find_user_by_email(new_email) is not None:
        raise AuthError(_("This email address cannot be used."), "email")
    hours = int(current_app.config["EMAIL_TOKEN_HOURS"])
    token = issue_token(
        user, TokenPurpose.CHANGE_EMAIL, dt.timedelta(hours=hours), new_email=new_email.strip()
    )
    queue_template_mail(
        new_email.strip(),
        "change_email",
        user.locale,
        kind="change_email",
        user=user,
        url=absolute_url("auth.confirm_email_change", token=token),
        hours=hours,
    )
    queue_template_mail(
        user.email,
        "email_change_notice",
        user.locale,
        kind="email_change_notice",
        user=user,
        new_email=new_email.strip(),
    )


def confirm_email_change(token: str) -> User:
    row = use_token(token, TokenPurpose.CHANGE_EMAIL)
    user = row.user
    new_email = row.new_email or ""
    if find_user_by_email(new_email) is not None:
        raise AuthError(_("This email address cannot be used."))
    user.email = new_email
    user.email_key = email_key(new_email)
    user.email_confirmed_at = utcnow()
    return user


def delete_account(user: User, password: str) -> None:
    """Delete the member's account and everything tied to it; the password is required."""
    if not verify_password(user.password_hash, password):
        raise AuthError(_("Your password is not correct."), "password")
    end_user_sessions(user.id)
    db.session.delete(user)


def suspend_user(user: User, until: dt.datetime | None) -> None:
    """Suspend a member (they cannot log in) and end all their sessions at once (A18)."""
    user.status = AccountStatus.SUSPENDED.value
    user.suspended_until = until
    end_user_sessions(user.id)


def lift_suspension(user: User) -> None:
    user.status = AccountStatus.ACTIVE.value
    user.suspended_until = None
