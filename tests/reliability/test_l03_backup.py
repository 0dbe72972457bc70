"""L03: `flask backup create` and `flask backup restore` into fresh databases; row counts and
checksums match; a purged project cannot be recovered from backups taken before the purge (A50).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.backup.services import table_checksums
from app.extensions import db
from app.privacy.models import DataKey, InboxEnvelope, VaultRecord
from app.privacy.vault import ProjectClosed, access
from app.survey import answering
from tests.conftest import PG_URL, pg_urls
from tests.survey.surveys_helpers import GOOD, open_survey

CANARIES = ("復元 カナリア子", "backup-canary@example.jp", "0258-99-1234")


def _fresh_urls(tmp_path: Path, tag: str) -> dict[str, str]:
    """Empty databases to restore into: new SQLite files, or recreated PostgreSQL databases."""
    if not PG_URL:
        folder = tmp_path / f"restore-{tag}"
        folder.mkdir()
        return {
            "DATABASE_URL": f"sqlite:///{folder / 'sankaku.db'}",
            "PII_DATABASE_URL": f"sqlite:///{folder / 'pii.db'}",
        }
    main, _pii = pg_urls()
    base = make_url(main)
    urls = {}
    for key, name in (
        ("DATABASE_URL", f"{base.database}_{tag}"),
        ("PII_DATABASE_URL", f"{base.database}_{tag}_pii"),
    ):
        admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        urls[key] = base.set(database=name).render_as_string(hide_password=False)
    return urls


@pytest.fixture
def restore_app(app: Flask, tmp_path: Path) -> Iterator[Any]:
    """`restore_app(tag)`: an app on empty databases, sharing the live app's keys folder."""
    made: list[Flask] = []

    def _make(tag: str) -> Flask:
        overrides = {
            **_fresh_urls(tmp_path, tag),
            "INSTANCE_DIR": app.config["INSTANCE_DIR"],
            "SEARCH_DIR": str(tmp_path / f"search-{tag}"),
        }
        other = create_app("testing", overrides=overrides)
        made.append(other)
        return other

    yield _make
    for other in made:
        with other.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def _town(make: Any) -> dict[str, Any]:
    """Rows in the SNS, the surveys, the vault (two projects) and the sealed inbox."""
    from app.privacy.envelopes import seal_envelope

    alice = make.user(handle="alice", display_name="長岡 花子")
    bob = make.user(handle="bob", display_name="千代田 太郎")
    make.friends(alice, bob)
    diary = make.diary(alice, title="夏祭り", body="花火がきれい", visibility="public")
    make.comment(diary, bob)
    make.message(alice, bob)
    doomed = make.monitor(
        name=CANARIES[0], email=CANARIES[1], phone=CANARIES[2], project="trial2026"
    )
    kept = make.monitor(name="残る 住民", project="keep")
    survey = open_survey()
    answering.submit(survey, kept, GOOD)
    seal_envelope("registration", "trial2026", {"fields": {"name": CANARIES[0]}})
    db.session.commit()
    secrets_ = [
        bytes(w)
        for w in db.session.execute(
            select(DataKey.wrapped).where(DataKey.project_code == "trial2026")
        ).scalars()
    ]
    secrets_ += [bytes(s) for s in db.session.execute(select(InboxEnvelope.sealed)).scalars()]
    return {"doomed": doomed.pseudonym, "kept": kept.pseudonym, "secrets": secrets_}


def _backup(app: Flask, out: Path) -> Path:
    result = app.test_cli_runner().invoke(args=["backup", "create", "--out", str(out)])
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.output)["folder"])
    assert folder.parent == out
    return folder


def _restore(other: Flask, folder: Path, *extra: str) -> tuple[int, str]:
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["backup", "restore", str(folder), *extra])
    return result.exit_code, result.output


def _live_checksums(app: Flask) -> dict[str, Any]:
    db.session.remove()
    out = {}
    for bind, engine in (("main", db.engine), ("pii", db.engines["pii"])):
        with engine.connect() as conn:
            out[bind] = table_checksums(conn)
    return out


def _name(pseudonym: str) -> str:
    [view] = access("reader_shipping", "test", [pseudonym], "restore drill")
    return str(view.name)


def test_backup_restores_every_row_and_checksum(
    app: Flask, make: Any, restore_app: Any, tmp_path: Path
) -> None:
    town = _town(make)
    live = _live_checksums(app)
    folder = _backup(app, tmp_path / "backups")
    manifest = json.loads((folder / "manifest.json").read_text())
    for bind in ("main", "pii"):
        assert manifest["databases"][bind]["tables"] == live[bind]
    assert live["main"]["sns_diaries"]["rows"] == 1 and live["pii"]["vault_records"]["rows"] == 2
    assert live["main"]["survey_responses"]["rows"] == 1
    assert live["main"]["privacy_inbox"]["rows"] == 1

    other = restore_app("restore")
    code, output = _restore(other, folder)
    assert code == 0, output
    report = json.loads(output)
    assert report["ok"] and report["mismatches"] == [] and report["projects_unrecoverable"] == []
    with other.app_context():
        assert _live_checksums(other) == live
        assert _name(town["doomed"]) == CANARIES[0]  # the vault opens with the same keys
        assert _name(town["kept"]) == "残る 住民"


def test_restore_refuses_a_database_with_rows_unless_forced(
    app: Flask, make: Any, restore_app: Any, tmp_path: Path
) -> None:
    _town(make)
    folder = _backup(app, tmp_path / "backups")
    other = restore_app("busy")
    with other.app_context(), db.engines["pii"].begin() as conn:
        conn.execute(text("CREATE TABLE leftover (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO leftover (id) VALUES (1)"))  # one row is enough
    code, output = _restore(other, folder)
    assert code == 1 and "not empty" in output
    code, output = _restore(other, folder, "--force")
    assert code == 0, output
    with other.app_context():
        assert _live_checksums(other) == json_tables(folder)


def json_tables(folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {bind: info["tables"] for bind, info in manifest["databases"].items()}


def test_a_damaged_backup_is_refused(
    app: Flask, make: Any, restore_app: Any, tmp_path: Path
) -> None:
    _town(make)
    folder = _backup(app, tmp_path / "backups")
    dump = next(p for p in folder.iterdir() if p.name.startswith("vault."))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    code, output = _restore(restore_app("damaged"), folder)
    assert code == 1 and "does not match its checksum" in output


def test_purge_makes_the_project_unrecoverable_from_earlier_backups(
    app: Flask, make: Any, restore_app: Any, tmp_path: Path
) -> None:
    town = _town(make)
    folder = _backup(app, tmp_path / "backups")
    raw = b"".join(p.read_bytes() for p in sorted(folder.iterdir()))
    for secret in town["secrets"]:
        # the data keys and envelopes are in no file as such, only sealed per project
        assert secret[-16:] not in raw
        assert base64.b64encode(secret)[8:40] not in raw
    for canary in CANARIES:
        assert canary.encode() not in raw

    result = app.test_cli_runner().invoke(
        args=["privacy", "purge", "--project", "trial2026", "--yes"]
    )
    assert result.exit_code == 0, result.output

    other = restore_app("afterpurge")
    code, output = _restore(other, folder)
    assert code == 0, output
    report = json.loads(output)
    assert report["projects_unrecoverable"] == ["trial2026"]
    assert set(report["purged_tables"]) == {"pii.vault_data_keys", "main.privacy_inbox"}
    with other.app_context():
        # the old backup still holds the record's ciphertext, but its key is gone for good
        assert db.session.execute(
            select(VaultRecord).where(VaultRecord.subject == town["doomed"])
        ).scalar_one()
        key = db.session.execute(
            select(DataKey).where(DataKey.project_code == "trial2026")
        ).scalar_one()
        assert key.wrapped is None and key.destroyed_at is not None
        with pytest.raises(ProjectClosed):
            _name(town["doomed"])
        assert db.session.execute(select(InboxEnvelope)).first() is None
        assert _name(town["kept"]) == "残る 住民"  # the other project restores intact
