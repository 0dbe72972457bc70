"""SNS pages. Thin: load through the visibility module (404 for what the viewer may not see),
check edit rights (403), call a service, commit once, respond."""

from __future__ import annotations

import datetime as dt
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
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.auth.decorators import role_required
from app.auth.models import RoleCode, User
from app.db import utcnow
from app.extensions import db, limiter
from app.forms import EmptyForm
from app.i18n import _
from app.permissions import (
    Relation,
    Visibility,
    can_edit,
    can_view,
    get_visible_or_404,
    relation_between,
)
from app.sns import bp, images, services
from app.sns.forms import (
    AvatarForm,
    CommentForm,
    DiaryForm,
    ExtraFieldForm,
    FieldSettingsForm,
    FriendRequestForm,
    IntroductionForm,
    MessageForm,
    ReportForm,
    SnsSettingsForm,
    options,
    profile_form,
)
from app.sns.models import Comment, Diary, FriendRequest, Image, Introduction, Message
from app.sns.services import NotVisible, SnsError

PREVIEWS = {
    "guest": Relation.GUEST,
    "member": Relation.MEMBER,
    "friend_of_friend": Relation.FRIEND_OF_FRIEND,
    "friend": Relation.FRIEND,
}


def _me() -> User:
    return current_user._get_current_object()


def _member_or_404(handle: str) -> User:
    member = services.member_by_handle(handle)
    if member is None or not can_view(current_user, member):
        abort(404)
    return member


def _field_error(form: Any, err: SnsError) -> None:
    if err.field and err.field in form:
        form[err.field].errors = [*form[err.field].errors, err.message]
    else:
        g.form_error = err.message


def _one_button() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _user_limit_key() -> str:
    return f"user:{current_user.get_id() or request.remote_addr}"


def _limit(name: str) -> Any:
    def value() -> str:
        return str(current_app.config[name])

    return limiter.limit(value, key_func=_user_limit_key, methods=["POST"])


def _write_after_read() -> None:
    """End the read transaction so a small write starts its own (SQLite: BEGIN IMMEDIATE)."""
    db.session.commit()
    db.session.connection(execution_options={"sqlite_begin": "immediate"})


def _uploads(field: Any) -> list[bytes]:
    files = [f for f in (field.data or []) if getattr(f, "filename", "")]
    return [f.read(images.MAX_INPUT_BYTES + 1) for f in files]


# --- members and profiles ---------------------------------------------------------------------


@bp.route("/members")
@login_required  # a directory of every resident is for members, not for scrapers
def members() -> str:
    query = request.args.get("q", "")[:50].strip()
    try:
        page = max(1, min(int(request.args.get("page", 1)), 1000))
    except ValueError:
        page = 1
    found = services.visible_members(current_user, query, limit=51, offset=(page - 1) * 50)
    avatars = services.avatar_tokens(current_user, [m.id for m in found])
    return render_template(
        "sns/members.html",
        members=found[:50],
        more=len(found) > 50,
        page=page,
        query=query,
        avatars=avatars,
    )


@bp.route("/members/<handle>")
def profile(handle: str) -> Any:
    member = _member_or_404(handle)
    me = current_user if current_user.is_authenticated else None
    preview = request.args.get("as")
    relation = relation_between(current_user, member.id)
    if preview is not None:
        if relation is not Relation.SELF or preview not in PREVIEWS:
            abort(404)
        relation = PREVIEWS[preview]
    fields = services.profile_as(member, relation)
    avatar = services.avatar_token_as(member, relation)
    shown = preview is None and services.friends_shown(member, current_user)
    friends = services.friend_list(member, current_user, 12, shown) if shown else None
    friend_total = services.friend_count(member, current_user) if shown else 0
    intros = services.introductions_for(member, current_user, shown) if shown else []
    page = services.member_diaries(member, current_user, limit=5) if preview is None else None
    context: dict[str, Any] = {
        "member": member,
        "fields": fields,
        "avatar": avatar,
        "relation": relation,
        "preview": preview,
        "previews": PREVIEWS,
        "friends": friends,
        "friend_total": friend_total,
        "intros": intros,
        "diaries": page.items if page else [],
    }
    if me is not None and preview is None and me.id != member.id:
        context.update(
            is_friend=relation is Relation.FRIEND,
            sent_request=services.pending_request(me, member),
            got_request=services.pending_request(member, me),
            blocked=services.has_blocked(me, member),
        )
    body = render_template("sns/profile.html", **context)
    if me is not None and preview is None and me.id != member.id:
        visitor_id, owner_id = me.id, member.id
        if services.footprint_due(visitor_id, owner_id):
            _write_after_read()
            services.leave_footprint(visitor_id, owner_id)
            db.session.commit()
    return body


@bp.route("/members/<handle>/friends")
def member_friends(handle: str) -> str:
    member = _member_or_404(handle)
    friends = services.friend_list(member, current_user, limit=1000)
    if friends is None:
        abort(404)
    avatars = services.avatar_tokens(current_user, [f.id for f in friends])
    return render_template("sns/friends_of.html", member=member, friends=friends, avatars=avatars)


@bp.route("/me")
@login_required
def my_page() -> Response:
    return redirect(url_for("sns.profile", handle=current_user.handle))


@bp.route("/me/profile", methods=["GET", "POST"])
@login_required
def edit_profile() -> Any:
    me = _me()
    fields = services.profile_fields()
    stored = services.profile_values(me)
    values: dict[str, Any] = {"display_name": me.display_name}
    for fd in fields:
        row = stored.get(fd.key)
        values[f"f_{fd.key}"] = row.value if row else ""
        values[f"v_{fd.key}"] = row.visibility if row else fd.default.value
    form = profile_form(fields, values)
    if form.validate_on_submit():
        try:
            for fd in fields:
                if fd.kind.value == "image":
                    level = request.form.get("v_avatar")
                    row = stored.get("avatar")
                    if row is not None and level is not None:
                        services.set_profile_value(me, fd, row.value, level)
                    continue
                level = form[f"v_{fd.key}"].data if f"v_{fd.key}" in form else None
                services.set_profile_value(me, fd, form[f"f_{fd.key}"].data, level)
        except SnsError as err:
            db.session.rollback()
            err.field = f"f_{err.field}" if err.field and f"f_{err.field}" in form else err.field
            _field_error(form, err)
        else:
            me.display_name = (form.display_name.data or "").strip()
            db.session.commit()
            flash(_("Your profile has been saved."), "success")
            return redirect(url_for("sns.profile", handle=me.handle))
    avatar_row = stored.get("avatar")
    return render_template(
        "sns/profile_edit.html",
        form=form,
        fields=fields,
        avatar=avatar_row,
        avatar_form=AvatarForm(),
        levels=services_levels(),
    )


def services_levels() -> list[tuple[str, str]]:
    from app.permissions import level_choices

    return level_choices()


@bp.route("/me/avatar", methods=["POST"])
@login_required
@_limit("SNS_POST_LIMIT")
def upload_avatar() -> Any:
    form = AvatarForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.photo.data
    if not upload or not getattr(upload, "filename", ""):
        flash(_("Please choose a photo."), "error")
        return redirect(url_for("sns.edit_profile"))
    try:
        services.set_avatar(_me(), upload.read(images.MAX_INPUT_BYTES + 1))
    except SnsError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("sns.edit_profile"))
    db.session.commit()
    flash(_("Your photo has been updated."), "success")
    return redirect(url_for("sns.edit_profile"))


@bp.route("/me/avatar/delete", methods=["POST"])
@login_required
def delete_avatar() -> Response:
    _one_button()
    services.remove_avatar(_me())
    db.session.commit()
    flash(_("Your photo has been removed."), "success")
    return redirect(url_for("sns.edit_profile"))


@bp.route("/images/<token>")
def image(token: str) -> Any:
    if not images.TOKEN_RE.match(token):
        abort(404)
    img = db.session.execute(select(Image).where(Image.token == token)).scalar_one_or_none()
    if img is None or not services.image_visible(current_user, img):
        abort(404)
    try:
        path = images.path_for(img.token)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    ext = "png" if img.content_type == "image/png" else "jpg"
    # Images are small after re-encoding: read them whole (no file handle outlives the request).
    response = Response(path.read_bytes(), mimetype=img.content_type)
    response.headers["Content-Disposition"] = f'inline; filename="image.{ext}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = IMAGE_CSP
    response.headers["Cache-Control"] = "private, no-cache"
    g.sns_image_csp = True
    return response


# --- friends ----------------------------------------------------------------------------------


@bp.route("/friends")
@login_required
def friends() -> str:
    me = _me()
    mine = services.friend_list(me, me, limit=1000) or []
    return render_template(
        "sns/friends.html",
        friends=mine,
        incoming=services.incoming_requests(me),
        outgoing=services.outgoing_requests(me),
        avatars=services.avatar_tokens(me, [f.id for f in mine]),
    )


@bp.route("/members/<handle>/friend-request", methods=["GET", "POST"])
@login_required
@_limit("SNS_FRIEND_REQUEST_LIMIT")
def friend_request(handle: str) -> Any:
    member = _member_or_404(handle)
    form = FriendRequestForm()
    if form.validate_on_submit():
        try:
            services.send_friend_request(_me(), member, form.message.data or "")
        except NotVisible:
            abort(404)
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your friend request has been sent."), "success")
            return redirect(url_for("sns.profile", handle=member.handle))
    return render_template("sns/friend_request.html", member=member, form=form)


def _request_or_404(request_id: int) -> FriendRequest:
    req = db.session.get(FriendRequest, request_id)
    if req is None or current_user.id not in (req.sender_id, req.recipient_id):
        abort(404)
    return req


@bp.route("/friend-requests/<int:request_id>/<action>", methods=["POST"])
@login_required
def friend_request_action(request_id: int, action: str) -> Response:
    _one_button()
    req = _request_or_404(request_id)
    handlers = {
        "accept": (services.accept_friend_request, _("You are now friends.")),
        "decline": (services.decline_friend_request, _("The request has been declined.")),
        "cancel": (services.cancel_friend_request, _("Your request has been withdrawn.")),
    }
    if action not in handlers:
        abort(404)
    handler, message = handlers[action]
    try:
        handler(req, _me())
    except NotVisible:
        db.session.commit()
        abort(404)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("sns.friends"))


@bp.route("/members/<handle>/unfriend", methods=["POST"])
@login_required
def unfriend(handle: str) -> Response:
    _one_button()
    member = _member_or_404(handle)
    try:
        services.remove_friend(_me(), member)
    except SnsError as err:
        flash(err.message, "error")
        return redirect(url_for("sns.profile", handle=member.handle))
    db.session.commit()
    flash(_("You are no longer friends."), "success")
    return redirect(url_for("sns.profile", handle=member.handle))


@bp.route("/members/<handle>/introduction", methods=["GET", "POST"])
@login_required
@_limit("SNS_POST_LIMIT")
def write_introduction(handle: str) -> Any:
    member = _member_or_404(handle)
    me = _me()
    if not services.are_friends(me, member):
        abort(404)
    existing = db.session.execute(
        select(Introduction).where(
            Introduction.author_id == me.id, Introduction.subject_id == member.id
        )
    ).scalar_one_or_none()
    form = IntroductionForm(data={"body": existing.body if existing else ""})
    if form.validate_on_submit():
        try:
            services.write_introduction(me, member, form.body.data or "")
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your introduction has been saved."), "success")
            return redirect(url_for("sns.profile", handle=member.handle) + "#introductions")
    return render_template("sns/introduction.html", member=member, form=form)


@bp.route("/introductions/<int:intro_id>/<action>", methods=["POST"])
@login_required
def introduction_action(intro_id: int, action: str) -> Response:
    _one_button()
    intro = db.session.get(Introduction, intro_id)
    me = _me()
    if intro is None or me.id not in (intro.author_id, intro.subject_id):
        abort(404)
    subject = db.session.get(User, intro.subject_id)
    try:
        if action == "hide":
            services.set_introduction_hidden(intro, me, True)
        elif action == "show":
            services.set_introduction_hidden(intro, me, False)
        elif action == "delete":
            services.delete_introduction(intro, me)
        else:
            abort(404)
    except NotVisible:
        abort(403)
    db.session.commit()
    flash(_("Your change has been saved."), "success")
    assert subject is not None  # noqa: S101 - the introduction's subject exists
    return redirect(url_for("sns.profile", handle=subject.handle) + "#introductions")


# --- blocks -----------------------------------------------------------------------------------


@bp.route("/members/<handle>/block", methods=["POST"])
@login_required
def block(handle: str) -> Response:
    _one_button()
    member = _member_or_404(handle)
    try:
        services.block_member(_me(), member)
    except SnsError as err:
        flash(err.message, "error")
        return redirect(url_for("sns.profile", handle=member.handle))
    db.session.commit()
    flash(_("%(name)s is now blocked.", name=member.display_name), "success")
    return redirect(url_for("sns.blocks"))


@bp.route("/blocks")
@login_required
def blocks() -> str:
    return render_template("sns/blocks.html", blocks=services.blocked_members(_me()))


@bp.route("/blocks/<int:user_id>/remove", methods=["POST"])
@login_required
def unblock(user_id: int) -> Response:
    _one_button()
    other = db.session.get(User, user_id)
    if other is None:
        abort(404)
    services.unblock_member(_me(), other)
    db.session.commit()
    flash(_("The block has been lifted."), "success")
    return redirect(url_for("sns.blocks"))


# --- diaries and comments ---------------------------------------------------------------------


@bp.route("/diary")
def recent() -> str:
    page = services.recent_diaries(current_user, request.args.get("after"))
    return render_template("sns/diary_recent.html", page=page)


@bp.route("/timeline")
@login_required
def timeline() -> str:
    page = services.timeline(_me(), request.args.get("after"))
    return render_template("sns/timeline.html", page=page)


@bp.route("/diary/new", methods=["GET", "POST"])
@login_required
@_limit("SNS_POST_LIMIT")
def new_diary() -> Any:
    form = DiaryForm()
    del form.remove_images
    if form.validate_on_submit():
        try:
            diary = services.create_diary(
                _me(),
                title=form.title.data or "",
                body=form.body.data or "",
                visibility=form.visibility.data,
                body_format=form.body_format.data or "plain",
                allow_comments=bool(form.allow_comments.data),
                uploads=_uploads(form.images),
            )
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your diary entry has been posted."), "success")
            return redirect(url_for("sns.diary", diary_id=diary.id))
    return render_template("sns/diary_form.html", form=form, diary=None)


@bp.route("/diary/<int:diary_id>")
def diary(diary_id: int) -> str:
    entry = get_visible_or_404(Diary, diary_id)
    author = db.session.get(User, entry.author_id)
    comments = services.diary_comments(entry, current_user)
    avatars = services.avatar_tokens(current_user, [author.id] + [c.author_id for c in comments])  # type: ignore[union-attr]
    return render_template(
        "sns/diary.html",
        diary=entry,
        author=author,
        comments=comments,
        avatars=avatars,
        form=CommentForm(),
    )


def _own_diary(diary_id: int) -> Diary:
    entry = get_visible_or_404(Diary, diary_id)
    if not can_edit(current_user, entry):
        abort(403)
    return entry


@bp.route("/diary/<int:diary_id>/edit", methods=["GET", "POST"])
@login_required
def edit_diary(diary_id: int) -> Any:
    entry = _own_diary(diary_id)
    form = DiaryForm(obj=entry)
    form.remove_images.choices = options(
        (img.token, str(i + 1)) for i, img in enumerate(entry.images)
    )
    if form.validate_on_submit():
        try:
            services.update_diary(
                entry,
                _me(),
                title=form.title.data or "",
                body=form.body.data or "",
                visibility=form.visibility.data,
                body_format=form.body_format.data or "plain",
                allow_comments=bool(form.allow_comments.data),
                uploads=_uploads(form.images),
                remove_tokens=form.remove_images.data or [],
            )
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your diary entry has been updated."), "success")
            return redirect(url_for("sns.diary", diary_id=entry.id))
    return render_template("sns/diary_form.html", form=form, diary=entry)


@bp.route("/diary/<int:diary_id>/delete", methods=["POST"])
@login_required
def delete_diary(diary_id: int) -> Response:
    _one_button()
    entry = _own_diary(diary_id)
    services.delete_diary(entry, _me())
    db.session.commit()
    flash(_("The entry has been deleted. You can restore it for 30 days."), "success")
    return redirect(url_for("sns.trash"))


@bp.route("/diary/trash")
@login_required
def trash() -> str:
    return render_template("sns/trash.html", diaries=services.deleted_diaries(_me()))


@bp.route("/diary/<int:diary_id>/restore", methods=["POST"])
@login_required
def restore_diary(diary_id: int) -> Response:
    _one_button()
    entry = db.session.get(Diary, diary_id)
    if entry is None or entry.author_id != current_user.id:
        abort(404)
    try:
        services.restore_diary(entry, _me())
    except NotVisible:
        abort(404)
    except SnsError as err:
        flash(err.message, "error")
        return redirect(url_for("sns.trash"))
    db.session.commit()
    flash(_("The entry has been restored."), "success")
    return redirect(url_for("sns.diary", diary_id=entry.id))


@bp.route("/diary/<int:diary_id>/comments", methods=["POST"])
@login_required
@_limit("SNS_POST_LIMIT")
def add_comment(diary_id: int) -> Any:
    entry = get_visible_or_404(Diary, diary_id)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            services.add_comment(entry, _me(), form.body.data or "")
        except NotVisible:
            abort(404)
        except SnsError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            db.session.commit()
            flash(_("Your comment has been posted."), "success")
            return redirect(url_for("sns.diary", diary_id=entry.id) + "#comments")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
    return redirect(url_for("sns.diary", diary_id=entry.id) + "#comment-form")


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
@login_required
def delete_comment(comment_id: int) -> Response:
    _one_button()
    comment = get_visible_or_404(Comment, comment_id)
    if not can_edit(current_user, comment):
        abort(403)
    services.delete_comment(comment, _me())
    db.session.commit()
    flash(_("The comment has been deleted."), "success")
    return redirect(url_for("sns.diary", diary_id=comment.diary_id) + "#comments")


def _month(year: int, month: int) -> tuple[int, int]:
    if not (1900 <= year <= 2200 and 1 <= month <= 12):
        abort(404)
    return year, month


@bp.route("/members/<handle>/diary")
@bp.route("/members/<handle>/diary/<int:year>/<int:month>")
def member_diary(handle: str, year: int | None = None, month: int | None = None) -> str:
    member = _member_or_404(handle)
    period = _month(year, month) if year is not None and month is not None else None
    page = services.member_diaries(member, current_user, request.args.get("after"), period)
    return render_template(
        "sns/member_diary.html",
        member=member,
        page=page,
        months=services.diary_months(member, current_user),
        period=period,
    )


@bp.route("/members/<handle>/diary.atom")
def member_feed(handle: str) -> Response:
    member = services.member_by_handle(handle)
    from app.permissions import AnonymousViewer

    if member is None or not can_view(AnonymousViewer(), member):
        abort(404)
    entries = services.public_feed(member)
    base = str(current_app.config["SERVER_BASE_URL"]).rstrip("/")
    updated = entries[0].updated_at or entries[0].created_at if entries else member.created_at
    body = render_template(
        "sns/feed.atom.xml", member=member, entries=entries, base=base, updated=updated
    )
    response = make_response(body)
    response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    return response


# --- messages ---------------------------------------------------------------------------------


@bp.route("/messages")
@login_required
def inbox() -> str:
    me = _me()
    return render_template(
        "sns/messages.html",
        box="inbox",
        messages=services.inbox(me),
        unread=services.unread_messages(me),
    )


@bp.route("/messages/sent")
@login_required
def sent() -> str:
    return render_template("sns/messages.html", box="sent", messages=services.sent_messages(_me()))


@bp.route("/messages/with/<handle>", methods=["GET", "POST"])
@login_required
@_limit("SNS_MESSAGE_LIMIT")
def thread(handle: str) -> Any:
    other = _member_or_404(handle)
    me = _me()
    if other.id == me.id:
        abort(404)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            services.send_message(me, other, form.subject.data or "", form.body.data or "")
        except NotVisible:
            abort(404)
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your message has been sent."), "success")
            return redirect(url_for("sns.thread", handle=other.handle) + "#latest")
    messages = services.thread_with(me, other)
    body = render_template("sns/thread.html", other=other, messages=messages, form=form)
    if request.method == "GET" and any(
        m.recipient_id == me.id and m.read_at is None for m in messages
    ):
        _write_after_read()
        services.mark_thread_read(me, other)
        db.session.commit()
    return body


@bp.route("/messages/<int:message_id>/delete", methods=["POST"])
@login_required
def delete_message(message_id: int) -> Response:
    _one_button()
    msg = db.session.get(Message, message_id)
    if msg is None or not services.message_visible(current_user, msg):
        abort(404)
    services.delete_message_for(msg, _me())
    db.session.commit()
    flash(_("The message has been deleted for you."), "success")
    return redirect(url_for("sns.inbox"))


# --- footprints, notifications, settings ------------------------------------------------------


@bp.route("/footprints")
@login_required
def footprints() -> str:
    return render_template("sns/footprints.html", footprints=services.footprints(_me()))


@bp.route("/notifications")
@login_required
def notifications() -> str:
    me = _me()
    notes = services.notifications_for(me)
    body = render_template(
        "sns/notifications.html", notes=notes, path=services.notification_path, me=me
    )
    if any(n.read_at is None for n in notes):
        _write_after_read()
        services.mark_notifications_read(me, [n.id for n in notes])
        db.session.commit()
    return body


@bp.route("/notifications/read", methods=["POST"])
@login_required
def notifications_read() -> Response:
    _one_button()
    services.mark_notifications_read(_me())
    db.session.commit()
    return redirect(url_for("sns.notifications"))


@bp.route("/settings/sns", methods=["GET", "POST"])
@login_required
def settings() -> Any:
    me = _me()
    current = services.settings_for(me)
    form = SnsSettingsForm(
        data={
            "friends_visibility": current.friends_visibility,
            "footprints_enabled": current.footprints_enabled,
            "email_kinds": sorted(current.email_kind_set()),
            "email_digest": current.email_digest,
        }
    )
    if form.validate_on_submit():
        try:
            services.update_settings(
                me,
                friends_visibility=form.friends_visibility.data,
                footprints_enabled=bool(form.footprints_enabled.data),
                email_kinds=form.email_kinds.data or [],
                email_digest=bool(form.email_digest.data),
            )
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your settings have been saved."), "success")
            return redirect(url_for("sns.settings"))
    return render_template("sns/settings.html", form=form)


# --- reports ----------------------------------------------------------------------------------


@bp.route("/report/<kind>/<int:object_id>", methods=["GET", "POST"])
@login_required
@_limit("SNS_REPORT_LIMIT")
def report(kind: str, object_id: int) -> Any:
    try:
        rkind, _obj, _text = services.report_target(kind, object_id, current_user)
    except NotVisible:
        abort(404)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            services.create_report(
                _me(), kind, object_id, form.reason.data or "", form.details.data or ""
            )
        except NotVisible:
            abort(404)
        except SnsError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            return redirect(url_for("sns.report_received"))
    return render_template("sns/report.html", form=form, kind=rkind.key)


@bp.route("/report/received")
@login_required
def report_received() -> str:
    return render_template("sns/report_received.html")


# --- admin ------------------------------------------------------------------------------------


@bp.route("/admin/profile-fields", methods=["GET", "POST"])
@role_required(RoleCode.ADMIN)
def profile_fields() -> Any:
    settings_form = FieldSettingsForm(prefix="s")
    extra_form = ExtraFieldForm(prefix="x")
    if request.method == "POST":
        target = settings_form if request.form.get("which") == "settings" else extra_form
        if target.validate_on_submit():
            try:
                if target is settings_form:
                    services.configure_field(
                        settings_form.key.data or "",
                        settings_form.default_visibility.data,
                        settings_form.fixed_visibility.data or None,
                    )
                else:
                    services.add_extra_field(
                        label_ja=extra_form.label_ja.data or "",
                        label_en=extra_form.label_en.data or "",
                        kind=extra_form.kind.data or "",
                        choices=extra_form.choices.data or "",
                        default_visibility=extra_form.default_visibility.data,
                    )
            except NotVisible:
                abort(404)
            except SnsError as err:
                db.session.rollback()
                _field_error(target, err)
            else:
                db.session.commit()
                flash(_("The profile fields have been saved."), "success")
                return redirect(url_for("sns.profile_fields"))
    return render_template(
        "sns/profile_fields.html",
        fields=services.profile_fields(),
        extra_form=extra_form,
        settings_form=settings_form,
        levels=services_levels(),
        visibility=Visibility,
    )


def _visit_marker() -> None:
    """Home and timeline: move the "new since last visit" marker (at most once a minute)."""
    if request.endpoint in ("site.home", "sns.timeline") and current_user.is_authenticated:
        me = _me()
        row = services.settings_for(me)
        if row.timeline_visit_at is None or utcnow() - row.timeline_visit_at >= dt.timedelta(
            minutes=1
        ):
            _write_after_read()
            services.touch_visit(db.session.get(User, me.id))  # type: ignore[arg-type]
            db.session.commit()


bp.before_app_request(_visit_marker)


IMAGE_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def image_headers(response: Response) -> Response:
    """Registered to run after the site-wide headers, so an image keeps its sandbox CSP."""
    if g.get("sns_image_csp"):
        response.headers["Content-Security-Policy"] = IMAGE_CSP
    return response
