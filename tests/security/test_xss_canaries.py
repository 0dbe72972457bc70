"""XSS canaries (A31, R11): hostile strings in every text field render inert everywhere.

A town is built whose every text is hostile: display names, profile fields, diary titles and
bodies (plain and Markdown), comments, messages, an uploaded file's name, a search query,
survey titles, question texts, choices and free answers, report details. Then each viewer
(guest, author, friend, moderator, staff) crawls the site from a few start pages, following
every same-site link, and each HTML page is parsed as a browser would (html5lib) and checked:
no script without the CSP nonce, no event-handler attribute, no embedding element, links and
sources only http(s), mailto or same-site, no template evaluation. The Atom feed's HTML content
gets the same check, emails are plain text with clean headers, and CSV exports neutralise
spreadsheet formulas (they are written with a BOM for spreadsheet programs).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections import deque
from typing import Any
from urllib.parse import urljoin, urlsplit

import html5lib
import pytest
from flask import Flask

from app.auth.models import RoleCode
from app.extensions import db

SCRIPT = '<script>alert("xss-script")</script>'
IMG = '"><img src=x onerror=alert("xss-img")>'
SVG = "'><svg/onload=alert('xss-svg')>"
JS_URL = "javascript:alert('xss-url')"
TEMPLATE = "{{7*7}}xss-tpl ${7*7}xss-tpl"
RTL = "\u202etxt.exe"
FORMULA = "=cmd|' /C calc'!A0"

SHORT = f"{IMG[:32]}{{{{7*7}}}}"  # names: 40 characters
TITLE = f"{SCRIPT}{IMG}{{{{7*7}}}}xss-tpl"
LONG = (
    f"{SCRIPT}\n{IMG}\n{SVG}\n{TEMPLATE}\n{RTL}\n"
    f'[click]({JS_URL}) <a href="{JS_URL}">a</a> {JS_URL}\n'
    "<iframe src=https://evil.example></iframe><object data=x></object>"
    '<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://e.x">'
)
SEARCH = f"{SCRIPT}{IMG}"

BAD_ELEMENTS = {"iframe", "object", "embed", "base", "frame", "frameset", "applet"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
SAFE_SCHEMES = {"http", "https", "mailto", ""}


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def inert_problems(markup: str, where: str) -> list[str]:
    """Everything in `markup` that a browser could run or that would load from elsewhere."""
    problems = []
    tree = html5lib.parse(markup, namespaceHTMLElements=False)
    text = "".join(tree.itertext())
    if "49xss-tpl" in text or "49xss" in markup:
        problems.append(f"{where}: a template expression was evaluated")
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = local(element.tag)
        attributes = {local(k): v for k, v in element.attrib.items()}
        if tag in BAD_ELEMENTS:
            problems.append(f"{where}: <{tag}> element")
        if tag == "meta" and attributes.get("http-equiv", "").lower() == "refresh":
            problems.append(f"{where}: meta refresh")
        if tag == "script":
            body = element.text or ""
            if "nonce" not in attributes and not attributes.get("src", "").startswith("/"):
                problems.append(f"{where}: script without nonce: {body[:60]!r}")
            if "alert(" in body or "xss" in body:
                problems.append(f"{where}: injected script body {body[:60]!r}")
        for name, value in attributes.items():
            if name.startswith("on"):
                problems.append(f"{where}: <{tag} {name}={value[:40]!r}>")
            if name in URL_ATTRIBUTES:
                compact = re.sub(r"[\x00-\x20]", "", value).lower()
                scheme = urlsplit(compact).scheme if ":" in compact.split("/")[0] else ""
                if scheme not in SAFE_SCHEMES:
                    problems.append(f"{where}: <{tag} {name}={value[:60]!r}>")
                if tag == "img" and name == "src" and compact in ("x", ""):
                    problems.append(f"{where}: injected <img src={value!r}>")
            if name == "srcdoc":
                problems.append(f"{where}: srcdoc")
    for control in ("\u202e", "\u202d", "\u2066", "\u2067", "\u2068"):
        for element in tree.iter():
            if not isinstance(element.tag, str):
                continue
            for piece in (element.text, element.tail):
                if piece and control in piece and not bidi_isolated(element, piece is element.tail):
                    problems.append(f"{where}: bidi override {control!r} outside an isolate")
    return problems


def bidi_isolated(element: Any, is_tail: bool) -> bool:
    """Text inside <bdi> or an element with dir=auto cannot reorder what follows it."""
    if is_tail:
        return False
    return local(element.tag) == "bdi" or element.attrib.get("dir") == "auto"


# --- the hostile town ----------------------------------------------------------------------


def build_town(app: Flask, make: Any) -> dict[str, Any]:
    from app.sns import services
    from app.sns.models import FieldKind

    author = make.user(handle="xss_author", display_name=SHORT)
    friend = make.user(handle="xss_friend", display_name=f"{RTL}{SHORT}"[:40])
    moderator = make.user(handle="xss_mod", display_name=SHORT, role=RoleCode.MODERATOR)
    staff = make.user(handle="xss_staff", display_name=SHORT, role=RoleCode.STAFF)
    make.friends(author, friend)
    for fd in services.profile_fields():
        if fd.kind in (FieldKind.TEXT, FieldKind.TEXTAREA):
            value = (LONG if fd.kind is FieldKind.TEXTAREA else TITLE)[: fd.max_length]
            make.profile_value(author, fd.key, value, "public")
    plain = make.diary(author, title=TITLE, body=LONG, visibility="public")
    markdown = make.diary(
        author, title=TITLE, body=LONG, visibility="public", body_format="markdown"
    )
    make.diary(friend, title=TITLE, body=LONG, visibility="friends")
    make.comment(plain, friend, body=LONG)
    make.comment(markdown, author, body=LONG)
    make.message(friend, author, body=LONG, subject=TITLE)
    make.message(author, friend, body=LONG, subject=TITLE)
    report = services.create_report(friend, "diary", plain.id, "spam", LONG)
    db.session.commit()
    community_pages = build_community(author, friend)
    return {
        "author": author,
        "friend": friend,
        "moderator": moderator,
        "staff": staff,
        "diary": plain,
        "report": report,
        "community_pages": community_pages,
    }


def build_community(author: Any, friend: Any) -> list[str]:
    """A community, topic, reply and event with hostile names, descriptions and places."""
    from app.community import services as community

    group = community.create_community(
        author, name=TITLE[:80], description=LONG, category=community.categories()[0]
    )
    db.session.flush()
    community.join_community(friend, group)
    topic = community.create_topic(group, author, title=TITLE, body=LONG)
    community.add_post(topic, friend, LONG)
    event = community.create_event(
        group,
        author,
        title=TITLE,
        body=LONG,
        place=SHORT,
        starts_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
    )
    db.session.commit()
    return [f"/communities/{group.id}", f"/topics/{topic.id}", f"/events/{event.id}"]


def build_survey(make: Any, staff: Any) -> Any:
    from app.survey import answering
    from tests.survey.surveys_helpers import GOOD, QUESTIONS, open_survey

    hostile_choice = FORMULA
    questions = [dict(q) for q in QUESTIONS]
    questions[0] = {
        **questions[0],
        "text": TITLE,
        "options": {"choices": [hostile_choice, "はい", SHORT[:30]]},
    }
    questions[1] = {**questions[1], "text": LONG[:200]}
    survey = open_survey(k=2, questions=questions)
    survey.title = TITLE
    rows = []
    for district in ("中央", "北町"):
        for _ in range(3):
            seg = {"district": district, "sex": "female", "age_band": "30s"}
            answers = {**GOOD, "q1": hostile_choice, "q4": "<script>xss</script>"}
            answers.pop("q5")
            rows.append((seg, answers))
    answering.add_synthetic(survey, rows, day=dt.date(2026, 12, 1))
    survey.results_published = True
    db.session.commit()
    return survey


# --- crawling --------------------------------------------------------------------------------

SKIP = ("/auth/logout", "/lang/", "/static/", "/search-static/", "/images/")


def crawl(client: Any, starts: list[str], limit: int = 160) -> dict[str, Any]:
    """GET every same-site page reachable from `starts` (up to `limit`); path → response."""
    seen: dict[str, Any] = {}
    queue = deque(starts)
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen or path.startswith(SKIP):
            continue
        response = client.get(path)
        seen[path] = response
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if response.status_code in (301, 302, 303):
            target = urlsplit(response.headers["Location"])
            if not target.netloc or target.netloc == "localhost":
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
            continue
        if "html" not in response.content_type:
            continue
        for href in re.findall(r'href="([^"#]+)', response.get_data(as_text=True)):
            url = urlsplit(urljoin(f"http://localhost{path}", href.replace("&amp;", "&")))
            if url.netloc == "localhost" and url.scheme in ("http", ""):
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
    return seen


def check_pages(pages: dict[str, Any], viewer: str) -> list[str]:
    problems = []
    for path, response in pages.items():
        if response.status_code != 200:
            continue
        body = response.get_data(as_text=True)
        if "html" in response.content_type:
            problems += inert_problems(body, f"{viewer} {path}")
        elif "atom" in response.content_type or "xml" in response.content_type:
            problems += feed_problems(body, f"{viewer} {path}")
        elif "csv" in response.content_type:
            problems += csv_problems(body, f"{viewer} {path}")
    return problems


def feed_problems(body: str, where: str) -> list[str]:
    problems = []
    root = ET.fromstring(body.encode())  # noqa: S314 - our own feed, no entities
    for element in root.iter():
        kind = element.attrib.get("type", "text")
        if kind == "html" and element.text:
            problems += inert_problems(element.text, f"{where} <{local(element.tag)}>")
        elif kind == "xhtml":
            problems += inert_problems(ET.tostring(element, encoding="unicode"), where)
    return problems


def csv_problems(body: str, where: str) -> list[str]:
    problems = []
    for row in csv.reader(io.StringIO(body.lstrip("\ufeff"))):
        for cell in row:
            if cell[:1] in ("=", "+", "@", "\t", "\r") or (
                cell[:1] == "-" and not re.fullmatch(r"-\d+(\.\d+)?", cell)
            ):
                problems.append(f"{where}: formula cell {cell[:40]!r}")
    return problems


def login(app: Flask, user: Any) -> Any:
    from tests.second_factor_support import log_in

    client = app.test_client()
    response = log_in(client, user, "correct horse battery staple")  # moderators: A08's code
    assert response.status_code == 302
    return client


# --- the tests -------------------------------------------------------------------------------


@pytest.fixture
def town(app: Flask, make: Any) -> dict[str, Any]:
    return build_town(app, make)


def test_the_checker_finds_each_kind_of_live_markup() -> None:
    """The oracle can fail: each injection, left unescaped, is reported."""
    for live in (SCRIPT, IMG, SVG, f'<a href="{JS_URL}">x</a>', "<iframe src=x></iframe>"):
        assert inert_problems(f"<p>{live}</p>", "probe"), live
    assert inert_problems("<p>49xss-tpl</p>", "probe")
    assert inert_problems(f"<p>{RTL}</p>", "probe")
    assert not inert_problems(f"<p><bdi>{RTL}</bdi></p>", "probe")
    assert not inert_problems("<p>&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}}xss-tpl</p>", "ok")
    assert csv_problems(f'"{FORMULA}",1\n', "probe") and not csv_problems("'=x,-3,2\n", "ok")


def test_hostile_texts_render_inert_for_every_viewer(
    app: Flask, make: Any, town: dict[str, Any]
) -> None:
    author, friend = town["author"], town["friend"]
    diary = town["diary"]
    starts = [
        "/",
        "/diary",
        "/members",
        "/communities",
        f"/members/{author.handle}",
        f"/members/{author.handle}/diary",
        f"/members/{author.handle}/diary.atom",
        f"/diary/{diary.id}",
        "/search?q=" + SEARCH,
        "/search?q=xss",
        *town["community_pages"],
    ]
    problems = []
    pages_seen = {}
    viewers = {
        "guest": app.test_client(),
        "author": login(app, author),
        "friend": login(app, friend),
        "moderator": login(app, town["moderator"]),
    }
    member_starts = [
        "/timeline",
        "/messages",
        "/messages/sent",
        f"/messages/with/{friend.handle}",
        f"/messages/with/{author.handle}",
        "/notifications",
        "/me/profile",
        "/friends",
        "/footprints",
        f"/report/diary/{diary.id}",
        "/moderation/",
        "/moderation/reports",
        f"/moderation/reports/{town['report'].id}",
    ]
    for name, client in viewers.items():
        pages = crawl(client, starts + ([] if name == "guest" else member_starts))
        pages_seen[name] = pages
        problems += check_pages(pages, name)
    assert problems == [], "\n".join(sorted(set(problems))[:80])

    # The canaries were shown (escaped), so the check looked at them.
    diary_page = pages_seen["guest"][f"/diary/{diary.id}"].get_data(as_text=True)
    text = "".join(html5lib.parse(diary_page, namespaceHTMLElements=False).itertext())
    assert SCRIPT in text and "{{7*7}}xss-tpl" in text
    assert JS_URL in text
    thread = pages_seen["author"][f"/messages/with/{friend.handle}"].get_data(as_text=True)
    assert "&lt;script&gt;" in thread
    search = pages_seen["guest"]["/search?q=" + SEARCH]
    assert search.status_code == 200 and "&lt;script&gt;" in search.get_data(as_text=True)
    feed = pages_seen["guest"][f"/members/{author.handle}/diary.atom"]
    assert feed.status_code == 200 and "xss-script" in feed.get_data(as_text=True)
    assert len(pages_seen["author"]) > 20
    for path in town["community_pages"]:
        shown = pages_seen["friend"][path]
        assert shown.status_code == 200 and "&lt;script&gt;" in shown.get_data(as_text=True)


def test_hostile_upload_names_are_not_shown(app: Flask, make: Any, town: dict[str, Any]) -> None:
    from tests.security.test_uploads import FORM, jpeg, multipart

    client = login(app, town["author"])
    name = '"><img src=x onerror=alert("xss-filename")><script>xss-filename</script>.jpg'
    body = multipart({}, "photo", jpeg(), name, "image/jpeg")
    assert client.post("/me/avatar", data=body, content_type=FORM).status_code == 302
    for path in ("/me/profile", f"/members/{town['author'].handle}"):
        page = client.get(path).get_data(as_text=True)
        assert "xss-filename" not in page
        assert inert_problems(page, path) == []


def test_survey_texts_render_inert_and_exports_neutralise_formulas(
    app: Flask, make: Any, town: dict[str, Any]
) -> None:
    survey = build_survey(make, town["staff"])
    admin = make.user(handle="xss_admin", display_name=SHORT, role=RoleCode.ADMIN)
    problems = []
    guest_pages = crawl(
        app.test_client(),
        ["/monitors/surveys/", f"/monitors/surveys/{survey.key}/results"],
        limit=40,
    )
    problems += check_pages(guest_pages, "guest")
    staff = login(app, admin)
    staff_paths = [
        "/staff/surveys/",
        f"/staff/surveys/{survey.key}",
        f"/staff/surveys/{survey.key}/preview",
        f"/staff/surveys/{survey.key}/results",
        f"/staff/surveys/{survey.key}/texts",
        f"/staff/surveys/{survey.key}/results.csv",
        f"/staff/surveys/{survey.key}/raw.csv",
    ]
    staff_pages = crawl(staff, staff_paths, limit=60)
    problems += check_pages(staff_pages, "admin")
    assert problems == [], "\n".join(sorted(set(problems))[:80])
    review = staff_pages[f"/staff/surveys/{survey.key}/texts"].get_data(as_text=True)
    assert "&lt;script&gt;xss&lt;/script&gt;" in review  # the free answer was shown, escaped
    results = guest_pages[f"/monitors/surveys/{survey.key}/results"].get_data(as_text=True)
    assert "&lt;script&gt;" in results or "&lt;img" in results
    exported = staff_pages[f"/staff/surveys/{survey.key}/results.csv"]
    assert exported.status_code == 200 and "calc" in exported.get_data(as_text=True)
    raw = staff_pages[f"/staff/surveys/{survey.key}/raw.csv"]
    assert raw.status_code == 200 and "calc" in raw.get_data(as_text=True)


def test_emails_are_plain_text_with_clean_headers(
    app: Flask, make: Any, town: dict[str, Any], outbox: Any
) -> None:
    from app.mail.services import build_message

    rows = outbox()
    assert rows, "the hostile messages and comments sent no notification"
    for row in rows:
        assert "\r" not in row.subject and "\n" not in row.subject
        message = build_message(row, app.config["MAIL_DEFAULT_SENDER"])
        assert message.get_content_type() == "text/plain"
        assert not message.is_multipart()
