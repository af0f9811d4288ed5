"""A table's chart as a self-contained, accessible SVG string.

The SVG has no script, no style element and no external reference: colours are presentation
attributes, so it can be placed inline in a page served with a strict Content-Security-Policy
and printed as it is. Every bar and cell carries its figure as text, so colour is never the
only way to read it; ``<title>`` and ``<desc>`` give the chart's name and its data in words.
The same table always gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from ..calendar import format_date, format_moment
from .model import COLOURS, INK, PALETTE, SERIES_COLOURS, Cell, Chart, Colour, Rated, Table

WIDTH = 640
FONT_SIZE = 14
LINE = 18  #: height of one line of text
CHAR = FONT_SIZE * 0.56  #: average width of a character, for wrapping and placing labels
PAD = 8
LABEL_W = 200  #: room for category labels left of horizontal bars
VALUE_W = 90  #: room for the value label right of the longest bar
BAR_H = 22
BAR_GAP = 3  #: between bars of one category
ROW_GAP = 10  #: between categories
PLOT_H = 240  #: height of the plot area of a vertical bar chart
AXIS_W = 8  #: left margin of a vertical bar chart
SWATCH = 14
TEXT = "#0b0c0c"
OUTLINE = "#0b0c0c"
GRID = "#b1b4b6"

COLOUR_NAMES: dict[Colour, str] = {
    "red": "Red",
    "amber": "Amber",
    "green": "Green",
    "blue": "Blue",
    "grey": "Grey",
    "none": "Not rated",
}


def chart_svg(table: Table) -> str:
    """The SVG of ``table``'s chart; "" when the table has none."""
    chart = table.chart
    if chart is None:
        return ""
    if chart.kind == "heatmap":
        return _heatmap(table, chart)
    return _bars(table, chart)


# ---------------------------------------------------------------------------- text helpers
def number_text(value: float, unit: str = "") -> str:
    """``value`` as shown beside a bar: at most one decimal place, thousands separated."""
    rounded = round(float(value), 1)
    text = f"{int(rounded):,}" if rounded == int(rounded) else f"{rounded:,.1f}"
    if text == "-0":
        text = "0"
    if not unit:
        return text
    if unit == "%":
        return text + "%"
    if rounded == 1 and unit.endswith("s"):
        unit = unit[:-1]
    return f"{text} {unit}"


def wrap(text: str, width: float) -> list[str]:
    """``text`` broken into lines that fit ``width`` pixels (long words are split)."""
    limit = max(1, int(width // CHAR))
    lines: list[str] = []
    current = ""
    for whole in text.split():
        word = whole
        while len(word) > limit:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:limit])
            word = word[limit:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= limit:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    return lines


def _n(x: float) -> str:
    """A coordinate: one decimal place at most, no trailing ".0"."""
    text = f"{x:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _cell_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Rated):
        return cell.label
    if isinstance(cell, bool):
        return "Yes" if cell else "No"
    if isinstance(cell, int | float):
        return number_text(cell)
    if isinstance(cell, str):
        return cell
    if isinstance(cell, datetime):
        return format_moment(cell)
    return format_date(cell)


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-") or "table"


def _text(
    x: float,
    y: float,
    lines: Sequence[str],
    *,
    anchor: str = "start",
    fill: str = TEXT,
    bold: bool = False,
) -> str:
    """A text element; several lines become tspans, ``y`` is the first line's baseline."""
    attrs = f'x="{_n(x)}" y="{_n(y)}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if bold:
        attrs += ' font-weight="bold"'
    if len(lines) == 1:
        return f"<text {attrs}>{escape(lines[0])}</text>"
    spans = "".join(
        f'<tspan x="{_n(x)}" dy="{0 if i == 0 else LINE}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f"<text {attrs}>{spans}</text>"


def _rect(
    x: float,
    y: float,
    w: float,
    h: float,
    colour: Colour,
    cls: str,
    *,
    stroke: str | None = OUTLINE,
) -> str:
    attrs = (
        f'class="{cls}" x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(h)}" '
        f'fill="{PALETTE[colour]}"'
    )
    if stroke is not None and w > 0:
        attrs += f' stroke="{stroke}" stroke-width="1"'
    return f"<rect {attrs}/>"


@dataclass(frozen=True)
class _LegendItem:
    colour: Colour
    label: str


def _legend(items: Sequence[_LegendItem], top: float) -> tuple[list[str], float]:
    """Legend swatches flowing left to right from ``top``; (elements, height used)."""
    if not items:
        return [], 0.0
    parts = ['<g class="legend">']
    x, y = 0.0, top
    for item in items:
        w = SWATCH + 6 + len(item.label) * CHAR + 18
        if x > 0 and x + w > WIDTH:
            x, y = 0.0, y + LINE + 6
        parts.append(_rect(x, y + 2, SWATCH, SWATCH, item.colour, "swatch"))
        parts.append(_text(x + SWATCH + 6, y + 14, [item.label]))
        x += w
    parts.append("</g>")
    return parts, y + LINE + 6 + PAD - top


def _document(table: Table, chart: Chart, height: float, desc: str, body: Iterable[str]) -> str:
    slug = _slug(table.key)
    title = chart.title or table.title
    title_id = f"chart-{slug}-title"
    desc_id = f"chart-{slug}-desc"
    h = _n(height)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart brag-chart" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" width="{WIDTH}" height="{h}" '
        f'viewBox="0 0 {WIDTH} {h}" font-family="Arial, Helvetica, sans-serif" '
        f'font-size="{FONT_SIZE}">'
    )
    return "\n".join(
        [
            head,
            f'<title id="{title_id}">{escape(title)}</title>',
            f'<desc id="{desc_id}">{escape(desc)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _empty(table: Table, chart: Chart) -> str:
    message = "No figures for this period."
    return _document(table, chart, 40, message, [_text(0, 24, [message])])


# ---------------------------------------------------------------------------- bar charts
def _series_colour(chart: Chart, i: int) -> Colour:
    own = chart.series[i].colour
    return own if own is not None else SERIES_COLOURS[i % len(SERIES_COLOURS)]


def _categories(table: Table, chart: Chart) -> tuple[str, ...]:
    if chart.categories:
        return chart.categories
    return tuple(_cell_text(row[0]) if row else "" for row in table.rows)


def _value(chart: Chart, s: int, c: int) -> float:
    values = chart.series[s].values
    return float(values[c]) if c < len(values) else 0.0


def _bar_desc(chart: Chart, categories: Sequence[str]) -> str:
    kind = {"bar": "Bar chart", "stacked_bar": "Stacked bar chart"}[chart.kind]
    names = [s.name for s in chart.series]
    parts: list[str] = []
    for c, cat in enumerate(categories):
        values = [_value(chart, s, c) for s in range(len(chart.series))]
        if chart.kind == "bar" and len(values) == 1:
            parts.append(f"{cat}: {number_text(values[0], chart.unit)}")
            continue
        pieces = [
            f"{name} {number_text(v, chart.unit)}" for name, v in zip(names, values, strict=True)
        ]
        if chart.kind == "stacked_bar":
            pieces.append(f"total {number_text(sum(values), chart.unit)}")
        parts.append(f"{cat}: {', '.join(pieces)}")
    return f"{kind}, {len(categories)} categories. " + "; ".join(parts) + "."


def _scale_max(chart: Chart, categories: Sequence[str]) -> float:
    n = len(chart.series)
    if chart.kind == "stacked_bar":
        tops = [
            sum(max(_value(chart, s, c), 0.0) for s in range(n)) for c in range(len(categories))
        ]
    else:
        tops = [max(_value(chart, s, c), 0.0) for c in range(len(categories)) for s in range(n)]
    top = max(tops, default=0.0)
    if chart.unit == "%":
        top = max(top, 100.0)
    return top if top > 0 else 1.0


def _bars(table: Table, chart: Chart) -> str:
    categories = _categories(table, chart)
    if not categories or not chart.series:
        return _empty(table, chart)
    stacked = chart.kind == "stacked_bar"
    n = len(chart.series)
    legend_items = (
        [_LegendItem(_series_colour(chart, i), s.name) for i, s in enumerate(chart.series)]
        if stacked or n > 1
        else []
    )
    body, top = _legend(legend_items, 0.0)
    top += 4
    top_value = _scale_max(chart, categories)
    if chart.horizontal:
        height = _horizontal(chart, categories, top, top_value, body)
    else:
        height = _vertical(chart, categories, top, top_value, body)
    return _document(table, chart, height, _bar_desc(chart, categories), body)


def _horizontal(
    chart: Chart, categories: Sequence[str], top: float, top_value: float, body: list[str]
) -> float:
    stacked = chart.kind == "stacked_bar"
    n = len(chart.series)
    x0 = LABEL_W + PAD
    room = WIDTH - x0 - VALUE_W
    y = top
    for c, cat in enumerate(categories):
        lines = wrap(cat, LABEL_W)
        bars_h = BAR_H if stacked else n * BAR_H + (n - 1) * BAR_GAP
        group_h = max(len(lines) * LINE, bars_h)
        body.append('<g class="category">')
        body.append(_text(0, y + 14, lines))
        if stacked:
            x: float = x0
            total = 0.0
            for s in range(n):
                v = _value(chart, s, c)
                total += v
                w = room * max(v, 0.0) / top_value
                colour = _series_colour(chart, s)
                body.append(_rect(x, y, w, BAR_H, colour, "bar"))
                label = number_text(v, chart.unit)
                if v > 0 and w >= len(label) * CHAR + 6:
                    body.append(
                        _text(x + w / 2, y + 16, [label], anchor="middle", fill=INK[colour])
                    )
                x += w
            body.append(_text(x + 6, y + 16, [number_text(total, chart.unit)], bold=True))
        else:
            for s in range(n):
                v = _value(chart, s, c)
                w = room * max(v, 0.0) / top_value
                by = y + s * (BAR_H + BAR_GAP)
                body.append(_rect(x0, by, w, BAR_H, _series_colour(chart, s), "bar"))
                body.append(_text(x0 + w + 6, by + 16, [number_text(v, chart.unit)], bold=True))
        body.append("</g>")
        y += group_h + ROW_GAP
    body.append(
        f'<line class="axis" x1="{x0}" y1="{_n(top - 4)}" x2="{x0}" y2="{_n(y - ROW_GAP + 4)}" '
        f'stroke="{OUTLINE}" stroke-width="1"/>'
    )
    return y - ROW_GAP + 4 + PAD


def _vertical(
    chart: Chart, categories: Sequence[str], top: float, top_value: float, body: list[str]
) -> float:
    stacked = chart.kind == "stacked_bar"
    n = len(chart.series)
    slot = (WIDTH - AXIS_W) / len(categories)
    plot_top = top + LINE + 4  # room for the value above the tallest bar
    base = plot_top + PLOT_H
    inner = min(slot * 0.7, 120.0 if stacked else n * 60.0)
    bar_w = inner if stacked else (inner - (n - 1) * BAR_GAP) / n
    most_lines = 1
    for c, cat in enumerate(categories):
        left = AXIS_W + c * slot + (slot - inner) / 2
        body.append('<g class="category">')
        if stacked:
            y = base
            total = 0.0
            for s in range(n):
                v = _value(chart, s, c)
                total += v
                h = PLOT_H * max(v, 0.0) / top_value
                body.append(_rect(left, y - h, bar_w, h, _series_colour(chart, s), "bar"))
                y -= h
            body.append(
                _text(
                    left + bar_w / 2,
                    y - 6,
                    [number_text(total, chart.unit)],
                    anchor="middle",
                    bold=True,
                )
            )
        else:
            for s in range(n):
                v = _value(chart, s, c)
                h = PLOT_H * max(v, 0.0) / top_value
                x = left + s * (bar_w + BAR_GAP)
                body.append(_rect(x, base - h, bar_w, h, _series_colour(chart, s), "bar"))
                body.append(
                    _text(
                        x + bar_w / 2,
                        base - h - 6,
                        [number_text(v, chart.unit)],
                        anchor="middle",
                        bold=True,
                    )
                )
        lines = wrap(cat, slot - 4)
        most_lines = max(most_lines, len(lines))
        body.append(_text(AXIS_W + c * slot + slot / 2, base + 18, lines, anchor="middle"))
        body.append("</g>")
    body.append(
        f'<line class="axis" x1="{AXIS_W}" y1="{_n(base)}" x2="{WIDTH}" y2="{_n(base)}" '
        f'stroke="{OUTLINE}" stroke-width="1"/>'
    )
    return base + 6 + most_lines * LINE + PAD


# ---------------------------------------------------------------------------- heat map
def _heatmap_legend(table: Table) -> list[_LegendItem]:
    labels: dict[Colour, list[str]] = {}
    for row in table.rows:
        for cell in row[1:]:
            if isinstance(cell, Rated):
                seen = labels.setdefault(cell.colour, [])
                if cell.label not in seen:
                    seen.append(cell.label)
    items = []
    for colour in COLOURS:
        if colour not in labels:
            continue
        seen = labels[colour]
        words = [s for s in seen if s and not re.search(r"\d", s)]
        name = COLOUR_NAMES[colour]
        if words and len(words) == len(seen) and len(seen) <= 3:
            name += ": " + ", ".join(seen)
        items.append(_LegendItem(colour, name))
    return items


def _heatmap(table: Table, chart: Chart) -> str:
    columns = table.columns[1:]
    if not table.rows or not columns:
        return _empty(table, chart)
    body, top = _legend(_heatmap_legend(table), 0.0)
    label_w = LABEL_W - 20
    cell_w = (WIDTH - label_w) / len(columns)
    short = _short_headings(columns, cell_w - 6)
    heads = [wrap(name, cell_w - 6) for name in (short or columns)]
    corner = wrap(table.columns[0], label_w - 6)
    head_h = max(len(corner), *(len(lines) for lines in heads)) * LINE + 6
    body.append('<g class="columns">')
    body.append(_text(0, top + 14, corner, bold=True))
    for i, lines in enumerate(heads):
        body.append(
            _text(label_w + i * cell_w + cell_w / 2, top + 14, lines, anchor="middle", bold=True)
        )
    body.append("</g>")
    y = top + head_h
    parts: list[str] = []
    for row in table.rows:
        row_label = _cell_text(row[0]) if row else ""
        cells: list[Cell] = [row[i] if i < len(row) else None for i in range(1, len(columns) + 1)]
        texts = [wrap(_cell_text(cell), cell_w - 6) for cell in cells]
        label_lines = wrap(row_label, label_w - 6)
        row_h = max(len(label_lines), *(len(t) for t in texts)) * LINE + 10
        body.append('<g class="row">')
        body.append(_text(0, y + row_h / 2 - (len(label_lines) - 1) * LINE / 2 + 5, label_lines))
        said: list[str] = []
        for i, (cell, lines) in enumerate(zip(cells, texts, strict=True)):
            colour: Colour = cell.colour if isinstance(cell, Rated) else "none"
            x = label_w + i * cell_w
            body.append(_rect(x, y, cell_w, row_h, colour, "cell", stroke=GRID))
            if lines != [""]:
                first = y + row_h / 2 - (len(lines) - 1) * LINE / 2 + 5
                body.append(_text(x + cell_w / 2, first, lines, anchor="middle", fill=INK[colour]))
            shown = _cell_text(cell) or "no figure"
            said.append(f"{columns[i]} {shown}")
        body.append("</g>")
        parts.append(f"{row_label}: {', '.join(said)}")
        y += row_h
    if short:
        # headings too long for their cells: a key under the grid gives them in full
        y += PAD
        body.append('<g class="key">')
        for label, name in zip(short, columns, strict=True):
            lines = wrap(f"{label} {name}" if label != name.split()[0] else name, WIDTH)
            body.append(_text(0, y + 14, lines))
            y += len(lines) * LINE
        body.append("</g>")
    desc = f"Heat map, {len(table.rows)} rows by {len(columns)} columns. " + "; ".join(parts) + "."
    return _document(table, chart, y + PAD, desc, body)


def _short_headings(columns: Sequence[str], width: float) -> list[str] | None:
    """Short headings for a heat map whose column names do not fit their cells (None when
    they fit): their leading numbers ("1.", "2.") when each has a distinct one, else 1, 2, 3."""
    limit = max(1, int(width // CHAR))
    fits = all(
        len(wrap(name, width)) <= 3 and all(len(word) <= limit for word in name.split())
        for name in columns
    )
    if fits:
        return None
    firsts = [name.split()[0] if name.split() else "" for name in columns]
    numbered = all(re.fullmatch(r"[A-Za-z]?\d+[.):]?", f) for f in firsts)
    if numbered and len(set(firsts)) == len(firsts) and all(len(f) <= limit for f in firsts):
        return firsts
    return [f"{i}." for i in range(1, len(columns) + 1)]
