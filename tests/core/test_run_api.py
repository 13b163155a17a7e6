"""``mlrun.run_function``: what ``mlrun run`` does, from Python."""
import hashlib
import os
import textwrap

import pytest
import yaml

import mlrun
from mlrun.errors import InvalidInputError, StoreError
from mlrun.run import new_run, save_record
from mlrun.rundb import get_run_db

SCRIPT = """\
    import hashlib
    from mlrun import get_or_create_ctx
    ctx = get_or_create_ctx("api")
    for key in ("INLINE", "FROM_FILE", "FROM_ENV"):
        value = ctx.get_secret(key) or ""
        ctx.log_output(key, hashlib.sha256(value.encode()).hexdigest())
        print(key, value)
    ctx.log_output("p1", ctx.get_param("p1"))
    ctx.log_output("text", ctx.get_object("data").get(encoding="utf-8"))
"""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "secrets.txt").write_text("FROM_FILE=file-secret-2\n")
    (tmp_path / "data.txt").write_text("some data")
    return path


def test_run_function_hands_every_kind_of_secret_to_the_child_and_records_none(script, tmp_path, monkeypatch,
                                                                                  capfd):
    monkeypatch.setenv("FROM_ENV", "env-secret-3")
    store = mlrun.run.as_secrets([("file", str(tmp_path / "secrets.txt")), ("env", "FROM_ENV")])
    store.add_source("inline", {"INLINE": "inline-secret-1"})
    record = mlrun.run_function(str(script), params={"p1": [1, 2]}, inputs={"data": str(tmp_path / "data.txt")},
                                secrets=store, labels={"team": "ml"}, workflow="wf-9", stream=False)
    assert record.state == "completed", record.status.error
    assert record.outputs["INLINE"] == digest("inline-secret-1")
    assert record.outputs["FROM_FILE"] == digest("file-secret-2")
    assert record.outputs["FROM_ENV"] == digest("env-secret-3")
    assert record.outputs["p1"] == [1, 2] and record.outputs["text"] == "some data"
    assert record.metadata.labels["team"] == "ml" and record.metadata.labels["workflow"] == "wf-9"
    assert [s["kind"] for s in record.spec.secret_sources] == ["file", "env", "inline"]
    stored = get_run_db().read_run_data(record.uid)
    assert stored == record.to_dict()
    log = get_run_db().read_log(record.uid).decode()
    assert log == "INLINE ******\nFROM_FILE ******\nFROM_ENV ******\n"
    everything = yaml.safe_dump(stored) + log + "".join(capfd.readouterr())
    for value in ("inline-secret-1", "file-secret-2", "env-secret-3"):
        assert value not in everything


def test_run_function_does_not_raise_for_a_failing_run(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("raise KeyError('missing column')\n")
    record = mlrun.run_function(str(script), stream=False)
    assert record.state == "error" and record.status.error == "KeyError: 'missing column'"
    assert get_run_db().read_run_data(record.uid)["status"]["state"] == "error"


@pytest.mark.parametrize("kwargs, message", [
    ({"secrets": [("file", "/no/such/file")]}, "secrets file not found"),
    ({"secrets": [("vault", "x")]}, "unknown secret source kind 'vault'"),
    ({"handler": "nope"}, "handler 'nope' not found"),
])
def test_run_function_refuses_bad_input_before_recording_anything(script, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        mlrun.run_function(str(script), stream=False, **kwargs)
    assert get_run_db().list_runs() == []


def test_run_function_refuses_a_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="file not found: .*nope.py"):
        mlrun.run_function(str(tmp_path / "nope.py"))
    assert get_run_db().list_runs() == []


def test_new_run_is_a_created_record():
    record = new_run(name="n", params={"a": 1}, inputs={"k": "s3://b/k"}, outputs={"m": "/tmp/m"}, workflow="w",
                     command="job.py", handler="train", args=["x", 1], kind="local")
    assert record.state == "created" and len(record.uid) == 32
    assert record.metadata.labels["workflow"] == "w" and record.metadata.labels["owner"]
    assert record.spec.runtime == {"kind": "local", "command": "job.py", "handler": "train", "args": ["x", "1"]}
    assert record.spec.input_objects == [{"key": "k", "path": "s3://b/k"}]
    assert record.spec.output_artifacts == [{"key": "m", "path": "/tmp/m"}]


def test_save_record_to_a_file_a_new_directory_and_an_existing_one(tmp_path):
    record = new_run(name="n", uid="u1")
    assert save_record(record, str(tmp_path / "a.yaml")) == str(tmp_path / "a.yaml")
    assert save_record(record, str(tmp_path / "new") + "/") == str(tmp_path / "new" / "u1.yaml")
    (tmp_path / "old").mkdir()
    assert save_record(record, str(tmp_path / "old")) == str(tmp_path / "old" / "u1.yaml")
    for path in ("a.yaml", "new/u1.yaml", "old/u1.yaml"):
        assert mlrun.RunRecord.from_dict(yaml.safe_load((tmp_path / path).read_text())) == record


def test_save_record_to_an_impossible_path_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot save the run record to .*file/r.yaml") as info:
        save_record(new_run(), str(tmp_path / "file" / "r.yaml"))
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == ["file"]
