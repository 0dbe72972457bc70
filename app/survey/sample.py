"""The "monitors" section of `flask sample load` and the monitor panel of `flask sample demo`.

Both file monitors through `file_registration`, the same service the intake uses: encrypted,
consents recorded, audited.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.auth.models import User
from app.extensions import db
from app.privacy.vault import PrivacyError, vault_available
from app.sample import demo, loader
from app.sample.loader import LoadContext, SampleError
from app.survey import services
from app.survey.models import Monitor
from app.survey.validation import RegistrationInvalid, validate_fields

MONITOR_FIELDS = {
    "key",
    "project",
    "member",
    "name",
    "name_kana",
    "postal_code",
    "address",
    "sex",
    "birth_date",
    "phone",
    "email",
    "mobile_email",
    "consents",
    "certificate",
}
SAMPLE_ACTOR = "sample"


def _certificate(where: str, path: Any) -> services.CertIdentity:
    if not isinstance(path, str) or not path:
        raise SampleError(f"{where}: 'certificate' must be a file path")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SampleError(f"{where}: cannot read certificate {path}: {exc.strerror}") from exc
    try:
        return services.certificate_identity(data)
    except services.SurveyError as exc:
        raise SampleError(f"{where}: {exc.message}") from exc


def load_monitors(entries: list[Any], ctx: LoadContext) -> None:
    """`monitors`: see docs/privacy.md; prints key → the monitor's pseudonymous id."""
    if entries and not vault_available():
        raise SampleError("monitors: this server has no vault (use APP_ROLE=internal or all)")
    for i, entry in enumerate(entries):
        where = f"monitors[{i}]"
        if not isinstance(entry, dict):
            raise SampleError(f"{where}: must be an object")
        where = f"monitors[{i}] ({entry.get('key')!r})"
        unknown = set(entry) - MONITOR_FIELDS
        if unknown:
            raise SampleError(f"{where}: unknown field(s) {sorted(unknown)}")
        try:
            data = validate_fields(entry)
            pairs = services.check_consents(services.expand_consents(entry.get("consents", "all")))
        except RegistrationInvalid as err:
            detail = "; ".join(f"{k}: {v}" for k, v in sorted(err.errors.items()))
            raise SampleError(f"{where}: {detail}") from err
        member_id = None
        if "member" in entry:
            member_id = ctx.get(where, entry["member"], User).id
        certificate = _certificate(where, entry["certificate"]) if "certificate" in entry else None
        project = entry.get("project") or current_app.config["SURVEY_PROJECT"]
        if not isinstance(project, str):
            raise SampleError(f"{where}: 'project' must be a string")
        payload = services.registration_payload(
            data, pairs, project=project, certificate=certificate, member_id=member_id
        )
        try:
            monitor = services.file_registration(payload, actor=SAMPLE_ACTOR)
        except RegistrationInvalid as err:
            raise SampleError(f"{where}: {err.errors}") from err
        except (services.SurveyError, PrivacyError) as err:
            raise SampleError(f"{where}: {err}") from err
        ctx.add(where, entry.get("key"), monitor, monitor.pseudonym)


# --- the demo panel ---------------------------------------------------------------------------

FAMILY = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
]
FAMILY_KANA = [
    "サトウ",
    "スズキ",
    "タカハシ",
    "タナカ",
    "イトウ",
    "ワタナベ",
    "ヤマモト",
    "ナカムラ",
    "コバヤシ",
    "カトウ",
    "ヨシダ",
    "ヤマダ",
]
GIVEN_F = [
    ("花子", "ハナコ"),
    ("陽子", "ヨウコ"),
    ("美咲", "ミサキ"),
    ("幸子", "サチコ"),
    ("恵美", "エミ"),
    ("舞", "マイ"),
]
GIVEN_M = [
    ("太郎", "タロウ"),
    ("健一", "ケンイチ"),
    ("博", "ヒロシ"),
    ("茂", "シゲル"),
    ("大輝", "ダイキ"),
    ("明", "アキラ"),
]
DEMO_PANEL_SIZE = 200


def _demo_people(rng: random.Random, count: int, districts: list[str]) -> list[dict[str, Any]]:
    people = []
    today = dt.date.today()
    for n in range(count):
        f = rng.randrange(len(FAMILY))
        female = rng.random() < 0.52
        given, given_kana = rng.choice(GIVEN_F if female else GIVEN_M)
        age = rng.randint(18, 92)
        birth = today.replace(year=today.year - age) - dt.timedelta(days=rng.randint(1, 360))
        district = districts[n % len(districts)]
        people.append(
            {
                "name": f"{FAMILY[f]} {given}",
                "name_kana": f"{FAMILY_KANA[f]} {given_kana}",
                "postal_code": f"999-{rng.randint(0, 9999):04d}",
                "address": (
                    f"{current_app.config['MUNICIPALITY_NAME']}{district}"
                    f"{rng.randint(1, 9)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号"
                ),
                "sex": "female" if female else ("male" if rng.random() < 0.97 else "unstated"),
                "birth_date": birth.isoformat(),
                "phone": (
                    f"0{rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
                ),
                "email": f"monitor{n + 1:03d}@demo-panel.example",
                "mobile_email": f"m{n + 1:03d}@mobile.example" if rng.random() < 0.4 else "",
            }
        )
    return people


def _test_cards() -> list[services.CertIdentity]:
    """Authentication certificates of the test PKI next to JPKI_TRUST_DIR, in test mode only."""
    trust = current_app.config.get("JPKI_TRUST_DIR")
    if not trust or not current_app.config.get("JPKI_TEST_MODE"):
        return []
    cards = Path(trust).parent / "cards"
    out = []
    for path in sorted(cards.glob("*/auth.der")) if cards.is_dir() else []:
        try:
            out.append(services.certificate_identity(path.read_bytes()))
        except services.SurveyError:
            continue  # expired, revoked or otherwise refused: not bound
    return out


def build_monitor_demo(members: dict[str, User]) -> None:
    """About 200 monitors for the demo town (idempotent: only when the panel is empty)."""
    if not vault_available():
        return
    project = current_app.config["SURVEY_PROJECT"]
    existing = db.session.execute(
        select(func.count(Monitor.id)).where(Monitor.project_code == project)
    ).scalar_one()
    if existing:
        return
    rng = random.Random(20260401)  # noqa: S311 - demo names, not secrets
    districts = list(current_app.config["DISTRICTS"])
    residents = [u for h, u in members.items() if not h.startswith(("npo_", "city_"))]
    cards = _test_cards()
    everyone = services.expand_consents("all")
    optional = [pair for pair in everyone if pair[0] != "registration"]
    required = [pair for pair in everyone if pair[0] == "registration"]
    for n, person in enumerate(_demo_people(rng, DEMO_PANEL_SIZE, districts)):
        data = validate_fields(person)
        chosen = required + [pair for pair in optional if rng.random() < 0.8]
        member_id = residents[n].id if n < len(residents) else None
        certificate = cards[n] if n < len(cards) else None
        payload = services.registration_payload(
            data, chosen, project=project, certificate=certificate, member_id=member_id
        )
        services.file_registration(payload, actor=SAMPLE_ACTOR)


def register_sample_hooks() -> None:
    known = {name for name, _handler in loader.SECTIONS}
    if "monitors" not in known:
        loader.SECTIONS.append(("monitors", load_monitors))
    if build_monitor_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_monitor_demo)
