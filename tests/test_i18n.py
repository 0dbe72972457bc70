"""Every user-facing string has a Japanese translation, in every catalogue, none fuzzy."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

from app import translation_directories

APP_DIR = Path(__file__).resolve().parent.parent / "app"
METHOD_MAP = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.txt", "jinja2"),
]
KEYWORDS = {
    "_": None,
    "_l": None,
    "gettext": None,
    "lazy_gettext": None,
    "_n": (1, 2),
    "ngettext": (1, 2),
}


def all_msgids() -> set[str]:
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(APP_DIR), METHOD_MAP, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return {m for m in found if m}


def test_every_message_has_a_japanese_translation(app):
    missing = []
    with app.test_request_context("/"), force_locale("ja"):
        for msgid in sorted(all_msgids()):
            if not any(ch.isascii() and ch.isalpha() for ch in msgid):
                continue  # already Japanese or symbols only
            if gettext(msgid) == msgid:
                missing.append(msgid)
    assert not missing, f"untranslated for ja: {missing}"


def test_catalogues_have_no_fuzzy_entries():
    for directory in translation_directories():
        for po in Path(directory).glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as fh:
                catalog = read_po(fh)
            fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
            assert not fuzzy, f"{po}: fuzzy entries {fuzzy}"
