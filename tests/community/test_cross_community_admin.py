"""An admin of community A cannot see, edit or run community B (security.md A28, R13).

Being an admin somewhere is no privilege elsewhere: every request of A's admin against B
answers like any outsider's, and nothing in B changes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.community import services
from app.community.models import Community, CommunityMember, Topic
from app.extensions import db


def test_admin_of_one_community_is_an_outsider_in_another(
    app: Any, make: Any, client: Any, login_as: Any, user: Any, community: Any, topic: Any,
    event: Any,
) -> None:  # fmt: skip
    a_admin, b_member = make.user(), make.user()
    a = community(a_admin, name="北町の会")
    secret = community(user, kind="secret", name="秘密の会", members=(b_member,))
    open_b = community(user, name="南町の会", members=(b_member,))
    hidden_topic = topic(secret, user, title="内輪の話")
    hidden_event = event(secret, user, title="内輪の集まり")
    open_topic = topic(open_b, user, title="公開の話題")
    assert services.membership(a, a_admin).role == "admin"
    login_as(a_admin)

    # see: a secret community of someone else is 404 everywhere, like a missing id
    for path in (
        f"/communities/{secret.id}",
        f"/communities/{secret.id}/topics",
        f"/communities/{secret.id}/members",
        f"/topics/{hidden_topic.id}",
        f"/events/{hidden_event.id}",
        f"/events/{hidden_event.id}.ics",
    ):
        assert client.get(path).status_code == 404, path

    # edit and run: refused on the open community too, and nothing changes
    for path, data in (
        (f"/communities/{open_b.id}/edit", {"name": "乗っ取り", "description": "x"}),
        (f"/communities/{open_b.id}/members/{b_member.handle}/remove", {}),
        (f"/communities/{open_b.id}/members/{b_member.handle}/ban", {}),
        (f"/communities/{open_b.id}/members/{b_member.handle}/role", {"role": "subadmin"}),
        (f"/communities/{open_b.id}/transfer", {"handle": a_admin.handle}),
        (f"/topics/{open_topic.id}/edit", {"title": "乗っ取り", "body": "x"}),
        (f"/topics/{open_topic.id}/delete", {}),
        (f"/topics/{open_topic.id}/pin", {}),
        (f"/topics/{open_topic.id}/close", {}),
    ):
        response = client.post(path, data=data)
        assert response.status_code in (302, 403, 404), (path, response.status_code)
    db.session.rollback()
    assert db.session.get(Community, open_b.id).name == "南町の会"
    kept = db.session.get(Topic, open_topic.id)
    assert kept.title == "公開の話題"
    assert (kept.deleted_at, kept.pinned, kept.closed) == (None, False, False)
    roles = dict(
        db.session.execute(
            select(CommunityMember.user_id, CommunityMember.role).where(
                CommunityMember.community_id == open_b.id
            )
        ).all()
    )
    assert roles == {user.id: "admin", b_member.id: "member"}
