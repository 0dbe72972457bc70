"""Account forms; labels use `_l` so they follow the user's language."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField

from app.forms import BaseForm, EmailAddress, Length, PasswordPolicy, Required, SameAs
from app.i18n import _l


class LoginForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[Required(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[Required(), Length(max=1024)])
    remember = BooleanField(_l("Keep me logged in on this device"))
    next = HiddenField()


class RegisterForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[Required(), EmailAddress()])
    display_name = StringField(
        _l("Display name"),
        validators=[Required(), Length(max=50)],
        description=_l("Shown to everyone. You can use your real name or a nickname."),
    )
    handle = StringField(
        _l("User name"),
        validators=[Required(), Length(min=3, max=30)],
        description=_l("Used in your page's address: 3–30 letters a–z, digits or underscores."),
    )
    password = PasswordField(
        _l("Password"),
        validators=[Required(), PasswordPolicy()],
        description=_l("At least 8 characters. A long phrase is easiest to remember."),
    )
    password_confirm = PasswordField(
        _l("Password (again)"), validators=[Required(), SameAs("password")]
    )


class ForgotPasswordForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[Required(), EmailAddress()])


class ResetPasswordForm(BaseForm):
    password = PasswordField(_l("New password"), validators=[Required(), PasswordPolicy()])
    password_confirm = PasswordField(
        _l("New password (again)"), validators=[Required(), SameAs("password")]
    )


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(
        _l("Current password"), validators=[Required(), Length(max=1024)]
    )
    password = PasswordField(_l("New password"), validators=[Required(), PasswordPolicy()])
    password_confirm = PasswordField(
        _l("New password (again)"), validators=[Required(), SameAs("password")]
    )
    logout_others = BooleanField(_l("Log out my other devices"), default=True)


class ChangeEmailForm(BaseForm):
    email = EmailField(_l("New email address"), validators=[Required(), EmailAddress()])
    password = PasswordField(_l("Current password"), validators=[Required(), Length(max=1024)])


class DeleteAccountForm(BaseForm):
    password = PasswordField(_l("Current password"), validators=[Required(), Length(max=1024)])
    confirm = BooleanField(_l("I understand that this cannot be undone"), validators=[Required()])


class InviteForm(BaseForm):
    email = EmailField(_l("Their email address"), validators=[Required(), EmailAddress()])
    message = StringField(_l("A message for them (optional)"), validators=[Length(max=1000)])


class JpkiBindForm(BaseForm):
    password = PasswordField(_l("Current password"), validators=[Required(), Length(max=1024)])


class TotpCodeForm(BaseForm):
    code = StringField(
        _l("6-digit code"),
        validators=[Required(), Length(max=20)],
        description=_l("The code your authenticator app shows now. It changes every 30 seconds."),
    )
    next = HiddenField()
