"""Community pages: thin views that load through `app.permissions`, call a service, commit.

A community, topic, post or event the viewer may not see answers 404 (also when guessed);
a refused action shows the service's message and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from app.auth.models import RoleCode, User
from app.auth.second_factor import require_second_factor
from app.community import bp, services
from app.community.forms import (
    CommunityForm,
    EventForm,
    HandleForm,
    ModerateCommunityForm,
    PostEditForm,
    PostForm,
    RejectForm,
    RoleForm,
    SettingsForm,
    TopicEditForm,
    TopicForm,
)
from app.community.models import (
    Community,
    CommunityImage,
    CommunityRole,
    Event,
    Topic,
    TopicPost,
    community_role,
)
from app.community.services import JST, CommunityError, NotVisible
from app.extensions import db, limiter
from app.forms import EmptyForm
from app.i18n import _
from app.permissions import can_edit, get_visible_or_404, is_moderator
from app.sns import images

IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def _me() -> User:
    return current_user._get_current_object()


def _limit(name: str) -> Any:
    def value() -> str:
        return str(current_app.config[name])

    def key() -> str:
        return f"user:{current_user.get_id() or request.remote_addr}"

    return limiter.limit(value, key_func=key, methods=["POST"])


def _field_error(form: Any, err: CommunityError) -> None:
    if err.field and err.field in form:
        form[err.field].errors = [*form[err.field].errors, err.message]
    else:
        g.form_error = err.message


def _one_button() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _uploads(field: Any) -> list[bytes]:
    data = field.data or []
    if not isinstance(data, list):
        data = [data]
    files = [f for f in data if getattr(f, "filename", "")]
    return [f.read(images.MAX_INPUT_BYTES + 1) for f in files]


def _page_arg() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


def _act(action: Callable[[], Any], done: str, back: str) -> Any:
    """Run a one-button action: commit and flash `done`, or flash the refusal; 404 if unseen."""
    _one_button()
    try:
        action()
    except NotVisible:
        db.session.rollback()
        abort(404)
    except CommunityError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(back)
    db.session.commit()
    if done:
        flash(done, "success")
    return redirect(back)


def _community(community_id: int) -> Community:
    return get_visible_or_404(Community, community_id)


def _member_by_handle(handle: str) -> User | None:
    from app.auth.services import find_user_by_handle

    if not isinstance(handle, str) or len(handle) > 30:
        return None
    return find_user_by_handle(handle.strip().lstrip("@"))


def _require_moderator() -> None:
    """Moderators' pages: 404 for others; a moderator passes the second factor first (A08)."""
    if not current_user.has_role(RoleCode.MODERATOR):
        abort(404)
    require_second_factor(current_user)


# --- communities ------------------------------------------------------------------------------


@bp.route("/communities")
@login_required
def index() -> str:
    category = request.args.get("category", "")[:30]
    query = request.args.get("q", "")[:50].strip()
    page = _page_arg()
    found = services.community_list(
        current_user, category=category, query=query, limit=51, offset=(page - 1) * 50
    )
    return render_template(
        "community/index.html",
        communities=found[:50],
        more=len(found) > 50,
        page=page,
        category=category,
        query=query,
        categories=services.categories(),
        mine=services.my_communities(current_user),
        invitations=services.my_invitations(_me()),
    )


@bp.route("/communities/new", methods=["GET", "POST"])
@login_required
@_limit("COMMUNITY_POST_LIMIT")
def new_community() -> Any:
    form = CommunityForm()
    form.fill()
    moderator = is_moderator(current_user)
    if not moderator:
        del form.official
    if form.validate_on_submit():
        try:
            community = services.create_community(
                _me(),
                name=form.name.data or "",
                description=form.description.data or "",
                category=form.category.data or "",
                kind=form.kind.data or "",
                image=next(iter(_uploads(form.image)), None),
                official=bool(moderator and form.official.data),
            )
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            if community.hidden_at is not None:
                flash(_("Your community was created and waits for a moderator's approval."))
            else:
                flash(_("Your community was created."), "success")
            return redirect(url_for("community.community", community_id=community.id))
    return render_template("community/community_form.html", form=form, community=None)


@bp.route("/communities/<int:community_id>")
@login_required
def community(community_id: int) -> str:
    com = _community(community_id)
    me = _me()
    topics, pages = services.community_topics(com, current_user, 1, per_page=10)
    return render_template(
        "community/community.html",
        community=com,
        role=community_role(com.id, me.id),
        topics=topics,
        more_topics=pages > 1,
        events=services.upcoming_events(com, current_user),
        members=services.member_lists(com, current_user),
        requested=com.kind == "approval"
        and any(r.user_id == me.id for r in services.join_requests(com)),
        invited=services.invitation_for(com.id, me.id) is not None,
        banned=services.is_banned(com, me.id),
        kind_label=services.KIND_LABELS.get(com.kind, com.kind),
    )


@bp.route("/communities/<int:community_id>/topics")
@login_required
def topics(community_id: int) -> str:
    com = _community(community_id)
    page = _page_arg()
    rows, pages = services.community_topics(com, current_user, page)
    return render_template(
        "community/topics.html", community=com, topics=rows, page=page, pages=pages
    )


@bp.route("/communities/<int:community_id>/edit", methods=["GET", "POST"])
@login_required
def edit_community(community_id: int) -> Any:
    com = _community(community_id)
    if not can_edit(current_user, com):
        abort(403)
    form = CommunityForm(obj=com)
    form.fill()
    del form.kind
    del form.official
    if form.validate_on_submit():
        try:
            services.update_community(
                com,
                _me(),
                name=form.name.data or "",
                description=form.description.data or "",
                category=form.category.data or "",
                image=next(iter(_uploads(form.image)), None),
            )
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("community.community", community_id=com.id))
    return render_template("community/community_form.html", form=form, community=com)


@bp.route("/communities/<int:community_id>/resubmit", methods=["POST"])
@login_required
def resubmit(community_id: int) -> Any:
    com = _community(community_id)
    return _act(
        lambda: services.resubmit_community(_me(), com),
        _("Sent to the moderators for approval again."),
        url_for("community.community", community_id=com.id),
    )


@bp.route("/communities/<int:community_id>/join", methods=["POST"])
@login_required
def join(community_id: int) -> Any:
    try:
        com = services.load_for_join(current_user, community_id)
    except NotVisible:
        abort(404)
    back = url_for("community.community", community_id=com.id)
    result: dict[str, Any] = {}

    def run() -> None:
        result["row"] = services.join_community(_me(), com)

    response = _act(run, "", back)
    row = result.get("row")
    if row is not None and row.__class__.__name__ == "JoinRequest":
        flash(_("Your request was sent to the community's admins."), "success")
    elif row is not None:
        flash(_("You joined the community."), "success")
    return response


@bp.route("/communities/<int:community_id>/invitation/decline", methods=["POST"])
@login_required
def decline_invitation(community_id: int) -> Any:
    try:
        com = services.load_for_join(current_user, community_id)
    except NotVisible:
        abort(404)
    return _act(
        lambda: services.decline_invitation(_me(), com),
        _("You declined the invitation."),
        url_for("community.index"),
    )


@bp.route("/communities/<int:community_id>/leave", methods=["POST"])
@login_required
def leave(community_id: int) -> Any:
    com = _community(community_id)
    back = (
        url_for("community.index")
        if com.kind == "secret"
        else url_for("community.community", community_id=com.id)
    )
    return _act(lambda: services.leave_community(_me(), com), _("You left the community."), back)


@bp.route("/communities/<int:community_id>/members")
@login_required
def members(community_id: int) -> str:
    com = _community(community_id)
    me = _me()
    role = community_role(com.id, me.id)
    manager = role in (CommunityRole.ADMIN.value, CommunityRole.SUBADMIN.value)
    return render_template(
        "community/members.html",
        community=com,
        role=role,
        manager=manager,
        lists=services.member_lists(com, current_user, limit=5000),
        requests=services.join_requests(com) if manager else [],
        bans=services.banned_members(com) if manager else [],
        invite_form=HandleForm(prefix="invite"),
        transfer_form=HandleForm(prefix="transfer"),
        role_labels=services.ROLE_LABELS,
    )


def _members_url(com: Community) -> str:
    return url_for("community.members", community_id=com.id)


@bp.route("/communities/<int:community_id>/requests/<int:request_id>/<action>", methods=["POST"])
@login_required
def join_request(community_id: int, request_id: int, action: str) -> Any:
    com = _community(community_id)
    if action == "approve":
        return _act(
            lambda: services.approve_request(_me(), com, request_id),
            _("The request was approved."),
            _members_url(com),
        )
    if action == "decline":
        return _act(
            lambda: services.decline_request(_me(), com, request_id),
            _("The request was declined."),
            _members_url(com),
        )
    abort(404)


@bp.route("/communities/<int:community_id>/invite", methods=["POST"])
@login_required
def invite(community_id: int) -> Any:
    com = _community(community_id)
    form = HandleForm(prefix="invite")
    if not form.validate_on_submit():
        flash(_("Please enter a member's handle."), "error")
        return redirect(_members_url(com))
    target = _member_by_handle(form.handle.data or "")
    try:
        services.invite(_me(), com, target)
    except CommunityError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(_members_url(com))
    db.session.commit()
    flash(_("The invitation was sent."), "success")
    return redirect(_members_url(com))


@bp.route("/communities/<int:community_id>/transfer", methods=["POST"])
@login_required
def transfer(community_id: int) -> Any:
    com = _community(community_id)
    form = HandleForm(prefix="transfer")
    if not form.validate_on_submit():
        flash(_("Please enter a member's handle."), "error")
        return redirect(_members_url(com))
    target = _member_by_handle(form.handle.data or "")
    if target is None:
        flash(_("There is no member with this handle."), "error")
        return redirect(_members_url(com))
    return _act(
        lambda: services.transfer_admin(_me(), com, target),
        _("The community has a new admin."),
        _members_url(com),
    )


@bp.route("/communities/<int:community_id>/members/<handle>/<action>", methods=["POST"])
@login_required
def member_action(community_id: int, handle: str, action: str) -> Any:
    com = _community(community_id)
    target = _member_by_handle(handle)
    if target is None:
        abort(404)
    me = _me()
    back = _members_url(com)
    if action == "remove":
        return _act(lambda: services.remove_member(me, com, target), _("Removed."), back)
    if action == "ban":
        return _act(lambda: services.ban_member(me, com, target), _("Banned."), back)
    if action == "unban":
        return _act(lambda: services.unban_member(me, com, target), _("The ban was lifted."), back)
    if action == "role":
        form = RoleForm()
        if not form.validate_on_submit():
            flash(_("Please choose a role from the list."), "error")
            return redirect(back)
        role = form.role.data or ""
        try:
            services.set_role(me, com, target, role)
        except CommunityError as err:
            db.session.rollback()
            flash(err.message, "error")
            return redirect(back)
        db.session.commit()
        flash(_("The role was changed."), "success")
        return redirect(back)
    abort(404)


@bp.route("/community-images/<token>")
def image(token: str) -> Any:
    if not images.TOKEN_RE.match(token):
        abort(404)
    img = db.session.execute(
        select(CommunityImage).where(CommunityImage.token == token)
    ).scalar_one_or_none()
    if img is None or not services.image_visible(current_user, img):
        abort(404)
    try:
        path = images.path_for(img.token)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    ext = "png" if img.content_type == "image/png" else "jpg"
    response = Response(path.read_bytes(), mimetype=img.content_type)
    response.headers["Content-Disposition"] = f'inline; filename="image.{ext}"'
    response.headers["Cache-Control"] = "private, no-cache"
    g.sns_image_csp = True  # the SNS's after-request hook keeps the sandbox CSP for images
    return response


# --- topics -----------------------------------------------------------------------------------


@bp.route("/communities/<int:community_id>/topics/new", methods=["GET", "POST"])
@login_required
@_limit("COMMUNITY_POST_LIMIT")
def new_topic(community_id: int) -> Any:
    com = _community(community_id)
    form = TopicForm()
    if form.validate_on_submit():
        try:
            topic_row = services.create_topic(
                com,
                _me(),
                title=form.title.data or "",
                body=form.body.data or "",
                files=_uploads(form.images),
            )
        except NotVisible:
            abort(404)
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your topic was posted."), "success")
            return redirect(url_for("community.topic", topic_id=topic_row.id))
    return render_template("community/topic_form.html", form=form, community=com, topic=None)


@bp.route("/topics/<int:topic_id>")
@login_required
def topic(topic_id: int) -> str:
    row = get_visible_or_404(Topic, topic_id)
    com = _community(row.community_id)
    page = _page_arg()
    post_arg = request.args.get("post", "")
    if post_arg.isdigit() and len(post_arg) < 19:  # a link to one reply: open its page
        page = services.page_of_post(row, current_user, int(post_arg)) or page
    posts, pages = services.topic_posts(row, current_user, page)
    quotes = services.visible_posts_by_id(
        current_user, {p.quote_id for p in posts if p.quote_id is not None}
    )
    form = PostForm()
    quote_arg = request.args.get("quote", "")
    if quote_arg.isdigit():
        form.quote_id.data = quote_arg
    quoting = (
        services.visible_posts_by_id(current_user, {int(quote_arg)})
        if quote_arg.isdigit() and len(quote_arg) < 19
        else {}
    )
    me = _me()
    return render_template(
        "community/topic.html",
        topic=row,
        community=com,
        posts=posts,
        page=min(page, pages),
        pages=pages,
        quotes=quotes,
        quoting=next(iter(quoting.values()), None),
        images=services.images_for(row.id, [p.id for p in posts]),
        form=form,
        role=community_role(com.id, me.id),
        following=services.is_following(row, me),
    )


@bp.route("/topics/<int:topic_id>/reply", methods=["POST"])
@login_required
@_limit("COMMUNITY_POST_LIMIT")
def reply(topic_id: int) -> Any:
    row = get_visible_or_404(Topic, topic_id)
    form = PostForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return redirect(url_for("community.topic", topic_id=row.id, page=10_000))
    try:
        post = services.add_post(
            row,
            _me(),
            form.body.data or "",
            quote_id=form.quote_id.data or None,
            files=_uploads(form.images),
        )
    except NotVisible:
        abort(404)
    except CommunityError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("community.topic", topic_id=row.id))
    db.session.commit()
    flash(_("Your reply was posted."), "success")
    return redirect(
        url_for("community.topic", topic_id=row.id, page=10_000, _anchor=f"post-{post.id}")
    )


@bp.route("/topics/<int:topic_id>/edit", methods=["GET", "POST"])
@login_required
def edit_topic(topic_id: int) -> Any:
    row = get_visible_or_404(Topic, topic_id)
    if row.author_id != _me().id:
        abort(403)
    com = _community(row.community_id)
    form = TopicEditForm(obj=row)
    photos = services.images_for(row.id, []).get(None, [])
    form.remove_images.choices = [(token, str(i + 1)) for i, token in enumerate(photos)]
    if form.validate_on_submit():
        try:
            services.edit_topic(
                row,
                _me(),
                title=form.title.data or "",
                body=form.body.data or "",
                files=_uploads(form.images),
                remove_tokens=form.remove_images.data or [],
            )
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("community.topic", topic_id=row.id))
    return render_template(
        "community/topic_form.html", form=form, community=com, topic=row, photos=photos
    )


@bp.route("/topics/<int:topic_id>/<action>", methods=["POST"])
@login_required
def topic_action(topic_id: int, action: str) -> Any:
    row = get_visible_or_404(Topic, topic_id)
    me = _me()
    back = url_for("community.topic", topic_id=row.id)
    flags: dict[str, dict[str, bool]] = {
        "pin": {"pinned": True},
        "unpin": {"pinned": False},
        "close": {"closed": True},
        "reopen": {"closed": False},
    }
    if action in flags:
        return _act(lambda: services.set_topic_flags(row, me, **flags[action]), _("Saved."), back)
    if action == "follow":
        return _act(
            lambda: services.set_following(row, me, True), _("You follow this topic."), back
        )
    if action == "unfollow":
        return _act(
            lambda: services.set_following(row, me, False),
            _("You no longer follow this topic."),
            back,
        )
    if action == "delete":
        return _act(
            lambda: services.delete_topic(row, me),
            _("The topic was deleted."),
            url_for("community.community", community_id=row.community_id),
        )
    abort(404)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit_post(post_id: int) -> Any:
    post = get_visible_or_404(TopicPost, post_id)
    if post.author_id != _me().id:
        abort(403)
    form = PostEditForm(obj=post)
    photos = services.images_for(post.topic_id, [post.id]).get(post.id, [])
    form.remove_images.choices = [(token, str(i + 1)) for i, token in enumerate(photos)]
    if form.validate_on_submit():
        try:
            services.edit_post(
                post,
                _me(),
                form.body.data or "",
                files=_uploads(form.images),
                remove_tokens=form.remove_images.data or [],
            )
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(
                url_for("community.topic", topic_id=post.topic_id, _anchor=f"post-{post.id}")
            )
    return render_template("community/post_form.html", form=form, post=post, photos=photos)


@bp.route("/posts/<int:post_id>/delete", methods=["POST"])
@login_required
def delete_post(post_id: int) -> Any:
    post = get_visible_or_404(TopicPost, post_id)
    return _act(
        lambda: services.delete_post(post, _me()),
        _("The reply was deleted."),
        url_for("community.topic", topic_id=post.topic_id),
    )


# --- events -----------------------------------------------------------------------------------


def _aware(value: Any) -> Any:
    return value.replace(tzinfo=JST) if value is not None else None


def _event_values(form: EventForm) -> dict[str, Any]:
    return {
        "title": form.title.data or "",
        "body": form.body.data or "",
        "place": form.place.data or "",
        "starts_at": _aware(form.starts_at.data),
        "ends_at": _aware(form.ends_at.data),
        "deadline_at": _aware(form.deadline_at.data),
        "capacity": form.capacity.data,
    }


@bp.route("/communities/<int:community_id>/events/new", methods=["GET", "POST"])
@login_required
@_limit("COMMUNITY_POST_LIMIT")
def new_event(community_id: int) -> Any:
    com = _community(community_id)
    form = EventForm()
    if form.validate_on_submit():
        try:
            row = services.create_event(com, _me(), **_event_values(form))
        except NotVisible:
            abort(404)
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your event was posted."), "success")
            return redirect(url_for("community.event", event_id=row.id))
    return render_template("community/event_form.html", form=form, community=com, event=None)


@bp.route("/events/<int:event_id>")
@login_required
def event(event_id: int) -> str:
    row = get_visible_or_404(Event, event_id)
    com = _community(row.community_id)
    me = _me()
    return render_template(
        "community/event.html",
        event=row,
        community=com,
        participants=services.participants(row, current_user),
        joined=services.is_participant(row, me),
        member=community_role(com.id, me.id) is not None,
        deadline=services.event_deadline(row),
        now=services.utcnow(),
    )


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit_event(event_id: int) -> Any:
    row = get_visible_or_404(Event, event_id)
    if row.author_id != _me().id:
        abort(403)
    com = _community(row.community_id)
    form = EventForm(obj=row)
    if request.method == "GET":
        for name in ("starts_at", "ends_at", "deadline_at"):
            value = getattr(row, name)
            form[name].data = value.astimezone(JST).replace(tzinfo=None) if value else None
    if form.validate_on_submit():
        try:
            services.edit_event(row, _me(), **_event_values(form))
        except CommunityError as err:
            db.session.rollback()
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("community.event", event_id=row.id))
    return render_template("community/event_form.html", form=form, community=com, event=row)


@bp.route("/events/<int:event_id>/<action>", methods=["POST"])
@login_required
def event_action(event_id: int, action: str) -> Any:
    row = get_visible_or_404(Event, event_id)
    me = _me()
    back = url_for("community.event", event_id=row.id)
    if action == "join":
        return _act(lambda: services.join_event(me, row), _("You take part in this event."), back)
    if action == "cancel":
        return _act(lambda: services.cancel_event(me, row), _("You no longer take part."), back)
    if action == "delete":
        return _act(
            lambda: services.delete_event(row, me),
            _("The event was deleted."),
            url_for("community.community", community_id=row.community_id),
        )
    abort(404)


@bp.route("/events/<int:event_id>.ics")
@login_required
def event_ics(event_id: int) -> Response:
    row = get_visible_or_404(Event, event_id)
    body = services.event_ics(row, url_for("community.event", event_id=row.id, _external=True))
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="event-{row.id}.ics"'
    return response


# --- moderators -------------------------------------------------------------------------------


@bp.route("/moderation/communities", methods=["GET", "POST"])
@login_required
def moderation() -> Any:
    _require_moderator()
    settings_form = SettingsForm(prefix="settings")
    if request.method == "GET":
        settings_form.require_approval.data = services.site_settings().require_approval
    elif settings_form.validate_on_submit():
        services.set_require_approval(_me(), bool(settings_form.require_approval.data))
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("community.moderation"))
    return render_template(
        "community/moderation.html",
        pending=services.pending_communities(),
        communities=services.all_communities_for_moderators(),
        settings_form=settings_form,
        reject_form=RejectForm(prefix="reject"),
        kind_labels=services.KIND_LABELS,
    )


def _any_community(community_id: int) -> Community:
    row = db.session.get(Community, community_id)
    if row is None:
        abort(404)
    return row


@bp.route("/moderation/communities/<int:community_id>/approve", methods=["POST"])
@login_required
def moderation_approve(community_id: int) -> Any:
    _require_moderator()
    row = _any_community(community_id)
    return _act(
        lambda: services.approve_community(_me(), row),
        _("The community was approved."),
        url_for("community.moderation"),
    )


@bp.route("/moderation/communities/<int:community_id>/reject", methods=["POST"])
@login_required
def moderation_reject(community_id: int) -> Any:
    _require_moderator()
    row = _any_community(community_id)
    form = RejectForm(prefix="reject")
    if not form.validate_on_submit():
        flash(_("Please give a reason."), "error")
        return redirect(url_for("community.moderation"))
    try:
        services.reject_community(_me(), row, form.reason.data or "")
    except CommunityError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("community.moderation"))
    db.session.commit()
    flash(_("The community was rejected."), "success")
    return redirect(url_for("community.moderation"))


@bp.route("/moderation/communities/<int:community_id>/edit", methods=["GET", "POST"])
@login_required
def moderation_edit(community_id: int) -> Any:
    _require_moderator()
    row = _any_community(community_id)
    form = ModerateCommunityForm()
    form.fill()
    if request.method == "GET":
        form.kind.data = row.kind
        form.admin_handle.data = row.admin.handle
        form.official.data = row.official
    if form.validate_on_submit():
        admin = _member_by_handle(form.admin_handle.data or "")
        if admin is None:
            form.admin_handle.errors = [_("There is no member with this handle.")]
        else:
            try:
                services.moderator_edit_community(
                    _me(),
                    row,
                    kind=form.kind.data or "",
                    admin=admin,
                    official=bool(form.official.data),
                    reason=form.reason.data or "",
                )
            except CommunityError as err:
                db.session.rollback()
                _field_error(form, err)
            else:
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("community.moderation"))
    return render_template("community/moderation_edit.html", form=form, community=row)
