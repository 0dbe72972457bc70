"""Who a survey is for: coarse segment filters (district, sex, age band), an optional random
sample with a recorded seed. Works on pseudonyms and segments only; never on names."""

from __future__ import annotations

import random
import secrets
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.i18n import _
from app.survey.models import SEXES, Monitor
from app.survey.surveys_models import Invitation, Survey

AGE_BANDS = ("10s", "20s", "30s", "40s", "50s", "60s", "70s", "80s", "90s")


def band_name(decade: int | None) -> str:
    """20 → "20s"; 90 and over → "90s"; unknown → ""."""
    if decade is None:
        return ""
    return f"{min(max(decade, 10), 90)}s"


def band_decade(name: str) -> int | None:
    name = name.rstrip("+")
    if name.endswith("s") and name[:-1].isdigit():
        return int(name[:-1])
    return None


def clean_target(raw: Any, districts: list[str]) -> dict[str, Any]:
    """Normalise a target {"districts", "sexes", "age_bands", "sns_members", "monitors"}; raise
    ValueError. The segment filters choose monitors; `sns_members: true` adds SNS members who
    opted in to surveys; `monitors: false` leaves monitors out (a survey for SNS members only).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(_("The target must list districts, sexes and age bands."))
    unknown = set(raw) - {"districts", "sexes", "age_bands", "sns_members", "monitors"}
    if unknown:
        raise ValueError(_("Unknown target field: %(f)s", f=", ".join(sorted(unknown))))
    out: dict[str, Any] = {}
    for name, allowed in (
        ("districts", districts),
        ("sexes", list(SEXES)),
        ("age_bands", list(AGE_BANDS)),
    ):
        values = raw.get(name) or []
        if not isinstance(values, list) or any(v not in allowed for v in values):
            raise ValueError(_("Unknown value in the target: %(f)s", f=name))
        if values:
            out[name] = sorted(set(values), key=allowed.index)
    if raw.get("sns_members"):
        out["sns_members"] = True
    if "monitors" in raw and not raw["monitors"]:
        if not out.get("sns_members"):
            raise ValueError(_("Choose who can answer: monitors, SNS members or both."))
        out["monitors"] = False
    return out


def matches(target: dict[str, Any], monitor: Monitor) -> bool:
    if target.get("districts") and monitor.district not in target["districts"]:
        return False
    if target.get("sexes") and monitor.sex not in target["sexes"]:
        return False
    return not (target.get("age_bands") and band_name(monitor.age_band) not in target["age_bands"])


def target_query(survey: Survey) -> Any:
    target = survey.target
    stmt = select(Monitor).where(Monitor.status == "active")
    if target.get("districts"):
        stmt = stmt.where(Monitor.district.in_(target["districts"]))
    if target.get("sexes"):
        stmt = stmt.where(Monitor.sex.in_(target["sexes"]))
    if target.get("age_bands"):
        decades = [band_decade(b) for b in target["age_bands"]]
        stmt = stmt.where(Monitor.age_band.in_([d for d in decades if d is not None]))
    return stmt.order_by(Monitor.pseudonym)


def draw_sample(survey: Survey, seed: int | None = None) -> int:
    """Create invitations for the target (a random sample of `sample_size` when set).

    The seed is recorded on the survey, so the draw can be repeated and checked. Idempotent:
    monitors already invited stay invited. Returns the number of invitations.
    """
    monitors = list(db.session.execute(target_query(survey)).scalars())
    if survey.target.get("monitors", True) is False:
        monitors = []  # a survey for SNS members only invites no monitor
    if survey.sample_size and survey.sample_size < len(monitors):
        if survey.sample_seed is None:
            survey.sample_seed = seed if seed is not None else secrets.randbelow(2**31)
        rng = random.Random(survey.sample_seed)  # noqa: S311 - reproducible sample, recorded seed
        monitors = rng.sample(monitors, survey.sample_size)
    existing = set(
        db.session.execute(
            select(Invitation.monitor_id).where(Invitation.survey_id == survey.id)
        ).scalars()
    )
    for monitor in monitors:
        if monitor.id not in existing:
            db.session.add(
                Invitation(
                    survey_id=survey.id, monitor_id=monitor.id, token=secrets.token_urlsafe(32)
                )
            )
    db.session.flush()  # counted below
    return len(existing | {m.id for m in monitors})


def is_targeted(survey: Survey, monitor: Monitor) -> bool:
    """Sampled surveys admit invited monitors only; others every monitor in the segments."""
    if monitor.status != "active":
        return False
    if survey.sample_size:
        return (
            db.session.execute(
                select(Invitation.id).where(
                    Invitation.survey_id == survey.id, Invitation.monitor_id == monitor.id
                )
            ).first()
            is not None
        )
    return matches(survey.target, monitor)
