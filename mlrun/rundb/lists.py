"""What the run store API's listings return: ``RunList`` and ``ArtifactList``, lists with a ``.show()``.

``db.list_runs(...)`` holds run summaries (``RunRecord.summary()``: uid, name, project, iteration, labels,
state, times, scalar outputs and parameters, error), as stored, so secrets were masked before they were
kept; ``db.read_run(uid)`` gives a full record.  ``db.list_artifacts(...)`` holds artifact entries (the
record's ``status.output_artifacts`` item plus its run's ``uid``, ``run_name``, ``project``, ``iteration``).
``.show()`` draws them as an HTML table in a notebook and as text elsewhere; every value is escaped.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from ..utils import in_notebook

#: characters of a cell in the text table (the HTML table shows whole values)
TEXT_CELL = 40


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def html_table(header: list[str], rows: Iterable[list]) -> str:
    """``rows`` under ``header`` as an HTML table, every cell escaped."""
    from html import escape

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="mlrun-list"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def text_table(header: list[str], rows: Iterable[list]) -> str:
    """``rows`` under ``header`` as aligned text, long cells cut, control characters shown as ``?``."""
    def clean(value) -> str:
        text = "".join(c if c.isprintable() else "?" for c in _cell(value))
        return text if len(text) <= TEXT_CELL else text[:TEXT_CELL - 3] + "..."

    lines = [[clean(h) for h in header], *([clean(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


class _Listing(list):
    """A list of mappings, shown as a table."""

    columns: tuple[tuple[str, Callable[[dict], object]], ...] = ()

    def _rows(self) -> list[list]:
        return [[get(item) for _, get in self.columns] for item in self]

    def to_html(self) -> str:
        return html_table([name for name, _ in self.columns], self._rows())

    def to_text(self) -> str:
        return text_table([name for name, _ in self.columns], self._rows())

    def show(self, display: bool = True) -> str | None:
        """Draw the table: HTML in a notebook, text elsewhere; ``display=False`` returns the HTML instead."""
        if not display:
            return self.to_html()
        if in_notebook():
            from IPython import display as ipython

            ipython.display(ipython.HTML(self.to_html()))
        else:
            print(self.to_text())
        return None


class RunList(_Listing):
    """Run summaries, newest first (``RunDB.list_runs``)."""

    columns = (
        ("project", lambda r: r.get("project")),
        ("uid", lambda r: r.get("uid")),
        ("iter", lambda r: r.get("iteration")),
        ("start", lambda r: (r.get("start_time") or "")[:19].replace("T", " ")),
        ("state", lambda r: r.get("state")),
        ("name", lambda r: r.get("name")),
        ("labels", lambda r: r.get("labels")),
        ("parameters", lambda r: r.get("parameters")),
        ("results", lambda r: r.get("outputs")),
    )


class ArtifactList(_Listing):
    """Artifact entries of stored runs, newest run first (``RunDB.list_artifacts``)."""

    columns = (
        ("key", lambda a: a.get("key")),
        ("project", lambda a: a.get("project")),
        ("run", lambda a: a.get("run_name")),
        ("uid", lambda a: a.get("uid")),
        ("iter", lambda a: a.get("iteration")),
        ("kind", lambda a: a.get("kind") or a.get("format")),
        ("size", lambda a: a.get("size")),
        ("target_path", lambda a: a.get("target_path")),
        ("labels", lambda a: a.get("labels")),
    )
