"""Access decorators: the one place roles are checked for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, after_this_request, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.auth.models import RoleCode
from app.auth.second_factor import require_second_factor
from app.logging_setup import log_event

F = TypeVar("F", bound=Callable[..., Any])


def role_required(code: RoleCode) -> Callable[[F], F]:
    """Only members holding `code` (or admins) get through; others see 404 (A21, R06).

    A privileged role also needs the second factor passed in this session (A08); until then
    the page redirects to the second-factor page.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.has_role(code):
                # The 404 hides the page; the log keeps the real reason (A45).
                log_event(
                    "authz.role",
                    "denied",
                    "denied role=%s viewer=%s reason=missing_role",
                    code.value,
                    current_user.id,
                    obj=f"endpoint:{request.endpoint}",
                    reason="missing_role",
                    role=code.value,
                )
                abort(404)
            if code != RoleCode.MEMBER:
                require_second_factor(current_user)  # A08: privileged pages need it
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def one_time_link(view: F) -> F:
    """A page reached by a secret in its URL (mail links): its answers, errors included, send
    `Referrer-Policy: no-referrer`, so the secret never leaves in a Referer header (A51)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        @after_this_request
        def _no_referrer(response: Response) -> Response:
            response.headers["Referrer-Policy"] = "no-referrer"
            return response

        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
