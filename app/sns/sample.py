"""SNS sections of `flask sample load` and the SNS part of `flask sample demo`.

The JSON format is documented in docs/sample-format.md.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import func, select

from app.auth.models import RoleCode, User
from app.extensions import db
from app.permissions import Visibility
from app.sample import demo, loader
from app.sample.loader import LoadContext, SampleError
from app.sns import services
from app.sns.models import Block, Comment, Diary, Friendship, Message
from app.sns.services import SnsError

LEVEL_NAMES = sorted(level.value for level in Visibility)


def _level(where: str, value: Any, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if Visibility.parse(value) is None:
        raise SampleError(f"{where}: visibility must be one of {LEVEL_NAMES}")
    return str(value)


def member_hook(where: str, entry: dict[str, Any], user: User, ctx: LoadContext) -> None:
    """Members may carry `district` and `profile` {field: {value, visibility}}."""
    fields = {fd.key: fd for fd in services.profile_fields()}
    try:
        if "district" in entry:
            services.set_profile_value(user, fields["district"], entry["district"], None)
        profile = entry.get("profile", {})
        if not isinstance(profile, dict):
            raise SampleError(f"{where}: 'profile' must be an object")
        for key, spec in profile.items():
            fd = fields.get(key)
            if fd is None or fd.kind.value == "image":
                raise SampleError(f"{where}: unknown profile field {key!r}")
            if not isinstance(spec, dict) or set(spec) - {"value", "visibility"}:
                raise SampleError(f"{where}: profile.{key} must be {{value, visibility}}")
            level = _level(f"{where}: profile.{key}", spec.get("visibility"), fd.default.value)
            services.set_profile_value(user, fd, spec.get("value"), level)
    except SnsError as err:
        raise SampleError(f"{where}: {err.field or 'profile'}: {err.message}") from err


def _pairs(name: str, entries: list[Any], ctx: LoadContext) -> list[tuple[str, User, User]]:
    out = []
    for i, entry in enumerate(entries):
        where = f"{name}[{i}]"
        if not isinstance(entry, list) or len(entry) != 2:
            raise SampleError(f"{where}: must be a pair of member keys")
        a = ctx.get(where, entry[0], User)
        b = ctx.get(where, entry[1], User)
        if a.id == b.id:
            raise SampleError(f"{where}: a member cannot be paired with themselves")
        out.append((where, a, b))
    return out


def load_friendships(entries: list[Any], ctx: LoadContext) -> None:
    for where, a, b in _pairs("friendships", entries, ctx):
        if services.is_blocked_between(a.id, b.id):
            raise SampleError(f"{where}: these members block each other")
        services._make_friends(a.id, b.id)
        db.session.flush()


def load_blocks(entries: list[Any], ctx: LoadContext) -> None:
    for _where, a, b in _pairs("blocks", entries, ctx):
        services.block_member(a, b)
        db.session.flush()


DIARY_FIELDS = {
    "key",
    "author",
    "title",
    "body",
    "visibility",
    "format",
    "allow_comments",
    "created_at",
}


def load_diaries(entries: list[Any], ctx: LoadContext) -> None:
    for i, entry in enumerate(entries):
        where = f"diaries[{i}]"
        if not isinstance(entry, dict):
            raise SampleError(f"{where}: must be an object")
        where = f"diaries[{i}] ({entry.get('key')!r})"
        unknown = set(entry) - DIARY_FIELDS
        if unknown:
            raise SampleError(f"{where}: unknown field(s) {sorted(unknown)}")
        author = ctx.get(where, entry.get("author"), User)
        created = None
        if "created_at" in entry:
            try:
                created = dt.datetime.fromisoformat(str(entry["created_at"]))
            except ValueError:
                raise SampleError(f"{where}: created_at must be an ISO 8601 date-time") from None
            if created.tzinfo is None:
                raise SampleError(f"{where}: created_at needs a time zone, e.g. +09:00")
        allow = entry.get("allow_comments", True)
        if not isinstance(allow, bool):
            raise SampleError(f"{where}: allow_comments must be true or false")
        try:
            diary = services.create_diary(
                author,
                title=_text(where, entry, "title"),
                body=_text(where, entry, "body"),
                visibility=_level(where, entry.get("visibility")),
                body_format=str(entry.get("format", "plain")),
                allow_comments=allow,
                created_at=created,
            )
        except SnsError as err:
            raise SampleError(f"{where}: {err.field or 'diary'}: {err.message}") from err
        ctx.add(where, entry.get("key"), diary, f"/diary/{diary.id}")


def _text(where: str, entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str):
        raise SampleError(f"{where}: '{name}' is required and must be a string")
    return value


COMMENT_FIELDS = {"key", "diary", "author", "body"}


def load_comments(entries: list[Any], ctx: LoadContext) -> None:
    for i, entry in enumerate(entries):
        where = f"comments[{i}]"
        if not isinstance(entry, dict):
            raise SampleError(f"{where}: must be an object")
        where = f"comments[{i}] ({entry.get('key')!r})"
        unknown = set(entry) - COMMENT_FIELDS
        if unknown:
            raise SampleError(f"{where}: unknown field(s) {sorted(unknown)}")
        diary = ctx.get(where, entry.get("diary"), Diary)
        author = ctx.get(where, entry.get("author"), User)
        try:
            comment = services.add_comment(diary, author, _text(where, entry, "body"))
        except services.NotVisible:
            raise SampleError(f"{where}: the author cannot see this diary") from None
        except SnsError as err:
            raise SampleError(f"{where}: {err.message}") from err
        key = entry.get("key")
        if key is not None:
            ctx.add(where, key, comment, f"/diary/{diary.id}#comment-{comment.id}")


SNS_SECTIONS = [
    ("friendships", load_friendships),
    ("blocks", load_blocks),
    ("diaries", load_diaries),
    ("comments", load_comments),
]


def register_sample_hooks() -> None:
    """Add the SNS sections and member fields to the loader and the demo step (idempotent)."""
    loader.EXTRA_MEMBER_FIELDS.update({"district", "profile"})
    if member_hook not in loader.MEMBER_HOOKS:
        loader.MEMBER_HOOKS.append(member_hook)
    known = {name for name, _handler in loader.SECTIONS}
    for name, handler in SNS_SECTIONS:
        if name not in known:
            loader.SECTIONS.append((name, handler))
    if build_sns_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_sns_demo)


# --- the demo town ----------------------------------------------------------------------------

FAMILY = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "山下",
    "中島",
    "石井",
    "小川",
]
GIVEN = [
    "和子",
    "洋子",
    "節子",
    "正",
    "清",
    "誠",
    "美香",
    "直樹",
    "さくら",
    "翔太",
    "陽菜",
    "大翔",
    "恵子",
    "浩二",
    "由美",
    "隆",
    "綾",
    "亮",
    "真由美",
    "勝",
]
HOBBIES = [
    "家庭菜園",
    "写真",
    "散歩",
    "俳句",
    "将棋",
    "料理",
    "釣り",
    "手芸",
    "合唱",
    "ウォーキング",
    "読書",
    "囲碁",
    "パン作り",
    "グラウンドゴルフ",
    "書道",
]
INTROS = [
    "{district}に住んで{years}年になります。{hobby}が好きです。よろしくお願いします。",
    "退職してから地域の活動に参加しています。{hobby}仲間を探しています。",
    "子育て中です。{district}の子育て情報を交換できたらうれしいです。",
    "{hobby}が趣味です。{district}のことなら何でも聞いてください。",
]
DIARY_TEXTS = [
    (
        "{district}公園の桜",
        "{district}公園の桜が見ごろになっていました。朝の散歩のついでに寄ったら、もう何人も写真を撮っていました。今週末までは楽しめそうです。",
    ),
    (
        "朝市に行きました",
        "今朝は{district}の朝市へ。採れたての小松菜と大根を買いました。農家さんに浅漬けの作り方を教わったので、さっそく作ってみます。",
    ),
    (
        "ゴミ出しの日が変わります",
        "回覧板によると、来月から{district}の資源ごみの日が水曜日に変わるそうです。お間違えのないように。",
    ),
    (
        "{hobby}の会",
        "公民館で{hobby}の会がありました。初めての方が二人来てくださって、にぎやかな会になりました。次回は再来週の土曜日です。",
    ),
    (
        "孫が遊びに来ました",
        "週末に孫が遊びに来ました。一緒に{district}の川沿いを歩いて、カモを見つけて大喜びでした。あっという間の二日間でした。",
    ),
    (
        "防災訓練のお知らせ",
        "今度の日曜日、{district}の小学校で防災訓練があります。炊き出しの手伝いをしてくださる方を募集しているそうです。",
    ),
    (
        "新しいパン屋さん",
        "駅前に新しいパン屋さんができました。クロワッサンがとてもおいしかったです。朝7時から開いているので、通勤前にも寄れます。",
    ),
    (
        "雨の日の過ごし方",
        "一日中雨だったので、家で{hobby}の本を読んで過ごしました。たまにはこういう日もいいですね。",
    ),
    (
        "バス停のベンチ",
        "{district}のバス停にベンチが置かれました。足の悪い母も座って待てるようになり、とても助かります。市役所の皆さん、ありがとうございます。",
    ),
    (
        "夏祭りの準備",
        "{district}の夏祭りに向けて、やぐらの組み立てが始まりました。今年は盆踊りの練習会も開くそうです。",
    ),
    (
        "畑の様子",
        "畑のトマトが赤くなってきました。今年は雨が多かったので心配しましたが、なんとか実ってくれました。",
    ),
    (
        "図書館で",
        "市立図書館で{hobby}の本を三冊借りました。返却日は再来週。読み終えたら感想を書きますね。",
    ),
    (
        "紅葉狩り",
        "{district}の山の手の道が紅葉できれいでした。少し肌寒かったですが、温かいお茶を持って行ってよかったです。",
    ),
    (
        "健康診断",
        "市の健康診断に行ってきました。待ち時間が思ったより短くて、午前中で終わりました。結果が届くのは来月です。",
    ),
    (
        "見守り活動",
        "登校時間に{district}の交差点で見守り活動をしました。子どもたちが元気に「おはようございます」と言ってくれて、こちらが元気をもらいました。",
    ),
    (
        "お店の閉店",
        "長年通っていた{district}の八百屋さんが今月で閉店するそうです。寂しくなりますが、ご主人、長い間お疲れさまでした。",
    ),
    (
        "雪かき",
        "朝起きたら一面の雪。ご近所と一緒に歩道の雪かきをしました。お年寄りの家の前も皆で片付けました。",
    ),
    (
        "清掃活動",
        "{district}の川の清掃活動に参加しました。空き缶が思ったより多かったです。終わったあとに飲んだ麦茶がおいしかった。",
    ),
    (
        "料理教室",
        "公民館の料理教室で、地元の野菜を使ったけんちん汁を作りました。家でも作ってみたら家族に好評でした。",
    ),
    (
        "今日の一枚",
        "夕方の{district}の空がとてもきれいでした。{hobby}をしていると、こういう景色に気づけるのがうれしいです。",
    ),
]
OPENERS = [
    "",
    "こんにちは。",
    "久しぶりの日記です。",
    "今日は良い天気でした。",
    "少し前の話ですが、",
]
CLOSERS = [
    "",
    "また書きます。",
    "皆さんもお体に気をつけて。",
    "写真はまた今度。",
    "楽しい一日でした。",
]
COMMENTS = [
    "いいですね！",
    "私も行ってみます。",
    "教えてくださってありがとうございます。",
    "懐かしいです。",
    "お疲れさまでした。",
    "今度ご一緒させてください。",
    "素敵ですね。",
]
MESSAGES = [
    (
        "今度の集まり",
        "こんにちは。今度の集まり、私も参加できそうです。当日はよろしくお願いします。",
    ),
    ("ありがとうございました", "先日はありがとうございました。おかげさまで助かりました。"),
    (
        "お借りした本",
        "お借りした本、とてもおもしろかったです。次にお会いしたときにお返ししますね。",
    ),
]
DEMO_MEMBER_COUNT = 60
DEMO_DIARY_COUNT = 300


def build_sns_demo(members: dict[str, User]) -> None:
    """Residents to 60, districts and profiles, friendships, 300 diaries, comments, messages.

    Idempotent: it adds only what is missing and posts diaries only once.
    """
    from flask import current_app

    from app.auth.services import create_user, find_user_by_email

    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    districts = list(current_app.config["DISTRICTS"])
    fields = {fd.key: fd for fd in services.profile_fields()}
    people = dict(members)
    district_of = {handle: d for handle, _n, d, _r, _l in demo.RESIDENTS}
    i = 0
    while len(people) < DEMO_MEMBER_COUNT:
        i += 1
        handle = f"resident{i:02d}"
        email = f"{handle}@{demo.DEMO_DOMAIN}"
        user = find_user_by_email(email)
        if user is None:
            name = f"{FAMILY[i % len(FAMILY)]} {GIVEN[(i * 7) % len(GIVEN)]}"
            user = create_user(
                email=email,
                handle=handle,
                display_name=name,
                password=demo.DEMO_PASSWORD,
                role=RoleCode.MEMBER,
                confirmed=True,
            )
        people[handle] = user
        district_of[handle] = districts[i % len(districts)]
    handles = sorted(people)
    existing_values = services.profile_values
    levels = list(Visibility)
    for n, handle in enumerate(handles):
        user = people[handle]
        if existing_values(user):
            continue
        hobby = HOBBIES[n % len(HOBBIES)]
        district = district_of.get(handle, districts[n % len(districts)])
        services.set_profile_value(user, fields["district"], district, "members")
        services.set_profile_value(user, fields["hobbies"], hobby, "public")
        intro = INTROS[n % len(INTROS)].format(district=district, hobby=hobby, years=5 + n % 40)
        services.set_profile_value(user, fields["self_intro"], intro, levels[n % 5].value)
        services.set_profile_value(user, fields["birth_year"], str(1940 + n % 60), "private")
        services.set_profile_value(
            user, fields["birthday"], f"{1 + n % 12:02d}-{1 + n % 28:02d}", "friends"
        )
    db.session.flush()
    ids = [people[h].id for h in handles]
    has_graph = db.session.execute(
        select(func.count()).select_from(Friendship).where(Friendship.user_id.in_(ids))
    ).scalar_one()
    if not has_graph:
        for a_pos, a in enumerate(handles):
            for b in handles[a_pos + 1 :]:
                same = district_of.get(a) == district_of.get(b)
                if rng.random() < (0.35 if same else 0.06):
                    a_id, b_id = people[a].id, people[b].id
                    if not services.is_blocked_between(a_id, b_id):
                        services._make_friends(a_id, b_id)
        db.session.flush()
    has_diaries = db.session.execute(
        select(func.count(Diary.id)).where(Diary.author_id.in_(ids))
    ).scalar_one()
    if has_diaries:
        return
    now = dt.datetime.now(dt.UTC)
    posted: list[Diary] = []
    for n in range(DEMO_DIARY_COUNT):
        handle = handles[rng.randrange(len(handles))]
        author = people[handle]
        title, body = DIARY_TEXTS[n % len(DIARY_TEXTS)]
        district = district_of.get(handle, districts[0])
        hobby = HOBBIES[rng.randrange(len(HOBBIES))]
        text = "".join(
            [rng.choice(OPENERS), body.format(district=district, hobby=hobby), rng.choice(CLOSERS)]
        )
        diary = services.create_diary(
            author,
            title=title.format(district=district, hobby=hobby),
            body=text,
            visibility=levels[n % len(levels)].value,
            allow_comments=n % 11 != 0,
            created_at=now
            - dt.timedelta(hours=n * 7 + rng.randrange(6), minutes=rng.randrange(60)),
        )
        posted.append(diary)
    db.session.flush()
    for diary in posted[:120]:
        if not diary.allow_comments:
            continue
        friends = services.friend_ids(diary.author_id)
        for friend_id in friends[: rng.randrange(0, 3)]:
            friend = db.session.get(User, friend_id)
            if friend is not None and services.can_view(friend, diary):
                db.session.add(
                    Comment(
                        diary_id=diary.id,
                        author_id=friend_id,
                        body=rng.choice(COMMENTS),
                        created_at=diary.created_at + dt.timedelta(hours=1),
                    )
                )
    for n in range(30):
        a = people[handles[n % len(handles)]]
        friends = services.friend_ids(a.id)
        if not friends:
            continue
        subject, body = MESSAGES[n % len(MESSAGES)]
        db.session.add(
            Message(
                sender_id=a.id,
                recipient_id=friends[n % len(friends)],
                subject=subject,
                body=body,
                created_at=now - dt.timedelta(hours=n * 5),
            )
        )
    db.session.flush()


__all__ = ["Block", "register_sample_hooks"]
