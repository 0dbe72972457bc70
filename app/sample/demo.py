"""The demo town: a fictional city with districts, residents, an NPO moderator and city staff.

Idempotent: running it again changes nothing that exists. Later features add to it.
"""

from __future__ import annotations

from collections.abc import Callable

from app.auth.models import RoleCode, User
from app.auth.services import create_user, find_user_by_email

DEMO_PASSWORD = "midori-demo-2026"  # noqa: S105 - demo accounts only, printed by `make run`

# (handle, display name, district, role, label)
RESIDENTS: list[tuple[str, str, str, RoleCode, str]] = [
    ("npo_sato", "佐藤 美咲（NPOみどりネット）", "中央", RoleCode.MODERATOR, "NPO moderator"),
    ("city_tanaka", "田中 健一（みどり市 市民協働課）", "中央", RoleCode.STAFF, "survey staff"),
    ("haruka", "鈴木 はるか", "北町", RoleCode.MEMBER, "resident"),
    ("takeshi", "高橋 武", "北町", RoleCode.MEMBER, "resident"),
    ("yoko", "渡辺 陽子", "南町", RoleCode.MEMBER, "resident"),
    ("kenji", "伊藤 健二", "南町", RoleCode.MEMBER, "resident"),
    ("sachiko", "山本 幸子", "東が丘", RoleCode.MEMBER, "resident"),
    ("hiroshi", "中村 博", "東が丘", RoleCode.MEMBER, "resident"),
    ("mai", "小林 舞", "西浜", RoleCode.MEMBER, "resident"),
    ("daiki", "加藤 大輝", "西浜", RoleCode.MEMBER, "resident"),
    ("tomoko", "吉田 智子", "山の手", RoleCode.MEMBER, "resident"),
    ("shigeru", "山田 茂", "山の手", RoleCode.MEMBER, "resident"),
    ("emi", "佐々木 恵美", "中央", RoleCode.MEMBER, "resident"),
    ("akira", "松本 明", "北町", RoleCode.MEMBER, "resident"),
]

DEMO_DOMAIN = "midori.example"

# Later features register steps that extend the town (profiles, diaries, communities …).
DEMO_STEPS: list[Callable[[dict[str, User]], None]] = []


def demo_accounts() -> list[tuple[str, str]]:
    """The demo accounts to print: (email, description)."""
    return [
        (f"{handle}@{DEMO_DOMAIN}", f"{name} — {label}")
        for handle, name, _d, _r, label in RESIDENTS
    ]


def build_demo() -> list[tuple[str, str]]:
    """Create the demo residents if missing and run every registered demo step."""
    members: dict[str, User] = {}
    for handle, name, _district, role, _label in RESIDENTS:
        email = f"{handle}@{DEMO_DOMAIN}"
        user = find_user_by_email(email)
        if user is None:
            user = create_user(
                email=email,
                handle=handle,
                display_name=name,
                password=DEMO_PASSWORD,
                role=role,
                confirmed=True,
            )
        members[handle] = user
    for step in DEMO_STEPS:
        step(members)
    return demo_accounts()
