"""The public pages for signing-certificate proofs: re-linking a renewed card.

Served by the public role (and `all`); the internal role files the sealed request.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.file import FileField
from wtforms import StringField

from app.extensions import db
from app.forms import BaseForm, EmailAddress, Required
from app.i18n import _, _l
from app.privacy import proofs
from app.privacy.envelopes import can_seal, run_intake
from app.privacy.models import InboxEnvelope
from app.privacy.vault import vault_available

bp = Blueprint("privacy_proofs", __name__, template_folder="templates", url_prefix="/proofs")

# Why the internal server refused a re-binding request, in words for the resident.
REFUSED = {
    "no_verified_match": _l(
        "No monitor with a confirmed registration matches the name and date of birth of this "
        "signing certificate. Please ask the city office to link the new card."
    ),
    "certificate_bound": _l("This My Number Card is already registered to a monitor."),
    "signing_proof_invalid": _l(
        "The signing certificate was not accepted. Please ask the city office to link the new card."
    ),
}
NOT_DONE = _l("The card could not be linked. Please contact the city office.")


class ProofForm(BaseForm):
    proof = FileField(
        _l("Proof file"),
        description=_l("The file the card client wrote (for example proof.json)."),
    )


class EmailForm(BaseForm):
    email = StringField(
        _l("Email address"),
        validators=[Required(), EmailAddress()],
        description=_l("The address you will enter in the registration form."),
    )


# The checked proof waits in the (server-side) session until the registration form is sent.
SESSION_REGISTRATION_PROOF = "privacy_registration_proof"


def registration_proof_for(email: str) -> dict[str, str] | None:
    """The verified-registration proof checked in this session for `email`, if any (the
    registration form adds it to the sealed registration)."""
    held = session.get(SESSION_REGISTRATION_PROOF)
    if not isinstance(held, dict) or held.get("email") != email:
        return None
    if held.get("project") != current_app.config["SURVEY_PROJECT"]:
        return None
    proof = held.get("proof")
    return proof if isinstance(proof, dict) else None


def forget_registration_proof() -> None:
    session.pop(SESSION_REGISTRATION_PROOF, None)


def _certificate() -> Any:
    from app.survey import identity

    return identity.verified_certificate()


@bp.route("/renew", methods=["GET", "POST"])
def renew() -> Any:
    """Link a renewed card to the monitor: after the card login, upload a signing proof."""
    from app.survey import identity

    if not can_seal():
        return render_template("privacy/proof_unavailable.html"), 503
    cert = _certificate()
    if cert is None:
        return render_template("privacy/proof_login.html")
    if identity.monitor_for_cert(cert) is not None:
        flash(_("This card is already linked to your monitor registration."), "info")
        return redirect(url_for("survey.me"))
    message = proofs.renewal_message(cert)
    form = ProofForm()
    status = 200
    if form.validate_on_submit():
        upload = form.proof.data
        raw = upload.read(proofs.MAX_PROOF_BYTES + 1) if upload else b""
        try:
            proof = proofs.parse_proof(raw)
            envelope = proofs.submit_renewal(cert, proof)
        except proofs.ProofError as err:
            form.proof.errors = [*form.proof.errors, err.message]
            status = 422
        else:
            row = _deliver(envelope)
            if row.status == "rejected":
                flash(str(REFUSED.get(row.error, NOT_DONE)), "error")
                status = 422
            else:
                if row.status == "filed":
                    identity.remember_certificate(cert)
                    db.session.commit()
                return redirect(url_for("privacy_proofs.renewed", filed=int(row.status == "filed")))
    elif request.method == "POST":
        status = 422
    return render_template(
        "privacy/proof_renew.html",
        form=form,
        message_b64=base64.b64encode(message).decode(),
    ), status


@bp.route("/register", methods=["GET", "POST"])
def verified_registration() -> Any:
    """Verified registration, step 1: sign this email address with the signing certificate.

    GET asks for the email address; POST with `email` only shows the request to sign; POST with
    the proof file checks it and keeps it for the registration form.
    """
    from app.survey.validation import FieldInvalid, normalise_email

    if not can_seal():
        return render_template("privacy/proof_unavailable.html"), 503
    project = str(current_app.config["SURVEY_PROJECT"])
    email_form = EmailForm()
    proof_form = ProofForm()
    email = ""
    status = 200
    if email_form.validate_on_submit():
        try:
            email = normalise_email(email_form.email.data)
        except FieldInvalid as err:
            email_form.email.errors = [*email_form.email.errors, str(err)]
            email = ""
            status = 422
    elif request.method == "POST":
        status = 422
    if email and proof_form.proof.data:
        upload = proof_form.proof.data
        try:
            proof = proofs.parse_proof(upload.read(proofs.MAX_PROOF_BYTES + 1))
            proofs.check_registration_proof(email, project, proof)
        except proofs.ProofError as err:
            proof_form.proof.errors = [*proof_form.proof.errors, err.message]
            status = 422
        else:
            session[SESSION_REGISTRATION_PROOF] = {
                "email": email,
                "project": project,
                "proof": proof,
            }
            flash(
                _(
                    "Your signing certificate was checked. Please fill in the form with the same "
                    "email address: your name, address, sex and date of birth will be taken from "
                    "the certificate."
                ),
                "success",
            )
            return redirect(url_for("survey.register"))
    message_b64 = (
        base64.b64encode(proofs.registration_message(email, project)).decode() if email else ""
    )
    return render_template(
        "privacy/proof_register.html",
        email_form=email_form,
        form=proof_form,
        email=email,
        message_b64=message_b64,
    ), status


@bp.route("/renewed", methods=["GET"])
def renewed() -> str:
    return render_template("privacy/proof_renewed.html", filed=request.args.get("filed") == "1")


def _deliver(envelope: InboxEnvelope) -> InboxEnvelope:
    """Commit the sealed request; where this process holds the vault, file it at once."""
    db.session.flush()  # the row id names the envelope to file
    envelope_id = envelope.id
    db.session.commit()
    if vault_available():
        run_intake(only=[envelope_id])
    row = db.session.get(InboxEnvelope, envelope_id)
    return row if row is not None else envelope
