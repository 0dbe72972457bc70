"""``flask jpki …``: verify certificates, make a test PKI, run the emulated card, card client.

Register with ``app.cli.add_command(jpki_cli)``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from .card_commands import card_group
from .settings import JpkiSettings
from .verify import verify_certificate

__all__ = ["jpki_cli"]

jpki_cli = AppGroup(
    "jpki", help="JPKI (My Number Card): verify certificates, test PKI, emulated card, card client."
)
jpki_cli.add_command(card_group)


def _usage_error(message: str) -> None:
    click.echo(message, err=True)
    raise SystemExit(2)


def _parse_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        _usage_error(f"--at: not an ISO-8601 date-time: {text!r}")
        raise  # unreachable; keeps type checkers informed
    # A time without offset is taken as UTC, the unit of certificate validity.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@jpki_cli.command("verify")
@click.option("--cert", "cert_path", required=True, help="Certificate file, PEM or DER.")
@click.option("--usage", type=click.Choice(["auth", "sign"]), default="auth", show_default=True)
@click.option("--at", "at_text", default=None, help="Verification time, ISO-8601 (default now).")
def verify_command(cert_path: str, usage: str, at_text: str | None) -> None:
    """Verify a certificate; print one JSON object; exit 0 valid, 1 invalid, 2 usage error."""
    at = _parse_at(at_text)
    try:
        with open(cert_path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        _usage_error(f"--cert: cannot read {cert_path}: {exc.strerror or exc}")
        return
    try:
        settings = JpkiSettings.from_mapping(current_app.config)
    except ValueError as exc:
        _usage_error(f"configuration: {exc}")
        return
    if not settings.trust_dir:
        _usage_error("configuration: JPKI_TRUST_DIR is not set")
    result = verify_certificate(data, "sign" if usage == "sign" else "auth", at, settings)
    click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    raise SystemExit(0 if result.ok else 1)


@jpki_cli.command("make-test-pki")
@click.argument("directory", type=click.Path(file_okay=False))
def make_test_pki_command(directory: str) -> None:
    """Write a JPKI-shaped test PKI (anchors, CRLs, cards, bad cases) into DIRECTORY."""
    from .testpki import make_test_pki

    os.makedirs(directory, exist_ok=True)
    pki = make_test_pki(directory)
    click.echo(f"test PKI written to {directory} (JPKI-DEVTEST, not for production)")
    click.echo(f"  JPKI_TRUST_DIR={pki.trust_dir}")
    click.echo(f"  JPKI_CRL_DIR={pki.crl_dir}")
    pins = ",".join(a["fingerprint"] for a in pki.manifest["anchors"].values())
    click.echo(f"  JPKI_TRUST_PINS={pins}")
    for name, card in pki.manifest["cards"].items():
        password = card["password"] or "-"
        click.echo(f"  card {name}: PIN {card['pin']}, password {password}")


@jpki_cli.command("virtual-card")
@click.option("--pki", "pki_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--card", "card_name", required=True, help="Card name under DIR/cards/.")
@click.option("--pin", default=None, help="Authentication PIN (default: the card's).")
@click.option("--password", default=None, help="Signing password (default: the card's).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=35963, show_default=True, type=int)
def virtual_card_command(
    pki_dir: str, card_name: str, pin: str | None, password: str | None, host: str, port: int
) -> None:
    """Run an emulated My Number Card on vsmartcard-vpcd until interrupted."""
    from .virtual_card import run

    click.echo(
        f"virtual card {card_name!r} on vpcd {host}:{port} "
        "(pcscd shows it in 'Virtual PCD 00 00' for port 35963); Ctrl-C to stop"
    )
    try:
        run(pki_dir, card_name, pin=pin, password=password, host=host, port=port)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        _usage_error(f"cannot load card {card_name!r}: {exc}")
