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
#: columns of text with more distinct values than this are described by count only (``describe``'s top/freq
#: needs a pass over every value; counting is enough to tell what a column is)
MAX_DESCRIBED_COLUMNS = 1000


def default_format() -> str:
    """parquet when pyarrow is installed, else csv."""
    import importlib.util

    return "parquet" if importlib.util.find_spec("pyarrow") is not None else "csv"


class DatasetArtifact(Artifact):
    """A DataFrame (``df``: a pandas DataFrame or what ``pandas.DataFrame(...)`` accepts) stored as ``format``
    (``parquet``, the default when pyarrow is there, or ``csv``), described in the record by its schema,
    its first ``preview`` rows and, with ``stats``, per-column statistics."""

    kind, default_viewer, rendered = "dataset", "table", False

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

    def file_name(self) -> str:
        """The file under the output path: the key, with the format's extension when it has none."""
        import os

        return self.key if os.path.splitext(self.key)[1] else f"{self.key}.{self.format}"

    def get_body(self) -> bytes:
        import io

        buffer = io.BytesIO()
        if self.format == "parquet":
            try:
                self.df.to_parquet(buffer, index=_keeps_index(self.df))
            except ImportError as exc:
                from ..registry import missing_extra

                raise (missing_extra(exc, f"dataset {self.key!r} as parquet") or exc) from None
        else:
            self.df.to_csv(buffer, index=_keeps_index(self.df))
        return buffer.getvalue()

    def entry_fields(self) -> dict:
        df = self.df
        fields = {"schema": schema_of(df), "header": [str(c) for c in df.columns], "length": len(df),
                  "preview": plain_rows(df.head(self.preview)) if self.preview else []}
        if self.stats:
            fields["stats"] = stats_of(df)
        return fields


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


def stats_of(df) -> dict:
    """Per-column statistics, pandas ``describe`` style, with missing values left out."""
    if df.empty or len(df.columns) > MAX_DESCRIBED_COLUMNS:
        return {}
    described = json.loads(df.describe(include="all").to_json(date_format="iso", default_handler=str))
    return {str(column): {k: v for k, v in values.items() if v is not None} for column, values in described.items()}
