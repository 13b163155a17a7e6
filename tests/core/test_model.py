"""The run record: its shape, its validation and exact round trips through YAML and JSON."""
import json
from datetime import datetime

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from mlrun.errors import InvalidSpecError
from mlrun.model import RUN_STATES, RunRecord, now_iso, parse_struct


def test_a_new_record_has_the_seed_shape():
    data = RunRecord().to_dict()
    assert list(data) == ["metadata", "spec", "status"]
    assert set(data["metadata"]) >= {"name", "uid", "project", "tag", "labels", "annotations"}
    assert set(data["spec"]) >= {"runtime", "parameters", "input_objects", "data_stores", "output_artifacts",
                                 "default_output_path", "secret_sources"}
    assert set(data["status"]) >= {"state", "outputs", "metrics", "start_time", "last_update", "output_artifacts",
                                   "error", "commit_message"}
    assert data["spec"]["runtime"] == {"kind": "", "command": ""}
    assert data["status"]["state"] == "created"


def test_metric_value_lists_are_written_inline_as_in_the_seed():
    record = RunRecord()
    record.status.metrics = {"loss": {"labels": {}, "xvalues": ["1", "2", "3"], "yvalues": [2, 4, 6]}}
    text = record.to_yaml()
    assert "xvalues: ['1', '2', '3']" in text and "yvalues: [2, 4, 6]" in text
    assert "labels: {}" in text


def test_now_iso_carries_a_time_zone():
    assert datetime.fromisoformat(now_iso()).utcoffset() is not None


def test_from_dict_copies_containers():
    data = {"spec": {"parameters": {"p": [1, 2]}}}
    record = RunRecord.from_dict(data)
    data["spec"]["parameters"]["p"].append(3)
    assert record.spec.parameters == {"p": [1, 2]}
    record.to_dict()["spec"]["parameters"]["p"].append(4)
    assert record.spec.parameters == {"p": [1, 2]}


def test_null_fields_take_their_defaults():
    record = RunRecord.from_dict({"metadata": None, "spec": {"parameters": None}, "status": {"state": None}})
    assert record == RunRecord()


@pytest.mark.parametrize("data, culprit", [
    ({"spec": {"parameters": [1]}}, "spec.parameters must be a mapping, got list"),
    ({"metadata": {"iteration": "1"}}, "metadata.iteration must be an integer, got str"),
    ({"metadata": {"iteration": True}}, "metadata.iteration must be an integer, got bool"),
    ({"metadata": {"labels": "a=b"}}, "metadata.labels must be a mapping, got str"),
    ({"metadata": {"name": 5}}, "metadata.name must be a string, got int"),
    ({"spec": {"input_objects": {"k": "v"}}}, "spec.input_objects must be a list, got dict"),
    ({"spec": {"input_objects": ["infile.txt"]}}, "spec.input_objects[0] must be a mapping, got str"),
    ({"spec": {"output_artifacts": [{"key": "a", "path": "b"}, {"key": "c"}]}},
     "spec.output_artifacts[1].path must be a string"),
    ({"spec": {"secret_sources": [{"source": "x"}]}}, "spec.secret_sources[0].kind must be a string"),
    ({"spec": {"paramters": {}}}, "spec.paramters is not a known field"),
    ({"spec": "p1=5"}, "spec must be a mapping, got str"),
    ({"specs": {}}, "specs is not a known section"),
    ({"status": {"state": "done"}}, "status.state must be one of created, running, completed, error, got 'done'"),
])
def test_wrong_shapes_are_refused_with_the_field_named(data, culprit):
    with pytest.raises(InvalidSpecError) as info:
        RunRecord.from_dict(data)
    assert culprit in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text, message", [
    ("{bad", "is not valid JSON or YAML (line "),
    ("a: [", "is not valid JSON or YAML"),
    ("[1, 2]", "must be a mapping, got list"),
    ("just text", "must be a mapping, got str"),
    ("   ", "is empty"),
    (b"\xff\xfe", "is not UTF-8 text"),
    pytest.param("[" * 100_000, "is nested too deeply", id="deep-list"),
    pytest.param('{"a":' * 100_000, "is nested too deeply", id="deep-mapping"),
])
def test_parse_struct_errors_are_one_line(text, message):
    with pytest.raises(InvalidSpecError) as info:
        parse_struct(text, "the spec")
    assert str(info.value).startswith("the spec ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_struct_reads_json_and_yaml():
    assert parse_struct('{"spec": {"parameters": {"p1": 5}}}') == {"spec": {"parameters": {"p1": 5}}}
    assert parse_struct("spec:\n  parameters:\n    p1: 5\n") == {"spec": {"parameters": {"p1": 5}}}
    assert parse_struct(b"{a: 1}") == {"a": 1}  # YAML flow mapping, not JSON


def test_from_text_names_the_source():
    with pytest.raises(InvalidSpecError, match="^MLRUN_EXEC_CONFIG is not valid"):
        RunRecord.from_text("{oops", "MLRUN_EXEC_CONFIG")


def test_summary_keeps_scalar_outputs_only():
    record = RunRecord.from_dict({"metadata": {"uid": "u", "name": "n", "labels": {"a": "b"}},
                                  "status": {"state": "completed", "outputs": {"acc": 0.9, "tbl": [1], "m": {}}}})
    summary = record.summary()
    assert summary["outputs"] == {"acc": 0.9}
    assert summary["uid"] == "u" and summary["labels"] == {"a": "b"} and summary["state"] == "completed"


# -- property: every record round-trips exactly through YAML (read back with yaml.safe_load) and JSON ---------

keys = st.text(min_size=1, max_size=12)
texts = st.text(max_size=20)
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63)
           | st.floats(allow_nan=False, allow_infinity=False) | texts)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=6)
string_maps = st.dictionaries(keys, texts, max_size=4)
value_maps = st.dictionaries(keys, values, max_size=3)
value_lists = st.lists(value_maps, max_size=2)
references = st.lists(st.fixed_dictionaries({"key": texts, "path": texts}, optional={"extra": values}), max_size=2)
secret_sources = st.lists(st.fixed_dictionaries({"kind": texts, "source": texts | st.lists(texts, max_size=2)}),
                          max_size=2)
metrics = st.dictionaries(keys, st.builds(
    lambda labels, points: {"labels": labels, "xvalues": [str(i) for i in range(len(points))], "yvalues": points},
    string_maps, st.lists(st.integers() | st.floats(allow_nan=False, allow_infinity=False), max_size=6)), max_size=3)

records = st.builds(
    lambda metadata, spec, status: {"metadata": metadata, "spec": spec, "status": status},
    st.fixed_dictionaries({"name": texts, "uid": texts, "project": texts, "tag": texts,
                           "iteration": st.integers(min_value=0, max_value=10**6),
                           "labels": string_maps, "annotations": string_maps}),
    st.fixed_dictionaries({"runtime": value_maps, "parameters": value_maps, "input_objects": references,
                           "data_stores": value_lists, "output_artifacts": references,
                           "default_output_path": texts, "secret_sources": secret_sources,
                           "hyperparams": value_maps, "hyper_options": value_maps}),
    st.fixed_dictionaries({"state": st.sampled_from(RUN_STATES), "outputs": value_maps, "metrics": metrics,
                           "start_time": texts, "last_update": texts, "input_objects": value_lists,
                           "output_artifacts": value_lists, "error": texts, "commit_message": texts,
                           "iterations": value_lists}),
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_records_round_trip_exactly(data):
    record = RunRecord.from_dict(data)
    assert record.to_dict() == data
    loaded = yaml.safe_load(record.to_yaml())
    assert loaded == data
    assert RunRecord.from_dict(loaded) == record
    assert json.loads(record.to_json()) == data
    assert RunRecord.from_text(record.to_json()) == record


def test_strings_yaml_would_retype_stay_strings():
    tricky = ["yes", "no", "on", "off", "y", "~", "null", "1_000", "0o17", "0x1F", "1e3", ".inf", ".nan", "<<", "=",
              "12:30:00", "2019-06-29", "2019-06-29 23:04:57.553598", "'quoted'", "- dash", "a: b", "#hash", ""]
    record = RunRecord.from_dict({"spec": {"parameters": {s or "empty": s for s in tricky}},
                                  "metadata": {"labels": {"k" + str(i): s for i, s in enumerate(tricky)}}})
    assert RunRecord.from_dict(yaml.safe_load(record.to_yaml())) == record
