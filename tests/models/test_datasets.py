"""Datasets: DataFrames logged as parquet or csv, read back equal, described in the record, named by store:// URIs."""
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

import mlrun
from mlrun.errors import InvalidInputError, NotFoundError


def frame(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"n": np.arange(rows), "x": rng.random(rows), "flag": np.arange(rows) % 3 == 0,
                         "city": ["paris", "rome", "oslo", "lima", "kyiv"] * (rows // 5)})


def gen(context, rows: int = 50, fmt: str = "", tag: str = ""):
    context.log_dataset("dataset", frame(rows), format=fmt, tag=tag, preview=5)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_dataframe_logged_reads_back_equal(fmt, tmp_path):
    run = mlrun.run_start(handler=gen, params={"fmt": fmt}, project="shop", artifact_path=str(tmp_path / "out"))
    assert run.state() == "completed", run.error
    entry = run.artifact("dataset")
    assert entry["kind"] == "dataset" and entry["format"] == fmt
    assert entry["target_path"] == str(tmp_path / "out" / f"dataset.{fmt}")
    content = (tmp_path / "out" / f"dataset.{fmt}").read_bytes()
    assert entry["sha256"] == hashlib.sha256(content).hexdigest() and entry["size"] == len(content)
    pd.testing.assert_frame_equal(entry.as_df(), frame())
    pd.testing.assert_frame_equal(mlrun.get_dataitem(entry["target_path"]).as_df(), frame())  # by its suffix
    pd.testing.assert_frame_equal(mlrun.get_dataitem(run.outputs["dataset"]).as_df(columns=["x", "city"]),
                                  frame()[["x", "city"]])


def test_a_large_datasets_hash_is_of_its_bytes_which_are_pandas_own(tmp_path):
    """Several MiB: the sha256 is taken over many batches handed to the hashing thread."""
    df = pd.DataFrame({"x": np.random.default_rng(3).random(400_000), "n": np.arange(400_000)})
    ctx = mlrun.get_or_create_ctx("big", spec={"metadata": {"project": "shop"}})
    entry = ctx.log_dataset("big", df, artifact_path=str(tmp_path))
    content = (tmp_path / "big.parquet").read_bytes()
    assert len(content) > 3 * (1 << 20)
    assert entry["sha256"] == hashlib.sha256(content).hexdigest() and entry["size"] == len(content)
    df.to_parquet(tmp_path / "plain.parquet", index=False)
    assert content == (tmp_path / "plain.parquet").read_bytes()
    assert entry["stats"]["n"]["50%"] == 199_999.5 and entry["stats"]["n"]["count"] == 400_000


def test_schema_preview_and_stats_are_in_the_record():
    run = mlrun.run_start(handler=gen, project="shop")
    stored = mlrun.get_run_db().read_run(run.uid).status.output_artifacts[0]
    assert stored["schema"]["fields"] == [{"name": "n", "type": "int64"}, {"name": "x", "type": "float64"},
                                          {"name": "flag", "type": "bool"},
                                          {"name": "city", "type": str(frame().dtypes["city"])}]
    assert stored["header"] == ["n", "x", "flag", "city"] and stored["length"] == 50
    assert stored["preview"] == json.loads(frame().head(5).to_json(orient="values"))
    assert stored["stats"]["x"]["mean"] == pytest.approx(frame()["x"].mean())
    assert stored["stats"]["n"]["max"] == 49 and stored["stats"]["n"]["50%"] == 24.5
    assert stored["stats"]["city"]["unique"] == 5 and stored["stats"]["city"]["count"] == 50


def test_other_formats_read_by_suffix_or_format(tmp_path):
    df = frame(10)
    df.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    df.to_json(tmp_path / "t.json", orient="records")
    df.to_feather(tmp_path / "t.feather")
    df.to_csv(tmp_path / "t.data", index=False)
    for name in ("t.jsonl", "t.json", "t.feather"):
        got = mlrun.get_dataitem(str(tmp_path / name)).as_df()
        pd.testing.assert_frame_equal(got, df, check_dtype=name == "t.feather")
    pd.testing.assert_frame_equal(mlrun.get_dataitem(str(tmp_path / "t.data")).as_df(format="csv"), df)
    with pytest.raises(InvalidInputError, match="cannot tell the table format"):
        mlrun.get_dataitem(str(tmp_path / "t.data")).as_df()
    with pytest.raises(InvalidInputError, match="format must be one of"):
        mlrun.get_dataitem(str(tmp_path / "t.data")).as_df(format="xls")


def test_tags_move_to_the_newest_version(tmp_path):
    def version(rows, tag=""):  # each run its own folder: a version's file outlives the next one
        return mlrun.run_start(handler=gen, params={"rows": rows, "tag": tag}, project="shop",
                               artifact_path=str(tmp_path / f"v{rows}"))

    first, second = version(10, "prod"), version(20)
    assert len(mlrun.get_dataitem("store://datasets/shop/dataset").as_df()) == 20  # latest: the newest
    assert len(mlrun.get_dataitem("store://datasets/shop/dataset:prod").as_df()) == 10
    assert len(mlrun.get_dataitem(first.outputs["dataset"]).as_df()) == 10  # pinned by uid
    third = version(30, "prod")
    assert len(mlrun.get_dataitem("store://datasets/shop/dataset:prod").as_df()) == 30  # prod moved
    assert mlrun.get_dataitem("store://datasets/shop/dataset:prod").meta["uid"] == third.uid
    db = mlrun.get_run_db()
    assert [a["uid"] for a in db.list_artifacts("dataset", project="shop", tag="prod")] == [third.uid]
    assert [a["uid"] for a in db.list_artifacts("dataset", project="shop", tag="latest")] == [third.uid]
    assert [a["uid"] for a in db.list_artifacts("dataset", project="shop")] == [third.uid, second.uid, first.uid]
    with pytest.raises(NotFoundError, match="store://datasets/shop/dataset:nope not found"):
        mlrun.get_dataitem("store://datasets/shop/dataset:nope")
    with pytest.raises(NotFoundError, match="not found"):
        mlrun.get_dataitem("store://models/shop/dataset")  # a dataset is no model


def test_lineage_from_producer_to_consumer():
    producer = mlrun.run_start(handler=gen, project="shop")

    def consume(context, data):
        context.log_output("rows", len(data.as_df()))

    consumer = mlrun.run_start(handler=consume, inputs={"data": "store://datasets/shop/dataset"}, project="shop")
    assert consumer.state() == "completed", consumer.error
    assert consumer.output("rows") == 50
    read = mlrun.get_run_db().read_run(consumer.uid).status.input_objects[0]
    produced = producer.artifact("dataset")
    assert read["url"] == "store://datasets/shop/dataset" and read["uid"] == producer.uid
    assert read["sha256"] == produced["sha256"] and read["target_path"] == produced["target_path"]


def test_a_run_artifact_is_a_mapping_and_a_data_item():
    run = mlrun.run_start(handler=gen, params={"fmt": "csv"})
    artifact = run.artifact("dataset")
    assert artifact["sha256"] == artifact.get("sha256") and artifact.get("nope", 3) == 3
    assert artifact.get().decode().splitlines()[0] == "n,x,flag,city"  # the content
    assert artifact.local() == artifact["target_path"] and artifact.meta["uri"] == run.outputs["dataset"]
    assert run.outputs["dataset"].startswith("store://datasets/default/dataset:latest@" + run.uid)


def test_bad_datasets_are_refused_by_name():
    def bad(context, what):
        if what == "format":
            context.log_dataset("d", frame(5), format="xlsx")
        else:
            context.log_dataset("d", object())

    for what, message in (("format", "dataset 'd': format must be one of parquet, csv"),
                          ("df", "dataset 'd': cannot make a DataFrame of object")):
        run = mlrun.run_start(handler=bad, params={"what": what})
        assert run.state() == "error" and message in run.error


def test_show_prints_a_tables_first_rows_or_text(tmp_path, capsys):
    frame(30).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "notes.txt").write_text("just text\n")
    mlrun.get_dataitem(str(tmp_path / "t.csv")).show()
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].split() == ["n", "x", "flag", "city"] and len(shown) == 21  # the header and 20 rows
    mlrun.get_dataitem(str(tmp_path / "notes.txt")).show()
    assert capsys.readouterr().out == "just text\n\n"


def test_extra_data_of_a_dataset_names_urls_and_logged_artifacts(tmp_path):
    def with_extra(context):
        readme = context.log_artifact("readme.txt", body="about the data")
        context.log_dataset("d", frame(5), extra_data={"readme": readme, "source": "s3://bucket/raw.csv"})

    run = mlrun.run_start(handler=with_extra, project="shop")
    assert run.artifact("d")["extra_data"] == {"readme": run.outputs["readme.txt"], "source": "s3://bucket/raw.csv"}
    assert mlrun.get_dataitem(run.artifact("d")["extra_data"]["readme"]).get() == b"about the data"
