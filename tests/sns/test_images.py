"""Uploads: content-checked, re-encoded, EXIF stripped, capped; served with visibility and
safe headers (A53, A65–A67)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from app.extensions import db
from app.sns import images
from app.sns.models import Image, ProfileValue


def _jpeg_with_gps(size: tuple[int, int] = (1200, 800)) -> bytes:
    img = PILImage.new("RGB", size, (200, 120, 40))
    exif = PILImage.Exif()
    exif[0x010F] = "CanonTest"  # Make
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0)}  # GPS IFD
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _png(size: tuple[int, int] = (64, 64), alpha: bool = False) -> bytes:
    img = PILImage.new("RGBA" if alpha else "RGB", size, (0, 128, 0, 128) if alpha else (0, 128, 0))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_reencode_strips_exif_and_shrinks(app: Any) -> None:
    raw = _jpeg_with_gps()
    assert b"CanonTest" in raw
    result = images.process_image(raw, 512)
    assert result.content_type == "image/jpeg"
    assert max(result.width, result.height) == 512
    assert b"CanonTest" not in result.data and b"Exif" not in result.data
    with PILImage.open(io.BytesIO(result.data)) as img:
        assert not img.getexif()


def test_png_with_alpha_stays_png(app: Any) -> None:
    result = images.process_image(_png(alpha=True), 512)
    assert result.content_type == "image/png"


def test_webp_accepted(app: Any) -> None:
    out = io.BytesIO()
    PILImage.new("RGB", (30, 30)).save(out, format="WEBP")
    assert images.process_image(out.getvalue(), 512).content_type == "image/jpeg"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"GIF89a" + b"\x00" * 100,
        b"\x89PNG\r\n\x1a\n" + b"broken" * 10,
        b"<html><body>not an image</body></html>",
    ],
)
def test_refused_files(app: Any, raw: bytes) -> None:
    with pytest.raises(images.ImageError):
        images.process_image(raw, 512)


def test_gif_and_bmp_refused_by_content(app: Any) -> None:
    for fmt in ("GIF", "BMP"):
        out = io.BytesIO()
        PILImage.new("RGB", (10, 10)).save(out, format=fmt)
        with pytest.raises(images.ImageError):
            images.process_image(out.getvalue(), 512)


def test_too_large_and_bomb(app: Any) -> None:
    with pytest.raises(images.ImageError):
        images.process_image(b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024), 512)
    # A PNG declaring 20000 x 20000 pixels, tiny on disk: refused before decoding.
    out = io.BytesIO()
    PILImage.new("1", (20_000, 20_000)).save(out, format="PNG")
    assert len(out.getvalue()) < images.MAX_INPUT_BYTES
    with pytest.raises(images.ImageError):
        images.process_image(out.getvalue(), 512)


def test_avatar_upload_served_with_visibility_and_headers(
    app: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    client = login_as(user)
    r = client.post(
        "/me/avatar",
        data={"photo": (io.BytesIO(_jpeg_with_gps()), "../../etc/passwd.jpg")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    image = db.session.execute(select(Image)).scalar_one()
    stored = images.path_for(image.token)
    assert stored.is_file()
    assert "passwd" not in str(stored)
    assert Path(app.config["INSTANCE_DIR"]) in stored.parents
    assert "static" not in stored.parts
    guest = app.test_client()
    # The photo field defaults to members: guests get 404, members see it.
    assert guest.get(f"/images/{image.token}").status_code == 404
    bob = app.test_client()
    login_as(other_user, the_client=bob)
    r = bob.get(f"/images/{image.token}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert r.headers["Content-Security-Policy"].startswith("sandbox")
    assert b"CanonTest" not in r.get_data()
    row = db.session.get(ProfileValue, (user.id, "avatar"))
    assert row is not None
    row.visibility = "public"
    db.session.commit()
    assert guest.get(f"/images/{image.token}").status_code == 200
    # Blocking hides the photo too.
    client.post("/members/bob/block")
    assert bob.get(f"/images/{image.token}").status_code == 404


def test_bad_avatar_gets_a_clear_message(app: Any, user: Any, login_as: Any) -> None:
    client = login_as(user)
    r = client.post(
        "/me/avatar",
        data={"photo": (io.BytesIO(b"<svg/>"), "face.svg")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert "JPEG" in text
    assert db.session.execute(select(Image)).first() is None


def test_diary_images_follow_the_diary(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    client = login_as(user)
    r = client.post(
        "/diary/new",
        data={
            "title": "写真つき",
            "body": "畑の写真です",
            "visibility": "friends",
            "images": [
                (io.BytesIO(_png()), "a.png"),
                (io.BytesIO(_jpeg_with_gps((300, 300))), "b.jpg"),
            ],
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    tokens = list(db.session.execute(select(Image.token).order_by(Image.position)).scalars())
    assert len(tokens) == 2
    bob = app.test_client()
    login_as(other_user, the_client=bob)
    assert bob.get(f"/images/{tokens[0]}").status_code == 404
    make.friends(user, other_user)
    assert bob.get(f"/images/{tokens[0]}").status_code == 200
    four = [(io.BytesIO(_png()), f"{i}.png") for i in range(4)]
    r = client.post(
        "/diary/new",
        data={"title": "多すぎ", "body": "b", "visibility": "public", "images": four},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200
    assert db.session.execute(select(Image.id)).all().__len__() == 2
