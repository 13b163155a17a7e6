"""Typed artifacts: what a run logs besides a plain file, each with its kind and the viewer that shows it.

``RunContext.log_artifact`` takes one of these or a key.  An artifact renders its own body: a table as CSV,
a chart as a self-contained HTML page (an inline SVG: no script, no network, it opens offline alone), a
matplotlib figure as PNG, SVG or an HTML page embedding the image.  Optional libraries are never imported
here: a DataFrame and a figure are asked to render themselves (``to_csv``, ``savefig``).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ..errors import InvalidInputError

#: the viewers a record may name: how the KFP UI and the web UI show an artifact ("" : by its format)
VIEWERS = ("", "table", "chart", "web-app", "image", "text")
#: an artifact's format -> the viewer that shows it when none is named
FORMAT_VIEWERS = {"csv": "table", "tsv": "table", "html": "web-app", "htm": "web-app", "png": "image",
                  "jpg": "image", "jpeg": "image", "gif": "image", "webp": "image", "svg": "image"}
#: the formats a ``PlotArtifact`` saves a figure as
PLOT_FORMATS = ("png", "svg", "html")


def check_viewer(viewer: str | None) -> str:
    """``viewer`` as recorded (``None`` -> ``""``), or ``InvalidInputError`` naming it and the known ones."""
    if viewer is None:
        return ""
    if not isinstance(viewer, str) or viewer not in VIEWERS:
        raise InvalidInputError(f"artifact viewer must be one of {', '.join(v for v in VIEWERS if v)}, "
                                f"got {viewer!r}")
    return viewer


def viewer_of(entry: Mapping) -> str:
    """The viewer that shows a record's artifact entry: the one it names, else the one of its format."""
    viewer = entry.get("viewer")
    if isinstance(viewer, str) and viewer:
        return viewer
    return FORMAT_VIEWERS.get(str(entry.get("format") or "").lower(), "")


class Artifact:
    """A body or a local file to store as an artifact, with how to show it.

    ``key`` names the file under the run's output path; ``body`` (bytes or text) or ``local_path`` holds the
    data (neither: the local file named ``key``); ``target_path`` overrides where it goes; ``viewer`` is one
    of ``VIEWERS``; ``format`` defaults to the key's extension.  The 2019 arguments are taken: ``src_path`` (the
    name of ``local_path``), ``inline`` and ``visible`` (how its UI showed the artifact: kept as attributes).
    """

    #: what the record calls this kind of artifact ("" for a plain one)
    kind = ""
    #: the format and viewer of this kind when the key and the caller name none
    default_format = ""
    default_viewer = ""
    #: whether mlrun renders the body from the caller's values (then masked like any value mlrun writes)
    rendered = False
    #: whether the body is written into the target's stream (``write_body``) rather than returned (``get_body``)
    streamed = False
    #: whether a key without an extension gets the format's in the file name (a dataset ``d``: ``d.parquet``)
    adds_extension = False

    def __init__(self, key: str, body: bytes | str | None = None, local_path: str | None = None,
                 target_path: str | None = None, viewer: str | None = None, format: str | None = None,
                 description: str = "", labels: Mapping | None = None, src_path: str | None = None,
                 inline: bool = False, visible: bool = False):
        local_path = local_path or src_path
        self.key, self.body, self.local_path, self.target_path = key, body, local_path, target_path
        self.inline, self.visible = inline, visible
        self.viewer = check_viewer(self.default_viewer if viewer is None else viewer)
        self.format = format or os.path.splitext(key or "")[1].lstrip(".").lower() or self.default_format
        self.description, self.labels = description, dict(labels or {})

    def get_body(self) -> bytes | str | None:
        """The data to store (``None``: the artifact is the local file ``local_path`` or ``key``)."""
        return self.body

    def write_body(self, stream) -> None:
        """Write the data into ``stream`` (a binary file), for a ``streamed`` kind: large bodies never sit whole
        in memory."""
        raise NotImplementedError(f"{type(self).__name__} returns its body (get_body)")

    def file_name(self) -> str:
        """Where the artifact goes under the output path (a relative path): its key (with the format's extension
        for a kind that ``adds_extension``, when the key has none)."""
        if self.adds_extension and not os.path.splitext(self.key)[1]:
            return f"{self.key}.{self.format}"
        return self.key

    def entry_fields(self) -> dict:
        """What this kind adds to the record's entry (a dataset's schema, a model's metrics, ...)."""
        return {}

    def to_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "viewer": self.viewer, "format": self.format,
                "target_path": self.target_path, "description": self.description, "labels": dict(self.labels)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, viewer={self.viewer!r}, format={self.format!r})"


class TableArtifact(Artifact):
    """A table stored as CSV: from a pandas DataFrame (``df``), CSV text (``body``) or rows (``body``, a list
    of lists) under an optional ``header``."""

    kind, default_format, default_viewer, rendered = "table", "csv", "table", True

    def __init__(self, key: str, body: str | Iterable[Iterable] | None = None, df=None, viewer: str | None = "table",
                 header: list | None = None, **kwargs):
        super().__init__(key, viewer=viewer, **kwargs)
        if df is None and body is None:
            raise InvalidInputError(f"table artifact {key!r} needs a body (CSV text or rows) or a DataFrame (df)")
        if body is not None and not isinstance(body, (str, bytes)):
            if isinstance(body, Mapping) or not isinstance(body, Iterable):
                raise InvalidInputError(f"table artifact {key!r}: body must be CSV text or a list of rows, "
                                        f"got {type(body).__name__}")
            body = [as_row(row, f"table artifact {key!r}") for row in body]
        header = as_row(header, f"table artifact {key!r}: header") if header is not None else None
        self.df, self.rows, self.header = df, body, header

    def get_body(self) -> str:
        if self.df is not None:
            if not hasattr(self.df, "to_csv"):
                raise InvalidInputError(f"table artifact {self.key!r}: df must be a pandas DataFrame, "
                                        f"got {type(self.df).__name__}")
            return self.df.to_csv(index=False, header=self.header if self.header is not None else True)
        if isinstance(self.rows, (str, bytes)):
            text = self.rows.decode("utf-8") if isinstance(self.rows, bytes) else self.rows
            head = csv_text([self.header]) if self.header else ""
            # 2019 code passes CSV text that starts with its header already (the header as metadata)
            return text if head and text.startswith(head) else head + text
        return csv_text(([self.header] if self.header else []) + self.rows)


def as_row(row, what: str) -> list:
    """A row of values as a list; anything else is refused naming ``what`` it belongs to."""
    if isinstance(row, (str, bytes, Mapping)) or not isinstance(row, Iterable):
        raise InvalidInputError(f"{what}: a row must be a list of values, got {type(row).__name__}")
    return list(row)


def csv_text(rows: Iterable[Iterable]) -> str:
    """Rows as CSV text with ``\\n`` line ends."""
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


class ChartArtifact(Artifact):
    """A chart stored as a self-contained HTML page (an inline SVG).

    ``header`` names the columns: the first is the x axis, each other one a series; ``data`` holds the rows
    (``add_row`` appends one).  ``options``: ``title``, ``chart`` (``line``, the default, ``bar`` or
    ``scatter``), ``width``, ``height``, ``x_title``/``y_title`` (or MLRun 1.x's ``hAxis``/``vAxis``
    ``{"title": ...}``).
    """

    kind, default_format, default_viewer, rendered = "chart", "html", "chart", True

    def __init__(self, key: str, data: list | None = None, header: list | None = None,
                 options: Mapping | None = None, **kwargs):
        super().__init__(key, **kwargs)
        self.header = as_row(header or [], f"chart artifact {key!r}: header")
        self.data = [as_row(row, f"chart artifact {key!r}") for row in data or []]
        self.options = dict(options or {})

    def add_row(self, row: Iterable) -> ChartArtifact:
        """Append a row (an x value, then one value per series)."""
        self.data.append(as_row(row, f"chart artifact {self.key!r}"))
        return self

    def get_body(self) -> str:
        from .chart import chart_html

        return chart_html(self.key, self.header, self.data, self.options)


class PlotArtifact(Artifact):
    """A matplotlib figure (``body``, else pyplot's current figure) saved as PNG (the default), SVG, or an HTML
    page embedding the PNG; the format comes from ``format``, else the key's extension."""

    kind, default_format, default_viewer, rendered = "plot", "png", "", False

    def __init__(self, key: str, body=None, **kwargs):
        super().__init__(key, **kwargs)
        if self.format not in PLOT_FORMATS:
            raise InvalidInputError(f"plot artifact {key!r}: format must be one of {', '.join(PLOT_FORMATS)}, "
                                    f"got {self.format!r}")
        self.figure = body
        if not self.viewer:
            self.viewer = "web-app" if self.format == "html" else "image"

    def get_body(self) -> bytes | str:
        import io

        figure = self.figure if self.figure is not None else current_figure()
        if not hasattr(figure, "savefig"):
            raise InvalidInputError(f"plot artifact {self.key!r}: body must be a matplotlib figure, "
                                    f"got {type(figure).__name__}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg" if self.format == "svg" else "png", bbox_inches="tight")
        if self.format != "html":
            return buffer.getvalue()
        import base64
        import html

        image = base64.b64encode(buffer.getvalue()).decode("ascii")
        return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(self.key)}</title></head>'
                f'<body><img alt="{html.escape(self.key)}" src="data:image/png;base64,{image}"></body></html>\n')


class PlotlyArtifact(Artifact):
    """A plotly figure (``figure``) stored as a self-contained HTML page (plotly.js inside: it opens offline).

    ``PlotlyArtifact(figure=fig, key="loss.html")`` as in MLRun 1.x; plotly comes with the ``plotly`` extra.
    """

    kind, default_format, default_viewer, rendered, adds_extension = "plotly", "html", "web-app", False, True

    def __init__(self, figure=None, key: str | None = None, **kwargs):
        key = key or "plotly"
        super().__init__(key, **kwargs)
        if not hasattr(figure, "to_html"):
            raise InvalidInputError(f"plotly artifact {key!r}: figure must be a plotly figure, "
                                    f"got {type(figure).__name__}")
        self.figure = figure

    def get_body(self) -> str:
        return self.figure.to_html(full_html=True, include_plotlyjs=True)


def current_figure():
    """pyplot's current figure; matplotlib missing: an ``ImportError`` naming the extra that installs it."""
    try:
        from matplotlib import pyplot
    except ImportError as exc:
        from ..registry import missing_extra

        raise (missing_extra(exc, "PlotArtifact without a figure (body)") or exc) from None
    return pyplot.gcf()
