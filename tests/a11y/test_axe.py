"""axe-core on the main pages of every role, in Japanese and in English: no serious or critical
violation of a WCAG 2.1 A/AA rule (JIS X 8341-3:2016 level AA).

Runs on SQLite only: the HTML does not depend on the database (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page

from tests.a11y.axe import axe_violations, blocking, describe
from tests.a11y.conftest import PG_URL, Site, set_language

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(PG_URL), reason="accessibility checks run once, on SQLite"),
]

LANGUAGES = ("ja", "en")

# (role, path with {placeholders} from Site.ids, expected status)
PAGES: list[tuple[str, str]] = [
    ("guest", "/"),
    ("guest", "/auth/login"),
    ("guest", "/auth/register"),
    ("guest", "/auth/forgot"),
    ("guest", "/diary"),
    ("guest", "/search?q=桜"),
    ("guest", "/notices"),
    ("guest", "/notices/{notice}"),
    ("guest", "/pages/privacy"),
    ("guest", "/monitors/"),
    ("guest", "/monitors/register"),
    ("guest", "/monitors/login"),
    ("guest", "/proofs/register"),
    ("guest", "/monitors/surveys/"),
    ("guest", "/monitors/surveys/{survey}"),
    ("guest", "/monitors/surveys/{survey}/results"),
    ("guest", "/monitors/surveys/{survey}/receipt"),
    ("guest", "/auth/jpki"),
    ("guest", "/no-such-page"),
    ("member", "/"),
    ("member", "/me/profile"),
    ("member", "/members/{member}"),
    ("member", "/members/{friend}"),
    ("member", "/members"),
    ("member", "/friends"),
    ("member", "/members/{member}/diary"),
    ("member", "/diary/{diary}"),
    ("member", "/diary/new"),
    ("member", "/timeline"),
    ("member", "/search?q=桜"),
    ("member", "/messages"),
    ("member", "/messages/with/{friend}"),
    ("member", "/notifications"),
    ("member", "/communities"),
    ("member", "/communities/new"),
    ("member", "/communities/{community}"),
    ("member", "/communities/{community}/members"),
    ("member", "/communities/{community}/topics"),
    ("member", "/communities/{community}/topics/new"),
    ("member", "/communities/{community}/events/new"),
    ("member", "/topics/{topic}"),
    ("member", "/events/{event}"),
    ("member", "/auth/settings"),
    ("member", "/auth/settings/password"),
    ("member", "/auth/sessions"),
    ("member", "/auth/invitations"),
    ("member", "/settings/sns"),
    ("member", "/report/diary/{diary}"),
    ("moderator", "/moderation/"),
    ("moderator", "/moderation/reports"),
    ("moderator", "/moderation/reports/{report}"),
    ("moderator", "/moderation/members/{friend}"),
    ("moderator", "/moderation/log"),
    ("moderator", "/moderation/appeals"),
    ("moderator", "/moderation/communities"),
    ("moderator", "/moderation/word-filter"),
    ("moderator", "/moderation/invitations"),
    ("moderator", "/notices/new"),
    ("staff", "/staff/surveys/"),
    ("staff", "/staff/surveys/new"),
    ("staff", "/staff/surveys/{survey}"),
    ("staff", "/staff/surveys/{survey}/results"),
    ("staff", "/staff/monitors/"),
    ("staff", "/staff/privacy/audit"),
    ("staff", "/staff/privacy/projects"),
    ("staff", "/staff/privacy/purposes"),
    ("staff", "/staff/privacy/purposes/new"),
    ("admin", "/admin/profile-fields"),
    ("admin", "/admin/pages"),
    ("admin", "/admin/pages/privacy/edit"),
    ("second_factor_code", "/auth/second-factor"),
    ("second_factor_enrol", "/auth/second-factor/enrol"),
    ("monitor", "/monitors/me"),
    ("monitor", "/monitors/me/correct"),
    ("monitor", "/monitors/me/leave"),
]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("role", "path"), PAGES, ids=[f"{r}:{p}" for r, p in PAGES])
def test_page_has_no_serious_violations(
    site: Site, role_page: Callable[[str], Page], axe_source: str, role: str, path: str, lang: str
) -> None:
    page = role_page(role)
    set_language(page.context, site, lang)
    response = page.goto(site.path(path))
    assert response is not None
    assert response.status == (404 if path == "/no-such-page" else 200), page.url
    assert unquote(page.url) == site.path(path)  # the page itself, not a redirect to a login
    assert page.locator("html").get_attribute("lang") == lang
    found = blocking(axe_violations(page, axe_source))
    assert not found, describe(f"{role} {lang} {path}", found)


def _check(page: Page, axe_source: str, where: str, problems: list[str]) -> None:
    found = blocking(axe_violations(page, axe_source))
    if found:
        problems.append(describe(where, found))


def _answer_every_type(page: Page) -> None:
    """Fill the visible questions of the demo survey's current page (every question type)."""
    for fieldset in page.locator("fieldset.question").all():
        radios = fieldset.locator("input[type=radio]")
        if fieldset.locator("table.matrix").count():
            for row in fieldset.locator("tbody tr").all():
                row.locator("input[type=radio]").nth(2).check()
        elif radios.count():
            radios.first.check()
        elif fieldset.locator("input[type=checkbox]").count():
            fieldset.locator("input[type=checkbox]").first.check()
        elif fieldset.locator("select").count() > 1:  # ranking: one place per choice
            for n, select in enumerate(fieldset.locator("select").all(), start=1):
                select.select_option(str(n))
        elif fieldset.locator("select").count():
            fieldset.locator("select").select_option(index=1)
        elif fieldset.locator("input[type=number]").count():
            fieldset.locator("input[type=number]").fill("2")
        elif fieldset.locator("input[type=date]").count():
            fieldset.locator("input[type=date]").fill("2026-04-01")
        elif fieldset.locator("textarea").count():
            fieldset.locator("textarea").fill("バスの本数を増やしてほしい")
        else:
            fieldset.locator("input").first.fill("公園を明るく")


@pytest.mark.parametrize(("lang", "key"), [("ja", "survey"), ("en", "survey_en")])
def test_survey_answering_every_question_type(
    site: Site, role_page: Callable[[str], Page], axe_source: str, lang: str, key: str
) -> None:
    """The monitor's walk through a survey of every question type: intro, each page (first with
    the errors of an empty submit), the review page, the receipt and the receipt check."""
    page = role_page("monitor")
    set_language(page.context, site, lang)
    survey_key = site.ids[key]
    problems: list[str] = []
    page.goto(site.url + f"/monitors/surveys/{survey_key}")
    _check(page, axe_source, f"{lang} intro", problems)
    page.locator("input[name=consent]").check()
    page.locator("form[action$='/start'] button").click()
    first = True
    seen = 0
    while "/page/" in page.url:
        seen += 1
        if first:  # the required questions left empty: the page shows its errors
            page.locator("button[value=next]").click()
            assert page.locator(".field-error").count() >= 1
            _check(page, axe_source, f"{lang} page with errors", problems)
            first = False
        _check(page, axe_source, f"{lang} {page.url}", problems)
        _answer_every_type(page)
        page.locator("button[value=next]").click()
    assert seen == 3 and page.url.endswith("/confirm")
    _check(page, axe_source, f"{lang} review", problems)
    page.locator("form[action$='/submit'] button").click()
    receipt = page.locator(".receipt strong").inner_text()
    _check(page, axe_source, f"{lang} receipt", problems)
    page.goto(site.url + f"/monitors/surveys/{survey_key}/receipt")
    page.locator("input[name=code]").fill(receipt)
    page.locator("main form button[type=submit]").click()
    _check(page, axe_source, f"{lang} receipt check", problems)
    assert not problems, "\n".join(problems)


def test_axe_reports_what_it_should(
    site: Site, role_page: Callable[[str], Page], axe_source: str
) -> None:
    """The check itself: in a real page (its CSP on), a picture without text, a field without a
    label and grey-on-white text are reported with the impacts the tests above refuse."""
    page = role_page("guest")
    set_language(page.context, site, "ja")
    page.goto(site.url + "/auth/login")
    page.evaluate(
        """() => {
          const main = document.querySelector("main");
          main.insertAdjacentHTML("beforeend",
            '<img src="/static/none.png"><input name="unlabelled"><p id="pale">薄い文字</p>');
          const pale = document.getElementById("pale");  // CSSOM: the CSP refuses style=""
          pale.style.color = "#bbbbbb";
          pale.style.background = "#ffffff";
        }"""
    )
    found = {v["id"]: v["impact"] for v in blocking(axe_violations(page, axe_source))}
    assert found == {"image-alt": "critical", "label": "critical", "color-contrast": "serious"}


# (role, path, axe rule, what the page must show for the rule to have something to check)
STRUCTURE: list[tuple[str, str, str, str]] = [
    ("member", "/search?q=桜", "landmark-unique", "form[role=search] >> nth=1"),
    ("member", "/members", "landmark-unique", "form[role=search] >> nth=1"),
    ("member", "/topics/{topic}", "landmark-unique", "main section[aria-labelledby] >> nth=1"),
    ("guest", "/diary", "heading-order", "main .diary-card"),
    ("member", "/members/{member}/diary", "heading-order", "main .diary-card"),
    ("member", "/timeline", "heading-order", "main .diary-card"),
    ("member", "/", "heading-order", "main .diary-card"),
    ("guest", "/monitors/surveys/{survey}/results", "empty-table-header", "main table >> nth=1"),
    ("staff", "/staff/surveys/{survey}/results", "empty-table-header", "main table >> nth=1"),
    ("staff", "/staff/surveys/", "empty-table-header", "main table"),
    ("monitor", "/monitors/surveys/{survey_reflow}/page/1", "empty-table-header", "table.matrix"),
]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("role", "path", "rule", "needs"), STRUCTURE, ids=[f"{r}:{p}:{x}" for r, p, x, _n in STRUCTURE]
)
def test_landmarks_and_headings_are_well_formed(
    site: Site,
    role_page: Callable[[str], Page],
    axe_source: str,
    role: str,
    path: str,
    rule: str,
    needs: str,
    lang: str,
) -> None:
    """Best practices axe reports as moderate, kept where they once failed: two search forms
    or two sections with the same name (landmark-unique: screen-reader users cannot tell them
    apart; in Japanese "Replies" and "Reply" were both 返信), headings that skip a level
    (heading-order: diary lists right under the h1 used h3), table headers without text
    (empty-table-header: the corner of a matrix, the links column of the survey list)."""
    page = role_page(role)
    set_language(page.context, site, lang)
    page.goto(site.path(path))
    assert page.locator(needs).first.is_visible()
    found = axe_violations(page, axe_source, rules=[rule])
    assert not found, describe(f"{lang} {path}", found)
