"""A ``ChartArtifact`` as a self-contained HTML page: one inline SVG drawn with presentation attributes only.

No script, no style sheet, no font or image to fetch: the page opens offline on its own and shows the same
under the strictest Content-Security-Policy (``default-src 'none'``), in a sandboxed frame included.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

from ..errors import InvalidInputError

CHART_TYPES = ("line", "bar", "scatter")
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
MARGIN = {"left": 64, "right": 24, "top": 48, "bottom": 56}
TICKS = 5
#: line charts mark their points up to this many per series; the page's data table shows this many rows
MAX_DOTS = 50
TABLE_ROWS = 100


def chart_html(key: str, header: list, rows: list, options: Mapping) -> str:
    """The page: a title, the SVG chart, and the data as a table (its first ``TABLE_ROWS`` rows: what a reader
    without SVG still sees)."""
    chart = options.get("chart", "line")
    if chart not in CHART_TYPES:
        raise InvalidInputError(f"chart artifact {key!r}: options.chart must be one of {', '.join(CHART_TYPES)}, "
                                f"got {chart!r}")
    header = [str(name) for name in header] or [f"col{i}" for i in range(max((len(r) for r in rows), default=1))]
    title = str(options.get("title") or key)
    svg = chart_svg(header, rows, options, chart)
    from ..rundb.lists import html_table

    table = html_table(header, [[_label(v) for v in row] for row in rows[:TABLE_ROWS]])
    more = f"<p>... {len(rows) - TABLE_ROWS} more rows</p>" if len(rows) > TABLE_ROWS else ""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title></head>\n<body>\n'
            f"{svg}\n<details><summary>data</summary>{table}{more}</details>\n</body></html>\n")


def chart_svg(header: list, rows: list, options: Mapping, chart: str) -> str:
    width, height = _size(options.get("width"), 720), _size(options.get("height"), 400)
    xs = [row[0] if row else None for row in rows]
    numeric_x = bool(xs) and all(_number(x) is not None for x in xs) and chart != "bar"
    xvalues = [_number(x) for x in xs] if numeric_x else list(range(len(xs)))
    series = [[_number(row[i]) if i < len(row) else None for row in rows] for i in range(1, len(header))]
    ys = [y for values in series for y in values if y is not None]
    xlow, xhigh = _span(xvalues, pad=chart == "bar")
    ylow, yhigh = _span(ys + ([0] if chart == "bar" else []))
    plot = (MARGIN["left"], MARGIN["top"], width - MARGIN["right"], height - MARGIN["bottom"])

    def at(x, y):
        return (round(plot[0] + (x - xlow) / (xhigh - xlow) * (plot[2] - plot[0]), 2),
                round(plot[3] - (y - ylow) / (yhigh - ylow) * (plot[3] - plot[1]), 2))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             _text(width / 2, 24, options.get("title") or "", size=16)]
    parts += _axes(plot, at, (xlow, xhigh), (ylow, yhigh), xs if not numeric_x else None, options, header)
    for number, values in enumerate(series):
        parts += _series(chart, number, len(series), xvalues, values, at, (xhigh - xlow) / max(len(xs), 1))
    parts += _legend(header[1:], plot)
    return "\n".join(part for part in parts if part) + "\n</svg>"


def _axes(plot, at, xspan, yspan, categories, options, header) -> list[str]:
    left, top, right, bottom = plot
    parts = [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/>']
    for y in _ticks(*yspan):
        _, py = at(xspan[0], y)
        parts += [f'<line x1="{left}" y1="{py}" x2="{right}" y2="{py}" stroke="#ddd"/>',
                  _text(left - 6, py + 4, _label(y), anchor="end")]
    if categories is not None:
        step = max(1, len(categories) // 10)  # at most about ten labels: the others would overlap
        marks = [(i, categories[i]) for i in range(0, len(categories), step)]
    else:
        marks = [(x, x) for x in _ticks(*xspan)]
    for x, label in marks:
        px, _ = at(x, yspan[0])
        parts.append(_text(px, bottom + 18, _label(label)))
    x_title = options.get("x_title") or _axis_title(options.get("hAxis")) or (header[0] if header else "")
    y_title = options.get("y_title") or _axis_title(options.get("vAxis"))
    parts.append(_text((left + right) / 2, bottom + 40, x_title))
    if y_title:
        parts.append(_text(16, (top + bottom) / 2, y_title, rotate=True))
    return parts


def _series(chart, number, count, xvalues, values, at, slot) -> list[str]:
    color = COLORS[number % len(COLORS)]
    points = [at(x, y) for x, y in zip(xvalues, values, strict=True) if y is not None]
    if chart == "bar":
        width = slot * 0.8 / count
        parts = []
        for x, y in zip(xvalues, values, strict=True):
            if y is None:
                continue
            x0 = x - slot * 0.4 + number * width
            (px0, py), (px1, base) = at(x0, y), at(x0 + width, 0)
            parts.append(f'<rect x="{min(px0, px1)}" y="{min(py, base)}" width="{abs(px1 - px0)}" '
                         f'height="{abs(base - py)}" fill="{color}"/>')
        return parts
    # a long series is a line alone: a dot per point would only make the page heavy (KFP inlines small pages)
    dots = [f'<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>' for px, py in points] \
        if chart == "scatter" or len(points) <= MAX_DOTS else []
    if chart == "scatter" or len(points) < 2:
        return dots
    line = " ".join(f"{px},{py}" for px, py in points)
    return [f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>', *dots]


def _legend(names: list, plot) -> list[str]:
    parts = []
    for number, name in enumerate(names):
        x, y = plot[2] - 150, plot[1] + 4 + 18 * number
        parts += [f'<rect x="{x}" y="{y}" width="12" height="12" fill="{COLORS[number % len(COLORS)]}"/>',
                  _text(x + 18, y + 10, name, anchor="start")]
    return parts


def _text(x, y, text, size: int = 12, anchor: str = "middle", rotate: bool = False) -> str:
    if text in ("", None):
        return ""
    turn = f' transform="rotate(-90 {x} {y})"' if rotate else ""
    return (f'<text x="{round(x, 2)}" y="{round(y, 2)}" font-size="{size}" text-anchor="{anchor}"{turn}>'
            f"{escape(str(text))}</text>")


def _axis_title(axis) -> str:
    return str(axis.get("title") or "") if isinstance(axis, Mapping) else ""


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _span(values: list, pad: bool = False) -> tuple[float, float]:
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if pad:
        low, high = low - 0.5, high + 0.5
    if low == high:
        low, high = low - 1, high + 1
    return low, high


def _ticks(low: float, high: float) -> list[float]:
    step = 10 ** math.floor(math.log10((high - low) / TICKS))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= TICKS:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _size(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 4000 else default
