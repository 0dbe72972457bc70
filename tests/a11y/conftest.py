"""Accessibility fixtures: one seeded site behind one live server for the whole package, one
logged-in browser context per role (in the session's Chromium, tests/conftest.py), and
axe-core read from tests/a11y/node_modules.

axe-core comes from the npm registry (package.json and package-lock.json here; `make test` runs
`npm ci` when node_modules is missing) and is evaluated in the page by Playwright from that local
file, never loaded from a CDN. A missing axe-core or browser is an error, not a skip.

The pages only render what is in the database, so these tests run once, on SQLite: PostgreSQL
would render the same HTML (the test modules skip when TEST_DATABASE_URL is set).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page

from app import create_app
from app.extensions import db
from tests.card_answer import answer_as_card
from tests.conftest import fresh_database
from tests.e2e.conftest import LiveServer
from tests.factories import Factories
from tests.second_factor_support import browser_second_factor
from tests.survey.conftest import monitor_pki  # noqa: F401 - session fixture

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


@dataclass
class Site:
    """The seeded site: its app, base URL, the accounts and the ids pages are built from."""

    app: Flask
    url: str
    users: dict[str, str] = field(default_factory=dict)  # role → email
    ids: dict[str, Any] = field(default_factory=dict)
    pki: Any = None

    def path(self, template: str) -> str:
        return self.url + template.format(**self.ids)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, as installed from the npm registry by `npm ci` in tests/a11y."""
    if not AXE_JS.is_file():
        pytest.fail(
            f"{AXE_JS} is missing: run `make test`, or `npm ci` in tests/a11y (axe-core comes "
            "from the npm registry, pinned in package-lock.json)"
        )
    return AXE_JS.read_text(encoding="utf-8")


def _seed(site: Site) -> None:
    """Members with friends, diaries, comments, messages, notifications, a report; survey
    monitors; the demo survey (every question type, 500 synthetic answers, results published)
    and copies of its questions for the English walk, the keyboard journey and the reflow
    checks."""
    from app.auth.models import RoleCode, TotpCredential
    from app.survey import authoring, services
    from app.survey.surveys_sample import _question_data, build_survey_demo, demo_questions

    make = Factories()
    member = make.user(handle="hanako", display_name="長岡 花子")
    friend = make.user(handle="taro", display_name="千代田 太郎")
    stranger = make.user(handle="jiro", display_name="三条 次郎")
    moderator = make.user(handle="npo_mod", display_name="佐藤 美咲", role=RoleCode.MODERATOR)
    staff = make.user(handle="city_staff", display_name="田中 健一", role=RoleCode.STAFF)
    admin = make.user(handle="site_admin", display_name="管理者", role=RoleCode.ADMIN)
    # A08's pages: an enrolled staff member between password and code, a new admin enrolling.
    code_step = make.user(handle="staff_code", display_name="山田 一郎", role=RoleCode.STAFF)
    enrolling = make.user(handle="new_admin", display_name="新任 管理者", role=RoleCode.ADMIN)
    db.session.execute(
        TotpCredential.__table__.delete().where(TotpCredential.user_id == enrolling.id)
    )
    db.session.commit()
    for role, account in (
        ("member", member),
        ("friend", friend),
        ("stranger", stranger),
        ("moderator", moderator),
        ("staff", staff),
        ("admin", admin),
        ("second_factor_code", code_step),
        ("second_factor_enrol", enrolling),
    ):
        site.users[role] = account.email

    make.friends(member, friend)
    make.profile_value(member, "self_intro", "北町に住んでいます。図書館によく行きます。")
    diary = make.diary(
        member,
        title="公園の桜",
        body="今年も公園の桜がきれいでした。\n> 来年もみんなで見たいですね。",
        visibility="members",
    )
    make.diary(friend, title="田植え", body="近所の人と田植えをしました。", visibility="friends")
    make.diary(friend, title="朝市", body="駅前の朝市で野菜を買いました。", visibility="public")
    make.comment(diary, friend, "きれいですね！")
    make.message(friend, member, "来週の清掃活動に参加しますか？", subject="清掃活動")
    make.message(member, friend, "はい、参加します。")
    from app.sns.services import create_report, send_friend_request

    send_friend_request(stranger, member, "公民館でお会いしました。")
    report = create_report(friend, "diary", diary.id, "spam", "宣伝のように見えます。")
    db.session.commit()
    site.ids.update(report=report.id)
    _seed_communities_and_notices(site, member, friend, moderator)

    cert = services.certificate_identity(site.pki.read("cards/taro/auth.der"))
    make.monitor(address="新潟県長岡市北町1丁目", certificate=cert, member_id=member.id)
    make.monitor(address="新潟県長岡市南町2丁目")

    build_survey_demo({})  # "kurashi2026": every question type, results published
    now = dt.datetime.now(dt.UTC)
    for key in ("walk-en", "keyboard", "reflow"):
        survey = authoring.create_survey(
            {
                "title": "暮らしやすさアンケート（確認用）",
                "description": "市の施策の参考にするため、暮らしについてお聞きします。",
                "opens_at": now + dt.timedelta(days=1),
                "closes_at": now + dt.timedelta(days=21),
                "k": 5,
            },
            created_by=None,
            key=key,
        )
        db.session.flush()
        questions = KEYBOARD_QUESTIONS if key == "keyboard" else demo_questions()
        for data in questions:
            authoring.add_question(survey, _question_data(data))
        survey.opens_at = now - dt.timedelta(days=1)
    db.session.commit()
    site.ids.update(
        member=member.handle,
        friend=friend.handle,
        diary=diary.id,
        survey="kurashi2026",
        survey_en="walk-en",
        survey_keyboard="keyboard",
        survey_reflow="reflow",
    )


def _seed_communities_and_notices(site: Site, member: Any, friend: Any, moderator: Any) -> None:
    """A community with a topic, a reply and an event; an announcement; a site page."""
    from app.community import services as community
    from app.notices import services as notices
    from app.notices.models import PageKind

    group = community.create_community(
        member,
        name="北町子ども食堂の会",
        description="毎月第2土曜日に公民館で子ども食堂を開いています。",
        category="地域",
    )
    db.session.flush()
    community._insert_member(group, friend, "member")
    topic = community.create_topic(
        group, member, title="3月の献立", body="カレーとサラダにしようと思います。"
    )
    community.add_post(topic, friend, "いいですね。野菜を持っていきます。")
    event = community.create_event(
        group,
        member,
        title="子ども食堂（3月）",
        starts_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=10),
        place="北町公民館",
        body="どなたでも参加できます。",
        capacity=20,
    )
    community.join_event(friend, event)
    notice = notices.publish_announcement(
        moderator,
        title="地域SNSのメンテナンスのお知らせ",
        body="12月5日の夜にメンテナンスを行います。",
        audience="public",
    )
    notices.save_page(
        None, PageKind.PRIVACY, title="プライバシーポリシー", body="個人情報の扱いについて。"
    )
    db.session.commit()
    site.ids.update(community=group.id, topic=topic.id, event=event.id, notice=notice.id)


# One question of each type on one page, answered by keyboard in test_keyboard.py.
KEYBOARD_QUESTIONS: list[dict[str, Any]] = [
    {
        "type": "single",
        "text": "地域に愛着がありますか",
        "choices": ["はい", "いいえ"],
        "required": True,
    },
    {
        "type": "single",
        "text": "主な移動手段",
        "choices": ["徒歩", "バス", "自動車"],
        "display": "dropdown",
    },
    {"type": "multiple", "text": "よく利用する施設", "choices": ["図書館", "公民館", "公園"]},
    {"type": "scale", "text": "ごみ収集への満足度", "points": 5, "labels": ["不満", "満足"]},
    {
        "type": "matrix",
        "text": "情報の入手しやすさ",
        "rows": ["広報紙", "ウェブサイト"],
        "points": 5,
    },
    {"type": "ranking", "text": "優先してほしい施策", "choices": ["防災", "福祉", "教育"]},
    {"type": "number", "text": "同居している人数", "min": 1, "max": 15},
    {"type": "date", "text": "最後に市役所を訪れた日", "min": "2020-01-01"},
    {"type": "text", "text": "ご意見", "long": True},
]


@pytest.fixture(scope="package")
def site(
    db_template: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    monitor_pki: Any,  # noqa: F811
) -> Iterator[Site]:
    """The app on its own fresh SQLite database, seeded, served on 127.0.0.1."""
    from app.auth.jpki.verify import clear_store_cache

    if PG_URL:
        pytest.skip("the accessibility checks run once, on SQLite (see tests/a11y/conftest.py)")
    base = tmp_path_factory.mktemp("a11y")
    instance = base / "instance"
    instance.mkdir()
    clear_store_cache()
    application = create_app(
        "testing",
        overrides={
            **fresh_database(db_template, base),
            "INSTANCE_DIR": str(instance),
            "SEARCH_DIR": str(instance / "search"),
            "MAIL_OUTBOX_DIR": str(instance / "outbox"),
            "WTF_CSRF_ENABLED": True,
            "REGISTRATION_OPEN": True,
            "JPKI_TRUST_DIR": monitor_pki.trust_dir,
            "JPKI_CRL_DIR": monitor_pki.crl_dir,
            "JPKI_TEST_MODE": True,
        },
    )
    server = LiveServer(application)
    site = Site(app=application, url=server.url, pki=monitor_pki)
    with application.app_context():
        _seed(site)
        db.session.remove()
    with server:
        yield site
    with application.app_context():
        for engine in db.engines.values():
            engine.dispose()


def log_in(page: Page, site: Site, email: str, *, second_factor: bool = True) -> None:
    """Log in through the form; admins, moderators and staff then type their code (A08),
    unless `second_factor` is False (the pages of that step are checked themselves)."""
    page.goto(site.url + "/auth/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(Factories.PASSWORD)
    page.locator("form[action$='/auth/login'] button[type=submit]").click()
    if not second_factor:
        page.wait_for_url("**/auth/second-factor**")
        return
    browser_second_factor(page, email, site.app)
    page.wait_for_url(site.url + "/")


def card_login(page: Page, site: Site, survey_key: str) -> None:
    """The JPKI step for a survey, as the survey e2e test does it: the card client's part is
    played by the test PKI's key for the card "taro"."""
    page.goto(site.url + f"/monitors/surveys/{survey_key}")
    page.locator("main a[href*='/auth/jpki']").first.click()
    page.locator("form[action$='/auth/jpki/start'] button").click()
    code = page.locator("strong.code").inner_text()
    answer_as_card(site.url, code, site.pki)
    # The waiting page polls and continues by itself once the card has answered.
    page.wait_for_url(site.url + f"/monitors/surveys/{survey_key}")


def set_language(context: BrowserContext, site: Site, lang: str) -> None:
    from app.i18n import LANG_COOKIE

    context.add_cookies([{"name": LANG_COOKIE, "value": lang, "url": site.url}])


@pytest.fixture(scope="package")
def role_page(browser: Browser, site: Site) -> Iterator[Callable[[str], Page]]:
    """`role_page(role)`: one page per role in its own context, logged in on first use."""
    contexts: list[BrowserContext] = []
    pages: dict[str, Page] = {}

    def _get(role: str) -> Page:
        if role not in pages:
            context = browser.new_context(locale="ja-JP", viewport={"width": 1024, "height": 800})
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(10_000)
            if role == "monitor":
                card_login(page, site, site.ids["survey"])
                # A survey left open on its first page, for the checks of its pages.
                page.goto(site.url + f"/monitors/surveys/{site.ids['survey_reflow']}")
                page.locator("input[name=consent]").check()
                page.locator("form[action$='/start'] button").click()
                page.wait_for_url("**/page/1")
            elif role.startswith("second_factor_"):
                log_in(page, site, site.users[role], second_factor=False)
            elif role != "guest":
                log_in(page, site, site.users[role])
            pages[role] = page
        return pages[role]

    yield _get
    for context in contexts:
        context.close()


@pytest.fixture
def fresh_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """`fresh_page(**context_options)`: a page in a new context, closed after the test."""
    contexts: list[BrowserContext] = []

    def _new(**options: Any) -> Page:
        options.setdefault("locale", "ja-JP")
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield _new
    for context in contexts:
        context.close()
