"""A hyper-parameter run's iterations as pictures: parallel coordinates (one axis per parameter and output,
one line per iteration) and a scatter of one parameter against one output.

Drawn on the server as SVG (coordinates here, markup in ``templates/sweeps.html``, where every text is
escaped): no script, no front-end build.  Numeric columns scale from their smallest to their largest
value; a text column (an optimizer's name) gets one evenly spaced position per distinct value.
"""
from __future__ import annotations

import math

WIDTH, HEIGHT = 880, 300
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 60, 30, 40
SCATTER_WIDTH, SCATTER_HEIGHT, SCATTER_MARGIN = 520, 340, 60
#: lines drawn at most (a sweep of thousands of iterations stays a light page)
MAX_LINES = 2000
#: values labelled on one axis at most, and the least room between two labels (pixels)
MAX_TICKS = 12
TICK_GAP = 13
LEGEND_WIDTH, LEGEND_HEIGHT, LEGEND_BAR = 300, 34, 12


class Axis:
    """One column of the iterations table, mapped onto 0..1."""

    def __init__(self, name: str, values: list):
        self.name = name
        present = [v for v in values if _usable(v)]
        self.numeric = bool(present) and all(_is_number(v) for v in present)
        if self.numeric:
            self.low, self.high = min(present), max(present)
            self.values = present
            self.categories: list = []
        else:
            self.categories = sorted({str(v) for v in present})
            self.low, self.high = 0, max(len(self.categories) - 1, 1)

    @property
    def kind(self) -> str:
        return "param" if self.name.startswith("param.") else "output"

    @property
    def label(self) -> str:
        return self.name.split(".", 1)[1] if "." in self.name else self.name

    def position(self, value) -> float | None:
        """``value`` on the axis, from 0 (lowest) to 1 (highest); ``None`` when it has none."""
        if not _usable(value):
            return None
        if self.numeric:
            if not _is_number(value):
                return None
            return 0.5 if self.high == self.low else (value - self.low) / (self.high - self.low)
        if len(self.categories) == 1:
            return 0.5
        return self.categories.index(str(value)) / (len(self.categories) - 1)

    def ticks(self, min_gap: float = 0.0) -> list[tuple[float, str]]:
        """(position, text) pairs to label the axis with: the values the iterations hold (a grid's few values
        each; of many, ``MAX_TICKS`` spread from the lowest to the highest), none nearer the previous one than
        ``min_gap`` (a fraction of the axis) so that labels never overlap."""
        values = sorted(set(self.values)) if self.numeric else self.categories
        if len(values) > MAX_TICKS:
            last = len(values) - 1
            values = [values[round(i * last / (MAX_TICKS - 1))] for i in range(MAX_TICKS)]
        ticks: list[tuple[float, str]] = []
        for value in values:
            at = self.position(value)
            if ticks and at - ticks[-1][0] < min_gap:
                if value != values[-1]:
                    continue
                ticks.pop()  # the highest value is always labelled
            ticks.append((at, _short(value) if self.numeric else value))
        return ticks


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _usable(value) -> bool:
    return _is_number(value) or isinstance(value, (str, bool)) and value != ""


def _short(number: float) -> str:
    return f"{number:.4g}"


def sweep_axes(table: dict) -> list[Axis]:
    """The parameter and output columns of ``views.iteration_table(record)`` that have values, params first."""
    header, rows = table.get("header") or [], [row for _, row in table.get("rows") or []]
    axes = []
    for index, name in enumerate(header):
        if isinstance(name, str) and name.startswith(("param.", "output.")):
            axis = Axis(name, [row[index] if index < len(row) else None for row in rows])
            if axis.numeric or 0 < len(axis.categories) <= 50:
                axes.append(axis)
    return sorted(axes, key=lambda a: a.kind != "param")


def sweep_views(table: dict, x: str | None = None, y: str | None = None) -> dict | None:
    """What ``templates/sweeps.html`` draws for a run's iterations table; ``x``/``y`` pick the scatter's
    parameter and output (by column name; the first of each by default).  ``None`` without a sweep."""
    axes = sweep_axes(table)
    if len(axes) < 2 or not table.get("rows"):
        return None
    header = table["header"]
    column = {axis.name: header.index(axis.name) for axis in axes}
    rows = list(table["rows"])[:MAX_LINES]
    params = [a for a in axes if a.kind == "param"] or axes
    outputs = [a for a in axes if a.kind == "output"] or axes
    x_axis = next((a for a in params if a.name == x), params[0])
    y_axis = next((a for a in outputs if a.name == y), outputs[-1] if outputs[-1] is not x_axis else outputs[0])
    color_axis = outputs[0]

    def value(row, axis):
        index = column[axis.name]
        return row[index] if index < len(row) else None

    return {
        "parallel": _parallel(axes, rows, value, color_axis),
        "scatter": _scatter(x_axis, y_axis, rows, value, color_axis),
        "legend": _legend(color_axis, any(color_axis.position(value(row, color_axis)) is None for _, row in rows)),
        "params": params, "outputs": outputs, "x": x_axis.name, "y": y_axis.name, "color": color_axis.label,
        "cut": len(table["rows"]) > MAX_LINES,
    }


def _parallel(axes, rows, value, color_axis) -> dict:
    step = (WIDTH - 2 * MARGIN_X) / (len(axes) - 1)
    span = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    xs = [MARGIN_X + i * step for i in range(len(axes))]
    lines = []
    for number, row in rows:
        path, pen_down = [], False
        for axis, ax in zip(axes, xs, strict=True):
            at = axis.position(value(row, axis))
            if at is None:  # a gap: the line stops at the axis before and resumes at the next
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{ax:.1f},{MARGIN_TOP + (1 - at) * span:.1f}")
            pen_down = True
        color = _color(color_axis.position(value(row, color_axis)))
        lines.append({"number": number, "d": " ".join(path), "color": color,
                      "title": ", ".join(f"{a.label}={value(row, a)}" for a in axes)})
    return {"width": WIDTH, "height": HEIGHT, "top": MARGIN_TOP, "bottom": HEIGHT - MARGIN_BOTTOM, "lines": lines,
            "axes": [{"x": ax, "name": a.name, "label": a.label, "kind": a.kind,
                      "ticks": [(MARGIN_TOP + (1 - at) * span, text) for at, text in a.ticks(TICK_GAP / span)]}
                     for a, ax in zip(axes, xs, strict=True)]}


def _scatter(x_axis, y_axis, rows, value, color_axis) -> dict:
    m, w, h = SCATTER_MARGIN, SCATTER_WIDTH, SCATTER_HEIGHT
    points = []
    for number, row in rows:
        px, py = x_axis.position(value(row, x_axis)), y_axis.position(value(row, y_axis))
        if px is not None and py is not None:
            points.append({"number": number, "cx": m + px * (w - 2 * m), "cy": h - m - py * (h - 2 * m),
                           "color": _color(color_axis.position(value(row, color_axis))),
                           "title": f"{x_axis.label}={value(row, x_axis)}, {y_axis.label}={value(row, y_axis)}"})
    return {"width": w, "height": h, "left": m, "right": w - m, "top": m, "bottom": h - m, "points": points,
            "x_label": x_axis.label, "y_label": y_axis.label,
            # labels along x are wider than tall: more room between them
            "x_ticks": [(m + at * (w - 2 * m), text) for at, text in x_axis.ticks(4 * TICK_GAP / (w - 2 * m))],
            "y_ticks": [(h - m - at * (h - 2 * m), text) for at, text in y_axis.ticks(TICK_GAP / (h - 2 * m))]}


def _legend(axis: Axis, has_missing: bool) -> dict:
    """The colour scale as a bar from the lowest to the highest value of ``axis``, labelled with its values."""
    left, right = 20, LEGEND_WIDTH - 20  # room for the end labels, centred on the bar's ends
    return {"width": LEGEND_WIDTH, "height": LEGEND_HEIGHT, "left": left, "bar": LEGEND_BAR, "name": axis.label,
            "length": right - left, "missing": has_missing, "missing_color": _color(None),
            "stops": [(f"{at:.2f}", _color(at)) for at in (0, 0.25, 0.5, 0.75, 1)],
            "ticks": [(left + at * (right - left), text) for at, text in axis.ticks(4 * TICK_GAP / (right - left))]}


def _color(at: float | None) -> str:
    """Blue (lowest) to red (highest); grey without a value."""
    if at is None:
        return "#9aa0a6"
    return f"hsl({240 - 240 * at:.0f}, 70%, 45%)"
