"""`flask privacy …`: audit verification, purge, key rotation, intake, keys, projects."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db

privacy_cli = AppGroup("privacy", help="The personal-data vault.")
audit_cli = AppGroup("audit", help="The hash-chained audit log.")
project_cli = AppGroup("project", help="Survey projects and their end dates.")
privacy_cli.add_command(audit_cli)
privacy_cli.add_command(project_cli)

CLI_ACTOR = "cli"


def _need_vault() -> None:
    from app.privacy.vault import vault_available

    if not vault_available():
        click.echo("error: this command runs on the internal server (it needs the vault)", err=True)
        sys.exit(2)


@audit_cli.command("verify")
@click.option("--expect-head", default="", help="SEQ:MAC exported earlier; catches cut-off tails.")
def audit_verify(expect_head: str) -> None:
    """Check the chain; exit 0 when intact, 1 naming the first bad entry."""
    from app.privacy.audit import verify_chain

    _need_vault()
    report = verify_chain()
    if not report.ok:
        click.echo(f"audit chain BROKEN at entry #{report.bad_seq}: {report.problem}")
        sys.exit(1)
    if expect_head:
        seq_text, _, mac = expect_head.partition(":")
        try:
            seq = int(seq_text)
        except ValueError:
            click.echo("error: --expect-head must be SEQ:MAC", err=True)
            sys.exit(2)
        if report.head_seq < seq:
            click.echo(
                f"audit chain BROKEN at entry #{report.head_seq + 1}: entries after it were deleted"
            )
            sys.exit(1)
        from sqlalchemy import select

        from app.privacy.models import AuditEntry

        stored = db.session.execute(select(AuditEntry.mac).where(AuditEntry.seq == seq)).scalar()
        if stored != mac:
            click.echo(f"audit chain BROKEN at entry #{seq}: it differs from the exported head")
            sys.exit(1)
    click.echo(
        f"audit chain intact: {report.count} entries, head #{report.head_seq} {report.head_mac}"
    )


@audit_cli.command("head")
def audit_head() -> None:
    """Print SEQ:MAC of the newest entry, to keep off this host (daily export)."""
    from app.privacy.audit import verify_chain

    _need_vault()
    report = verify_chain()
    click.echo(f"{report.head_seq}:{report.head_mac}")
    if not report.ok:
        sys.exit(1)


@privacy_cli.command("purge")
@click.option("--project", "project_code", required=True, help="The project code.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(project_code: str, yes: bool) -> None:
    """Destroy a project's data key and personal records (cannot be undone)."""
    from app.privacy.retention import purge_project
    from app.privacy.vault import PrivacyError, get_project

    _need_vault()
    try:
        project = get_project(project_code)
    except PrivacyError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if not yes:
        click.echo(f"Project {project.code} ({project.name}) ends on {project.ends_on}.")
        typed = click.prompt("Type the project code to destroy its personal data", default="")
        if typed != project.code:
            click.echo("Nothing was purged.")
            sys.exit(1)
    report = purge_project(project_code, actor=CLI_ACTOR)
    click.echo(
        json.dumps(
            {
                "project": report.project,
                "records": report.records,
                "values": report.values,
                "data_keys_destroyed": report.keys,
                "main_rows": report.main_rows,
                "resumed": report.resumed,
            }
        )
    )


@privacy_cli.command("rotate-master-key")
def rotate_master_key() -> None:
    """Re-wrap every data key under a new master key (records are not touched)."""
    from app.privacy.keys import KeyConfigError
    from app.privacy.services import rotate_master_key as rotate

    _need_vault()
    try:
        count = rotate(CLI_ACTOR)
    except KeyConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"data_keys_rewrapped": count}))


@privacy_cli.command("intake")
@click.option("--loop", is_flag=True, help="Keep running, checking the inbox every interval.")
@click.option("--interval", type=float, default=None, help="Seconds between checks with --loop.")
@click.option("--limit", type=int, default=100, show_default=True)
def intake(loop: bool, interval: float | None, limit: int) -> None:
    """Open sealed envelopes from the public server and file them in the vault."""
    from app.privacy.envelopes import run_intake

    _need_vault()
    pause = (
        interval if interval is not None else float(current_app.config["PRIVACY_INTAKE_INTERVAL"])
    )
    while True:
        report = run_intake(limit=limit)
        click.echo(json.dumps({"filed": report.filed, "rejected": report.rejected}))
        if not loop:
            break
        db.session.remove()
        time.sleep(pause)


@privacy_cli.command("init-keys")
def init_keys() -> None:
    """Create the vault keys for a new installation (refuses to overwrite)."""
    from app.privacy.keys import KeyConfigError, generate_keys

    try:
        written = generate_keys(current_app.config)
    except KeyConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for path in written:
        click.echo(str(path))


@privacy_cli.command("export-public-keys")
@click.argument("directory", type=click.Path(file_okay=False))
def export_public_keys(directory: str) -> None:
    """Write what the public server needs (vault public key, blind-index key) into DIRECTORY."""
    from app.privacy.keys import FILES, b64, current_keys, public_key_text

    _need_vault()
    keys = current_keys()
    if keys.index is None:
        click.echo("error: no blind-index key", err=True)
        sys.exit(2)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    (target / FILES["vault_public"]).write_text(public_key_text(keys) + "\n")
    index = target / FILES["index"]
    index.touch(mode=0o600)
    index.write_text(b64(keys.index) + "\n")
    click.echo(str(target))


@privacy_cli.command("retention-check")
def retention_check() -> None:
    """Warn staff by mail about projects ending within PRIVACY_RETENTION_WARNING_DAYS."""
    from app.privacy.retention import warn_staff

    sent = warn_staff()
    db.session.commit()
    click.echo(json.dumps({"warnings_queued": sent}))


@project_cli.command("list")
def project_list() -> None:
    """Projects with their end dates."""
    from sqlalchemy import select

    from app.privacy.models import Project

    for p in db.session.execute(select(Project).order_by(Project.code)).scalars():
        state = "purged" if p.purged_at else ("purging" if p.purge_started_at else "open")
        click.echo(f"{p.code}\t{p.ends_on.isoformat()}\t{state}\t{p.name}")


@project_cli.command("set-end")
@click.argument("code")
@click.argument("ends_on")
@click.option("--name", default="")
def project_set_end(code: str, ends_on: str, name: str) -> None:
    """Create project CODE or change its end date (YYYY-MM-DD)."""
    from app.privacy.vault import ensure_project

    try:
        day = dt.date.fromisoformat(ends_on)
    except ValueError:
        click.echo("error: the end date must be YYYY-MM-DD", err=True)
        sys.exit(2)
    project = ensure_project(code, name=name, ends_on=day)
    project.ends_on = day
    if name:
        project.name = name
    project.warned_at = None
    db.session.commit()
    click.echo(f"{project.code}\t{project.ends_on.isoformat()}")


purpose_cli = AppGroup("purpose", help="Purposes: what personal data may be read for.")
privacy_cli.add_command(purpose_cli)


@purpose_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of lines.")
def purpose_list(as_json: bool) -> None:
    """Every purpose with its kind, version, fields and recipients."""
    from app.privacy.purposes import all_purposes

    rows: list[dict[str, Any]] = [
        {
            "code": p.code,
            "kind": p.kind,
            "required": p.required,
            "active": p.active,
            "version": p.version,
            "fields": list(p.fields),
            "recipients": [r.code for r in p.recipients],
            "name_ja": p.name_ja,
            "name_en": p.name_en,
        }
        for p in all_purposes()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(
            f"{row['code']}\t{row['kind']}\tv{row['version']}\t{','.join(row['fields'])}\t"
            f"{','.join(row['recipients'])}\t{row['name_ja']}"
        )


@purpose_cli.command("add")
@click.argument("code")
@click.option("--name-ja", required=True, help="The name monitors read (Japanese).")
@click.option("--name-en", required=True, help="The name in English.")
@click.option("--text-ja", required=True, help="The consent text (Japanese).")
@click.option("--text-en", default="", help="The consent text in English.")
@click.option("--field", "fields", multiple=True, required=True, help="A vault field; repeat.")
@click.option("--recipient", "recipients", multiple=True, required=True, help="Repeat.")
@click.option("--actor", default=CLI_ACTOR, show_default=True, help="Who, for the audit log.")
def purpose_add(
    code: str,
    name_ja: str,
    name_en: str,
    text_ja: str,
    text_en: str,
    fields: tuple[str, ...],
    recipients: tuple[str, ...],
    actor: str,
) -> None:
    """Add purpose CODE reading the given fields for the given recipients (audited).

    Fields may be given repeated or comma-separated. Exits 2 naming each problem.
    """
    from flask_babel import force_locale

    from app.privacy.purposes import PurposeInvalid, create_purpose

    _need_vault()

    def split(values: tuple[str, ...]) -> list[str]:
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    try:
        with force_locale("en"):
            purpose = create_purpose(
                code,
                name_ja=name_ja,
                name_en=name_en,
                text_ja=text_ja,
                text_en=text_en,
                fields=split(fields),
                recipients=split(recipients),
                actor=actor,
            )
    except PurposeInvalid as err:
        for name, message in err.errors.items():
            click.echo(f"error: {name}: {message}", err=True)
        sys.exit(2)
    db.session.commit()
    click.echo(
        json.dumps(
            {"code": purpose.code, "version": purpose.version, "fields": list(purpose.fields)},
            ensure_ascii=False,
        )
    )


# The statements that make the audit table append-only for the application's database role.
PG_HARDEN = [
    "REVOKE UPDATE, DELETE, TRUNCATE ON vault_audit FROM {role}",
    "GRANT SELECT, INSERT ON vault_audit TO {role}",
    """CREATE OR REPLACE FUNCTION vault_audit_append_only() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'vault_audit is append-only: % refused', TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    "DROP TRIGGER IF EXISTS vault_audit_append_only ON vault_audit",
    """CREATE TRIGGER vault_audit_append_only BEFORE UPDATE OR DELETE ON vault_audit
       FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only()""",
]
SQLITE_HARDEN = [
    """CREATE TRIGGER IF NOT EXISTS vault_audit_no_update BEFORE UPDATE ON vault_audit
       BEGIN SELECT RAISE(ABORT, 'vault_audit is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS vault_audit_no_delete BEFORE DELETE ON vault_audit
       BEGIN SELECT RAISE(ABORT, 'vault_audit is append-only: DELETE refused'); END""",
]


def harden_audit_table(role: str | None) -> list[str]:
    """Make the vault's audit table append-only; returns the statements run.

    PostgreSQL: revoke UPDATE, DELETE and TRUNCATE from `role` (the application's login role),
    leave it SELECT and INSERT, and add a trigger refusing UPDATE and DELETE for every role
    (the owner too, until the owner drops the trigger). SQLite: triggers refusing
    UPDATE and DELETE (SQLite has no roles and no TRUNCATE). Idempotent.
    """
    from sqlalchemy import text

    engine = db.engines["pii"]
    if engine.dialect.name == "postgresql":
        if not role:
            raise click.UsageError("--role names the application's database role")
        quoted = engine.dialect.identifier_preparer.quote(role)
        statements = [s.format(role=quoted) if "{role}" in s else s for s in PG_HARDEN]
    else:
        statements = list(SQLITE_HARDEN)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    return statements


@privacy_cli.command("harden-audit")
@click.option(
    "--role",
    default=None,
    help="PostgreSQL: the role the application logs in as (run this command as the owner).",
)
def harden_audit(role: str | None) -> None:
    """Make the audit table append-only in the vault database (see docs/privacy.md)."""
    _need_vault()
    statements = harden_audit_table(role)
    dialect = db.engines["pii"].dialect.name
    click.echo(json.dumps({"database": dialect, "statements": len(statements)}))


proof_cli = AppGroup("proof", help="Signing-certificate proofs made with the My Number Card.")
privacy_cli.add_command(proof_cli)


@proof_cli.command("sign")
@click.option("--message", "message_b64", required=True, help="The text shown on the web page.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--pin-env", default=None, help="Environment variable holding the password.")
@click.option("--reader", default=None, help="Reader name (default: first with a JPKI card).")
def proof_sign(message_b64: str, out_path: str, pin_env: str | None, reader: str | None) -> None:
    """Sign the web page's request with the card's signing certificate; write the proof file.

    Needs the signing password (6-16 letters and digits), asked without echo or read from
    --pin-env. Exits 1 with the card's message on a wrong password, no card or no reader.
    """
    import base64
    import binascii
    import os

    from app.auth.jpki.card import open_jpki_card
    from app.auth.jpki.errors import JpkiClientError
    from app.privacy.proofs import sign_with_card

    try:
        message = base64.b64decode(message_b64, validate=True)
    except (ValueError, binascii.Error):
        click.echo("error: --message is not the text shown on the page", err=True)
        sys.exit(2)
    if not message.startswith(b"sankaku-monitor-"):
        click.echo("error: --message is not a Sankaku request", err=True)
        sys.exit(2)
    prompt = "署名用パスワード（英数字6〜16文字） / Signing password (6-16 characters)"
    password = os.environ.get(pin_env, "") if pin_env else ""
    try:
        with open_jpki_card(reader) as (client, _transport):
            if not password:
                password = click.prompt(prompt, hide_input=True, err=True)
            proof = sign_with_card(client, password, message)
    except JpkiClientError as err:
        click.echo(err.text.bilingual(), err=True)
        sys.exit(err.exit_code)
    Path(out_path).write_text(json.dumps(proof) + "\n")
    click.echo(f"wrote {out_path}")
