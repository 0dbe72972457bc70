"""Monitor pages on the public site: registration and self-service after JPKI login.

The public server only seals what residents send (`app.privacy.envelopes`); where this process
also holds the vault (APP_ROLE=all) the envelope is filed at once, so the resident sees the
result immediately. Reading personal data back (`self`) needs the vault.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.extensions import db
from app.forms import EmptyForm
from app.i18n import _, _l
from app.privacy.envelopes import can_seal, run_intake
from app.privacy.models import FIELDS, AuditEntry, InboxEnvelope, Purpose
from app.privacy.proof_views import forget_registration_proof, registration_proof_for
from app.privacy.services import current_consents
from app.privacy.vault import access, vault_available
from app.survey import bp, identity, services
from app.survey.forms import CorrectionForm, LeaveForm, RegistrationForm
from app.survey.models import Monitor
from app.survey.validation import RegistrationInvalid, validate_fields

REJECTION_MESSAGES: dict[str, tuple[str, Any]] = {
    "duplicate_email": ("email", _l("This email address is already registered as a monitor.")),
    "certificate_bound": ("", _l("This My Number Card is already registered to a monitor.")),
}
NOT_COMPLETED = _l("The registration could not be completed. Please contact the city office.")
NOT_SAVED = _l("The change could not be saved. Please contact the city office.")


def field_labels() -> dict[str, str]:
    return {
        "name": _("Name"),
        "name_kana": _("Name in katakana"),
        "postal_code": _("Postal code"),
        "address": _("Address"),
        "sex": _("Sex"),
        "birth_date": _("Date of birth"),
        "phone": _("Phone number"),
        "email": _("Email address"),
        "mobile_email": _("Mobile email address"),
        "certificate": _("My Number Card certificate"),
        "sns_member": _("Linked SNS account"),
        "verified": _("Confirmed from the card"),
    }


def sex_label(code: str | None) -> str:
    return {
        "female": _("Female"),
        "male": _("Male"),
        "other": _("Other"),
        "unstated": _("Prefer not to say"),
    }.get(code or "", "")


def age_label(band: int | None) -> str:
    if band is None:
        return _("Unknown")
    if band >= 90:
        return _("90 and over")
    return _("%(n)ds", n=band)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "field_labels": field_labels,
        "sex_label": sex_label,
        "age_label": age_label,
        "locale_code": lambda: str(get_locale() or "ja"),
    }


def _parse_consents(
    values: list[str], purposes: list[Purpose]
) -> tuple[list[tuple[str, str]], str]:
    """Checked boxes ("purpose:recipient") → pairs, or an error message for the consent list."""
    allowed = {(p.code, r.code) for p in purposes for r in p.recipients}
    pairs = []
    for value in values:
        purpose_code, _sep, recipient_code = value.partition(":")
        if (purpose_code, recipient_code) not in allowed:
            return [], _("The consent form was not recognised. Please reload the page.")
        pairs.append((purpose_code, recipient_code))
    try:
        return services.check_consents(pairs), ""
    except RegistrationInvalid as err:
        return [], err.errors["consents"]


def _deliver(envelope: InboxEnvelope) -> InboxEnvelope:
    """Commit the sealed envelope; where this process holds the vault, file it right away."""
    db.session.flush()  # the row id names the envelope to file
    envelope_id = envelope.id
    db.session.commit()
    if vault_available():
        run_intake(only=[envelope_id])
    row = db.session.get(InboxEnvelope, envelope_id)
    return row if row is not None else envelope


@bp.route("/", methods=["GET"])
def index() -> str:
    return render_template("survey/index.html", monitor=identity.current_monitor())


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    if not can_seal():
        return render_template("survey/unavailable.html"), 503
    purposes = services.consent_choices()
    form = RegistrationForm()
    chosen: list[str] = request.form.getlist("consent") if request.method == "POST" else []
    consent_error = ""
    cert = identity.verified_certificate()
    if request.method == "POST":
        form_ok = form.validate_on_submit()
        pairs, consent_error = _parse_consents(chosen, purposes)
        if cert is not None and identity.monitor_for_cert(cert) is not None:
            flash(_("This My Number Card is already registered to a monitor."), "error")
            form_ok = False
        if form_ok and not consent_error:
            data = validate_fields(
                {name: getattr(form, name).data for name in services.TEXT_FIELD_NAMES}
            )
            member_id = (
                current_user.id if form.link_member.data and current_user.is_authenticated else None
            )
            payload = services.registration_payload(
                data,
                pairs,
                certificate=cert,
                member_id=member_id,
                signing_proof=registration_proof_for(data.email),
            )
            row = _deliver(services.submit_registration(payload))
            if row.status == "rejected":
                field, message = REJECTION_MESSAGES.get(row.error, ("", NOT_COMPLETED))
                if field:
                    getattr(form, field).errors.append(str(message))
                else:
                    flash(str(message), "error")
                return _register_page(form, purposes, chosen, consent_error, cert), 422
            forget_registration_proof()
            return redirect(url_for("survey.registered", filed=int(row.status == "filed")))
        return _register_page(form, purposes, chosen, consent_error, cert), 422
    return _register_page(form, purposes, chosen, consent_error, cert)


def _register_page(
    form: RegistrationForm, purposes: list[Purpose], chosen: list[str], error: str, cert: Any
) -> str:
    return render_template(
        "survey/register.html",
        form=form,
        purposes=purposes,
        chosen=set(chosen),
        consent_error=error,
        certificate=cert,
    )


@bp.route("/registered", methods=["GET"])
def registered() -> str:
    return render_template("survey/registered.html", filed=request.args.get("filed") == "1")


@bp.route("/login", methods=["GET"])
def login() -> str:
    return render_template("survey/login.html")


@bp.route("/jpki-done", methods=["GET"])
def jpki_done() -> Any:
    """After the JPKI login: find the monitor bound to the verified card."""
    cert = identity.verified_certificate() or identity.certificate_from_recent_challenge()
    if cert is None:
        return redirect(url_for("survey.login"))
    monitor = identity.remember_certificate(cert)
    db.session.commit()
    if monitor is not None:
        return redirect(url_for("survey.me"))
    return render_template("survey/not_registered.html")


def _monitor_or_login() -> Monitor:
    monitor = identity.current_monitor()
    if monitor is None:
        abort(redirect(url_for("survey.login")))
    return monitor


@bp.route("/me", methods=["GET"])
def me() -> str:
    monitor = _monitor_or_login()
    record = None
    entries: list[AuditEntry] = []
    if vault_available():
        views = access(
            "self",
            f"monitor:{monitor.pseudonym}",
            [monitor.pseudonym],
            "the monitor viewed their record",
        )
        record = views[0] if views else None
        entries = _entries_about(monitor.pseudonym)
        db.session.commit()
    purposes = db.session.execute(
        select(Purpose)
        .where(Purpose.kind == "consent", Purpose.active.is_(True))
        .order_by(Purpose.position)
    ).scalars()
    return render_template(
        "survey/me.html",
        monitor=monitor,
        record=record,
        fields=[f for f in FIELDS if f not in ("certificate", "sns_member", "verified")],
        consents=current_consents(monitor.pseudonym),
        purposes=list(purposes),
        entries=entries,
        vault=vault_available(),
        form=EmptyForm(),
    )


def _entries_about(pseudonym: str, limit: int = 50) -> list[AuditEntry]:
    return list(
        db.session.execute(
            select(AuditEntry)
            .where(AuditEntry.subjects_json.like(f'%"{pseudonym}"%'))
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        ).scalars()
    )


@bp.route("/me/correct", methods=["GET", "POST"])
def correct() -> Any:
    monitor = _monitor_or_login()
    form = CorrectionForm()
    if form.validate_on_submit():
        changes = {
            name: field.data.strip()
            for name, field in form._fields.items()
            if name != "csrf_token" and isinstance(field.data, str) and field.data.strip()
        }
        if monitor.verified:
            for name in services.VERIFIED_FACTS:
                if name in changes:
                    form[name].errors.append(
                        _("This was confirmed from your card and cannot be changed here.")
                    )
                    changes.pop(name)
        if not changes and not any(f.errors for f in form):
            flash(_("Please fill in what you want to change."), "error")
        elif changes and not any(f.errors for f in form):
            row = _deliver(services.request_change("correction", monitor, {"changes": changes}))
            if row.status == "rejected":
                field, message = REJECTION_MESSAGES.get(row.error, ("", NOT_SAVED))
                if field and field in form:
                    form[field].errors.append(str(message))
                else:
                    flash(str(message), "error")
            else:
                flash(_saved_message(row), "success")
                return redirect(url_for("survey.me"))
    return render_template("survey/correct.html", form=form, monitor=monitor), (
        422 if request.method == "POST" else 200
    )


def _saved_message(row: InboxEnvelope) -> str:
    if row.status == "filed":
        return _("Saved.")
    return _("Received. The change will be applied shortly.")


@bp.route("/me/consents/<code>/<action>", methods=["POST"])
def consent(code: str, action: str) -> Response:
    monitor = _monitor_or_login()
    form = EmptyForm()
    if not form.validate_on_submit() or action not in ("grant", "withdraw"):
        abort(400)
    purpose = db.session.execute(
        select(Purpose).where(
            Purpose.code == code, Purpose.kind == "consent", Purpose.active.is_(True)
        )
    ).scalar_one_or_none()
    if purpose is None or (action == "withdraw" and purpose.required):
        abort(404)
    if action == "grant":
        body: dict[str, Any] = {"grant": [[purpose.code, r.code] for r in purpose.recipients]}
    else:
        body = {"withdraw": [purpose.code]}
    row = _deliver(services.request_change("consent", monitor, body))
    flash(_saved_message(row), "success")
    return redirect(url_for("survey.me"))


@bp.route("/me/leave", methods=["GET", "POST"])
def leave() -> Any:
    monitor = _monitor_or_login()
    form = LeaveForm()
    if form.validate_on_submit():
        _deliver(services.request_change("leave", monitor, {}))
        identity.forget()
        return render_template("survey/left.html")
    return render_template("survey/leave.html", form=form), (
        422 if request.method == "POST" else 200
    )


@bp.route("/renew", methods=["GET"])
def renew() -> str:
    """Certificate renewal: what to do when a new card is not recognised."""
    return render_template(
        "survey/renew.html",
        npo=current_app.config["NPO_NAME"],
        has_cert=bool(identity.verified_certificate()),
    )
