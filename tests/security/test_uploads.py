"""Hostile uploads through the real forms (A65–A67, R15): the avatar and the diary photos.

Each file is either refused with a clear message in the member's language and nothing stored,
or cleaned: decided by content, re-encoded, metadata gone, stored under a random name outside
the static root and served as an image that a browser will not run.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale, gettext
from PIL import Image as PILImage
from sqlalchemy import func, select

from app.extensions import db
from app.sns import images
from app.sns.models import Image

NOT_A_PHOTO = "This file could not be read as a photo. Please upload a JPEG, PNG or WebP photo."
WRONG_TYPE = "Please upload a JPEG, PNG or WebP photo."
TOO_MANY_PIXELS = "The photo has too many pixels."
TOO_LARGE = "The photo is larger than 5 MB. Please choose a smaller one."


def jpeg(size: tuple[int, int] = (640, 480), exif: PILImage.Exif | None = None) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, (30, 120, 200)).save(out, format="JPEG", exif=exif or b"")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = PILImage.Exif()
    exif[0x010F] = "CanaryCamMake"
    exif[0x0131] = "CanarySoftware"
    exif[0x8825] = {1: "N", 2: (37.0, 26.0, 51.5), 3: "E", 4: (138.0, 51.0, 6.2)}
    return jpeg(exif=exif)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header declares a huge picture (the pixel data is a few bytes)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb() -> bytes:
    """A real JPEG with its frame header rewritten to declare 65000 x 65000 pixels."""
    raw = bytearray(jpeg((16, 16)))
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    return bytes(raw)


HTML_JS = b"<html><script>alert(document.cookie)</script><img src=x onerror=alert(1)></html>"


def polyglot() -> bytes:
    """A valid JPEG carrying HTML and JavaScript in a comment segment and after the image."""
    raw = jpeg((64, 64))
    comment = b"\xff\xfe" + struct.pack(">H", len(HTML_JS) + 2) + HTML_JS
    return raw[:2] + comment + raw[2:] + HTML_JS


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.domain)</script></svg>"
)


def message(app: Flask, text: str) -> str:
    with app.test_request_context(), force_locale("ja"):
        return str(gettext(text))


def image_count() -> int:
    db.session.rollback()
    return int(db.session.execute(select(func.count()).select_from(Image)).scalar_one())


def multipart(fields: dict[str, str], name: str, raw: bytes, filename: str, mimetype: str) -> bytes:
    """A multipart body built in memory (the test client spools big uploads to open files)."""
    parts = [
        f'--cut\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    head = (
        f'--cut\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {mimetype}\r\n\r\n"
    )
    return b"".join(parts) + head.encode() + raw + b"\r\n--cut--\r\n"


FORM = "multipart/form-data; boundary=cut"


def post_avatar(client: Any, raw: bytes, name: str, mimetype: str = "image/jpeg") -> str:
    body = multipart({}, "photo", raw, name, mimetype)
    response = client.post("/me/avatar", data=body, content_type=FORM, follow_redirects=True)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def post_diary(client: Any, raw: bytes, name: str, mimetype: str = "image/jpeg") -> Any:
    fields = {"title": "写真", "body": "畑の写真です", "visibility": "members"}
    body = multipart({**fields, "body_format": "plain"}, "images", raw, name, mimetype)
    return client.post("/diary/new", data=body, content_type=FORM)


REFUSED: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("png decompression bomb", png_bomb, "bomb.png", TOO_MANY_PIXELS),
    ("jpeg decompression bomb", jpeg_bomb, "bomb.jpg", TOO_MANY_PIXELS),
    ("svg with script", lambda: SVG, "face.svg", NOT_A_PHOTO),
    ("svg named .jpg", lambda: SVG, "face.jpg", NOT_A_PHOTO),
    ("html named .png", lambda: HTML_JS, "page.png", NOT_A_PHOTO),
    ("truncated jpeg", lambda: jpeg()[:700], "cut.jpg", NOT_A_PHOTO),
    ("truncated png", lambda: png_bomb(64, 64)[:40], "cut.png", NOT_A_PHOTO),
    ("gif", lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.jpg", WRONG_TYPE),
    ("oversize", lambda: jpeg()[:2] + b"\x00" * (5 * 1024 * 1024 + 10), "big.jpg", TOO_LARGE),
    ("empty", lambda: b"\xff", "empty.jpg", NOT_A_PHOTO),
]


@pytest.mark.parametrize(
    ("raw", "name", "reason"),
    [(case[1], case[2], case[3]) for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_hostile_avatars_are_refused_with_a_clear_message(
    app: Flask, user: Any, login_as: Any, raw: Callable[[], bytes], name: str, reason: str
) -> None:
    client = login_as(user)
    page = post_avatar(client, raw(), name)
    expected = message(app, reason)
    assert expected != reason, "the message must be translated"
    assert expected in page
    assert image_count() == 0


@pytest.mark.parametrize(
    ("raw", "name", "reason"),
    [(case[1], case[2], case[3]) for case in REFUSED if case[0] != "empty"],
    ids=[case[0] for case in REFUSED if case[0] != "empty"],
)
def test_hostile_diary_photos_are_refused_and_the_entry_is_not_posted(
    app: Flask, user: Any, login_as: Any, raw: Callable[[], bytes], name: str, reason: str
) -> None:
    client = login_as(user)
    response = post_diary(client, raw(), name)
    assert response.status_code in (200, 422)
    assert message(app, reason) in response.get_data(as_text=True)
    assert image_count() == 0
    from app.sns.models import Diary

    assert db.session.execute(select(func.count()).select_from(Diary)).scalar_one() == 0


def test_a_request_above_the_size_cap_gets_a_page_not_an_error(user: Any, login_as: Any) -> None:
    client = login_as(user)
    body = multipart({}, "photo", b"\xff\xd8" + bytes(11 * 1024 * 1024), "huge.jpg", "image/jpeg")
    response = client.post("/me/avatar", data=body, content_type=FORM)
    assert response.status_code == 413
    assert "<html" in response.get_data(as_text=True).lower()
    assert image_count() == 0


def stored_image(app: Flask) -> tuple[Image, bytes]:
    db.session.rollback()
    image = db.session.execute(select(Image)).scalar_one()
    path = images.path_for(image.token)
    assert Path(app.config["INSTANCE_DIR"]) in path.parents and "static" not in path.parts
    return image, path.read_bytes()


def test_polyglot_is_reencoded_and_served_inert(app: Flask, user: Any, login_as: Any) -> None:
    raw = polyglot()
    with PILImage.open(io.BytesIO(raw)) as probe:  # the polyglot is a valid JPEG
        assert probe.format == "JPEG"
    client = login_as(user)
    post_avatar(client, raw, "<script>alert(1)</script>.html")
    image, data = stored_image(app)
    assert b"<script" not in data and b"onerror" not in data and b"<html" not in data
    served = client.get(f"/images/{image.token}")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"].startswith("sandbox")
    assert served.headers["Content-Disposition"] == 'inline; filename="image.jpg"'
    assert b"<script" not in served.get_data()


def test_exif_gps_and_camera_data_are_stripped(app: Flask, user: Any, login_as: Any) -> None:
    raw = jpeg_with_gps()
    assert b"CanaryCamMake" in raw
    client = login_as(user)
    response = post_diary(client, raw, "IMG_0001.JPG")
    assert response.status_code == 302
    image, data = stored_image(app)
    served = client.get(f"/images/{image.token}").get_data()
    for blob in (data, served):
        assert b"CanaryCamMake" not in blob and b"CanarySoftware" not in blob
        with PILImage.open(io.BytesIO(blob)) as img:
            exif = img.getexif()
            assert not exif and not exif.get_ifd(0x8825)
            assert "exif" not in img.info and "icc_profile" not in img.info


def test_wrong_extension_is_decided_by_content(app: Flask, user: Any, login_as: Any) -> None:
    """A PNG named .jpg with a lying content type is stored as what it is, re-encoded."""
    out = io.BytesIO()
    PILImage.new("RGBA", (40, 40), (0, 0, 0, 0)).save(out, format="PNG")
    client = login_as(user)
    post_avatar(client, out.getvalue(), "photo.jpg", mimetype="text/html")
    image, data = stored_image(app)
    assert image.content_type == "image/png" and data.startswith(b"\x89PNG")
    served = client.get(f"/images/{image.token}")
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Disposition"] == 'inline; filename="image.png"'
