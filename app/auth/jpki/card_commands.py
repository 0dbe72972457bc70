"""Card commands shared by ``flask jpki card …`` and the standalone ``sankaku-card``.

They need no Flask application. Each exits 0 on success; on failure it prints one line in
Japanese and English and exits non-zero (1 refused or cancelled, 2 usage, 3 card or reader,
4 PIN wrong or blocked, 5 network).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .card import JpkiClient, PyscardTransport, list_readers, open_jpki_card
from .client import login as run_login
from .errors import (
    CertificateNotFound,
    JpkiCardError,
    JpkiClientError,
    NoCard,
    NoReader,
    NotJpkiCard,
)
from .reasons import Text

__all__ = ["card_group"]

F = TypeVar("F", bound=Callable[..., Any])

PIN_PROMPT = "利用者証明用暗証番号（数字4桁） / Authentication PIN (4 digits)"
PASSWORD_PROMPT = "署名用パスワード（英数字6〜16文字） / Signing password (6-16 characters)"  # noqa: S105 - prompt


def _fail(error: JpkiClientError) -> None:
    click.echo(error.text.bilingual(), err=True)
    raise SystemExit(error.exit_code)


def reports_errors(func: F) -> F:
    """Turn JpkiClientError into its one-line message and exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JpkiClientError as exc:
            _fail(exc)

    return wrapper  # type: ignore[return-value]


def _secret(pin_env: str | None, prompt: str) -> str:
    """The PIN from ``$pin_env`` or from a prompt that does not echo."""
    if pin_env:
        value = os.environ.get(pin_env)
        if value is None:
            raise click.UsageError(f"environment variable {pin_env} is not set")
        return value
    value = click.prompt(prompt, hide_input=True, err=True, show_default=False)
    return str(value)


@click.group("card", help="My Number Card over PC/SC: status, read-cert, login.")
def card_group() -> None:
    """Card commands (no Flask app needed)."""


@card_group.command("status")
@click.option("--reader", default=None, help="Only this reader (name or unique part of it).")
@reports_errors
def status_command(reader: str | None) -> None:
    """List readers, card presence, token label and tries left for PIN and password."""
    names = list_readers()
    if reader is not None:
        names = [n for n in names if n == reader] or [n for n in names if reader in n]
        if len(names) != 1:
            raise NoReader(reader)
    if not names:
        click.echo("readers: none")
    jpki_found = False
    last_error: JpkiCardError = NoCard()
    for name in names:
        click.echo(f"reader: {name}")
        try:
            transport = PyscardTransport.connect(name)
        except NoCard as exc:
            click.echo("  card: none / カードなし")
            last_error = exc
            continue
        try:
            click.echo(f"  card: present, ATR {transport.atr().hex(' ').upper()}")
            client = JpkiClient(transport)
            try:
                label = client.ensure_supported()
            except NotJpkiCard as exc:
                click.echo("  jpki: no / 公的個人認証APなし")
                last_error = exc
                continue
            jpki_found = True
            click.echo(f"  token label: {label}")
            click.echo(f"  pin tries left: {client.tries_left('auth')}")
            try:
                click.echo(f"  password tries left: {client.tries_left('sign')}")
            except CertificateNotFound:
                click.echo("  password tries left: - (no signing certificate / 署名用証明書なし)")
        finally:
            transport.close()
    if not names:
        raise NoCard("no readers")
    if not jpki_found:
        raise last_error


@card_group.command("read-cert")
@click.option("--kind", type=click.Choice(["auth", "sign"]), default="auth", show_default=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--pin-env", default=None, help="Environment variable holding the password.")
@click.option("--reader", default=None, help="Reader name (default: first with a JPKI card).")
@reports_errors
def read_cert_command(kind: str, out_path: str, pin_env: str | None, reader: str | None) -> None:
    """Write the authentication or signing certificate (DER) to FILE.

    The signing certificate needs the signing password (prompted without echo, or --pin-env).
    """
    with open_jpki_card(reader) as (client, _transport):
        if kind == "sign":
            client.verify_password(_secret(pin_env, PASSWORD_PROMPT))
            der = client.read_certificate("sign")
        else:
            der = client.read_certificate("auth")
    with open(out_path, "wb") as fh:
        fh.write(der)
    click.echo(f"wrote {len(der)} bytes to {out_path}")


@card_group.command("login")
@click.argument("url")
@click.argument("code")
@click.option("--reader", default=None, help="Reader name (default: first with a JPKI card).")
@click.option("--pin-env", default=None, help="Environment variable holding the PIN.")
@click.option("--yes", "assume_yes", is_flag=True, help="Do not ask for confirmation.")
@reports_errors
def login_command(
    url: str, code: str, reader: str | None, pin_env: str | None, assume_yes: bool
) -> None:
    """Log in to the site at URL with the code shown on its login page."""

    def confirm(origin: str, shown_code: str) -> bool:
        click.echo(f"ログイン先 / Site: {origin}")
        click.echo(f"コード / Code: {shown_code}")
        if assume_yes:
            return True
        return click.confirm(
            "このサイトにログインしますか？ / Log in to this site?", default=False, err=True
        )

    def warn(text: Text) -> None:
        click.echo(text.bilingual(), err=True)

    outcome = run_login(
        url,
        code,
        get_pin=lambda: _secret(pin_env, PIN_PROMPT),
        confirm=confirm,
        warn=warn,
        reader=reader,
    )
    click.echo(
        f"ログインしました。ブラウザに戻ってください。 / Logged in to {outcome.origin}: "
        "return to your browser."
    )
