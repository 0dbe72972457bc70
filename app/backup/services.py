"""Backups of the main database and the personal-data vault, and restores into fresh databases.

A backup is a folder:

- `main.sqlite3` / `vault.sqlite3` (SQLite's online backup API: a consistent copy of a live
  database, never a file copy) or `main.dump` / `vault.dump` (`pg_dump -Fc`, both taken from
  one exported snapshot per database, so the manifest describes exactly what was dumped);
- `sealed.json`: the secret columns of `vault_data_keys.wrapped` and `privacy_inbox.sealed`,
  taken out of the database files and encrypted per survey project with that project's backup
  key (`PRIVACY_KEYS_DIR/backup/<project>.key`, kept on the internal server, never in a backup);
- `manifest.json`: row count and SHA-256 of every table, SHA-256 of every file.

The vault's values stay encrypted field by field, as in the live vault. Purging a project
(`flask privacy purge`) destroys its backup key, so every backup taken before the purge loses
that project's data keys and envelopes: its personal data cannot be decrypted from any backup
(security.md A50), while other projects restore intact.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import os
import secrets
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from sqlalchemy import Connection, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import Engine

from app.db import utcnow
from app.extensions import db

FORMAT = 1
BINDS = {"main": None, "pii": "pii"}
FILE_STEM = {"main": "main", "pii": "vault"}
# Secret columns kept out of the database files: (bind, table, primary key, secret column).
SEALED = (
    ("pii", "vault_data_keys", "id", "wrapped"),
    ("main", "privacy_inbox", "id", "sealed"),
)
PROJECT_COLUMN = "project_code"


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why."""


@dataclass
class RestoreReport:
    folder: str
    tables: int = 0
    rows: int = 0
    mismatches: list[str] = field(default_factory=list)
    projects_unrecoverable: list[str] = field(default_factory=list)
    purged_tables: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "tables": self.tables,
            "rows": self.rows,
            "ok": not self.mismatches,
            "mismatches": self.mismatches,
            "projects_unrecoverable": self.projects_unrecoverable,
            "purged_tables": self.purged_tables,
        }


# --- keys ----------------------------------------------------------------------------------------


def backup_keys_dir(app: Flask) -> Path:
    from app.privacy.keys import keys_dir

    return keys_dir(app.config) / "backup"


def _key_file(app: Flask, project: str) -> Path:
    if not project or "/" in project or project.startswith("."):
        raise BackupError(f"unsafe project code {project!r}")
    return backup_keys_dir(app) / f"{project}.key"


def project_backup_key(app: Flask, project: str) -> bytes | None:
    """The project's backup key, or None when it was never made or has been destroyed."""
    path = _key_file(app, project)
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    return None


def ensure_project_backup_key(app: Flask, project: str) -> bytes:
    """The project's backup key, created on first use."""
    key = project_backup_key(app, project)
    if key is not None:
        return key
    path = _key_file(app, project)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode())
    return key


def destroy_project_backup_key(app: Flask, project: str) -> bool:
    """Overwrite and delete the project's backup key. True when there was one."""
    path = _key_file(app, project)
    if not path.exists():
        return False
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.write(secrets.token_bytes(max(size, 64)))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
    return True


def _aad(backup_id: str, project: str) -> bytes:
    return f"sankaku-backup|{backup_id}|{project}".encode()


# --- canonical rows and checksums ----------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(
        {k: _plain(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False, default=str
    ).encode()


def _tables(conn: Connection) -> list[Table]:
    meta = MetaData()
    meta.reflect(bind=conn)
    return sorted(meta.tables.values(), key=lambda t: t.name)


def table_checksums(conn: Connection) -> dict[str, dict[str, Any]]:
    """Row count and an order-independent SHA-256 of every table's rows."""
    out: dict[str, dict[str, Any]] = {}
    for table in _tables(conn):
        digests = sorted(
            hashlib.sha256(_canonical(dict(row._mapping))).digest()
            for row in conn.execute(select(table))
        )
        out[table.name] = {
            "rows": len(digests),
            "sha256": hashlib.sha256(b"".join(digests)).hexdigest(),
        }
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- sealing -------------------------------------------------------------------------------------


def _sealed_rows(conn: Connection, table: str, pk: str) -> list[dict[str, Any]]:
    if not inspect(conn).has_table(table):
        return []
    reflected = Table(table, MetaData(), autoload_with=conn)
    rows = conn.execute(select(reflected).order_by(reflected.c[pk]))
    return [dict(r._mapping) for r in rows]


def _seal(app: Flask, backup_id: str, taken: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Split the sealed tables' rows into clear skeletons and per-project encrypted secrets."""
    clear: dict[str, list[dict[str, Any]]] = {}
    secrets_by_project: dict[str, dict[str, dict[str, str]]] = {}
    for _bind, table, pk, secret in SEALED:
        clear[table] = []
        for row in taken.get(table, []):
            value = row.get(secret)
            skeleton = {k: _plain(v) for k, v in row.items() if k != secret}
            clear[table].append(skeleton)
            if value is None:
                continue
            project = str(row[PROJECT_COLUMN])
            bucket = secrets_by_project.setdefault(project, {}).setdefault(table, {})
            bucket[str(row[pk])] = base64.b64encode(bytes(value)).decode()
    projects: dict[str, Any] = {}
    for project, payload in sorted(secrets_by_project.items()):
        key = ensure_project_backup_key(app, project)
        nonce = secrets.token_bytes(12)
        blob = AESGCM(key).encrypt(
            nonce, json.dumps(payload, sort_keys=True).encode(), _aad(backup_id, project)
        )
        projects[project] = {
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(blob).decode(),
        }
    return {"backup_id": backup_id, "tables": clear, "projects": projects}


def _unseal(app: Flask, sealed: dict[str, Any]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The secrets by table and primary key, and the projects whose backup key is gone."""
    out: dict[str, dict[str, str]] = {}
    lost: list[str] = []
    for project, item in sorted(sealed["projects"].items()):
        key = project_backup_key(app, project)
        if key is None:
            lost.append(project)
            continue
        payload = json.loads(
            AESGCM(key).decrypt(
                base64.b64decode(item["nonce"]),
                base64.b64decode(item["ciphertext"]),
                _aad(sealed["backup_id"], project),
            )
        )
        for table, values in payload.items():
            out.setdefault(table, {}).update(values)
    return out, lost


# --- create --------------------------------------------------------------------------------------


def _engine(bind: str) -> Engine:
    key = BINDS[bind]
    return db.engines[key] if key else db.engine


def _libpq_url(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment carrying it."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, capture_output=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        name = Path(args[0]).name
        raise BackupError(f"{name} failed: {done.stderr.decode(errors='replace').strip()}")


def _backup_sqlite(
    bind: str, engine: Engine, folder: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    source = engine.url.database
    if not source:
        raise BackupError("an in-memory SQLite database cannot be backed up")
    target = folder / f"{FILE_STEM[bind]}.sqlite3"
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # the online backup API: a consistent snapshot of the live file
    finally:
        src.close()
        dst.close()
    copy = create_engine(f"sqlite:///{target}")
    taken: dict[str, list[dict[str, Any]]] = {}
    with copy.begin() as conn:
        checksums = table_checksums(conn)
        for b, table, pk, _secret in SEALED:
            if b == bind:
                taken[table] = _sealed_rows(conn, table, pk)
                if taken[table]:
                    conn.execute(text(f'DELETE FROM "{table}"'))  # noqa: S608 - names from SEALED
    with copy.connect() as conn:
        conn.exec_driver_sql("VACUUM")  # no free page keeps a deleted secret
    copy.dispose()
    return {"file": target.name, "tables": checksums}, taken


def _backup_postgresql(
    bind: str, engine: Engine, folder: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    target = folder / f"{FILE_STEM[bind]}.dump"
    url, env = _libpq_url(engine)
    taken: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        conn.exec_driver_sql("COMMIT")
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        checksums = table_checksums(conn)
        excluded = []
        for b, table, pk, _secret in SEALED:
            if b == bind:
                taken[table] = _sealed_rows(conn, table, pk)
                excluded.append(f"--exclude-table-data={table}")
        # pg_dump reads the same snapshot while this transaction stays open.
        _run(
            ["pg_dump", "-Fc", "--no-owner", f"--snapshot={snapshot}", *excluded,
             "-f", str(target), url],
            env,
        )  # fmt: skip
        conn.exec_driver_sql("COMMIT")
    return {"file": target.name, "tables": checksums}, taken


def create_backup(app: Flask, out_dir: Path) -> Path:
    """Write a backup folder under `out_dir` and return it. Raises BackupError."""
    from app.privacy.vault import vault_available

    if "pii" not in app.config["SQLALCHEMY_BINDS"] or not vault_available():
        raise BackupError("backups run on the internal server, which holds the vault")
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    backup_id = f"{stamp}-{secrets.token_hex(4)}"
    folder = out_dir / f"sankaku-backup-{backup_id}"
    folder.mkdir(parents=True, mode=0o700)
    db.session.remove()
    databases: dict[str, Any] = {}
    taken: dict[str, list[dict[str, Any]]] = {}
    for bind in BINDS:
        engine = _engine(bind)
        if engine.dialect.name == "sqlite":
            info, rows = _backup_sqlite(bind, engine, folder)
        elif engine.dialect.name == "postgresql":
            info, rows = _backup_postgresql(bind, engine, folder)
        else:
            raise BackupError(f"no backup method for {engine.dialect.name}")
        info["dialect"] = engine.dialect.name
        info["file_sha256"] = file_sha256(folder / info["file"])
        databases[bind] = info
        taken.update(rows)
    sealed_path = folder / "sealed.json"
    sealed_path.write_text(json.dumps(_seal(app, backup_id, taken), sort_keys=True))
    manifest = {
        "format": FORMAT,
        "backup_id": backup_id,
        "created_at": utcnow().isoformat(),
        "databases": databases,
        "sealed": {"file": sealed_path.name, "sha256": file_sha256(sealed_path)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return folder


# --- restore -------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file against its SHA-256. Raises BackupError."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise BackupError(f"{folder} holds no manifest.json")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    files = [(info["file"], info["file_sha256"]) for info in manifest["databases"].values()]
    files.append((manifest["sealed"]["file"], manifest["sealed"]["sha256"]))
    for name, expected in files:
        if not (folder / name).is_file() or file_sha256(folder / name) != expected:
            raise BackupError(f"{name} is missing or does not match its checksum")
    return manifest


def _rows_present(engine: Engine) -> int:
    with engine.connect() as conn:
        total = 0
        for table in _tables(conn):
            total += conn.execute(select(table).limit(1)).first() is not None
        return total


def _reset_target(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        engine.dispose()
        path = Path(str(engine.url.database))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
            conn.commit()


def _restore_sqlite(engine: Engine, source: Path) -> None:
    engine.dispose()
    target = str(engine.url.database)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _pg_restore(engine: Engine, source: Path, section: str) -> None:
    url, env = _libpq_url(engine)
    _run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--section={section}",
         "-d", url, str(source)],
        env,
    )  # fmt: skip


def _insert_sealed(
    conn: Connection, table: str, pk: str, secret: str, rows: list[dict[str, Any]],
    values: dict[str, str],
) -> None:  # fmt: skip
    """Put the sealed table's rows back; a row whose secret is lost is kept only for a data key
    (marked destroyed, as the purge leaves it), and dropped for an envelope."""
    meta = MetaData()
    target = Table(table, meta, autoload_with=conn)
    now = utcnow()
    out = []
    for row in rows:
        item = {k: _revive(target, k, v) for k, v in row.items()}
        value = values.get(str(row[pk]))
        if value is not None:
            item[secret] = base64.b64decode(value)
        elif table == "vault_data_keys":
            item[secret] = None
            if item.get("destroyed_at") is None:
                item["destroyed_at"] = (
                    now if conn.dialect.name != "sqlite" else now.replace(tzinfo=None)
                )
        else:
            continue
        out.append(item)
    if out:
        conn.execute(target.insert(), out)


def _revive(table: Table, name: str, value: Any) -> Any:
    """Undo `_plain` for one column, by the column's reflected type."""
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    python_type: Any
    try:
        python_type = table.c[name].type.python_type
    except (NotImplementedError, KeyError):
        return value
    if python_type is dt.datetime and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if python_type is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def restore_backup(app: Flask, folder: Path, *, force: bool = False) -> RestoreReport:
    """Restore `folder` into the configured (empty) databases and verify it. Raises BackupError
    when a database holds rows (unless `force`), or when the files do not match the manifest."""
    manifest = read_manifest(folder)
    sealed = json.loads((folder / manifest["sealed"]["file"]).read_text())
    if "pii" not in app.config["SQLALCHEMY_BINDS"]:
        raise BackupError("restores run on the internal server, which holds the vault")
    db.session.remove()
    for bind, info in manifest["databases"].items():
        engine = _engine(bind)
        if engine.dialect.name != info["dialect"]:
            raise BackupError(
                f"the {bind} backup is {info['dialect']}, the target is {engine.dialect.name}"
            )
        if _rows_present(engine) and not force:
            raise BackupError(
                f"the {bind} database is not empty; restore into a fresh database or pass --force"
            )
    values, lost = _unseal(app, sealed)
    # Tables that differ by design when a project was purged after the backup: its data keys
    # come back destroyed and its envelopes are left out.
    sealed_tables = {table for _b, table, _pk, _s in SEALED}
    report = RestoreReport(folder=str(folder), projects_unrecoverable=lost)
    for bind, info in manifest["databases"].items():
        engine = _engine(bind)
        _reset_target(engine)
        source = folder / info["file"]
        if info["dialect"] == "sqlite":
            _restore_sqlite(engine, source)
        else:
            _pg_restore(engine, source, "pre-data")
            _pg_restore(engine, source, "data")
        with engine.begin() as conn:
            for b, table, pk, secret in SEALED:
                if b == bind and table in sealed["tables"]:
                    _insert_sealed(
                        conn, table, pk, secret, sealed["tables"][table], values.get(table, {})
                    )
        if info["dialect"] == "postgresql":
            _pg_restore(engine, source, "post-data")
        engine.dispose()
        with engine.connect() as conn:
            found = table_checksums(conn)
        for table, expected in sorted(info["tables"].items()):
            report.tables += 1
            report.rows += expected["rows"]
            got = found.get(table)
            if got == expected:
                continue
            if lost and table in sealed_tables:
                report.purged_tables.append(f"{bind}.{table}")
            else:
                report.mismatches.append(f"{bind}.{table}")
        for table in sorted(set(found) - set(info["tables"])):
            report.mismatches.append(f"{bind}.{table} (not in the backup)")
    return report
