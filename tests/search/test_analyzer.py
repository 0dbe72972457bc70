"""The Japanese analyzer: normalisation, bigrams, single characters, hostile input, snippets."""

from __future__ import annotations

import pytest

from app.search.analyzer import (
    QUERY_MAX_CHARS,
    QUERY_MAX_TERMS,
    document_terms,
    highlight,
    matches,
    normalise,
    parse_query,
)

NOTICE = "地域防災訓練のお知らせ"


def found(query: str, text: str) -> bool:
    return matches(parse_query(query), text)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("夏祭り", "今年の夏祭りは八月です"),
        ("なつまつり", "ナツマツリのお知らせ"),  # hiragana finds katakana
        ("ナツマツリ", "なつまつりに行こう"),  # and the other way round
        ("ﾅﾂﾏﾂﾘ", "なつまつり"),  # half-width katakana
        ("Natsu", "Natsu Matsuri 2026"),
        ("natsu", "ＮＡＴＳＵ　ＭＡＴＳＵＲＩ"),  # full-width Latin
        ("防災訓練", NOTICE),  # inside a longer word
        ("地域防災", NOTICE),
        ("お知らせ", NOTICE),
        ("2026", "２０２６年の予定"),  # full-width digits
        ("夏 花火", "夏の花火大会"),  # several words: all must occur
        ("祭", "夏祭り"),  # a single kanji
        ("り", "夏祭り"),  # a single kana
        ("がっこう", "ｶﾞｯｺｳ"),  # half-width kana with voiced marks
        ("々", "時々"),
        ("ー", "コーヒー"),
    ],
)
def test_finds(query: str, text: str) -> None:
    assert found(query, text)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("夏祭り", "なつまつり"),  # kanji and readings are not linked (documented)
        ("なつまつり", "夏祭り"),
        ("natsu", "Natsumatsuri"),  # Latin words match whole words
        ("防災訓練", "防災の訓練"),  # 災訓 is missing
        ("夏 冬", "夏の花火大会"),
        ("祭", "花火"),
        ("2026", "20260"),
    ],
)
def test_does_not_find(query: str, text: str) -> None:
    assert not found(query, text)


def test_terms() -> None:
    assert document_terms("夏祭り") == ["夏祭", "祭り", "り"]
    assert parse_query("夏祭り").terms == ("夏祭", "祭り")
    assert parse_query("祭").terms == ("祭",)
    assert parse_query("Natsu 2026年").terms == ("natsu", "2026", "年")
    assert normalise("ナツ　ＡＢＣ") == "なつ abc"


@pytest.mark.parametrize(
    "raw",
    [
        'AND OR NOT "夏祭り',
        "夏祭り*",
        "title:夏祭り",
        "(夏祭り) [a TO z] {x}",
        "夏祭り~2 ^3 \\ / ? !",
        "+夏祭り -花火",
    ],
)
def test_query_syntax_is_plain_text(raw: str) -> None:
    parsed = parse_query(raw)
    assert "夏祭" in parsed.terms
    for term in parsed.terms:
        assert term.isalnum(), term  # no operator survives as a term


def test_syntax_words_are_words() -> None:
    assert parse_query("AND").terms == ("and",)
    assert found("and", "Rock and Roll")


EMPTY = ["", "   ", "\u3000\u3000", "\t\n", "!!!", "〜〜", "\x00\x01", None]


@pytest.mark.parametrize("raw", EMPTY)
def test_empty_queries(raw: str | None) -> None:
    parsed = parse_query(raw)
    assert parsed.empty
    assert not matches(parsed, "anything at all")


def test_control_characters_separate_words() -> None:
    parsed = parse_query("夏\x00祭\u200bり\x1b[31m")
    assert parsed.terms == ("夏", "祭", "り", "31m")
    assert "\x00" not in normalise("a\x00b")
    assert document_terms("夏\x07祭り") == ["夏", "祭り", "り"]


def test_long_queries_are_cut() -> None:
    parsed = parse_query("あ" * 1000)
    assert parsed.truncated
    assert len(parsed.text) == QUERY_MAX_CHARS
    words = parse_query(" ".join(f"w{i}" for i in range(200)))
    assert words.truncated
    assert len(words.terms) <= QUERY_MAX_TERMS
    assert not parse_query("夏祭り").truncated


def test_highlight_marks_and_escapes() -> None:
    snippet = highlight("<script>alert(1)</script> 地域防災訓練のお知らせ", parse_query("防災訓練"))
    assert "<script>" not in snippet
    assert "&lt;script&gt;" in snippet
    assert "<mark>防災訓練</mark>" in snippet
    kana = highlight("ナツマツリ開催", parse_query("なつまつり"))
    assert "<mark>ナツマツリ</mark>" in kana
    half = highlight("ｶﾞｯｺｳの行事", parse_query("がっこう"))
    assert "<mark>ｶﾞｯｺｳ</mark>" in half
    hostile = highlight('"><img src=x onerror=alert(1)>', parse_query("img"))
    assert "<img" not in hostile and "<mark>img</mark>" in hostile


def test_highlight_windows_long_text() -> None:
    text = "あ" * 500 + "夏祭り" + "い" * 500
    snippet = str(highlight(text, parse_query("夏祭り")))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>夏祭り</mark>" in snippet
    assert len(snippet) < 200
