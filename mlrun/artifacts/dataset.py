"""Datasets: a pandas DataFrame stored as parquet (csv without pyarrow) with what describes it in the record.

The artifact entry carries the table's ``schema`` (``{"fields": [{"name", "type"}]}``), ``header`` (column
names), ``length`` (rows), ``preview`` (the first rows, plain values) and ``stats`` (per column, pandas
``describe`` style: count, mean, std, min, quartiles, max; count, unique, top, freq for text), as MLRun 1.x
datasets do.  pandas comes with the ``data`` extra and is imported only when a dataset is logged.
"""
from __future__ import annotations

import json

from ..errors import InvalidInputError
from .base import Artifact

#: the formats a dataset is written as
DATASET_FORMATS = ("parquet", "csv")
DEFAULT_PREVIEW = 20
#: a frame wider than this many columns gets no statistics (they would outweigh the rest of the record)
MAX_DESCRIBED_COLUMNS = 1000


def has_pyarrow() -> bool:
    """Whether pyarrow can be imported (looked up, not imported: that costs a quarter second)."""
    import importlib.util

    try:
        return importlib.util.find_spec("pyarrow") is not None
    except ImportError:
        return False


def default_format() -> str:
    """parquet when pyarrow is installed, else csv."""
    return "parquet" if has_pyarrow() else "csv"


class DatasetArtifact(Artifact):
    """A DataFrame (``df``: a pandas DataFrame or what ``pandas.DataFrame(...)`` accepts) stored as ``format``
    (``parquet``, the default when pyarrow is there, or ``csv``), described in the record by its schema,
    its first ``preview`` rows and, with ``stats``, per-column statistics."""

    kind, default_viewer, rendered, streamed, adds_extension = "dataset", "table", False, True, True

    def __init__(self, key: str, df=None, format: str = "", preview: int | None = None, stats: bool = True,
                 **kwargs):
        import os

        format = (format or os.path.splitext(key or "")[1].lstrip(".").lower() or default_format())
        if format not in DATASET_FORMATS:
            raise InvalidInputError(f"dataset {key!r}: format must be one of {', '.join(DATASET_FORMATS)}, "
                                    f"got {format!r}")
        super().__init__(key, format=format, **kwargs)
        if df is None:
            raise InvalidInputError(f"dataset {key!r} needs a DataFrame (df)")
        if preview is not None and (not isinstance(preview, int) or isinstance(preview, bool) or preview < 0):
            raise InvalidInputError(f"dataset {key!r}: preview must be a number of rows, 0 or more, got {preview!r}")
        self.df = as_dataframe(df, key)
        self.preview = DEFAULT_PREVIEW if preview is None else preview
        self.stats = stats
        self.computed_stats: dict | None = None  # set by entry_fields when pyarrow computed them
        self._pending_stats = None  # a Future of them, from write_body

    def write_body(self, stream) -> None:
        """Write the table into ``stream``; with pyarrow the statistics are computed meanwhile, in a thread, on
        the table being written (pyarrow lets go of the interpreter lock: they cost next to no time when a core is
        free).  ``entry_fields`` collects them once the file is in place: they also overlap its final move."""
        index = _keeps_index(self.df)
        if not has_pyarrow():
            if self.format == "parquet":
                from ..registry import missing_dependency

                raise missing_dependency(f"dataset {self.key!r} as parquet", "pyarrow", "data")
            return _write_csv(self.df, stream, index)
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow

        table = pyarrow.Table.from_pandas(self.df, preserve_index=index)
        if self.stats and len(self.df.columns) <= MAX_DESCRIBED_COLUMNS:
            pool = ThreadPoolExecutor(1, thread_name_prefix="stats")
            self._pending_stats = pool.submit(arrow_stats, table)
            pool.shutdown(wait=False)  # its thread ends with the statistics
        if self.format == "parquet":
            import pyarrow.parquet

            pyarrow.parquet.write_table(table, stream)
        else:
            _write_csv(self.df, stream, index)

    def entry_fields(self) -> dict:
        df = self.df
        fields = {"schema": schema_of(df), "header": [str(c) for c in df.columns], "length": len(df),
                  "preview": plain_rows(df.head(self.preview)) if self.preview else []}
        if self._pending_stats is not None:
            self.computed_stats, self._pending_stats = self._pending_stats.result(), None
        if self.stats:
            fields["stats"] = self.computed_stats if self.computed_stats is not None else stats_of(df)
        return fields


def _write_csv(df, stream, index: bool) -> None:
    import io

    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    df.to_csv(text, index=index)
    text.flush()
    text.detach()  # the stream is the target's: closing it is the writer's


def as_dataframe(df, key: str):
    """``df`` itself when it is a DataFrame, else ``pandas.DataFrame(df)``; refused naming ``key``."""
    from ..datastore.dataframes import import_pandas

    pandas = import_pandas(f"dataset {key!r}")
    if isinstance(df, pandas.DataFrame):
        return df
    try:
        return pandas.DataFrame(df)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"dataset {key!r}: cannot make a DataFrame of {type(df).__name__}: {exc}") from None


def _keeps_index(df) -> bool:
    """Whether the index holds data (a named or non-default index); a plain 0..n-1 range is not written."""
    import pandas

    index = df.index
    return not (isinstance(index, pandas.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None)


def schema_of(df) -> dict:
    """The table schema: each column's name and pandas dtype, and the index's names when it holds data."""
    schema = {"fields": [{"name": str(name), "type": str(dtype)} for name, dtype in df.dtypes.items()]}
    if _keeps_index(df):
        schema["primaryKey"] = [str(n) if n is not None else "index" for n in df.index.names]
    return schema


def plain_rows(df) -> list[list]:
    """The rows of ``df`` as lists of plain values (JSON's: numbers, text, booleans, ``None`` for missing)."""
    return json.loads(df.to_json(orient="values", date_format="iso", default_handler=str))


def arrow_stats(table) -> dict:
    """Per-column statistics of a pyarrow table, as ``stats_of`` gives them (quartiles exact, linear), several
    times faster than pandas: numbers get count, mean, std, min, quartiles, max; times count, min, max; the
    rest count, unique, top (the most frequent value) and freq."""
    import pyarrow
    import pyarrow.compute as compute

    stats = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind, values = column.type, {"count": len(column) - column.null_count}
        if values["count"] and (pyarrow.types.is_integer(kind) or pyarrow.types.is_floating(kind)):
            low_high = compute.min_max(column).as_py()
            quartiles = compute.quantile(column, q=[0.25, 0.5, 0.75]).to_pylist()
            values.update(mean=compute.mean(column).as_py(), std=compute.stddev(column, ddof=1).as_py(),
                          min=low_high["min"], **dict(zip(("25%", "50%", "75%"), quartiles, strict=True)),
                          max=low_high["max"])
        elif values["count"] and pyarrow.types.is_temporal(kind):
            low_high = compute.min_max(column).as_py()
            values.update(min=low_high["min"], max=low_high["max"])
        elif values["count"] and not pyarrow.types.is_nested(kind):
            counts = compute.value_counts(column)
            tally = counts.field("counts")
            top = compute.index(tally, compute.max(tally)).as_py()
            values.update(unique=len(counts) - (1 if column.null_count else 0), top=counts.field("values")[top].as_py(),
                          freq=tally[top].as_py())
        stats[str(name)] = {k: _plain_value(v) for k, v in values.items() if v is not None and v == v}
    return stats


def _plain_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def stats_of(df) -> dict:
    """Per-column statistics, pandas ``describe`` style, with missing values left out (without pyarrow)."""
    if df.empty or len(df.columns) > MAX_DESCRIBED_COLUMNS:
        return {}
    described = json.loads(df.describe(include="all").to_json(date_format="iso", default_handler=str))
    return {str(column): {k: v for k, v in values.items() if v is not None} for column, values in described.items()}
