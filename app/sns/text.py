"""Diary text to HTML: plain text with clickable links, or a small Markdown subset.

Everything is escaped first and the result is cleaned with nh3 against an allowlist, so no raw
HTML from a member ever reaches a page (A31, A32). Only http, https and mailto links survive,
and each carries rel="nofollow noopener ugc".
"""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "h3", "h4"}
ATTRIBUTES = {"a": {"href"}}
SCHEMES = {"http", "https", "mailto"}
REL = "nofollow noopener ugc"

URL_RE = re.compile(r"(?<![\w/])(https?://[^\s<>\"'）」』]+[^\s<>\"'.,;:!?)）」』])")
LINK_RE = re.compile(r"\[([^\]\n]{1,300})\]\(((?:https?://|mailto:)[^\s()<>\"]{1,2000})\)")
BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
EM_RE = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
CODE_RE = re.compile(r"`([^`\n]{1,500})`")


def sanitize(html: str) -> Markup:
    """The one sanitiser: nh3 with our allowlist. Its output is the only `Markup` we make."""
    cleaned = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel=REL,
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - nh3 output (allowlist sanitiser), see A31


def _autolink(escaped: str) -> str:
    return URL_RE.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', escaped)


def _inline(line: str) -> str:
    """Inline Markdown on an already-escaped line."""
    placeholders: list[str] = []

    def keep(html: str) -> str:
        placeholders.append(html)
        return f"\x00{len(placeholders) - 1}\x00"

    line = CODE_RE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), line)
    line = LINK_RE.sub(lambda m: keep(f'<a href="{m.group(2)}">{m.group(1)}</a>'), line)
    line = _autolink(line)
    line = BOLD_RE.sub(r"<strong>\1</strong>", line)
    line = EM_RE.sub(r"<em>\1</em>", line)
    return re.sub(r"\x00(\d+)\x00", lambda m: placeholders[int(m.group(1))], line)


def render_plain(text: str) -> Markup:
    """Paragraphs and line breaks kept, URLs made clickable."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    parts = []
    for para in paragraphs:
        if not para.strip():
            continue
        lines = [_autolink(str(escape(line))) for line in para.split("\n")]
        parts.append("<p>" + "<br>".join(lines) + "</p>")
    return sanitize("\n".join(parts))


def render_markdown(text: str) -> Markup:
    """A small, safe Markdown subset: paragraphs, **bold**, *emphasis*, `code`, [links](url),
    lists (- or 1.), > quotes and ### headings."""
    out: list[str] = []
    para: list[str] = []
    list_kind: str | None = None
    quote: list[str] = []

    def flush_para() -> None:
        if para:
            out.append("<p>" + "<br>".join(para) + "</p>")
            para.clear()

    def flush_list() -> None:
        nonlocal list_kind
        if list_kind:
            out.append(f"</{list_kind}>")
            list_kind = None

    def flush_quote() -> None:
        if quote:
            out.append("<blockquote><p>" + "<br>".join(quote) + "</p></blockquote>")
            quote.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = str(escape(raw.rstrip()))
        stripped = raw.strip()
        bullet = re.match(r"^\s*[-*・]\s+(.*)$", raw)
        number = re.match(r"^\s*\d{1,3}[.)]\s+(.*)$", raw)
        heading = re.match(r"^(#{1,4})\s+(.*)$", raw)
        if not stripped:
            flush_para()
            flush_list()
            flush_quote()
        elif raw.lstrip().startswith(">"):
            flush_para()
            flush_list()
            quote.append(_inline(str(escape(raw.lstrip()[1:].strip()))))
        elif bullet or number:
            flush_para()
            flush_quote()
            kind = "ul" if bullet else "ol"
            if list_kind != kind:
                flush_list()
                out.append(f"<{kind}>")
                list_kind = kind
            item = (bullet or number).group(1)  # type: ignore[union-attr]
            out.append(f"<li>{_inline(str(escape(item)))}</li>")
        elif heading:
            flush_para()
            flush_list()
            flush_quote()
            tag = "h3" if len(heading.group(1)) <= 3 else "h4"
            out.append(f"<{tag}>{_inline(str(escape(heading.group(2))))}</{tag}>")
        else:
            flush_list()
            flush_quote()
            para.append(_inline(line))
    flush_para()
    flush_list()
    flush_quote()
    return sanitize("\n".join(out))


def render_body(text: str, body_format: str) -> Markup:
    return render_markdown(text) if body_format == "markdown" else render_plain(text)


def excerpt(text: str, length: int = 120) -> str:
    """A one-line plain-text excerpt (autoescaped by Jinja where shown)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"
