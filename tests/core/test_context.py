"""The run context in-process: its sources, the seed's API, and what ends up in the record and store."""
import json
import os
import re
from datetime import datetime

import pytest
import yaml

import mlrun
from mlrun import get_or_create_ctx
from mlrun.errors import InvalidInputError, InvalidSpecError, NotFoundError
from mlrun.model import RunRecord
from mlrun.rundb import get_run_db


def stored(uid: str) -> dict:
    return get_run_db().read_run_data(uid)


def test_a_fresh_run():
    ctx = get_or_create_ctx("mytask")
    assert ctx.name == "mytask" and re.fullmatch(r"[0-9a-f]{32}", ctx.uid)
    assert ctx.state == "running" and ctx.project == "" and ctx.tag == "" and ctx.parameters == {}
    assert ctx.labels["owner"] and ctx.annotations == {"mlrun/heartbeat": "30"}  # its process refreshes it
    assert datetime.fromisoformat(ctx.to_dict()["status"]["start_time"]).utcoffset() is not None
    assert mlrun.MLClientCtx is mlrun.RunContext and isinstance(ctx, mlrun.MLClientCtx)


def test_a_second_call_returns_the_same_context():
    first = get_or_create_ctx("")
    second = get_or_create_ctx("named-later")
    assert second is first and first.name == "named-later"
    assert get_or_create_ctx("other") is first and first.name == "named-later"


@pytest.mark.parametrize("spec", [
    {"metadata": {"name": "from-spec", "uid": "u1"}, "spec": {"parameters": {"p1": 5}}},
    '{"metadata": {"name": "from-spec", "uid": "u1"}, "spec": {"parameters": {"p1": 5}}}',
    b"metadata: {name: from-spec, uid: u1}\nspec:\n  parameters: {p1: 5}\n",
    RunRecord.from_dict({"metadata": {"name": "from-spec", "uid": "u1"}, "spec": {"parameters": {"p1": 5}}}),
])
def test_an_explicit_spec_as_mapping_text_or_record(spec):
    ctx = get_or_create_ctx("ignored", spec=spec)
    assert (ctx.name, ctx.uid, ctx.get_param("p1", 1)) == ("from-spec", "u1", 5)
    assert ctx.state == "running"


def test_precedence_event_then_spec_then_environment(monkeypatch):
    monkeypatch.setenv("MLRUN_EXEC_CONFIG", json.dumps({"metadata": {"uid": "from-env"}}))
    monkeypatch.setenv("MLRUN_EXEC_SECRETS", json.dumps({"TOKEN": "env-secret"}))
    event = {"metadata": {"uid": "from-event"}, "secrets": {"TOKEN": "event-secret"}}
    spec = {"metadata": {"uid": "from-spec"}}
    assert get_or_create_ctx("x", event=event, spec=spec).uid == "from-event"
    assert get_or_create_ctx("x", spec=spec).uid == "from-spec"
    mlrun.lifecycle.reset_current()
    from_env = get_or_create_ctx("x")
    assert from_env.uid == "from-env" and from_env.get_secret("TOKEN") == "env-secret"
    mlrun.lifecycle.reset_current()
    assert get_or_create_ctx("x", with_env=False).uid not in ("from-env", "from-spec", "from-event")


def test_event_secrets_are_used_but_never_recorded():
    ctx = get_or_create_ctx("fn", event={"spec": {"parameters": {"p1": 2}}, "secrets": {"ACCESS_KEY": "ev-key-9"}})
    assert ctx.get_secret("ACCESS_KEY") == "ev-key-9" and ctx.get_param("p1") == 2
    assert "ev-key-9" not in ctx.to_yaml() and "ev-key-9" not in ctx.to_json()
    assert ctx.to_dict()["spec"]["secret_sources"] == [{"kind": "inline", "source": ["ACCESS_KEY"]}]
    # an event run belongs to its request: it does not become the process's context
    assert get_or_create_ctx("other") is not ctx


@pytest.mark.parametrize("spec, culprit", [
    ('{"spec": {"parameters": [1, 2]}}', "run spec: spec.parameters must be a mapping, got list"),
    ({"metadata": {"labels": ["a"]}}, "metadata.labels must be a mapping, got list"),
    ("metadata: [", "run spec is not valid JSON or YAML"),
    ("[1]", "run spec must be a mapping, got list"),
])
def test_a_bad_spec_is_a_one_line_error_naming_the_culprit(spec, culprit):
    with pytest.raises(InvalidSpecError) as info:
        get_or_create_ctx("x", spec=spec)
    assert culprit.split(": ", 1)[-1] in str(info.value) and "\n" not in str(info.value)
    assert get_run_db().list_runs() == []


def test_get_param_records_the_default_used():
    ctx = get_or_create_ctx("x", spec={"spec": {"parameters": {"p1": 5}}})
    assert ctx.get_param("p1", 1) == 5 and ctx.get_param("p2", "a-string") == "a-string"
    assert ctx.get_param("p3") is None
    assert ctx.to_dict()["spec"]["parameters"] == {"p1": 5, "p2": "a-string", "p3": None}


def test_secrets_from_the_api_are_recorded_by_name_only():
    ctx = get_or_create_ctx("x", secrets={"PASSWORD": "pa55word"})
    assert ctx.get_secret("PASSWORD") == "pa55word" and ctx.get_secret("NOPE") is None
    assert ctx.secret_keys == ["PASSWORD"]
    ctx.commit()
    assert "pa55word" not in json.dumps(stored(ctx.uid))
    assert ctx.mask("it is pa55word") == "it is ******"


def test_get_object_reads_the_mapped_input_and_records_lineage(tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(b"a,b\n1,2\n")
    ctx = get_or_create_ctx("x", spec={"spec": {"input_objects": [{"key": "infile.txt", "path": str(data)}]}})
    assert ctx.get_object("infile.txt").get() == b"a,b\n1,2\n"
    assert ctx.input_artifact("infile.txt").get(encoding="utf-8") == "a,b\n1,2\n"
    assert ctx.get_input("infile.txt").local() == str(data)
    (lineage,) = ctx.to_dict()["status"]["input_objects"]  # read three times, recorded once
    assert lineage["key"] == "infile.txt" and lineage["url"] == str(data) and lineage["size"] == 8


def test_get_object_of_an_unmapped_key_is_a_local_path_and_joins_the_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "infile.txt").write_text("hello")
    ctx = get_or_create_ctx("x")
    assert ctx.get_object("infile.txt").get() == b"hello"
    assert ctx.to_dict()["spec"]["input_objects"] == [{"key": "infile.txt", "path": "infile.txt"}]
    with pytest.raises(NotFoundError, match="missing.txt"):
        ctx.get_object("missing.txt").get()


def test_outputs_and_their_aliases():
    ctx = get_or_create_ctx("x")
    ctx.log_output("accuracy", 12)
    ctx.log_outputs({"loss": 0.5, "ok": True})
    ctx.log_result("tags", ("a", "b"))
    ctx.log_results({"table": {"k": [1, None]}})
    assert ctx.to_dict()["status"]["outputs"] == {"accuracy": 12, "loss": 0.5, "ok": True, "tags": ["a", "b"],
                                                  "table": {"k": [1, None]}}
    with pytest.raises(InvalidInputError, match="output 'model': cannot record a value of type object"):
        ctx.log_output("model", object())


def test_metrics_in_the_seed_shape():
    ctx = get_or_create_ctx("x")
    for i in range(1, 4):
        ctx.log_metric("loss", 2 * i, i)
    ctx.log_metric("acc", 0.5)
    ctx.log_metric("acc", 0.75)
    metrics = ctx.to_dict()["status"]["metrics"]
    assert metrics["loss"] == {"labels": {}, "xvalues": ["1", "2", "3"], "yvalues": [2, 4, 6]}
    assert metrics["acc"] == {"labels": {}, "xvalues": ["1", "2"], "yvalues": [0.5, 0.75]}
    with pytest.raises(InvalidInputError, match="metric 'loss': value must be a number, got str"):
        ctx.log_metric("loss", "high")
    with pytest.raises(InvalidInputError, match="metric 'loss'"):
        ctx.log_metric("loss", True)


def test_log_artifact_from_a_body_and_from_a_local_file(tmp_path):
    out = tmp_path / "out"
    ctx = get_or_create_ctx("x", spec={"spec": {"default_output_path": str(out)}})
    entry = ctx.log_artifact("test.txt", body=b"abc is 123")
    assert (out / "test.txt").read_bytes() == b"abc is 123"
    assert entry["key"] == "test.txt" and entry["target_path"] == str(out / "test.txt") and entry["size"] == 10
    assert entry["format"] == "txt" and entry["producer"] == {"name": "x", "uid": ctx.uid}
    local = tmp_path / "model.bin"
    local.write_bytes(b"\0" * 100)
    ctx.log_artifact("models/model.bin", local_path=str(local), description="weights")
    assert (out / "models" / "model.bin").read_bytes() == b"\0" * 100
    ctx.log_artifact("test.txt", body="replaced")  # same key: one entry, the newest
    artifacts = ctx.to_dict()["status"]["output_artifacts"]
    assert [a["key"] for a in artifacts] == ["models/model.bin", "test.txt"]
    assert artifacts[0]["description"] == "weights" and artifacts[1]["size"] == 8


def test_log_artifact_goes_to_the_output_target_given_for_its_key(tmp_path):
    target = tmp_path / "elsewhere" / "chart.png"
    ctx = get_or_create_ctx("x", spec={"spec": {"output_artifacts": [{"key": "chart.png", "path": str(target)}]}})
    ctx.log_artifact("chart.png", body=b"png")
    assert target.read_bytes() == b"png"


@pytest.mark.parametrize("key", ["../escape.txt", "/etc/passwd", "a/../../b", "s3://bucket/x", ""])
def test_log_artifact_refuses_keys_outside_the_output_path(key, tmp_path):
    ctx = get_or_create_ctx("x", spec={"spec": {"default_output_path": str(tmp_path)}})
    with pytest.raises(InvalidInputError, match="artifact key"):
        ctx.log_artifact(key, body=b"x")
    assert ctx.to_dict()["status"]["output_artifacts"] == []


def test_log_artifact_of_a_missing_local_file(tmp_path):
    ctx = get_or_create_ctx("x", spec={"spec": {"default_output_path": str(tmp_path)}})
    with pytest.raises(NotFoundError, match="artifact 'chart.png': local file not found"):
        ctx.log_artifact("chart.png")


def test_labels_and_annotations():
    ctx = get_or_create_ctx("x", labels={"team": "a"})
    ctx.set_label("stage", 2)
    ctx.set_label("team", "b", replace=False)
    ctx.set_annotation("note", "first")
    ctx.set_annotation("note", "second")
    assert ctx.labels == {"team": "a", "owner": ctx.labels["owner"], "stage": "2"}
    assert ctx.annotations == {"note": "second", "mlrun/heartbeat": "30"}


def test_commit_stores_the_record_as_it_is_now():
    ctx = get_or_create_ctx("x", project="proj")
    ctx.log_output("accuracy", 1)
    ctx.commit("first")
    first = stored(ctx.uid)
    assert first["status"]["commit_message"] == "first" and first["status"]["state"] == "running"
    assert first["metadata"]["project"] == "proj"
    ctx.log_output("accuracy", 2)
    ctx.commit()
    again = stored(ctx.uid)
    assert again["status"]["outputs"] == {"accuracy": 2} and again["status"]["commit_message"] == "first"
    assert again == ctx.to_dict()
    assert again["status"]["last_update"] >= first["status"]["last_update"]


def test_to_dict_yaml_and_json_agree():
    ctx = get_or_create_ctx("x")
    ctx.log_metric("loss", 1.5)
    data = ctx.to_dict()
    assert yaml.safe_load(ctx.to_yaml()) == data and json.loads(ctx.to_json()) == data
    assert RunRecord.from_dict(data) == ctx.record


def test_context_manager_ends_completed():
    with get_or_create_ctx("x") as ctx:
        ctx.log_output("a", 1)
    record = stored(ctx.uid)
    assert ctx.state == "completed" and record["status"]["state"] == "completed"
    assert record["status"]["outputs"] == {"a": 1} and record["status"]["error"] == ""


def test_context_manager_ends_in_error_with_the_message_and_reraises():
    with pytest.raises(ZeroDivisionError), get_or_create_ctx("x", secrets={"KEY": "s3cr3t-value"}) as ctx:
        raise ZeroDivisionError("cannot divide s3cr3t-value\nby zero")
    record = stored(ctx.uid)
    assert record["status"]["state"] == "error"
    assert record["status"]["error"] == "ZeroDivisionError: cannot divide ****** by zero"


def test_context_manager_treats_a_clean_exit_as_success():
    for code in (None, 0):
        mlrun.lifecycle.reset_current()
        with pytest.raises(SystemExit), get_or_create_ctx("x") as ctx:
            raise SystemExit(code)
        assert stored(ctx.uid)["status"]["state"] == "completed"
    with pytest.raises(SystemExit), get_or_create_ctx("y", spec={}) as ctx:
        raise SystemExit(3)
    status = stored(ctx.uid)["status"]
    assert (status["state"], status["error"]) == ("error", "script exited with code 3")


def test_finish_with_a_message_and_set_state():
    ctx = get_or_create_ctx("x")
    ctx.finish("input was empty")
    assert stored(ctx.uid)["status"]["state"] == "error" and stored(ctx.uid)["status"]["error"] == "input was empty"
    other = get_or_create_ctx("y", spec={})
    other.set_state("completed")
    assert other.state == "completed"
    with pytest.raises(InvalidInputError, match="run state must be one of created, running, completed, error, got"):
        other.set_state("done")
    assert other.state == "completed"


def test_an_explicit_store(tmp_path):
    ctx = get_or_create_ctx("x", rundb=str(tmp_path / "mine"))
    ctx.commit()
    assert get_run_db(str(tmp_path / "mine")).read_run_data(ctx.uid)["metadata"]["name"] == "x"
    assert not os.path.exists(os.environ["MLRUN_DBPATH"])


def test_parameter_defaults_are_recorded_as_plain_data():
    ctx = get_or_create_ctx("x")
    assert ctx.get_param("dims", (1, 2)) == (1, 2)  # the code gets what it passed
    assert ctx.get_param("tags", {"a"}) == {"a"}
    ctx.commit()
    assert stored(ctx.uid)["spec"]["parameters"] == {"dims": [1, 2], "tags": ["a"]} == ctx.parameters
    with pytest.raises(InvalidInputError, match="parameter 'model': cannot record a value of type object"):
        ctx.get_param("model", object())


def test_output_keys_are_strings_so_stored_and_in_memory_records_agree():
    ctx = get_or_create_ctx("x")
    ctx.log_outputs({1: "one", "two": {3: 4}})
    ctx.commit()
    assert stored(ctx.uid)["status"]["outputs"] == ctx.to_dict()["status"]["outputs"] == {"1": "one",
                                                                                          "two": {"3": 4}}


def test_a_secret_the_code_logs_is_masked_in_the_record():
    ctx = get_or_create_ctx("x", secrets={"TOKEN": "tok-3141"})
    token = ctx.get_secret("TOKEN")
    ctx.log_output("token", token)
    ctx.log_output("nested", {"urls": [f"https://u:{token}@host"]})
    ctx.set_label("auth", token)
    ctx.set_annotation("note", f"used {token}")
    ctx.commit(f"logged {token}")
    record = stored(ctx.uid)
    assert "tok-3141" not in json.dumps(record) and "tok-3141" not in ctx.to_yaml()
    assert record["status"]["outputs"] == {"token": "******", "nested": {"urls": ["https://u:******@host"]}}
    assert record["metadata"]["labels"]["auth"] == "******" and record["status"]["commit_message"] == "logged ******"


def test_a_secret_the_code_logs_as_a_number_is_masked_in_the_record():
    ctx = get_or_create_ctx("x", secrets={"PIN": "4567", "RATE": "0.125"})
    ctx.log_output("pin", int(ctx.get_secret("PIN")))
    ctx.log_outputs({"rate": float(ctx.get_secret("RATE")), "in_a_list": [1, 4567.0], "other": 4568})
    ctx.log_metric("loss", 4567)
    ctx.commit()
    record = stored(ctx.uid)
    shown = json.dumps([record["status"]["outputs"], record["status"].get("metrics")])
    assert "4567" not in shown and "0.125" not in shown, shown  # (a uid or a time may hold those digits by chance)
    assert record["status"]["outputs"] == {"pin": "******", "rate": "******", "in_a_list": [1, "******"],
                                           "other": 4568}
