"""Tables in files: reading a data item as a pandas DataFrame (``DataItem.as_df``) and showing it.

pandas (and pyarrow for parquet and feather) come with the ``data`` extra; they are imported here only,
when a table is read.
"""
from __future__ import annotations

import os

from ..errors import InvalidInputError

#: the table formats ``as_df`` reads, and the file suffixes that name them
DF_FORMATS = ("csv", "parquet", "json", "jsonl", "feather")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json", ".jsonl": "jsonl",
            ".ndjson": "jsonl", ".feather": "feather"}
COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")
SHOWN_ROWS = 20


def import_pandas(what: str):
    """pandas, or an ``ImportError`` naming ``what`` needs it and the extra that installs it."""
    try:
        import pandas
    except ImportError as exc:
        from ..registry import missing_extra

        raise (missing_extra(exc, what) or exc) from None
    return pandas


def table_format(item, format: str = "") -> str:
    """The table format of ``item``: ``format``, else its artifact's, else its file name's suffix; ``""`` when
    none of them names a table format."""
    if format:
        if format not in DF_FORMATS:
            raise InvalidInputError(f"cannot read {item.url} as a table: format must be one of "
                                    f"{', '.join(DF_FORMATS)}, got {format!r}")
        return format
    recorded = str((item.meta or {}).get("format") or "").lower()
    if recorded in DF_FORMATS:
        return recorded
    name = item.path.lower()
    for compression in COMPRESSIONS:
        name = name.removesuffix(compression)
    return SUFFIXES.get(os.path.splitext(name)[1], "")


def read_df(item, columns: list | None = None, format: str = "", **kwargs):
    """``item`` read as a DataFrame (see ``DataItem.as_df``)."""
    fmt = table_format(item, format)
    if not fmt:
        raise InvalidInputError(f"cannot tell the table format of {item.url}: give format= (one of "
                                f"{', '.join(DF_FORMATS)})")
    pandas = import_pandas(f"reading {fmt} as a DataFrame (as_df)")
    path = item.local()
    columns = list(columns) if columns is not None else None
    try:
        if fmt == "parquet":
            return pandas.read_parquet(path, columns=columns, **kwargs)
        if fmt == "feather":
            return pandas.read_feather(path, columns=columns, **kwargs)
        if fmt == "csv":
            return pandas.read_csv(path, usecols=columns, **kwargs)
        df = pandas.read_json(path, lines=fmt == "jsonl", **kwargs)
    except ImportError as exc:
        from ..registry import missing_extra

        raise (missing_extra(exc, f"reading {fmt} as a DataFrame (as_df)") or exc) from None
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read {item.url} as {fmt}: {exc}") from None
    return df[columns] if columns is not None else df


def show(item, format: str = "") -> None:
    """Show ``item``: a table's first rows, an image, or its text; as HTML in a notebook, else printed."""
    from ..utils import in_notebook

    fmt = table_format(item, format)
    suffix = os.path.splitext(item.path.lower())[1].lstrip(".")
    if fmt:
        df = read_df(item, format=fmt).head(SHOWN_ROWS)
        html, text = df.to_html(), df.to_string()
    elif suffix in ("png", "jpg", "jpeg", "gif"):
        if in_notebook():
            from IPython import display

            display.display(display.Image(filename=item.local()))
        else:
            print(f"{item.url}: an image ({suffix})")
        return
    else:
        from html import escape

        text = item.get().decode("utf-8", errors="replace")
        html = f"<pre>{escape(text)}</pre>"
    if in_notebook():
        from IPython import display

        display.display(display.HTML(html))
    else:
        print(text)
