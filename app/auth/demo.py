"""Demo town: bind the emulated My Number Card of the development test PKI to a resident.

`make run` generates a JPKI-shaped test PKI under instance/jpki-test/ and inserts the card
"taro" into the virtual reader; this step links that card to 鈴木 はるか so the card login can
be tried at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.auth.jpki.verify import verify_certificate
from app.auth.jpki_web import cert_key, jpki_settings
from app.auth.models import CertificateBinding, User
from app.db import utcnow
from app.extensions import db

DEMO_CARD = "taro"
DEMO_CARD_HOLDER = "haruka"


def bind_demo_card(members: dict[str, User]) -> None:
    """Link the demo card to the demo resident when the development PKI exists (idempotent)."""
    trust = current_app.config.get("JPKI_TRUST_DIR")
    if not trust:
        return
    cert_path = Path(trust).parent / "cards" / DEMO_CARD / "auth.der"
    holder = members.get(DEMO_CARD_HOLDER)
    if holder is None or not cert_path.is_file():
        return
    result = verify_certificate(cert_path.read_bytes(), "auth", utcnow(), jpki_settings())
    if not result.ok or result.certificate is None:
        current_app.logger.warning("demo card not bound: %s", result.reason)
        return
    key = cert_key(result.anchor_fingerprint or "", result.serial, result.spki_sha256 or "")
    exists = db.session.execute(
        select(CertificateBinding.id).where(CertificateBinding.cert_key == key)
    ).first()
    if exists:
        return
    not_after = result.certificate.not_valid_after_utc or utcnow() + dt.timedelta(days=365)
    db.session.add(
        CertificateBinding(
            cert_key=key, user_id=holder.id, serial_hint=result.serial[-4:], not_after=not_after
        )
    )
