"""Announcement and site-page screens. Thin: load, check, call a service, commit, respond."""

from __future__ import annotations

import itertools
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from app.auth.decorators import role_required
from app.auth.models import RoleCode
from app.auth.second_factor import require_second_factor
from app.extensions import db
from app.forms import EmptyForm
from app.i18n import _
from app.logging_setup import log_event
from app.notices import bp, services
from app.notices.forms import AnnouncementForm, SitePageForm
from app.notices.models import Announcement, PageKind
from app.permissions import get_visible_or_404
from app.sessions import rotate_session
from app.urls import safe_next

PER_PAGE = 20


def _publisher_only() -> None:
    """Announcement tools exist only for staff and moderators; others get 404 (R06)."""
    if not services.may_publish(current_user):
        abort(404)
    require_second_factor(current_user)  # A08: publishers are privileged accounts


def _form_error(form: Any, err: services.NoticeError) -> None:
    if err.field and err.field in form:
        form[err.field].errors.append(err.message)
    else:
        g.form_error = err.message


# --- announcements ----------------------------------------------------------------------------


@bp.route("/notices")
def announcement_list() -> str:
    try:
        page = max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    items = services.announcements_for(
        current_user, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE
    )
    return render_template(
        "notices/list.html",
        items=items[:PER_PAGE],
        page=page,
        has_next=len(items) > PER_PAGE,
        may_publish=services.may_publish(current_user),
    )


@bp.route("/notices/<int:item_id>")
def announcement_detail(item_id: int) -> str:
    item = get_visible_or_404(Announcement, item_id)
    return render_template(
        "notices/detail.html", item=item, may_publish=services.may_publish(current_user)
    )


@bp.route("/notices/feed.atom")
def announcement_feed() -> Response:
    entries = services.public_feed()
    base = str(current_app.config["SERVER_BASE_URL"]).rstrip("/")
    updated = max((e.updated_at for e in entries), default=None)
    body = render_template("notices/feed.atom.xml", entries=entries, base=base, updated=updated)
    response = make_response(body)
    response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    return response


@bp.route("/notices/manage")
@login_required
def announcement_manage() -> str:
    _publisher_only()
    return render_template(
        "notices/manage.html", items=services.all_announcements(), is_pinned=services.is_pinned
    )


@bp.route("/notices/new", methods=["GET", "POST"])
@login_required
def announcement_new() -> Any:
    _publisher_only()
    form = AnnouncementForm()
    if form.validate_on_submit():
        try:
            item = services.publish_announcement(
                current_user,
                title=form.title.data or "",
                body=form.body.data or "",
                audience=form.audience.data or "",
                pinned_until=form.pinned_date,
            )
        except services.NoticeError as err:
            _form_error(form, err)
        else:
            db.session.commit()
            flash(_("The announcement is published."), "success")
            return redirect(url_for("notices.announcement_detail", item_id=item.id))
    return render_template("notices/form.html", form=form, item=None)


def _editable(item_id: int) -> Announcement:
    _publisher_only()
    item = db.session.get(Announcement, item_id) if 0 < item_id < 2**63 else None
    if item is None or item.withdrawn_at is not None:
        abort(404)
    return item


@bp.route("/notices/<int:item_id>/edit", methods=["GET", "POST"])
@login_required
def announcement_edit(item_id: int) -> Any:
    item = _editable(item_id)
    form = AnnouncementForm(obj=item if request.method == "GET" else None)
    if request.method == "GET":
        form.pinned_until.data = item.pinned_until.isoformat() if item.pinned_until else ""
    if form.validate_on_submit():
        try:
            services.edit_announcement(
                current_user,
                item,
                title=form.title.data or "",
                body=form.body.data or "",
                audience=form.audience.data or "",
                pinned_until=form.pinned_date,
            )
        except services.NoticeError as err:
            _form_error(form, err)
        else:
            db.session.commit()
            flash(_("The announcement is updated."), "success")
            return redirect(url_for("notices.announcement_detail", item_id=item.id))
    return render_template("notices/form.html", form=form, item=item)


@bp.route("/notices/<int:item_id>/withdraw", methods=["POST"])
@login_required
def announcement_withdraw(item_id: int) -> Response:
    item = _editable(item_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.withdraw_announcement(current_user, item)
    db.session.commit()
    flash(_("The announcement is withdrawn."), "info")
    return redirect(url_for("notices.announcement_manage"))


# --- site pages -------------------------------------------------------------------------------


def _kind_or_404(kind: str) -> PageKind:
    parsed = services.parse_kind(kind)
    if parsed is None:
        abort(404)
    return parsed


@bp.route("/pages/<kind>")
def site_page(kind: str) -> str:
    page = services.current_page(_kind_or_404(kind))
    if page is None:
        abort(404)
    return render_template("notices/page.html", page=page)


@bp.route("/admin/pages")
@role_required(RoleCode.ADMIN)
def page_admin() -> str:
    current = services.current_pages()
    return render_template("notices/page_admin.html", kinds=list(PageKind), current=current)


@bp.route("/admin/pages/<kind>/edit", methods=["GET", "POST"])
@role_required(RoleCode.ADMIN)
def page_edit(kind: str) -> Any:
    page_kind = _kind_or_404(kind)
    current = services.current_page(page_kind)
    form = SitePageForm(obj=current if request.method == "GET" else None)
    if request.method == "GET":
        form.note.data = ""
    if form.validate_on_submit():
        try:
            saved = services.save_page(
                current_user,
                page_kind,
                title=form.title.data or "",
                body=form.body.data or "",
                note=form.note.data or "",
            )
            if page_kind is PageKind.TERMS:
                services.accept_terms(current_user, saved)  # its author need not be asked
            db.session.commit()
        except services.NoticeError as err:
            _form_error(form, err)
        except IntegrityError:
            db.session.rollback()
            g.form_error = _("Someone saved this page at the same time. Please reload and check.")
        else:
            flash(_("Version %(n)d is saved and now shown.", n=saved.version), "success")
            return redirect(url_for("notices.page_history", kind=page_kind.value))
    return render_template("notices/page_edit.html", form=form, kind=page_kind, current=current)


@bp.route("/admin/pages/<kind>/history")
@role_required(RoleCode.ADMIN)
def page_history(kind: str) -> str:
    page_kind = _kind_or_404(kind)
    versions = services.page_versions(page_kind)
    diffs = {
        newer.id: services.diff_lines(older.body, newer.body)
        for newer, older in itertools.pairwise(versions)
    }
    return render_template(
        "notices/page_history.html", kind=page_kind, versions=versions, diffs=diffs
    )


# --- accepting new terms ----------------------------------------------------------------------


@bp.route("/terms/accept", methods=["GET", "POST"])
@login_required
def terms_accept() -> Any:
    pending = services.terms_to_accept(current_user)
    target = safe_next(request.values.get("next"), url_for("site.home"))
    if pending is None:
        return redirect(target)
    form = EmptyForm()
    if form.validate_on_submit():
        if request.form.get("version") != str(pending.version):
            flash(_("The terms changed while you were reading. Please read them again."), "info")
            return redirect(url_for("notices.terms_accept", next=target))
        services.accept_terms(current_user, pending)
        db.session.commit()
        flash(_("Thank you. You accepted version %(n)d of the terms.", n=pending.version), "info")
        return redirect(target)
    return render_template("notices/terms_accept.html", page=pending, form=form, next=target)


@bp.route("/terms/decline", methods=["POST"])
@login_required
def terms_decline() -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    log_event(
        "auth.terms_decline",
        "success",
        "terms declined user=%s",
        current_user.id,
        obj=f"user:{current_user.id}",
    )
    logout_user()
    session.clear()
    rotate_session(remember=False)
    flash(
        _(
            "You declined the new terms of use, so you were logged out. "
            "Log in again when you want to accept them."
        ),
        "info",
    )
    return redirect(url_for("site.home"))
