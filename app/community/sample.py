"""Sample data: the `communities`, `topics` and `events` sections of `flask sample load`, and
the demo town's communities of every kind with topics and events (Japanese content)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from app.auth.models import User
from app.community import services
from app.community.models import Community, CommunityKind, Event, Topic
from app.community.services import JST, CommunityError
from app.db import utcnow
from app.extensions import db
from app.sample import demo, loader
from app.sample.loader import LoadContext, SampleError

COMMUNITY_FIELDS = {
    "key",
    "name",
    "kind",
    "admin",
    "members",
    "description",
    "category",
    "official",
}
TOPIC_FIELDS = {"key", "community", "author", "title", "body", "posts", "closed", "pinned"}
EVENT_FIELDS = {
    "key", "community", "author", "title", "starts_at", "place", "capacity", "body",
    "deadline_at", "ends_at", "participants",
}  # fmt: skip


def _entry(section: str, i: int, entry: Any, fields: set[str]) -> str:
    where = f"{section}[{i}]"
    if not isinstance(entry, dict):
        raise SampleError(f"{where}: must be an object")
    where = f"{section}[{i}] ({entry.get('key')!r})"
    unknown = set(entry) - fields
    if unknown:
        raise SampleError(f"{where}: unknown field(s) {sorted(unknown)}")
    return where


def _when(where: str, entry: dict[str, Any], name: str, required: bool) -> dt.datetime | None:
    if name not in entry:
        if required:
            raise SampleError(f"{where}: '{name}' is required")
        return None
    try:
        value = dt.datetime.fromisoformat(str(entry[name]))
    except ValueError:
        raise SampleError(f"{where}: {name} must be an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise SampleError(f"{where}: {name} needs a time zone, e.g. +09:00")
    return value


def load_communities(entries: list[Any], ctx: LoadContext) -> None:
    for i, entry in enumerate(entries):
        where = _entry("communities", i, entry, COMMUNITY_FIELDS)
        admin = ctx.get(where, entry.get("admin"), User)
        kind = entry.get("kind", CommunityKind.OPEN.value)
        if kind not in services.KIND_LABELS:
            raise SampleError(f"{where}: kind must be one of open, approval, secret")
        category = entry.get("category") or services.categories()[0]
        try:
            community = services.create_community(
                admin,
                name=str(entry.get("name", "")),
                description=str(entry.get("description", "")),
                category=category,
                kind=kind,
            )
        except CommunityError as err:
            raise SampleError(f"{where}: {err.message}") from err
        # Loaded data is the operator's: it appears without waiting for approval.
        community.status = "approved"
        community.hidden_at = None
        community.hidden_reason = ""
        community.official = bool(entry.get("official", False))
        members = entry.get("members", [])
        if not isinstance(members, list):
            raise SampleError(f"{where}: members must be a list of member keys")
        for key in members:
            user = ctx.get(where, key, User)
            if user.id != admin.id:
                services._insert_member(community, user, "member")
        ctx.add(where, entry.get("key"), community, f"/communities/{community.id}")


def load_topics(entries: list[Any], ctx: LoadContext) -> None:
    for i, entry in enumerate(entries):
        where = _entry("topics", i, entry, TOPIC_FIELDS)
        community = ctx.get(where, entry.get("community"), Community)
        author = ctx.get(where, entry.get("author"), User)
        try:
            topic = services.create_topic(
                community,
                author,
                title=str(entry.get("title", "")),
                body=str(entry.get("body", "")),
            )
            for j, post in enumerate(entry.get("posts", []) or []):
                if not isinstance(post, dict):
                    raise SampleError(f"{where}: posts[{j}] must be an object")
                services.add_post(
                    topic, ctx.get(where, post.get("author"), User), str(post.get("body", ""))
                )
        except CommunityError as err:
            raise SampleError(f"{where}: {err.message}") from err
        topic.pinned = bool(entry.get("pinned", False))
        topic.closed = bool(entry.get("closed", False))
        ctx.add(where, entry.get("key"), topic, f"/topics/{topic.id}")


def load_events(entries: list[Any], ctx: LoadContext) -> None:
    for i, entry in enumerate(entries):
        where = _entry("events", i, entry, EVENT_FIELDS)
        community = ctx.get(where, entry.get("community"), Community)
        author = ctx.get(where, entry.get("author"), User)
        capacity = entry.get("capacity")
        if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool)):
            raise SampleError(f"{where}: capacity must be a whole number")
        starts_at = _when(where, entry, "starts_at", True)
        try:
            event = services.create_event(
                community,
                author,
                title=str(entry.get("title", "")),
                body=str(entry.get("body", "")),
                place=str(entry.get("place", "")),
                starts_at=starts_at,
                ends_at=_when(where, entry, "ends_at", False),
                deadline_at=_when(where, entry, "deadline_at", False),
                capacity=capacity,
                # Sample files may describe past events too.
                now=(starts_at - dt.timedelta(days=1)) if starts_at else None,
            )
            for key in entry.get("participants", []) or []:
                services.join_event(ctx.get(where, key, User), event, now=event.created_at)
        except CommunityError as err:
            raise SampleError(f"{where}: {err.message}") from err
        ctx.add(where, entry.get("key"), event, f"/events/{event.id}")


SECTIONS = [("communities", load_communities), ("topics", load_topics), ("events", load_events)]


# --- the demo town ----------------------------------------------------------------------------

DEMO_COMMUNITIES: list[dict[str, Any]] = [
    {
        "name": "みどり市 防災ネットワーク",
        "kind": "open",
        "category": "防災",
        "admin": "npo_sato",
        "official": True,
        "members": ["haruka", "takeshi", "yoko", "kenji", "sachiko", "hiroshi", "emi"],
        "description": (
            "地域の防災情報を共有するNPOみどりネット公認のコミュニティです。"
            "避難所や備蓄の話題をどうぞ。"
        ),
        "topics": [
            (
                "haruka",
                "非常持ち出し袋の中身",
                "皆さんは何を入れていますか？我が家は水と乾パン、ラジオです。",
                [
                    ("takeshi", "モバイルバッテリーと常備薬もおすすめです。"),
                    ("yoko", "子ども用のおむつとおやつも忘れずに。"),
                ],
            ),
            (
                "kenji",
                "北町公民館の避難所について",
                "避難所の受付方法が変わったそうです。ご存じの方いますか？",
                [],
            ),
        ],
        "events": [
            (
                "npo_sato",
                "秋の防災訓練",
                14,
                "みどり市中央公園",
                50,
                "消火器の使い方と炊き出し体験をします。",
            )
        ],
    },
    {
        "name": "北町 子育てサロン",
        "kind": "approval",
        "category": "子育て",
        "admin": "haruka",
        "members": ["mai", "tomoko", "emi"],
        "description": "北町で子育て中の保護者の集まりです。参加は管理人の承認制です。",
        "topics": [
            (
                "mai",
                "雨の日に遊べる場所",
                "雨の日に子どもと行ける屋内施設を教えてください。",
                [("tomoko", "市の児童館が午前中空いています。")],
            ),
        ],
        "events": [
            (
                "haruka",
                "親子ふれあい遊び会",
                7,
                "北町児童館 2階",
                15,
                "0〜3歳の親子向けの遊び会です。",
            )
        ],
    },
    {
        "name": "東が丘 将棋同好会",
        "kind": "secret",
        "category": "趣味",
        "admin": "hiroshi",
        "members": ["shigeru", "akira"],
        "description": "招待制の将棋の会です。毎月第2土曜日に対局しています。",
        "topics": [
            ("shigeru", "次回の対局表", "次回は3局ずつ指しましょう。", [("akira", "了解です。")])
        ],
        "events": [("hiroshi", "月例対局会", 10, "東が丘集会所", 8, "お茶菓子は持ち寄りで。")],
    },
]


def build_community_demo(members: dict[str, User]) -> None:
    """Communities of every kind with topics and events (idempotent: by name)."""
    for spec in DEMO_COMMUNITIES:
        exists = db.session.execute(
            select(Community.id).where(Community.name == spec["name"])
        ).scalar_one_or_none()
        if exists is not None:
            continue
        admin = members[spec["admin"]]
        community = services.create_community(
            admin,
            name=spec["name"],
            description=spec["description"],
            category=spec["category"],
            kind=spec["kind"],
        )
        community.status = "approved"
        community.hidden_at = None
        community.hidden_reason = ""
        community.official = bool(spec.get("official", False))
        for handle in spec["members"]:
            services._insert_member(community, members[handle], "member")
        for author, title, body, posts in spec["topics"]:
            topic: Topic = services.create_topic(community, members[author], title=title, body=body)
            for post_author, post_body in posts:
                services.add_post(topic, members[post_author], post_body)
        for author, title, days, place, capacity, body in spec["events"]:
            start = (utcnow() + dt.timedelta(days=days)).astimezone(JST)
            start = start.replace(hour=10, minute=0, second=0, microsecond=0)
            event: Event = services.create_event(
                community,
                members[author],
                title=title,
                starts_at=start,
                place=place,
                capacity=capacity,
                body=body,
            )
            services.join_event(members[author], event)
            for handle in spec["members"][:3]:
                services.join_event(members[handle], event)


def register_sample_hooks() -> None:
    """Add the sections (after the SNS ones) and the demo step (idempotent)."""
    known = {name for name, _handler in loader.SECTIONS}
    for name, handler in SECTIONS:
        if name not in known:
            loader.SECTIONS.append((name, handler))
    if build_community_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_community_demo)
