"""Datasets: ``context.log_dataset`` of a 1,000,000-row x 10-column DataFrame and ``.as_df()`` back, beside pandas'
own ``to_parquet`` / ``read_parquet`` of the same frame to the same folder.

    python bench/bench_datasets.py                 # target: mlrun within 1.3x of pandas, each way (medians)
    python bench/bench_datasets.py --rows 200000 --repeat 7

mlrun's write is the whole ``log_dataset`` (parquet, sha256 of the file, schema, 20-row preview and the
per-column statistics recorded in the run); its read is ``run.artifact(key).as_df()`` and the ``store://`` URI read
through the run store (``get_dataitem(uri).as_df()``).  Each side alternates going first (the reads rotate); the
medians of each side and the median of the rounds' ratios (mlrun / pandas, each round's pair timed back to back)
are quoted.
Both sides write the same file each round: ``to_parquet`` truncates it in place, ``log_dataset`` writes a temporary
file and renames it over the previous version (never a half-written dataset); the replaced 83 MB file is freed by
a thread (``datastore.base.replace``), not within the rename (~45 ms here when it was).  Its statistics are
computed while the file is written and the sha256 is taken in a thread as bytes are written: on 2 cores, a busy
machine leaves them no core of their own and the ratio grows with the load (``uptime``); measure on a quiet one.
Needs ``pip install "mlrun-lite[data]"``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's mlrun, also when run from elsewhere
sys.path.insert(0, HERE)

from bench_server import timed  # noqa: E402 - the one timing loop of the benchmarks

TARGET = 1.3


def frame(rows: int):
    """Ten columns: 6 floats, 2 integers, a low-cardinality text column and a timestamp."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    columns = {f"f{i}": rng.random(rows) for i in range(6)}
    columns.update(i0=rng.integers(0, 1_000_000, rows), i1=np.arange(rows),
                   city=pd.Categorical(rng.choice(["paris", "rome", "oslo", "lima", "kyiv"], rows)).astype(str),
                   at=pd.date_range("2024-01-01", periods=rows, freq="s"))
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9, help="rounds per side (default 9)")
    args = parser.parse_args()

    import pandas as pd

    import mlrun

    df = frame(args.rows)
    load_before = os.getloadavg()[0]  # the figures depend on it: quoted beside them
    with tempfile.TemporaryDirectory() as work:
        os.environ["MLRUN_DBPATH"] = os.path.join(work, "db")
        ctx = mlrun.get_or_create_ctx("bench-datasets", spec={"metadata": {"project": "bench"}})
        plain = os.path.join(work, "plain.parquet")
        uri = ""

        def log():
            nonlocal uri
            uri = ctx.log_dataset("frame", df, artifact_path=work)["uri"]
            ctx.commit()

        times: dict[str, list[float]] = {name: [] for name in ("log_dataset", "to_parquet", "as_df", "store_uri_as_df",
                                                               "read_parquet")}
        for round_ in range(args.repeat):  # alternate who goes first: both see the same machine and caches
            pairs = [("log_dataset", log), ("to_parquet", lambda: df.to_parquet(plain, index=False))]
            for name, fn in pairs if round_ % 2 == 0 else reversed(pairs):
                times[name] += timed(fn, 1)
            entry = ctx.record.status.output_artifacts[0]
            reads = [("as_df", lambda target=entry["target_path"]: mlrun.get_dataitem(target).as_df()),
                     ("store_uri_as_df", lambda: mlrun.get_dataitem(uri).as_df()),
                     ("read_parquet", lambda: pd.read_parquet(plain))]
            for name, fn in reads[round_ % 3:] + reads[:round_ % 3]:  # each read takes each place in turn
                times[name] += timed(fn, 1)
        ctx.finish()
        assert mlrun.get_dataitem(uri).as_df().equals(df)

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.rows:,} rows x {len(df.columns)} columns, {args.repeat} rounds, medians (ms); load average "
          f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} cores)")
    print(f"{'':36} {'mlrun':>8} {'pandas':>8} {'ratio':>7}  target")
    for label, mine, theirs in (("write: log_dataset / to_parquet", "log_dataset", "to_parquet"),
                                ("read: as_df / read_parquet", "as_df", "read_parquet"),
                                ("read: store:// as_df / read_parquet", "store_uri_as_df", "read_parquet")):
        ratio = statistics.median(m / t for m, t in zip(times[mine], times[theirs], strict=True))
        print(f"{label:36} {median[mine]:8.1f} {median[theirs]:8.1f} {ratio:6.2f}x  <= {TARGET}x "
              f"{'ok' if ratio <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
