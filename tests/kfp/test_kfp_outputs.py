"""The files a pipeline step leaves for KFP, written from a final run record (no kfp import needed)."""
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun.kfp.outputs import (
    INLINE_LIMIT,
    METRIC_NAME,
    METRICS_FILE,
    REPORT_ROWS,
    UI_METADATA_FILE,
    KfpOutputs,
    kfp_metrics,
    kfp_ui_metadata,
    metric_names,
    output_values,
    run_report,
)
from mlrun.model import RunRecord


def make_record(outputs=None, artifacts=(), params=None, state="completed", error="", metrics=None) -> RunRecord:
    record = RunRecord()
    record.metadata.name, record.metadata.uid = "mytask", "0123abcd"
    record.metadata.labels = {"owner": "tester", "workflow": "wf-1"}
    record.spec.parameters = dict(params or {"p1": 5, "p2": "a-string"})
    record.status.state, record.status.error = state, error
    record.status.outputs = dict(outputs if outputs is not None else {"accuracy": 10})
    record.status.metrics = metrics or {}
    record.status.output_artifacts = [dict(a) for a in artifacts]
    return record


def artifact(key, target, size=10, fmt=None):
    return {"key": key, "target_path": target, "size": size, "format": fmt or key.rsplit(".", 1)[-1]}


# -- metric names -------------------------------------------------------------------------------

def test_valid_metric_names_are_kept():
    assert metric_names(["accuracy", "f1-score", "loss_2", "a"]) == {
        "accuracy": "accuracy", "f1-score": "f1-score", "loss_2": "loss_2", "a": "a"}


@pytest.mark.parametrize("key, name", [
    ("val.acc", "val-acc"), ("1st", "metric-1st"), ("_loss_", "loss"), ("précision", "pr-cision"),
    ("a b/c", "a-b-c"), ("...", "metric"), ("x" * 80, "x" * 64), ("a" + "-" * 70 + "b", "a"),
])
def test_invalid_metric_names_are_made_valid(key, name):
    assert metric_names([key]) == {key: name}
    assert METRIC_NAME.match(name)


def test_collisions_get_numbered_suffixes_and_valid_keys_keep_their_names():
    names = metric_names(["val.acc", "val-acc", "val acc", "val/acc"])
    assert names["val-acc"] == "val-acc"  # already valid: it keeps its name whatever sorts first
    assert sorted(names.values()) == ["val-acc", "val-acc-2", "val-acc-3", "val-acc-4"]
    long_names = metric_names(["y" * 70, "y" * 71])
    assert sorted(long_names.values()) == ["y" * 62 + "-2", "y" * 64]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=12))
def test_metric_names_are_valid_unique_and_do_not_depend_on_order(keys):
    names = metric_names(keys)
    assert set(names) == set(keys)
    assert all(METRIC_NAME.match(name) for name in names.values())
    assert len(set(names.values())) == len(names)
    assert metric_names(list(reversed(keys))) == names


# -- the metrics file ---------------------------------------------------------------------------

def test_metrics_hold_numeric_results_only():
    outputs = {"accuracy": 0.9, "epochs": 3, "name": "abc", "ok": True, "nan": float("nan"),
               "inf": float("inf"), "sizes": [1, 2], "cfg": {"a": 1}, "none": None, "val.loss": 0.25}
    metrics = kfp_metrics(outputs)
    assert metrics == {"metrics": [
        {"name": "accuracy", "numberValue": 0.9, "format": "RAW"},
        {"name": "epochs", "numberValue": 3, "format": "RAW"},
        {"name": "val-loss", "numberValue": 0.25, "format": "RAW"},
    ]}
    json.loads(json.dumps(metrics, allow_nan=False))  # strict JSON: no NaN or Infinity
    assert kfp_metrics({}) == {"metrics": []}


# -- output files -------------------------------------------------------------------------------

def test_output_values_are_text_and_artifacts_give_their_target_path():
    record = make_record({"accuracy": 12, "name": "abc", "ok": False, "cfg": {"a": [1, 2]}, "same": "value"},
                         [artifact("test.txt", "/out/test.txt"), artifact("same", "/out/same")])
    assert output_values(record) == {"accuracy": "12", "name": "abc", "ok": "false", "cfg": '{"a": [1, 2]}',
                                     "test.txt": "/out/test.txt", "same": "value"}


def test_write_produces_every_file(tmp_path):
    record = make_record({"accuracy": 12, "note": "hi", "nested/key": 1.5}, [artifact("test.txt", "/out/test.txt")])
    kfp = KfpOutputs(str(tmp_path / "kfp"), str(tmp_path / "out"), {"accuracy": str(tmp_path / "v2" / "accuracy")})
    assert kfp.check() == ""
    assert kfp.write(record) == ""
    out = tmp_path / "out"
    assert (out / "accuracy").read_text() == "12" and (out / "note").read_text() == "hi"
    assert (out / "nested" / "key").read_text() == "1.5" and (out / "test.txt").read_text() == "/out/test.txt"
    assert (tmp_path / "v2" / "accuracy").read_text() == "12"
    metrics = json.loads((tmp_path / "kfp" / METRICS_FILE).read_text())
    assert {m["name"] for m in metrics["metrics"]} == {"accuracy", "nested-key"}
    ui = json.loads((tmp_path / "kfp" / UI_METADATA_FILE).read_text())
    assert ui["version"] == 1 and ui["outputs"][0]["type"] == "markdown"
    leftovers = [name for _, _, files in os.walk(tmp_path) for name in files if name.startswith(".mlrun-")]
    assert leftovers == []


def test_default_folders_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MLRUN_KFP_DIR", raising=False)
    monkeypatch.delenv("MLRUN_KFP_OUTPUTS_DIR", raising=False)
    assert (KfpOutputs().kfp_dir, KfpOutputs().outputs_dir) == ("/", "/tmp")
    monkeypatch.setenv("MLRUN_KFP_DIR", str(tmp_path / "k"))
    monkeypatch.setenv("MLRUN_KFP_OUTPUTS_DIR", str(tmp_path / "o"))
    assert (KfpOutputs().kfp_dir, KfpOutputs().outputs_dir) == (str(tmp_path / "k"), str(tmp_path / "o"))
    assert KfpOutputs("a", "b").kfp_dir == "a"


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    kfp = KfpOutputs(str(blocker / "kfp"), str(tmp_path / "out"))
    assert kfp.check() == f"cannot write the KFP outputs to {blocker / 'kfp'}: Not a directory"
    problem = kfp.write(make_record())
    assert problem.startswith(f"cannot write the KFP output {blocker / 'kfp'}") and "Not a directory" in problem
    per_key = KfpOutputs(str(tmp_path), str(tmp_path / "out"), {"accuracy": str(blocker / "accuracy")})
    assert str(blocker) in per_key.check()


def test_a_declared_output_the_run_did_not_log_is_a_problem_unless_the_run_failed(tmp_path):
    kfp = KfpOutputs(str(tmp_path), str(tmp_path / "out"), {"missing": str(tmp_path / "missing")})
    assert kfp.write(make_record()) == "KFP output 'missing': the run logged no result or artifact with that key"
    assert (tmp_path / "out" / "accuracy").read_text() == "10"  # the others are still there
    assert kfp.write(make_record(state="error", error="boom")) == ""


@pytest.mark.parametrize("key", ["../escape", "/etc/escape", "a/../../escape", ""])
def test_keys_that_would_leave_the_outputs_folder_are_refused(tmp_path, key):
    out = tmp_path / "deep" / "out"
    problem = KfpOutputs(str(tmp_path / "kfp"), str(out)).write(make_record({key: 1, "fine": 2}))
    assert problem == f"KFP output {key!r} cannot be a file name under {out}"
    assert (out / "fine").read_text() == "2"
    assert not (tmp_path / "deep" / "escape").exists() and not (tmp_path / "escape").exists()


# -- the UI metadata ----------------------------------------------------------------------------

def test_the_run_report_shows_parameters_results_metrics_and_artifacts():
    record = make_record({"accuracy": 12, "note": "a|b\nc"}, [artifact("test.txt", "/out/test.txt", size=10)],
                         metrics={"loss": {"labels": {}, "xvalues": ["1", "2"], "yvalues": [4, 2]}})
    report = run_report(record)
    assert report.startswith("# Run report: mytask\n")
    assert "uid `0123abcd`, state **completed**, workflow `wf-1`, owner `tester`" in report
    for line in ("## Parameters", "| p1 | 5 |", "| p2 | a-string |", "## Results", "| accuracy | 12 |",
                 "| note | a\\|b c |", "## Metrics", "| loss | 2 | 2 |", "## Artifacts",
                 "| key | target path | size | format |", "| test.txt | /out/test.txt | 10 | txt |"):
        assert line in report.splitlines()


def test_the_run_report_stays_small():
    record = make_record({f"out{i:03}": "v" * 1000 for i in range(300)}, state="error", error="Boom: it failed")
    report = run_report(record)
    assert "**Error:** Boom: it failed" in report
    assert report.count("| out") == REPORT_ROWS and f"| ... {300 - REPORT_ROWS} more | |" in report
    assert "v" * 201 not in report and len(report) < 20_000


def test_small_csv_and_html_artifacts_get_viewers(tmp_path):
    contents = {"/a/data.csv": b"name,score\nx,1\ny,2\n", "/a/page.html": b"<h1>hi</h1>", "/a/notes.txt": b"abc"}
    record = make_record(artifacts=[
        artifact("data.csv", "/a/data.csv", 20), artifact("page.html", "/a/page.html", 11),
        artifact("notes.txt", "/a/notes.txt", 3), artifact("big.csv", "/a/big.csv", INLINE_LIMIT + 1),
        artifact("gone.html", "/a/gone.html", 5), artifact("binary.csv", "/a/binary.csv", 2),
    ])
    contents["/a/binary.csv"] = b"\xff\xfe"

    def read(url):
        if url not in contents:
            raise OSError(f"not found: {url}")
        return contents[url]

    outputs = kfp_ui_metadata(record, read)["outputs"]
    assert [o["type"] for o in outputs] == ["markdown", "table", "web-app"]
    assert outputs[1] == {"type": "table", "format": "csv", "storage": "inline", "header": ["name", "score"],
                          "source": "x,1\ny,2\n"}
    assert outputs[2] == {"type": "web-app", "storage": "inline", "source": "<h1>hi</h1>"}
    assert "| big.csv | /a/big.csv |" in outputs[0]["source"]
    assert [o["type"] for o in kfp_ui_metadata(record)["outputs"]] == ["markdown"]


def test_write_reads_artifacts_back_through_their_data_store(tmp_path):
    table = tmp_path / "scores.csv"
    table.write_text("a,b\n1,2\n")
    record = make_record(artifacts=[artifact("scores.csv", str(table), size=8)])
    KfpOutputs(str(tmp_path / "kfp"), str(tmp_path / "out")).write(record)
    outputs = json.loads((tmp_path / "kfp" / UI_METADATA_FILE).read_text())["outputs"]
    assert outputs[1]["header"] == ["a", "b"] and outputs[1]["source"] == "1,2\n"
