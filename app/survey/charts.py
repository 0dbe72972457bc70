"""SVG charts for results: horizontal bars for choices, stacked bars for matrices and crosstabs.

Built as markup (escaped), with role="img", a <title> and <desc> text alternative; the page
puts a data table next to each chart. No scripts, no external fonts: prints as it shows.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from app.i18n import _

PALETTE = ("#1f5f99", "#e08a1e", "#3b8f4a", "#b03a48", "#6a4c93", "#4a7f85", "#8c6d31")
ROW_H = 28
LABEL_W = 200
BAR_W = 360


def _svg(width: int, height: int, title: str, desc: str, body: str) -> Markup:
    # Every text piece is escaped where it is built; numbers are formatted by us.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{body}</svg>"
    )


def bar_chart(title: str, items: list[dict[str, Any]], label: Any = None) -> Markup:
    """Bars of `items` [{"label", "count", "percent"}]; percent scale 0–100."""
    label = label or (lambda x: x)
    height = ROW_H * max(len(items), 1) + 8
    parts = []
    desc = []
    for i, item in enumerate(items):
        y = 4 + i * ROW_H
        pct = float(item.get("percent") or 0)
        width = BAR_W * pct / 100
        name = str(label(item["label"]))
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 18}" text-anchor="end" font-size="13">'
            f"{escape(name[:24])}</text>"
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{width:.1f}" height="{ROW_H - 8}" '
            f'fill="{PALETTE[0]}"/>'
            f'<text x="{LABEL_W + width + 4:.1f}" y="{y + 18}" font-size="13">'
            f"{item['count']} ({pct:.1f}%)</text>"
        )
        desc.append(f"{name}: {item['count']} ({pct:.1f}%)")
    return _svg(LABEL_W + BAR_W + 90, height, title, "; ".join(desc), "".join(parts))


def stacked_chart(
    title: str,
    rows: list[str],
    series: list[str],
    values: list[list[int | None]],
    row_label: Any = None,
    series_label: Any = None,
) -> Markup:
    """One 100% bar per row, one coloured segment per series; hidden (None) cells are grey
    grey and described as hidden."""
    label = row_label or (lambda x: x)
    slabel = series_label or (lambda x: x)
    height = ROW_H * max(len(rows), 1) + 36
    parts = []
    desc = []
    for i, row in enumerate(rows):
        y = 4 + i * ROW_H
        known = [v or 0 for v in values[i]]
        total = sum(known) or 1
        x = float(LABEL_W)
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 18}" text-anchor="end" font-size="13">'
            f"{escape(str(label(row))[:24])}</text>"
        )
        words = []
        for j, value in enumerate(values[i]):
            if value is None:
                words.append(f"{slabel(series[j])}: {_('hidden')}")
                continue
            width = BAR_W * value / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{ROW_H - 8}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"/>'
            )
            x += width
            words.append(f"{slabel(series[j])}: {value}")
        if any(v is None for v in values[i]):
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{max(LABEL_W + BAR_W - x, 0):.1f}" '
                f'height="{ROW_H - 8}" fill="#cccccc"/>'
            )
        desc.append(f"{label(row)} — " + ", ".join(words))
    legend_y = 4 + len(rows) * ROW_H + 14
    for j, name in enumerate(series):
        lx = LABEL_W + (j % 6) * 60
        parts.append(
            f'<rect x="{lx}" y="{legend_y - 10}" width="10" height="10" '
            f'fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{lx + 14}" y="{legend_y}" font-size="11">'
            f"{escape(str(slabel(name))[:8])}</text>"
        )
    return _svg(LABEL_W + BAR_W + 20, height, title, "; ".join(desc), "".join(parts))
