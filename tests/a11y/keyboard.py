"""Keyboard helpers: move focus with Tab only, and check that every focus stop is visible."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

# The focused element, whether it matches `selector`, and whether its focus is drawn: an
# outline (style not none, width above zero) or a box shadow.
_FOCUSED = """(selector) => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return null; }
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== "" && style.boxShadow !== "none";
  const box = el.getBoundingClientRect();
  return {
    what: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + (el.getAttribute("name") ? "[name=" + el.getAttribute("name") + "]" : "")
      + " " + (el.innerText || el.value || "").trim().slice(0, 30),
    matches: selector ? el.matches(selector) : false,
    visible: outline || shadow,
    onscreen: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0,
  };
}"""


def focused(page: Page, selector: str = "") -> dict[str, Any] | None:
    info: dict[str, Any] | None = page.evaluate(_FOCUSED, selector)
    return info


def assert_focus_visible(page: Page) -> dict[str, Any]:
    info = focused(page)
    assert info is not None, "nothing has the focus"
    assert info["visible"], f"no visible focus indicator on {info['what']}"
    assert info["onscreen"], f"the focused element is not on screen: {info['what']}"
    return info


def tab_to(page: Page, selector: str, max_steps: int = 60) -> None:
    """Press Tab until the focused element matches `selector`; every stop must show its focus."""
    path: list[str] = []
    for _step in range(max_steps):
        page.keyboard.press("Tab")
        info = focused(page, selector)
        if info is None:
            path.append("(body)")
            continue
        path.append(info["what"])
        assert info["visible"], f"no visible focus indicator on {info['what']}; path: {path}"
        if info["matches"]:
            return
    raise AssertionError(f"Tab never reached {selector}; path: {path}")


def tab_stops(page: Page, max_steps: int = 120) -> list[dict[str, Any]]:
    """Every focus stop of the page from the top, once round (until focus leaves the page)."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    stops: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _step in range(max_steps):
        page.keyboard.press("Tab")
        info = page.evaluate(
            "() => { const el = document.activeElement;"
            " return el && el !== document.body ? el.outerHTML.slice(0, 200) : null; }"
        )
        if info is None or info in seen:
            break
        seen.add(info)
        stops.append(assert_focus_visible(page))
    return stops


def press_until(page: Page, key: str, selector: str, value: str, max_presses: int = 10) -> None:
    """Press `key` on the focused control until the element at `selector` has `value`."""
    for _n in range(max_presses):
        if page.locator(selector).input_value() == value:
            return
        page.keyboard.press(key)
    assert page.locator(selector).input_value() == value, f"{selector} never became {value!r}"


def date_keys(page: Page, iso: str) -> list[str]:
    """What to type into a focused date input for `iso`: the parts in the order this browser
    shows them (that follows the browser's own language, not the page's), found on a scratch
    page of the same browser context."""
    year, month, day = iso.split("-")
    scratch = page.context.new_page()
    try:
        scratch.set_content("<input id=before><input type=date id=probe>")
        for order in ((year, month, day), (month, day, year), (day, month, year)):
            scratch.locator("#probe").fill("")
            scratch.locator("#before").focus()
            scratch.keyboard.press("Tab")
            for part in order:
                scratch.keyboard.type(part)
            if scratch.locator("#probe").input_value() == iso:
                return list(order)
    finally:
        scratch.close()
    raise AssertionError("no order of year, month and day types this date")
