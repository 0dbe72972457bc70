"""Image uploads: decided by content, re-encoded with Pillow, metadata stripped, stored under
random names outside the static root (A53, A65–A67)."""

from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from app.i18n import _

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,48}$")
MAX_INPUT_BYTES = 5 * 1024 * 1024
# Decompression bombs: refuse anything above this many pixels before decoding (A65).
MAX_PIXELS = 40_000_000
PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(Exception):
    """The upload is not an image we accept; the message says why, in the user's language."""


@dataclass
class ProcessedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def process_image(raw: bytes, max_px: int) -> ProcessedImage:
    """Check an upload by content and re-encode it; raise ImageError with a clear message.

    JPEG, PNG and WebP only (SVG and everything else is refused). The result is at most
    `max_px` on its longer side, carries no EXIF/XMP/ICC metadata, and is JPEG, or PNG when
    the picture has transparency.
    """
    if not raw:
        raise ImageError(_("The file is empty. Please choose a photo."))
    if len(raw) > MAX_INPUT_BYTES:
        raise ImageError(_("The photo is larger than 5 MB. Please choose a smaller one."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(raw)) as probe:
                fmt = probe.format
                if fmt not in ALLOWED_FORMATS:
                    raise ImageError(_("Please upload a JPEG, PNG or WebP photo."))
                if probe.width * probe.height > MAX_PIXELS:
                    raise ImageError(_("The photo has too many pixels."))
                probe.verify()
            with PILImage.open(io.BytesIO(raw)) as img:
                img.load()
                picture = ImageOps.exif_transpose(img) or img
                has_alpha = picture.mode in ("RGBA", "LA", "PA") or (
                    picture.mode == "P" and "transparency" in picture.info
                )
                picture = picture.convert("RGBA" if has_alpha else "RGB")
                picture.thumbnail((max_px, max_px), PILImage.Resampling.LANCZOS)
                # Pillow writes a JPEG comment, ICC profile or XMP kept in `info` back out:
                # a polyglot's HTML in a COM segment would survive (tests/security/test_uploads).
                picture.info.clear()
                out = io.BytesIO()
                if has_alpha:
                    picture.save(out, format="PNG", optimize=True)
                    kind, ext = "image/png", "png"
                else:
                    picture.save(out, format="JPEG", quality=85, optimize=True)
                    kind, ext = "image/jpeg", "jpg"
                return ProcessedImage(out.getvalue(), kind, ext, picture.width, picture.height)
    except ImageError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageError(_("The photo has too many pixels.")) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(
            _("This file could not be read as a photo. Please upload a JPEG, PNG or WebP photo.")
        ) from exc


def upload_dir() -> Path:
    configured = current_app.config.get("SNS_UPLOAD_DIR")
    return Path(configured or Path(current_app.config["INSTANCE_DIR"]) / "uploads")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def path_for(token: str) -> Path:
    """The file of a token; the token alone (never a user's file name) makes the path."""
    if not TOKEN_RE.match(token):
        raise ValueError("bad image token")
    return upload_dir() / token[:2] / token


def store(token: str, data: bytes) -> None:
    path = path_for(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def remove(token: str) -> None:
    try:
        path_for(token).unlink(missing_ok=True)
    except ValueError:
        return
