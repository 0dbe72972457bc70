"""Reflow (WCAG 1.4.10, 1.4.4): the main pages at a 360 px wide phone and at 200 % zoom scroll
only vertically. A full-page screenshot of each (one image pixel per CSS pixel) is saved under
the test's tmp dir; its width is the window's, which it would not be if anything stuck out
sideways.

200 % zoom of a 1280 × 800 window is a 640 × 400 CSS-pixel viewport at device scale 2, which is
what the browser lays out when zoomed. Some of the pages are also checked at 360 px with the
text spacing of WCAG 1.4.12. Runs on SQLite only (see conftest.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.a11y.conftest import PG_URL, Site, set_language

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(PG_URL), reason="accessibility checks run once, on SQLite"),
]

# mode → (viewport, device scale factor, language shown)
MODES: dict[str, tuple[dict[str, int], int, str]] = {
    "phone-360px": ({"width": 360, "height": 740}, 1, "ja"),
    "zoom-200pct": ({"width": 640, "height": 400}, 2, "en"),
}

PAGES: list[tuple[str, str]] = [
    ("guest", "/"),
    ("guest", "/auth/login"),
    ("guest", "/auth/register"),
    ("guest", "/diary"),
    ("guest", "/monitors/register"),
    ("guest", "/monitors/surveys/{survey}"),
    ("guest", "/monitors/surveys/{survey}/results"),
    ("member", "/"),
    ("member", "/members/{member}"),
    ("member", "/diary/{diary}"),
    ("member", "/diary/new"),
    ("member", "/search?q=桜"),
    ("member", "/messages"),
    ("member", "/messages/with/{friend}"),
    ("member", "/notifications"),
    ("member", "/auth/settings"),
    ("member", "/settings/sns"),
    ("member", "/communities/{community}"),
    ("member", "/topics/{topic}"),
    ("member", "/events/{event}"),
    ("moderator", "/moderation/"),
    ("moderator", "/moderation/reports"),
    ("moderator", "/moderation/reports/{report}"),
    ("staff", "/staff/surveys/{survey}"),
    ("staff", "/staff/surveys/{survey}/results"),
    ("second_factor_code", "/auth/second-factor"),
    ("second_factor_enrol", "/auth/second-factor/enrol"),
    ("monitor", "/monitors/me"),
    ("monitor", "/monitors/surveys/{survey_reflow}/page/1"),
    ("monitor", "/monitors/surveys/{survey_reflow}/page/2"),
    ("monitor", "/monitors/surveys/{survey_reflow}/page/3"),
    ("monitor", "/monitors/surveys/{survey_reflow}/confirm"),
]


@pytest.fixture(scope="module")
def sized_page(
    browser: Browser, site: Site, role_page: Callable[[str], Page]
) -> Iterator[Callable[[str, str], Page]]:
    """`sized_page(role, mode)`: the role's session (cookies copied) in a window of that mode."""
    contexts: list[BrowserContext] = []
    pages: dict[tuple[str, str], Page] = {}

    def _get(role: str, mode: str) -> Page:
        if (role, mode) not in pages:
            viewport, scale, lang = MODES[mode]
            state: Any = role_page(role).context.storage_state()
            context = browser.new_context(
                storage_state=state,
                viewport=viewport,
                device_scale_factor=scale,
                locale="ja-JP" if lang == "ja" else "en-GB",
            )
            contexts.append(context)
            set_language(context, site, lang)
            page = context.new_page()
            page.set_default_timeout(10_000)
            pages[(role, mode)] = page
        return pages[(role, mode)]

    yield _get
    for context in contexts:
        context.close()


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("role", "path"), PAGES, ids=[f"{r}:{p}" for r, p in PAGES])
def test_no_horizontal_scrolling(
    site: Site,
    sized_page: Callable[[str, str], Page],
    tmp_path: Path,
    role: str,
    path: str,
    mode: str,
) -> None:
    viewport, _scale, lang = MODES[mode]
    page = sized_page(role, mode)
    response = page.goto(site.path(path))
    assert response is not None and response.status == 200, page.url
    assert unquote(page.url) == site.path(path)  # the page itself, not a redirect to a login
    assert page.locator("html").get_attribute("lang") == lang
    sizes = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " wide: [...document.querySelectorAll('main *')]"
        ".filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map((el) => el.tagName.toLowerCase() + '.' + el.getAttribute('class'))})"
    )
    assert sizes["inner"] == viewport["width"]
    shot = tmp_path / f"{mode}.png"
    page.screenshot(path=str(shot), full_page=True, scale="css", animations="disabled")
    width, _height = _png_size(shot)
    assert sizes["scroll"] <= sizes["inner"], f"{path} scrolls sideways ({mode}): {sizes}"
    assert width == viewport["width"], f"screenshot {shot} is {width} CSS px wide"


# WCAG 1.4.12: the spacing a reader's own style sheet may set (via the CSSOM: the page's CSP
# allows no inline <style>).
TEXT_SPACING = """() => {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`* { line-height: 1.5 !important; letter-spacing: .12em !important;
    word-spacing: .16em !important; } p { margin-bottom: 2em !important; }`);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}"""

SPACED_PAGES = [
    ("guest", "/"),
    ("guest", "/auth/login"),
    ("member", "/diary/{diary}"),
    ("member", "/topics/{topic}"),
    ("member", "/auth/settings"),
    ("guest", "/monitors/register"),
    ("monitor", "/monitors/surveys/{survey_reflow}/page/1"),
    ("staff", "/staff/surveys/{survey}/results"),
    ("moderator", "/moderation/reports/{report}"),
]


@pytest.mark.parametrize(("role", "path"), SPACED_PAGES, ids=[f"{r}:{p}" for r, p in SPACED_PAGES])
def test_text_spacing_at_360px_keeps_the_page_narrow(
    site: Site, sized_page: Callable[[str, str], Page], role: str, path: str
) -> None:
    page = sized_page(role, "phone-360px")
    response = page.goto(site.path(path))
    assert response is not None and response.status == 200, page.url
    assert unquote(page.url) == site.path(path)
    page.evaluate(TEXT_SPACING)
    spacing = page.evaluate("() => getComputedStyle(document.querySelector('main h1')).wordSpacing")
    assert spacing != "0px"  # the reader's spacing took effect
    sizes = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " wide: [...document.querySelectorAll('body *')]"
        ".filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map((el) => el.tagName.toLowerCase() + '.' + el.getAttribute('class'))})"
    )
    assert sizes["scroll"] <= sizes["inner"], f"{path} scrolls sideways: {sizes}"
