"""What the internal server does with each kind of envelope from the public server."""

from __future__ import annotations

from typing import Any

from app.privacy.envelopes import IntakeRejected, register_handler
from app.privacy.models import InboxEnvelope
from app.privacy.vault import PrivacyError
from app.survey import services
from app.survey.validation import RegistrationInvalid

INTAKE_ACTOR = "system:intake"


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except RegistrationInvalid as err:
        raise IntakeRejected("invalid:" + ",".join(sorted(err.errors))[:30]) from err
    except services.SurveyError as err:
        raise IntakeRejected(err.code) from err
    except PrivacyError as err:
        raise IntakeRejected(err.code) from err


def _pairs(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    return [(str(p[0]), str(p[1])) for p in value if isinstance(p, list) and len(p) == 2]


def on_registration(payload: dict[str, Any], row: InboxEnvelope) -> None:
    if payload.get("project") != row.project_code:
        raise IntakeRejected("project_mismatch")
    _guard(services.file_registration, payload, actor=INTAKE_ACTOR)


def on_correction(payload: dict[str, Any], row: InboxEnvelope) -> None:
    monitor = services.get_monitor(payload.get("pseudonym"))
    changes = payload.get("changes")
    if not isinstance(changes, dict):
        raise IntakeRejected("malformed")
    _guard(services.apply_correction, monitor, changes, actor=f"monitor:{monitor.pseudonym}")


def on_consent(payload: dict[str, Any], row: InboxEnvelope) -> None:
    monitor = services.get_monitor(payload.get("pseudonym"))
    withdraw = payload.get("withdraw") or []
    if not isinstance(withdraw, list) or not all(isinstance(p, str) for p in withdraw):
        raise IntakeRejected("malformed")
    _guard(
        services.apply_consent_change,
        monitor,
        _pairs(payload.get("grant")),
        withdraw,
        actor=f"monitor:{monitor.pseudonym}",
    )


def on_leave(payload: dict[str, Any], row: InboxEnvelope) -> None:
    monitor = services.get_monitor(payload.get("pseudonym"))
    services.leave_panel(monitor, actor=f"monitor:{monitor.pseudonym}")


def on_rebind(payload: dict[str, Any], row: InboxEnvelope) -> None:
    try:
        cert = services.CertIdentity.from_json(payload.get("certificate"))
    except (KeyError, ValueError) as err:
        raise IntakeRejected("malformed") from err
    proof = payload.get("signing_proof")
    if not isinstance(proof, dict):
        raise IntakeRejected("malformed")
    _guard(services.rebind_with_signing_proof, cert, proof, actor=INTAKE_ACTOR)


def register_handlers() -> None:
    register_handler("registration", on_registration)
    register_handler("correction", on_correction)
    register_handler("consent", on_consent)
    register_handler("leave", on_leave)
    register_handler("rebind", on_rebind)
