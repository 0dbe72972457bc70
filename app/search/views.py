"""GET /search: the query, filters as query parameters, hits that link to each object's page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, current_app, render_template, request
from flask_login import current_user

from app.extensions import limiter
from app.i18n import _
from app.permissions import can_view
from app.search import bp
from app.search.analyzer import QUERY_MAX_CHARS
from app.search.backend import Filters
from app.search.documents import kinds
from app.search.service import SORTS, search
from app.sns.services import JST, member_by_handle

ALLOWED_ARGS = {"q", "kind", "author", "community", "from", "to", "sort", "page"}


def _limit() -> str:
    return str(current_app.config.get("SEARCH_LIMIT", "60 per minute"))


def _date(value: str | None, notices: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        notices.append(
            _("The date “%(value)s” was not understood and is ignored.", value=value[:20])
        )
        return None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=JST).astimezone(dt.UTC)


@bp.route("/search")
@limiter.limit(_limit)
def search_page() -> Any:
    """Unknown parameters and values outside the allowlists answer 400 (R01)."""
    if set(request.args) - ALLOWED_ARGS:
        abort(400)
    args = request.args
    notices: list[str] = []
    raw = args.get("q", "")
    sort = args.get("sort") or "relevance"
    if sort not in SORTS:
        abort(400)
    chosen_kinds = tuple(k for k in args.getlist("kind") if k)
    registry = kinds()
    if any(k not in registry for k in chosen_kinds):
        abort(400)
    try:
        page = int(args.get("page") or 1)
    except ValueError:
        page = 1
    community_id = None
    if args.get("community"):
        try:
            community_id = int(args["community"])
        except ValueError:
            abort(400)
    author = None
    author_handle = (args.get("author") or "").strip()[:40]
    author_id = None
    if author_handle:
        author = member_by_handle(author_handle)
        if author is None or not can_view(current_user, author):
            author = None
            author_id = -1  # no such member for this viewer: no results, nothing leaks
        else:
            author_id = author.id
    since_day = _date(args.get("from"), notices)
    until_day = _date(args.get("to"), notices)
    filters = Filters(
        kinds=chosen_kinds,
        author_id=author_id,
        community_id=community_id,
        since=_start_of(since_day) if since_day else None,
        until=_start_of(until_day + dt.timedelta(days=1)) if until_day else None,
    )
    viewer = current_user._get_current_object()
    results = search(viewer, raw, filters, sort, page)
    if results.query.truncated:
        notices.append(
            _(
                "Your search was long, so only its first %(n)d characters were used.",
                n=QUERY_MAX_CHARS,
            )
        )
    if raw.strip() and results.query.empty:
        notices.append(_("Please enter words to search for (letters, numbers or Japanese)."))
    base_args = {k: v for k, v in args.to_dict(flat=False).items() if k != "page"}
    shown_query = "" if not raw.strip() else raw[: QUERY_MAX_CHARS * 2]
    return render_template(
        "search/results.html",
        results=results,
        raw_query=shown_query,
        kinds=registry,
        chosen_kinds=chosen_kinds,
        sort=sort,
        author=author,
        author_handle=author_handle,
        since=args.get("from", "") if since_day else "",
        until=args.get("to", "") if until_day else "",
        notices=notices,
        base_args=base_args,
    )
