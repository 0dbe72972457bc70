"""The data classification (docs/data-classification.md) stays complete and true (A48).

Every table of both binds belongs to exactly one class, so a new table without a classification
fails here. Each class states sensitivity, storage, protection, access, retention and logging
rules. Every setting, module path, dotted name and `flask` command the document cites exists.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask import Flask

import config as config_module
from app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "data-classification.md"

LEVELS = ("public", "internal", "personal", "special-care", "secret")
FIELDS = ("Sensitivity", "Tables", "Stored in", "Protection", "Access", "Retention", "Logging")
# The classes security check A48 names (PII/account, answers, card data, logs, backups) and the
# stores the classification must cover besides.
REQUIRED = ("account", "sns", "vault", "answers", "card", "logs", "backups", "search", "mail")
REQUIRED += ("keys",)

CLASS_HEADING = re.compile(r"^## `([a-z][a-z0-9-]*)` — (.+)$")
FIELD_LINE = re.compile(r"^- \*\*([A-Za-z ]+):\*\*\s*(.*)$")
CODE = re.compile(r"`([^`]+)`")
SETTING = re.compile(r"^([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])(/.*)?$")
PATH = re.compile(r"^(?:app|tests|docs|scripts|deploy|migrations)/[\w./-]*$|^config\.py$")
DOTTED = re.compile(r"^app(?:\.[A-Za-z_]\w*)+$")
COMMAND = re.compile(r"^flask ([a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)*)")


@dataclass
class DataClass:
    slug: str
    title: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def tables(self) -> list[str]:
        return CODE.findall(self.fields.get("Tables", ""))


def parse(text: str) -> list[DataClass]:
    """The classes of the document: `## `slug` — title` headings after `## Classes`, each with
    `- **Field:** text` items (continued on lines indented by two spaces)."""
    classes: list[DataClass] = []
    current: DataClass | None = None
    name = ""
    started = False
    for line in text.splitlines():
        if line.strip() == "## Classes":
            started = True
            continue
        if not started:
            continue
        heading = CLASS_HEADING.match(line)
        if heading:
            current = DataClass(heading.group(1), heading.group(2))
            classes.append(current)
            name = ""
            continue
        if current is None:
            continue
        item = FIELD_LINE.match(line)
        if item:
            name = item.group(1)
            current.fields[name] = item.group(2).strip()
        elif name and line.startswith("  ") and line.strip():
            current.fields[name] = f"{current.fields[name]} {line.strip()}".strip()
        elif not line.strip():
            name = ""
    return classes


def schema_tables() -> set[str]:
    """Every table of every bind in the SQLAlchemy metadata (models imported by the app)."""
    return {name for metadata in db.metadatas.values() for name in metadata.tables}


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _command_exists(cli: click.Group, words: list[str]) -> bool:
    """Walk `flask a b c` down the command groups; words after a leaf command are arguments."""
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group):
            return True
        sub = command.commands.get(word)
        if sub is None:
            return False
        command = sub
    return not isinstance(command, click.Group)


def problems(text: str, tables: set[str], app: Flask) -> list[str]:
    """Everything wrong with the classification `text` against this code base."""
    found: list[str] = []
    classes = parse(text)
    slugs = [c.slug for c in classes]
    found += [f"class {s!r} appears twice" for s, n in Counter(slugs).items() if n > 1]
    found += [f"required class {s!r} is missing" for s in REQUIRED if s not in slugs]
    for cls in classes:
        for name in FIELDS:
            if not cls.fields.get(name, "").strip():
                found.append(f"class {cls.slug!r} has no {name} rule")
        level = cls.fields.get("Sensitivity", "").split(" ")[0].rstrip(";:,.")
        if level and level not in LEVELS:
            found.append(f"class {cls.slug!r}: sensitivity {level!r} is not one of {LEVELS}")
        named = cls.tables
        if not named and cls.fields.get("Tables", "").strip() not in ("", "none"):
            found.append(f"class {cls.slug!r}: Tables names no table (write `none`)")
        found += [f"class {cls.slug!r} names unknown table {t!r}" for t in named if t not in tables]
    assigned = Counter(t for cls in classes for t in cls.tables)
    for table in sorted(tables):
        if assigned[table] != 1:
            found.append(f"table {table!r} is in {assigned[table]} classes, not exactly one")
    found += cited_names_missing(text, app)
    return found


def cited_names_missing(text: str, app: Flask) -> list[str]:
    """Settings, files, dotted names and commands cited in code spans that do not exist."""
    missing: list[str] = []
    for span in sorted(set(CODE.findall(text))):
        setting = SETTING.match(span)
        name = setting.group(1) if setting else ""
        if name and name not in app.config and not hasattr(config_module.Config, name):
            missing.append(f"setting {name} does not exist")
        if PATH.match(span) and not (ROOT / span).exists():
            missing.append(f"path {span} does not exist")
        if DOTTED.match(span) and not _resolves(span):
            missing.append(f"name {span} does not exist")
        command = COMMAND.match(span)
        if command and not _command_exists(app.cli, command.group(1).split()):
            missing.append(f"command {span!r} does not exist")
    return missing


def _without(text: str, pieces: Iterable[tuple[str, str]]) -> str:
    for old, new in pieces:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def test_every_table_has_one_class_and_every_class_its_rules(app: Flask) -> None:
    tables = schema_tables()
    assert "vault_values" in tables and "users" in tables  # both binds are loaded
    assert problems(DOC.read_text(encoding="utf-8"), tables, app) == []


def test_the_required_classes_state_protection_retention_and_logging(app: Flask) -> None:
    classes = {c.slug: c for c in parse(DOC.read_text(encoding="utf-8"))}
    for slug in REQUIRED:
        for name in ("Protection", "Retention", "Logging"):
            assert len(classes[slug].fields[name]) > 20, (slug, name)
    # The vault's retention names its real mechanisms and settings.
    vault = classes["vault"].fields["Retention"]
    assert "`flask privacy purge`" in vault and "`PRIVACY_PROJECT_DAYS`" in vault
    assert "`SESSION_IDLE_MINUTES`" in classes["account"].fields["Retention"]
    assert "`JPKI_CHALLENGE_SECONDS`" in classes["card"].fields["Protection"]


def test_the_check_catches_gaps(app: Flask) -> None:
    """The checker is not blind: an unclassified table, a table in two classes, an empty rule, a
    missing class, an unknown level and every kind of dead citation are each reported."""
    text = DOC.read_text(encoding="utf-8")
    tables = schema_tables()
    assert problems(text, tables | {"brand_new_table"}, app) == [
        "table 'brand_new_table' is in 0 classes, not exactly one"
    ]
    twice = _without(text, [("- **Tables:** `search_documents`", "- **Tables:** `outbox`")])
    found = problems(twice, tables, app)
    assert "table 'outbox' is in 2 classes, not exactly one" in found
    assert "table 'search_documents' is in 0 classes, not exactly one" in found
    broken = _without(
        text,
        [
            ("## `backups` — ", "## `copies` — "),
            ("- **Sensitivity:** secret.", "- **Sensitivity:** hush."),
            ("`SESSION_IDLE_MINUTES` (30)", "`SESSION_IDLE_MINUTE` (30)"),
            ("(`app/access_log.py`)", "(`app/access_logs.py`)"),
            ("`app.sns.services.FOOTPRINT_DAYS`", "`app.sns.services.FOOTPRINT_WEEKS`"),
            ("`flask sessions purge`", "`flask sessions sweep`"),
        ],
    )
    found = problems(broken, tables, app)
    for expected in (
        "required class 'backups' is missing",
        "class 'keys': sensitivity 'hush' is not one of " + str(LEVELS),
        "setting SESSION_IDLE_MINUTE does not exist",
        "path app/access_logs.py does not exist",
        "name app.sns.services.FOOTPRINT_WEEKS does not exist",
        "command 'flask sessions sweep' does not exist",
    ):
        assert expected in found, (expected, found)
    retention = re.search(r"^- \*\*Retention:\*\* .*\n(?:  .*\n)*", text, re.MULTILINE)
    assert retention is not None
    empty = text.replace(retention.group(0), "- **Retention:**\n", 1)
    assert "class 'account' has no Retention rule" in problems(empty, tables, app)


def test_the_design_documents_link_the_classification() -> None:
    link = "docs/data-classification.md"
    assert link in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "data-classification.md" in (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
