"""Diary text rendering: no raw HTML ever reaches a page; only safe links survive."""

from __future__ import annotations

import re

import pytest

from app.sns.text import excerpt, render_markdown, render_plain

CANARIES = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '"><svg onload=alert(1)>',
]


@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize("render", [render_plain, render_markdown])
def test_canaries_are_inert(canary: str, render: object) -> None:
    html = str(render(canary))  # type: ignore[operator]
    for tag in re.findall(r"<([a-zA-Z][^>]*)>", html):
        name = tag.split()[0].lower()
        assert name in {"p", "br", "a", "strong", "em", "code", "ul", "ol", "li", "blockquote"}
        attributes = re.findall(r"\s([a-zA-Z-]+)=", tag)
        assert set(attributes) <= {"href", "rel"}, tag
        for href in re.findall(r'href="([^"]*)"', tag):
            assert href.startswith(("http://", "https://", "mailto:")), href


def test_plain_autolinks_with_rel() -> None:
    html = str(render_plain("詳しくは https://midori.example/news?a=1&b=2 をどうぞ\n二行目"))
    assert '<a href="https://midori.example/news?a=1&amp;b=2" rel="nofollow noopener ugc">' in html
    assert "<br>" in html


def test_markdown_subset() -> None:
    html = str(
        render_markdown(
            "### 見出し\n\n**太字** と *斜体* と `code`\n\n- 一\n- 二\n\n> 引用\n\n"
            "[市のページ](https://city.example/) [mail](mailto:a@example.jp)"
        )
    )
    for part in (
        "<h3>",
        "<strong>太字</strong>",
        "<em>斜体</em>",
        "<code>code</code>",
        "<ul>",
        "<li>一</li>",
        "<blockquote>",
    ):
        assert part in html
    assert 'href="https://city.example/"' in html and 'href="mailto:a@example.jp"' in html
    assert html.count('rel="nofollow noopener ugc"') == 2


def test_excerpt() -> None:
    assert excerpt("a\n\nb") == "a b"
    assert len(excerpt("あ" * 500)) == 120
