"""Every community page renders for a member (as a smoke test of templates and helpers)."""

from __future__ import annotations

from typing import Any

from app.auth.models import RoleCode


def test_every_page_renders(
    app: Any, make: Any, user: Any, login_as: Any, community: Any, topic: Any, event: Any
) -> None:
    com = community(user)
    row = topic(com, user)
    ev = event(com, user)
    client = login_as(user)
    urls = [
        "/",
        "/communities",
        "/communities?category=地域&q=会",
        "/communities/new",
        f"/communities/{com.id}",
        f"/communities/{com.id}/edit",
        f"/communities/{com.id}/members",
        f"/communities/{com.id}/topics",
        f"/communities/{com.id}/topics/new",
        f"/communities/{com.id}/events/new",
        f"/topics/{row.id}",
        f"/topics/{row.id}/edit",
        f"/events/{ev.id}",
        f"/events/{ev.id}/edit",
        f"/events/{ev.id}.ics",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    moderator = make.user(role=RoleCode.MODERATOR)
    mod = login_as(moderator, the_client=app.test_client())
    for url in ("/moderation/communities", f"/moderation/communities/{com.id}/edit"):
        assert mod.get(url).status_code == 200, url
