"""The run record: its shape, its validation and exact round trips through YAML and JSON."""
import json
import time
from datetime import datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun.errors import InvalidSpecError
from mlrun.model import LOG_LEVELS, RUN_STATES, RunRecord, now_iso, parse_struct


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
def test_wrong_shapes_are_refused_with_the_field_named(data, culprit, monkeypatch):
    monkeypatch.setenv("MLRUN_STRICT_SPEC", "1")  # unknown fields are refused in strict mode only
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
uids = st.just("") | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
data_stores = st.lists(st.fixed_dictionaries({"name": texts, "url": texts}, optional={"secret_prefix": texts}),
                       max_size=2)
read_inputs = st.lists(st.fixed_dictionaries({"key": texts}, optional={"url": texts, "size": st.integers()}),
                       max_size=2)
artifacts = st.lists(st.fixed_dictionaries({"key": texts}, optional={
    "target_path": texts, "size": st.integers(min_value=0), "sha256": texts, "format": texts, "description": texts,
    "labels": string_maps, "producer": value_maps}), max_size=2)
metrics = st.dictionaries(keys, st.builds(
    lambda labels, points: {"labels": labels, "xvalues": [str(i) for i in range(len(points))], "yvalues": points},
    string_maps, st.lists(st.integers() | st.floats(allow_nan=False, allow_infinity=False), max_size=6)), max_size=3)

records = st.builds(
    lambda metadata, spec, status: {"metadata": metadata, "spec": spec, "status": status},
    st.fixed_dictionaries({"name": texts, "uid": uids, "project": texts, "tag": texts,
                           "iteration": st.integers(min_value=0, max_value=10**6),
                           "labels": string_maps, "annotations": string_maps}),
    st.fixed_dictionaries({"runtime": value_maps, "parameters": value_maps, "input_objects": references,
                           "data_stores": data_stores, "output_artifacts": references,
                           "default_output_path": texts, "secret_sources": secret_sources,
                           "hyperparams": value_maps, "hyper_options": value_maps},
                          optional={"log_level": st.sampled_from([v for v in LOG_LEVELS if v != "info"])}),
    st.fixed_dictionaries({"state": st.sampled_from(RUN_STATES), "outputs": value_maps, "metrics": metrics,
                           "start_time": texts, "last_update": texts, "input_objects": read_inputs,
                           "output_artifacts": artifacts, "error": texts, "commit_message": texts,
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


def test_fields_newer_than_the_wire_format_are_written_only_when_set():
    # an older mlrun refuses fields it does not know: a record at the defaults must read there as it did
    assert "log_level" not in RunRecord().to_dict()["spec"]
    assert "log_level" not in RunRecord.from_dict({"spec": {"log_level": "INFO"}}).to_dict(copy=False)["spec"]
    chatty = RunRecord.from_dict({"spec": {"log_level": "debug"}})
    assert chatty.to_dict()["spec"]["log_level"] == "debug" and chatty.spec.log_level == "debug"
    assert RunRecord().spec.log_level == "info"


def test_strings_yaml_would_retype_stay_strings():
    tricky = ["yes", "no", "on", "off", "y", "~", "null", "1_000", "0o17", "0x1F", "1e3", ".inf", ".nan", "<<", "=",
              "12:30:00", "2019-06-29", "2019-06-29 23:04:57.553598", "'quoted'", "- dash", "a: b", "#hash", ""]
    record = RunRecord.from_dict({"spec": {"parameters": {s or "empty": s for s in tricky}},
                                  "metadata": {"labels": {"k" + str(i): s for i, s in enumerate(tricky)}}})
    assert RunRecord.from_dict(yaml.safe_load(record.to_yaml())) == record


# -- what pages and tools rely on: checked on load, the field named ----------------------------------------

@pytest.mark.parametrize("data, culprit", [
    ({"metadata": {"uid": "../../x"}}, "metadata.uid '../../x': use letters, digits"),
    ({"metadata": {"uid": ".hidden"}}, "metadata.uid '.hidden'"),
    ({"metadata": {"iteration": -1}}, "metadata.iteration must be a whole number from 0 to 2147483647, got -1"),
    ({"metadata": {"iteration": 10 ** 30}}, "metadata.iteration must be a whole number from 0"),
    ({"metadata": {"labels": {"k": [1]}}}, "metadata.labels.k must be a string, number or boolean, got list"),
    ({"metadata": {"annotations": {"k": None}}},
     "metadata.annotations.k must be a string, number or boolean, got null"),
    ({"metadata": {"labels": {1: "a"}}}, "metadata.labels keys must be strings, got int 1"),
    ({"status": {"metrics": {"loss": 5}}},
     "status.metrics.loss must be a mapping with xvalues and yvalues lists, got int"),
    ({"status": {"metrics": {"loss": {"yvalues": [1]}}}}, "status.metrics.loss.xvalues must be a list, got null"),
    ({"status": {"metrics": {"loss": {"xvalues": ["1"], "yvalues": "1"}}}},
     "status.metrics.loss.yvalues must be a list, got str"),
    ({"status": {"metrics": {"loss": {"xvalues": ["1", "2"], "yvalues": [1]}}}},
     "status.metrics.loss: xvalues and yvalues must be as long as each other, got 2 and 1"),
    ({"status": {"metrics": {"loss": {"xvalues": [], "yvalues": [], "labels": []}}}},
     "status.metrics.loss.labels must be a mapping, got list"),
    ({"status": {"metrics": {1: {"xvalues": [], "yvalues": []}}}}, "status.metrics keys must be strings, got int 1"),
    ({"status": {"output_artifacts": ["a.txt"]}}, "status.output_artifacts[0] must be a mapping, got str"),
    ({"status": {"output_artifacts": [{"target_path": "/x"}]}}, "status.output_artifacts[0].key must be a string"),
    ({"status": {"output_artifacts": [{"key": "a", "target_path": 5}]}},
     "status.output_artifacts[0].target_path must be a string, got int"),
    ({"status": {"output_artifacts": [{"key": "a", "size": "10"}]}},
     "status.output_artifacts[0].size must be an integer, got str"),
    ({"status": {"output_artifacts": [{"key": "a", "size": True}]}},
     "status.output_artifacts[0].size must be an integer, got bool"),
    ({"status": {"output_artifacts": [{"key": "a"}, {"key": "b", "sha256": 1}]}},
     "status.output_artifacts[1].sha256 must be a string, got int"),
    ({"status": {"output_artifacts": [{"key": "a", "format": ["csv"]}]}},
     "status.output_artifacts[0].format must be a string, got list"),
    ({"status": {"output_artifacts": [{"key": "a", "description": {}}]}},
     "status.output_artifacts[0].description must be a string, got dict"),
    ({"status": {"output_artifacts": [{"key": "a", "labels": "x=y"}]}},
     "status.output_artifacts[0].labels must be a mapping, got str"),
    ({"status": {"input_objects": [{"url": "/x"}]}}, "status.input_objects[0].key must be a string"),
    ({"status": {"input_objects": [5]}}, "status.input_objects[0] must be a mapping, got int"),
    ({"status": {"iterations": [5]}}, "status.iterations[0] must be a list like the first row"),
    ({"status": {"iterations": [["iteration"], {"iteration": 1}]}},
     "status.iterations[1] must be a list like the first row (the rows are all lists or all mappings), got dict"),
    ({"status": {"iterations": [{"iteration": 1}, [1]]}}, "status.iterations[1] must be a mapping like the first row"),
    ({"spec": {"data_stores": [{"name": "s"}]}}, "spec.data_stores[0].url must be a string"),
    ({"spec": {"data_stores": [{"url": "s3://b", "name": 1}]}}, "spec.data_stores[0].name must be a string"),
    ({"spec": {"data_stores": ["s3://b"]}}, "spec.data_stores[0] must be a mapping, got str"),
])
def test_what_pages_rely_on_is_checked_with_the_field_named(data, culprit):
    with pytest.raises(InvalidSpecError) as info:
        RunRecord.from_dict(data)
    assert culprit in str(info.value) and "\n" not in str(info.value)
    assert info.value.field and info.value.field in str(info.value)


def test_well_formed_optional_fields_load():
    data = {"metadata": {"uid": "a1_b-2.c", "iteration": 2 ** 31 - 1},
            "spec": {"data_stores": [{"name": "s", "url": "s3://b", "secret_prefix": "S_"}]},
            "status": {"metrics": {"loss": {"xvalues": ["1"], "yvalues": [0.5]}},
                       "output_artifacts": [{"key": "a", "target_path": None, "size": 3, "labels": {},
                                             "producer": {"uid": "u"}}],
                       "input_objects": [{"key": "k", "url": "/x"}], "iterations": [["iteration", "acc"], [1, 0.5]]}}
    assert RunRecord.from_dict(data).to_dict()["status"]["metrics"]["loss"]["yvalues"] == [0.5]
    assert RunRecord.from_dict({"status": {"iterations": [{"iteration": 1}, {"iteration": 2}]}}).status.iterations


def test_label_and_annotation_scalars_are_stored_as_strings():
    data = {"metadata": {"labels": {"n": 5, "f": 0.5, "b": True, "s": "x"}, "annotations": {"n": 1}}}
    record = RunRecord.from_dict(data, copy=False)
    assert record.metadata.labels == {"n": "5", "f": "0.5", "b": "True", "s": "x"}
    assert record.metadata.annotations == {"n": "1"}
    assert data["metadata"]["labels"]["n"] == 5  # the caller's mapping is left as it was


def test_metric_points_themselves_are_not_looked_at():
    # a million points load on every served request: only the containers' shapes are checked
    record = RunRecord.from_dict({"status": {"metrics": {"loss": {"xvalues": [None], "yvalues": [{"odd": 1}]}}}})
    assert record.status.metrics["loss"]["yvalues"] == [{"odd": 1}]


# -- parsing text from outside ------------------------------------------------------------------------------

@pytest.fixture
def limits(monkeypatch):
    """``limits(NAME=value)`` sets parsing limits (read once per process) for one test."""
    from mlrun.model import spec_limits

    def set_limits(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        spec_limits.cache_clear()

    spec_limits.cache_clear()
    yield set_limits
    spec_limits.cache_clear()


LAUGHS = "\n".join([f"a: &a [{', '.join(['lol'] * 9)}]"]
                   + [f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
                      for prev, name in zip("abcdefgh", "bcdefghi", strict=False)])


def test_a_yaml_alias_bomb_is_refused_quickly():
    from mlrun.errors import LimitExceededError

    assert len(LAUGHS) < 500
    started = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        parse_struct(LAUGHS, "request body")
    assert time.perf_counter() - started < 0.5
    assert isinstance(info.value, InvalidSpecError)  # callers that catch spec errors keep working
    assert str(info.value) == ("request body uses YAML aliases that expand to 490329055 nodes: more than 10000 added "
                               "($MLRUN_MAX_SPEC_ALIAS_NODES)")


def test_a_few_anchors_in_a_hand_written_spec_load():
    text = "base: &base {lr: 0.1, layers: [1, 2, 3]}\nfirst: *base\nsecond: {<<: *base, lr: 0.2}\nnote: a&b\n"
    assert parse_struct(text)["second"] == {"lr": 0.2, "layers": [1, 2, 3]}


def test_alias_limits_follow_the_environment(limits):
    text = "a: &a [" + ", ".join(["x"] * 50) + "]\nb: [*a, *a, *a]\n"  # 206 nodes expanded, 58 as written
    assert parse_struct(text)["b"][2][49] == "x"
    limits(MLRUN_MAX_SPEC_ALIAS_NODES=100)
    with pytest.raises(InvalidSpecError, match=r"expand to 206 nodes: more than 100 added"):
        parse_struct(text)


def test_a_self_referencing_alias_is_refused():
    with pytest.raises(InvalidSpecError, match="is nested too deeply: deeper than 100 levels"):
        parse_struct("a: &a [1, *a]")


@pytest.mark.parametrize("make", [
    lambda n: '{"a": ' + "[" * (n - 1) + "]" * (n - 1) + "}",
    lambda n: "a: " + "[" * (n - 1) + "]" * (n - 1),
    lambda n: "".join(f"{'  ' * i}k{i}:\n" for i in range(n)) + "  " * n + "leaf",
], ids=["json", "yaml-flow", "yaml-block"])
def test_depth_limit_is_exact(make, limits):
    parse_struct(make(100))
    with pytest.raises(InvalidSpecError, match=r"^spec is nested too deeply: deeper than 100 levels "
                                               r"\(\$MLRUN_MAX_SPEC_DEPTH\)$"):
        parse_struct(make(101))
    limits(MLRUN_MAX_SPEC_DEPTH=10)
    parse_struct(make(10))
    with pytest.raises(InvalidSpecError, match="deeper than 10 levels"):
        parse_struct(make(11))


def test_size_limit_counts_bytes(limits):
    limits(MLRUN_MAX_SPEC_SIZE=100)
    parse_struct("a: " + "x" * 90)
    parse_struct(("a: " + "é" * 48).encode())
    for text in ("a: " + "x" * 98, "a: " + "é" * 49, ("a: " + "é" * 49).encode()):
        with pytest.raises(InvalidSpecError, match=r"^the spec is larger than the limit of 100 bytes "
                                                   r"\(\$MLRUN_MAX_SPEC_SIZE\)$"):
            parse_struct(text, "the spec")


def test_a_bad_limit_setting_is_named(limits):
    limits(MLRUN_MAX_SPEC_DEPTH="lots")
    with pytest.raises(InvalidSpecError, match=r"^\$MLRUN_MAX_SPEC_DEPTH must be a whole number from 1, got 'lots'"):
        parse_struct("a: 1")


def test_a_million_metric_points_load_within_the_defaults():
    points = 1_000_000
    text = json.dumps({"status": {"metrics": {"loss": {"labels": {}, "xvalues": [str(i) for i in range(points)],
                                                       "yvalues": [i * 0.5 for i in range(points)]}}}})
    record = RunRecord.from_dict(parse_struct(text), copy=False)
    assert len(record.status.metrics["loss"]["yvalues"]) == points


def test_records_are_dumped_without_anchors():
    shared = {"lr": 0.1}
    text = RunRecord.from_dict({"spec": {"parameters": {"a": shared, "b": shared}}}).to_yaml()
    from mlrun.model import dump_yaml

    assert "&" not in dump_yaml({"a": shared, "b": shared, "c": [shared]}) and "*id" not in text
    assert yaml.safe_load(text)["spec"]["parameters"] == {"a": shared, "b": shared}


# -- text that is not UTF-8 ------------------------------------------------------------------------------------

def test_printable_escapes_lone_surrogates_only():
    from mlrun.model import printable

    plain = {"a": ["x", 1, {"b": "é"}]}
    assert printable(plain) is plain
    assert printable({"k\udcfe": ["ok", "é\udcff", "\ud83d"], "n": 1}) \
        == {"k\\xfe": ["ok", "é\\xff", "\\ud83d"], "n": 1}


def test_odd_text_from_code_is_escaped_where_records_leave_the_model():
    data = {"metadata": {"name": "n\udcff", "labels": {"l": "\udcff"}},
            "status": {"outputs": {"k\udcff": "v\udcff", "n": 1}, "error": "e\udcff"}}
    shared = RunRecord.from_dict(data, copy=False)
    assert shared.metadata.name == "n\\xff" and shared.status.error == "e\\xff"  # indexed by stores: always
    assert shared.summary()["outputs"] == {"k\\xff": "v\\xff", "n": 1} and shared.summary()["labels"] == {"l": "\\xff"}
    assert "v\\xff" in shared.to_yaml()  # the dump escapes what a shared record still holds
    copied = RunRecord.from_dict(data).to_dict()
    assert copied["status"]["outputs"] == {"k\\xff": "v\\xff", "n": 1}
    copied["status"]["outputs"]["k\\xff"].encode("utf-8")


def test_json_escapes_of_lone_surrogates_load_escaped():
    text = '{"spec": {"parameters": {"a": "\\udcff", "b": "\\ud83d\\ude00"}}}'
    assert RunRecord.from_text(text).spec.parameters == {"a": "\\xff", "b": "\U0001F600"}
    with pytest.raises(InvalidSpecError, match="is not UTF-8 text"):
        parse_struct("a: '\udcff'")


def test_state_changes_follow_the_table_and_refuse_the_impossible():
    from mlrun.errors import InvalidTransitionError

    record = RunRecord()
    record.metadata.uid = "u1"
    assert record.state == "created" and not record.status.start_time
    record.start()
    assert record.state == "running" and record.status.start_time == record.status.last_update
    record.complete()
    assert record.state == "completed"
    with pytest.raises(InvalidTransitionError, match="run u1 cannot go from completed to running"):
        record.start()
    record.fail("raised after completing")  # an exception after the code completed its run fails it
    assert (record.state, record.status.error) == ("error", "raised after completing")
    for change in (record.complete, record.start, lambda: record.set_state("created")):
        with pytest.raises(InvalidTransitionError):
            change()
    record.finish("interrupted by SIGTERM")  # a later, truer reason
    assert (record.state, record.status.error) == ("error", "interrupted by SIGTERM")


def test_mlrun_1x_kind_run_loads_without_a_warning():
    import warnings

    data = {"kind": "run", "metadata": {"uid": "u1"}, "status": {"state": "completed"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an UnknownFieldWarning would fail here
        record = RunRecord.from_dict(data)
    assert record.uid == "u1" and "kind" not in record.to_dict()
    with pytest.warns(UserWarning, match="kind is not a known section"):
        RunRecord.from_dict({**data, "kind": "job"})  # any other kind is not a run record's
