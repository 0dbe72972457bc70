"""The Japanese analyzer: one function turns text into search terms, for documents and queries.

Steps, in order:

1. NFKC normalisation (full-width Latin and digits become ASCII, half-width katakana become
   full-width, 〜/～/~ all become separators), then lower-casing;
2. control and other invisible characters become separators;
3. katakana are folded to hiragana (ナツ → なつ), so either script finds the other;
4. runs of CJK characters (kanji, kana, 々, ー) become overlapping bigrams (夏祭り → 夏祭, 祭り)
   plus the run's last character on its own (り), so every character of a document starts one
   of its terms: a one-character query is a prefix search (祭 finds 祭り);
5. runs of Latin letters and digits become whole-word terms (Natsu → natsu, ２０２６ → 2026).

A query matches a document when every term of the query is among the document's terms (a
single CJK character: when some term of the document starts with it).
Kanji and their readings are not linked (夏祭り does not find なつまつり): that needs a
dictionary. See docs/search.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup, escape

# A resident's query is cut here (characters, after normalisation); the page says so.
QUERY_MAX_CHARS = 100
# At most this many terms are searched for (a long CJK run yields one bigram per character).
QUERY_MAX_TERMS = 40

_KATA_START, _KATA_END = 0x30A1, 0x30F6  # ァ … ヶ
_FOLD = {code: code - 0x60 for code in range(_KATA_START, _KATA_END + 1)}
_FOLD[0x30FD] = 0x309D  # ヽ → ゝ
_FOLD[0x30FE] = 0x309E  # ヾ → ゞ

# Kanji (incl. extension A and compatibility), hiragana, folded katakana, prolonged sound mark,
# iteration marks. Everything else that is not a Latin letter or a digit separates terms.
_CJK = "\u3005\u3006\u3041-\u309f\u30fc\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(f"(?P<cjk>[{_CJK}]+)|(?P<word>[a-z0-9]+)")
_IS_CJK = re.compile(f"[{_CJK}]")


# Control, format, surrogate, private-use and unassigned characters become separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _invisible_class() -> str:
    """A regex class of every invisible BMP character, plus all of the other planes (rare in
    text: their characters are then checked one by one)."""
    ranges: list[str] = []
    start = None
    for code in range(0x10001):
        bad = code < 0x10000 and unicodedata.category(chr(code)) in _INVISIBLE
        if bad and start is None:
            start = code
        elif not bad and start is not None:
            ranges.append(f"\\u{start:04x}-\\u{code - 1:04x}")
            start = None
    return "[" + "".join(ranges) + "\\U00010000-\\U0010ffff]"


_MAYBE_INVISIBLE = re.compile(_invisible_class())


def _separator(match: re.Match[str]) -> str:
    ch = match.group()
    return " " if unicodedata.category(ch) in _INVISIBLE else ch


def normalise(text: str) -> str:
    """NFKC, lower-case, control characters to spaces, katakana folded to hiragana."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).lower()
    # NFKC turns some characters into upper-case ones (e.g. Ⅻ → XII): lower-case again.
    text = text.lower().translate(_FOLD)
    # One regex pass instead of a category lookup per character (most text has none).
    return _MAYBE_INVISIBLE.sub(_separator, text)


def _runs(text: str) -> Iterable[tuple[str, str]]:
    """(kind, run) pairs of a normalised text: kind is "cjk" or "word"."""
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "word"
        yield kind, match.group()


def bigrams(run: str) -> list[str]:
    """Overlapping bigrams of a CJK run; a single character stays a unigram."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def document_terms(text: str) -> list[str]:
    """Every term of a document's text, repeated as often as it occurs (for relevance)."""
    terms: list[str] = []
    for kind, run in _runs(normalise(text)):
        if kind == "cjk":
            if len(run) > 1:
                terms.extend(bigrams(run))
            terms.append(run[-1])  # with the bigrams' first characters: every character
        else:
            terms.append(run)
    return terms


@dataclass(frozen=True)
class ParsedQuery:
    """A resident's query: the terms that must all match, and what was cut or ignored."""

    text: str  # the normalised query as searched (after cutting)
    parts: tuple[str, ...]  # the normalised runs, for highlighting
    terms: tuple[str, ...]  # distinct terms, in query order
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_query(raw: str | None) -> ParsedQuery:
    """Analyse a query. Any characters are fine: query syntax (AND, *, ", :) is plain text."""
    text = normalise(raw or "")
    text = " ".join(text.split())
    truncated = len(text) > QUERY_MAX_CHARS
    if truncated:
        text = text[:QUERY_MAX_CHARS].rstrip()
    parts: list[str] = []
    terms: list[str] = []
    for kind, run in _runs(text):
        parts.append(run)
        for term in bigrams(run) if kind == "cjk" else [run]:
            if term not in terms:
                terms.append(term)
    if len(terms) > QUERY_MAX_TERMS:
        terms = terms[:QUERY_MAX_TERMS]
        truncated = True
    return ParsedQuery(text=text, parts=tuple(parts), terms=tuple(terms), truncated=truncated)


def matches(query: ParsedQuery, text: str) -> bool:
    """Whether a document with `text` matches `query` (the rule both index backends follow)."""
    if query.empty:
        return False
    have = set(document_terms(text))
    for term in query.terms:
        if is_prefix_term(term):
            if not any(h.startswith(term) for h in have):
                return False
        elif term not in have:
            return False
    return True


def is_prefix_term(term: str) -> bool:
    """A one-character CJK query term, searched as a prefix of the document's terms."""
    return len(term) == 1 and bool(_IS_CJK.match(term))


# --- snippets ---------------------------------------------------------------------------------

_MARKS = "\u3099\u309a\uff9e\uff9f"  # (semi-)voiced sound marks that join the preceding kana


def _units(text: str) -> list[tuple[int, int, str]]:
    """Split text into (start, end, normalised) units: a character with its joining marks."""
    units: list[tuple[int, int, str]] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] in _MARKS or unicodedata.combining(text[j])):
            j += 1
        units.append((i, j, normalise(text[i:j])))
        i = j
    return units


def highlight(text: str, query: ParsedQuery, width: int = 120) -> Markup:
    """An escaped excerpt of `text` around the first match, matched parts in <mark>.

    Only escaped text and the literal <mark> tags make up the result.
    """
    text = " ".join((text or "").split())
    units = _units(text)
    norm = ""
    starts: list[int] = []  # normalised offset -> unit index
    for index, (_s, _e, piece) in enumerate(units):
        norm += piece
        starts.extend([index] * len(piece))
    spans: list[tuple[int, int]] = []
    needles = sorted(set(query.parts) | set(query.terms), key=len, reverse=True)
    for needle in needles:
        if not needle:
            continue
        pos = norm.find(needle)
        while pos != -1:
            spans.append((starts[pos], starts[pos + len(needle) - 1] + 1))
            pos = norm.find(needle, pos + len(needle))
    marked = [False] * len(units)
    for a, b in spans:
        for k in range(a, b):
            marked[k] = True
    first = marked.index(True) if True in marked else 0
    lo = max(0, first - width // 3)
    hi = min(len(units), lo + width)
    out: list[str] = ["…"] if lo > 0 else []
    k = lo
    while k < hi:
        if marked[k]:
            m = k
            while m < hi and marked[m]:
                m += 1
            piece = text[units[k][0] : units[m - 1][1]]
            out.append(f"<mark>{escape(piece)}</mark>")
            k = m
        else:
            m = k
            while m < hi and not marked[m]:
                m += 1
            out.append(str(escape(text[units[k][0] : units[m - 1][1]])))
            k = m
    if hi < len(units):
        out.append("…")
    return Markup("".join(out))  # noqa: S704 - built from escaped pieces and literal <mark> tags


def has_cjk(text: str) -> bool:
    return bool(_IS_CJK.search(normalise(text)))
