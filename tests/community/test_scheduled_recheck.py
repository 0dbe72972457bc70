"""Scheduled notifications re-check permission when they run (security.md A29, R19).

An event reminder is written by `flask community remind-events` hours after the member joined
the event. By then the member may have lost sight of the community; the reminder (which names
the event) must then not be written, whatever rows are left behind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from app.community import services
from app.community.models import CommunityMember
from app.extensions import db
from app.sns.models import Notification


def reminded(event_id: int) -> list[int]:
    notes = db.session.execute(
        select(Notification.user_id).where(
            Notification.kind == "community_event", Notification.object_id == event_id
        )
    ).scalars()
    return sorted(notes)


def test_reminder_is_checked_against_visibility_when_it_runs(
    app: Any, make: Any, user: Any, community: Any, event: Any
) -> None:
    stays, leaves = make.user(), make.user()
    secret = community(user, kind="secret", members=(stays, leaves))
    soon = event(secret, user, days=0.5)
    services.join_event(stays, soon)
    services.join_event(leaves, soon)
    db.session.commit()
    # Later, before the scheduled run, one of them loses the membership (the participant row
    # is left behind on purpose: the run itself must notice).
    db.session.execute(
        delete(CommunityMember).where(
            CommunityMember.community_id == secret.id, CommunityMember.user_id == leaves.id
        )
    )
    db.session.commit()

    assert services.remind_events() == 1
    db.session.commit()
    assert reminded(soon.id) == [stays.id]


def test_reminder_skips_a_member_suspended_since_joining(
    app: Any, make: Any, user: Any, community: Any, event: Any
) -> None:
    from app.auth.services import suspend_user

    a = make.user()
    com = community(user, members=(a,))
    soon = event(com, user, days=0.5)
    services.join_event(a, soon)
    db.session.commit()
    suspend_user(a, None)
    db.session.commit()
    assert services.remind_events() == 0
    db.session.commit()
    assert reminded(soon.id) == []
