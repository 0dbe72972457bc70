"""Moderation pages. Thin: role check (through the roles table, 404 for members), load, call a
service, commit once, respond. Members' own pages: actions on their content, appeals, warnings.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.auth.decorators import role_required
from app.auth.models import RoleCode, User
from app.db import utcnow
from app.extensions import db
from app.i18n import _
from app.moderation import bp, services, wordfilter
from app.moderation.forms import (
    AcknowledgeForm,
    AppealForm,
    FilterForm,
    QuotaForm,
    ReasonForm,
    SuspendForm,
    WarnForm,
)
from app.moderation.log import action_label
from app.moderation.models import Appeal, ModerationAction
from app.moderation.services import ModerationError, NotFound
from app.sns.models import Report

MODERATOR = RoleCode.MODERATOR


def _me() -> User:
    return current_user._get_current_object()


def _field_error(form: Any, err: ModerationError) -> None:
    if err.field and err.field in form:
        form[err.field].errors = [*form[err.field].errors, err.message]
    else:
        g.form_error = err.message


def _back(default: str) -> Response:
    """Back to the page the form was on (relative paths only), else `default`."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(default)


def _fail(err: ModerationError) -> None:
    db.session.rollback()
    if isinstance(err, NotFound):
        abort(404)
    flash(err.message, "error")


# --- dashboard and queue ----------------------------------------------------------------------


@bp.route("/moderation/")
@role_required(MODERATOR)
def dashboard() -> str:
    data = services.dashboard()
    return render_template(
        "moderation/dashboard.html",
        data=data,
        peak=max([w.total for w in data.weeks] + [1]),
        age=services.format_age,
    )


@bp.route("/moderation/reports")
@role_required(MODERATOR)
def queue() -> str:
    return render_template(
        "moderation/queue.html", items=services.queue(), now=utcnow(), age=services.format_age
    )


@bp.route("/moderation/reports/<int:report_id>")
@role_required(MODERATOR)
def report_detail(report_id: int) -> str:
    try:
        item = services.report_item(report_id)
    except NotFound:
        abort(404)
    return render_template(
        "moderation/report.html",
        item=item,
        reason_form=ReasonForm(),
        now=utcnow(),
        age=services.format_age,
        action_label=action_label,
    )


@bp.route("/moderation/reports/<int:report_id>/dismiss", methods=["POST"])
@role_required(MODERATOR)
def dismiss(report_id: int) -> Response:
    report = db.session.get(Report, report_id)
    if report is None:
        abort(404)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.dismiss_report(_me(), report, form.reason.data or "")
        except ModerationError as err:
            _fail(err)
        else:
            db.session.commit()
            flash(_("The report was dismissed."), "success")
            return redirect(url_for("moderation.queue"))
    else:
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
    return redirect(url_for("moderation.report_detail", report_id=report_id))


@bp.route("/moderation/content/<kind>/<int:object_id>/<action>", methods=["POST"])
@role_required(MODERATOR)
def content_action(kind: str, object_id: int, action: str) -> Response:
    if action not in ("hide", "restore", "approve"):
        abort(404)
    try:
        ckind, obj = services.load_content(kind, object_id)
    except NotFound:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return _back(url_for("moderation.queue"))
    try:
        if action == "hide":
            services.hide_content(_me(), ckind, obj, form.reason.data or "")
            message = _("The content is hidden. Its author sees your reason.")
        else:
            services.restore_content(
                _me(), ckind, obj, form.reason.data or "", approve=action == "approve"
            )
            message = _("The content is visible again.")
    except ModerationError as err:
        _fail(err)
        return _back(url_for("moderation.queue"))
    db.session.commit()
    flash(message, "success")
    return _back(url_for("moderation.queue"))


# --- members ----------------------------------------------------------------------------------


def _member_or_404(handle: str) -> User:
    member = services.member_by_handle(handle)
    if member is None:
        abort(404)
    return member


def _targets(actions: list[ModerationAction]) -> dict[int, services.Target]:
    """What each action was about, linked where the current user may look."""
    return services.describe_targets(current_user, actions)


@bp.route("/moderation/members/<handle>")
@role_required(MODERATOR)
def member(handle: str) -> str:
    target = _member_or_404(handle)
    summary = services.member_summary(target)
    return render_template(
        "moderation/member.html",
        member=target,
        summary=summary,
        targets=_targets(summary["actions"]),
        warn_form=WarnForm(prefix="w"),
        suspend_form=SuspendForm(prefix="s"),
        reason_form=ReasonForm(),
        action_label=action_label,
        format_jst=services.format_jst,
    )


@bp.route("/moderation/members/<handle>/<action>", methods=["POST"])
@role_required(MODERATOR)
def member_action(handle: str, action: str) -> Any:
    target = _member_or_404(handle)
    warn_form, suspend_form, reason_form = WarnForm(prefix="w"), SuspendForm(prefix="s"), None
    try:
        if action == "warn":
            if warn_form.validate_on_submit():
                services.warn_member(_me(), target, warn_form.message.data or "")
                message = _("The warning was sent.")
            else:
                raise ModerationError("")
        elif action == "suspend":
            if suspend_form.validate_on_submit():
                services.suspend_member(
                    _me(), target, suspend_form.days.data, suspend_form.reason.data or ""
                )
                message = _("The member is suspended.")
            else:
                raise ModerationError("")
        elif action == "lift":
            reason_form = ReasonForm()
            if not reason_form.validate_on_submit():
                abort(400)
            services.lift_suspension(_me(), target, reason_form.reason.data or "")
            message = _("The suspension was lifted.")
        else:
            abort(404)
    except ModerationError as err:
        db.session.rollback()
        if err.message:
            form = warn_form if action == "warn" else suspend_form
            _field_error(form, err)
        summary = services.member_summary(target)
        return (
            render_template(
                "moderation/member.html",
                member=target,
                summary=summary,
                targets=_targets(summary["actions"]),
                warn_form=warn_form,
                suspend_form=suspend_form,
                reason_form=reason_form or ReasonForm(),
                action_label=action_label,
                format_jst=services.format_jst,
            ),
            400,
        )
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("moderation.member", handle=target.handle))


# --- log and appeals --------------------------------------------------------------------------


@bp.route("/moderation/log")
@role_required(MODERATOR)
def log() -> str:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    rows, users, more = services.log_page(page)
    return render_template(
        "moderation/log.html",
        targets=_targets(rows),
        rows=rows,
        users=users,
        page=max(1, page),
        more=more,
        action_label=action_label,
    )


@bp.route("/moderation/appeals")
@role_required(MODERATOR)
def appeals() -> str:
    open_appeals = services.open_appeals()
    return render_template(
        "moderation/appeals.html",
        appeals=open_appeals,
        targets=_targets([ap.action for ap in open_appeals]),
        form=ReasonForm(),
        action_label=action_label,
    )


@bp.route("/moderation/appeals/<int:appeal_id>/close", methods=["POST"])
@role_required(MODERATOR)
def close_appeal(appeal_id: int) -> Response:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        abort(404)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.close_appeal(_me(), appeal, form.reason.data or "")
        except ModerationError as err:
            _fail(err)
        else:
            db.session.commit()
            flash(_("The appeal is answered."), "success")
    return redirect(url_for("moderation.appeals"))


# --- invitations ------------------------------------------------------------------------------


@bp.route("/moderation/invitations", methods=["GET", "POST"])
@bp.route("/moderation/invite-quotas", methods=["GET", "POST"])  # the SNS's earlier address
@role_required(MODERATOR)
def invitations() -> Any:
    form = QuotaForm()
    if form.validate_on_submit():
        target = services.member_by_handle(form.handle.data or "")
        if target is None:
            form.handle.errors = [*form.handle.errors, _("No member has this user name.")]
        else:
            try:
                services.set_invite_quota(_me(), target, form.quota.data)
            except ModerationError as err:
                db.session.rollback()
                _field_error(form, err)
            else:
                db.session.commit()
                flash(
                    _(
                        "%(name)s may now send %(n)d invitations.",
                        name=target.display_name,
                        n=target.invite_quota,
                    ),
                    "success",
                )
                return redirect(url_for("moderation.invitations"))
    rows = services.invitations()
    accepted = services.invited_members({i.accepted_by_id for i in rows if i.accepted_by_id})
    return render_template(
        "moderation/invitations.html",
        form=form,
        rows=rows,
        accepted=accepted,
        status=services.invitation_status,
        now=utcnow(),
    )


@bp.route("/moderation/invitations/<int:invitation_id>/revoke", methods=["POST"])
@role_required(MODERATOR)
def revoke_invitation(invitation_id: int) -> Response:
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.revoke_invitation(_me(), invitation_id, form.reason.data or "")
        except ModerationError as err:
            _fail(err)
        else:
            db.session.commit()
            flash(_("The invitation was revoked."), "success")
    return redirect(url_for("moderation.invitations"))


# --- word filter ------------------------------------------------------------------------------


@bp.route("/moderation/word-filter", methods=["GET", "POST"])
@role_required(MODERATOR)
def word_filter() -> Any:
    form = FilterForm()
    if form.validate_on_submit():
        try:
            services.add_filter_entry(_me(), form.kind.data or "", form.value.data or "")
        except ModerationError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("The entry was added."), "success")
            return redirect(url_for("moderation.word_filter"))
    return render_template(
        "moderation/word_filter.html",
        form=form,
        entries=services.filter_entries(),
        presets=wordfilter.active_presets(),
        preset_labels={k: v[0] for k, v in wordfilter.PRESETS.items()},
    )


@bp.route("/moderation/word-filter/<int:entry_id>/remove", methods=["POST"])
@role_required(MODERATOR)
def remove_filter_entry(entry_id: int) -> Response:
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.remove_filter_entry(_me(), entry_id)
        except ModerationError as err:
            _fail(err)
        else:
            db.session.commit()
            flash(_("The entry was removed."), "success")
    return redirect(url_for("moderation.word_filter"))


@bp.route("/moderation/word-filter/presets/<key>/<state>", methods=["POST"])
@role_required(MODERATOR)
def set_preset(key: str, state: str) -> Response:
    if state not in ("on", "off"):
        abort(404)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.set_preset(_me(), key, state == "on")
        except ModerationError as err:
            _fail(err)
        else:
            db.session.commit()
            flash(_("The word filter was saved."), "success")
    return redirect(url_for("moderation.word_filter"))


# --- members' own pages -----------------------------------------------------------------------


@bp.route("/moderation/my-actions")
@login_required
def my_actions() -> str:
    rows = services.actions_on_member(_me())
    return render_template(
        "moderation/my_actions.html",
        rows=rows,
        targets=_targets([row.action for row in rows]),
        form=AppealForm(),
        action_label=action_label,
    )


@bp.route("/moderation/my-actions/<int:action_id>/appeal", methods=["POST"])
@login_required
def appeal(action_id: int) -> Any:
    form = AppealForm()
    if form.validate_on_submit():
        try:
            services.file_appeal(_me(), action_id, form.body.data or "")
        except NotFound:
            abort(404)
        except ModerationError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            db.session.commit()
            flash(_("Your reply was sent to the moderators."), "success")
    else:
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
    return redirect(url_for("moderation.my_actions"))


@bp.route("/moderation/warning", methods=["GET", "POST"])
@login_required
def warning() -> Any:
    form = AcknowledgeForm()
    if form.validate_on_submit():
        try:
            services.acknowledge_warning(_me(), form.warning_id.data)
        except NotFound:
            abort(404)
        db.session.commit()
        pending = services.pending_warning(_me().id)
        if pending is None:
            session.pop(services.WARNING_FLAG, None)
            flash(_("Thank you. You can use the site again."), "success")
            return redirect(url_for("site.home"))
        return redirect(url_for("moderation.warning"))
    pending = services.pending_warning(_me().id)
    if pending is None:
        session.pop(services.WARNING_FLAG, None)
        return redirect(url_for("site.home"))
    return render_template("moderation/warning.html", warning=pending, form=form)


# Endpoints a warned member may still reach: the warning, their actions page, logging out.
WARNING_EXEMPT = {
    "moderation.warning",
    "moderation.my_actions",
    "moderation.appeal",
    "auth.logout",
    "static",
    "site.healthz",
}


def warning_gate() -> Response | None:
    """Send a member with an unacknowledged warning to the warning page first (the flag lives
    in the server-side session: no query on ordinary pages)."""
    if not current_user.is_authenticated or request.endpoint in WARNING_EXEMPT:
        return None
    if request.endpoint is None or request.endpoint.endswith(".static"):
        return None
    if not session.get(services.WARNING_FLAG):
        return None
    return redirect(url_for("moderation.warning"))


def on_login(_app: Any, user: Any, **_extra: Any) -> None:
    """At login, remember in the new session whether a warning waits (one query per login)."""
    if services.pending_warning(int(user.id)) is not None:
        session[services.WARNING_FLAG] = True
