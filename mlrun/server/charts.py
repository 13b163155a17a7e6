"""Metric histories as chart series, downsampled on the server so a 100k-point history stays a light page.

Downsampling is Largest-Triangle-Three-Buckets (Steinarsson, 2013): it keeps the points that
shape the curve (peaks, dips, jumps), unlike taking every n-th point.
"""
from __future__ import annotations

import math
from datetime import datetime

#: points per series sent to the browser: about one per horizontal pixel of a chart
MAX_POINTS = 1000


def metric_series(metric: dict, label: str, max_points: int = MAX_POINTS) -> dict:
    """``{labels, xvalues, yvalues}`` as ``{label, x, y, points, time}``: numeric, sorted, downsampled.

    Steps that are all numbers stay numbers; all ISO timestamps become epoch seconds (``time``);
    anything else is charted by position.  Points whose value is not a finite number are left out.
    """
    xvalues, yvalues = metric.get("xvalues") or [], metric.get("yvalues") or []
    xs, is_time = _numeric_steps(xvalues)
    points = sorted((x, float(y)) for x, y in zip(xs, yvalues, strict=False) if _finite(x) and _finite(y))
    x, y = lttb([p[0] for p in points], [p[1] for p in points], max_points)
    # whole-number steps get whole-number ticks in the browser (no 1.25, 1.5 between steps 1 and 2)
    integer = not is_time and all(float(v).is_integer() for v in x)
    return {"label": label, "x": x, "y": y, "points": len(yvalues), "time": is_time, "integer": integer}


def last_value(metric: dict):
    values = metric.get("yvalues") or []
    return values[-1] if values else None


def is_series(metric) -> bool:
    """True for a metric history this module can chart: ``{labels?, xvalues: [...], yvalues: [...]}``."""
    return (isinstance(metric, dict) and isinstance(metric.get("xvalues", []), list)
            and isinstance(metric.get("yvalues", []), list))


def lttb(x: list[float], y: list[float], threshold: int) -> tuple[list[float], list[float]]:
    """At most ``threshold`` of the points ``(x, y)`` (x ascending), first and last always kept."""
    n = len(x)
    if threshold >= n or threshold < 3:
        return list(x), list(y)
    out_x, out_y = [x[0]], [y[0]]
    bucket = (n - 2) / (threshold - 2)
    a = 0
    for i in range(threshold - 2):
        # the next bucket's average is the third corner of the triangle
        start, end = int((i + 1) * bucket) + 1, min(int((i + 2) * bucket) + 1, n)
        avg_x, avg_y = sum(x[start:end]) / (end - start), sum(y[start:end]) / (end - start)
        ax, ay = x[a], y[a]
        best, best_area = start - 1, -1.0
        for j in range(int(i * bucket) + 1, start):
            area = abs((ax - avg_x) * (y[j] - ay) - (ax - x[j]) * (avg_y - ay))
            if area > best_area:
                best, best_area = j, area
        out_x.append(x[best])
        out_y.append(y[best])
        a = best
    out_x.append(x[-1])
    out_y.append(y[-1])
    return out_x, out_y


def _numeric_steps(xvalues: list) -> tuple[list[float], bool]:
    try:
        return [float(v) for v in xvalues], False
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        return [datetime.fromisoformat(v).timestamp() for v in xvalues], True
    except (TypeError, ValueError, OverflowError, OSError):
        return [float(i + 1) for i in range(len(xvalues))], False


def _finite(value) -> bool:
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an int past any float
        return False
