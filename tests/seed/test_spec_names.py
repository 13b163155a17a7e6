"""The seed's spec names (``input_artifacts``, ``output_path``, ``log_level``), unknown fields as warnings or refused
in strict mode, and ``get_or_create_ctx`` as 2019 code calls it, from every module it imported it from."""
import logging
import warnings

import pytest
from helpers import run_python

import mlrun
import mlrun.model
from mlrun import get_or_create_ctx
from mlrun.errors import InvalidSpecError, UnknownFieldWarning
from mlrun.model import RunRecord
from mlrun.rundb import get_run_db

INPUTS = [{"key": "infile.txt", "path": "s3://mybucket/infile.txt"}]


# -- the seed's names -------------------------------------------------------------------------------------------

def test_the_seeds_names_are_read_and_ours_recorded():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFieldWarning)  # these are names, not unknown fields
        record = RunRecord.from_dict({"spec": {"input_artifacts": INPUTS, "output_path": "s3://b/out"}})
    assert record.spec.input_objects == INPUTS and record.spec.default_output_path == "s3://b/out"
    spec = record.to_dict()["spec"]
    assert "input_artifacts" not in spec and "output_path" not in spec
    assert RunRecord.from_dict(record.to_dict()) == record


def test_both_spellings_with_one_value_are_taken_with_two_refused():
    same = RunRecord.from_dict({"spec": {"input_artifacts": INPUTS, "input_objects": list(INPUTS)}})
    assert same.spec.input_objects == INPUTS
    assert RunRecord.from_dict({"spec": {"output_path": None, "default_output_path": "out"}}).spec \
        .default_output_path == "out"
    with pytest.raises(InvalidSpecError) as info:
        RunRecord.from_dict({"spec": {"output_path": "a", "default_output_path": "b"}})
    assert str(info.value).startswith("spec.output_path and spec.default_output_path are two names of one field")
    assert info.value.field == "spec.output_path"


def test_a_seed_name_with_the_wrong_type_is_refused_by_our_name():
    with pytest.raises(InvalidSpecError, match=r"^spec.input_objects must be a list, got str"):
        RunRecord.from_dict({"spec": {"input_artifacts": "infile.txt"}})
    with pytest.raises(InvalidSpecError, match=r"^spec.input_objects\[0\] must be a mapping, got str"):
        RunRecord.from_dict({"spec": {"input_artifacts": ["infile.txt"]}})


@pytest.mark.parametrize("given, recorded", [(None, "info"), ("debug", "debug"), ("WARN", "warning"),
                                             (" Error ", "error")])
def test_log_level_is_recorded_in_logging_names(given, recorded):
    assert RunRecord.from_dict({"spec": {"log_level": given}}).spec.log_level == recorded


@pytest.mark.parametrize("level, problem", [
    ("loud", "must be one of debug, info, warning, error, critical, got 'loud'"), (10, "must be a string, got int")])
def test_a_bad_log_level_is_refused(level, problem):
    with pytest.raises(InvalidSpecError) as info:
        RunRecord.from_dict({"spec": {"log_level": level}})
    assert str(info.value) == f"spec.log_level {problem}" and info.value.field == "spec.log_level"


def test_the_contexts_logger_logs_at_the_specs_level(capsys):
    quiet = get_or_create_ctx("quiet", spec={"spec": {"log_level": "warning"}})
    chatty = get_or_create_ctx("chatty", spec={"spec": {"log_level": "debug"}})
    quiet.logger.info("not shown")
    quiet.logger.warning("shown at warning")
    chatty.logger.debug("shown at debug")
    assert quiet.log_level == "warning" and quiet.logger.getEffectiveLevel() == logging.WARNING
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert "[mlrun] WARNING shown at warning" in err and "[mlrun] DEBUG shown at debug" in err


# -- unknown fields ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, where, hint", [
    ({"metadata": {"name": "r", "lables": {"a": "b"}}}, "metadata.lables", "(did you mean labels?)"),
    ({"spec": {"paramters": {"p1": 1}}}, "spec.paramters", "(did you mean parameters?)"),
    ({"status": {"zzz": 1}}, "status.zzz", "(expected one of: state, outputs,"),
    ({"kind": "job", "metadata": {"name": "r"}}, "kind", "(expected one of: metadata, spec, status)"),  # run: known
    ({"specs": {}}, "specs", "(did you mean spec?)"),
])
def test_an_unknown_field_is_left_out_with_a_warning_naming_it(data, where, hint):
    with pytest.warns(UnknownFieldWarning) as caught:
        record = RunRecord.from_dict(data)
    (warning,) = [w for w in caught if w.category is UnknownFieldWarning]  # not a stray ResourceWarning of gc
    message = str(warning.message)
    assert message.startswith(f"{where} is not a known ") and hint in message
    assert "left out of the record" in message and "\n" not in message
    section, _, name = where.rpartition(".")
    known = {k: ({f: v for f, v in s.items() if f != name} if k == section else s) for k, s in data.items()
             if k != where}
    assert record == RunRecord.from_dict(known) and record.metadata.name == data.get("metadata", {}).get("name", "")


def test_strict_mode_refuses_unknown_fields_but_still_takes_the_seeds_names(monkeypatch):
    monkeypatch.setenv("MLRUN_STRICT_SPEC", "1")
    with pytest.raises(InvalidSpecError) as info:
        RunRecord.from_dict({"metadata": {"lables": {}}})
    assert str(info.value) == "metadata.lables is not a known field (did you mean labels?)"
    assert info.value.field == "metadata.lables"
    with pytest.raises(InvalidSpecError, match="^kind is not a known section"):
        RunRecord.from_dict({"kind": "job"})
    assert RunRecord.from_dict({"kind": "run"}) == RunRecord()  # MLRun 1.x's: what every record is
    assert RunRecord.from_dict({"spec": {"input_artifacts": INPUTS}}).spec.input_objects == INPUTS
    monkeypatch.setenv("MLRUN_STRICT_SPEC", "0")
    with pytest.warns(UnknownFieldWarning):
        RunRecord.from_dict({"metadata": {"lables": {}}})


def test_wrong_types_still_fail_whatever_the_mode():
    with pytest.raises(InvalidSpecError, match="^spec.parameters must be a mapping, got list"):
        RunRecord.from_dict({"spec": {"parameters": [1], "paramters": {}}})


def test_a_record_with_known_fields_only_never_reaches_the_unknown_field_path(monkeypatch):
    def refuse(*args):
        raise AssertionError("the unknown-field path ran for known fields")

    monkeypatch.setattr(mlrun.model, "unknown_field", refuse)
    data = get_or_create_ctx("known", spec={"spec": {"parameters": {"p1": 1}}}).to_dict()
    assert RunRecord.from_dict(data).to_dict() == data


def test_the_warning_is_one_line_on_stderr_each_time():
    code = ("from mlrun.model import RunRecord\n"
            "for _ in range(2):\n"
            "    RunRecord.from_dict({'metadata': {'lables': {'a': 'b'}}})\n"
            "print('loaded')")
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "loaded\n"
    line = ("mlrun:0: UnknownFieldWarning: metadata.lables is not a known field (did you mean labels?): "
            "left out of the record ($MLRUN_STRICT_SPEC=1 refuses it)\n")
    assert proc.stderr == line * 2


def test_an_unknown_field_in_a_spec_given_to_get_or_create_ctx_does_not_stop_the_run():
    with pytest.warns(UnknownFieldWarning, match="metadata.lables"):
        ctx = get_or_create_ctx("typo", spec={"metadata": {"lables": {"team": "ml"}},
                                              "spec": {"parameters": {"p1": 2}}})
    ctx.log_output("accuracy", ctx.get_param("p1") * 2)
    ctx.commit()
    stored = get_run_db().read_run_data(ctx.uid)
    assert stored["status"]["outputs"] == {"accuracy": 4} and "lables" not in str(stored)


# -- get_or_create_ctx as 2019 code calls it --------------------------------------------------------------------

def test_get_or_create_ctx_is_importable_from_where_the_seed_imported_it():
    import mlrun.run
    import mlrun.runtimes

    assert mlrun.runtimes.get_or_create_ctx is mlrun.get_or_create_ctx is mlrun.run.get_or_create_ctx
    assert "get_or_create_ctx" in mlrun.runtimes.__all__


def test_an_explicit_spec_or_event_makes_a_new_context_and_a_bare_call_returns_the_current_one():
    own = get_or_create_ctx("mytask")
    assert get_or_create_ctx("mytask") is own
    task2 = get_or_create_ctx("task2", spec={"spec": {"parameters": {"p1": 8}}})
    served = get_or_create_ctx("served", event=b'{"spec": {"parameters": {"p1": 9}}}')
    assert len({id(own), id(task2), id(served)}) == 3
    assert task2.name == "task2" and task2.get_param("p1") == 8 and served.get_param("p1") == 9
    assert get_or_create_ctx("anything") is own  # the process's own run stays the current one


def test_a_spec_context_is_current_when_the_process_has_no_run_of_its_own():
    first = get_or_create_ctx("first", spec={"spec": {"parameters": {"p1": 1}}})
    assert get_or_create_ctx("bare") is first
    second = get_or_create_ctx("second", spec={"spec": {}})
    assert get_or_create_ctx("bare") is second


def test_rundb_given_as_a_path_gets_the_commit(tmp_path):
    store = str(tmp_path / "elsewhere")
    ctx = get_or_create_ctx("to-path", spec={"spec": {"parameters": {"p1": 3}}}, rundb=store)
    ctx.log_output("accuracy", 6)
    ctx.commit("done")
    assert get_run_db(store).read_run_data(ctx.uid)["status"]["commit_message"] == "done"
    assert get_run_db().list_runs() == []  # not the default store


def test_rundb_given_as_an_s3_url_gets_the_commit(s3_env):
    url = f"s3://{s3_env.make_bucket()}/runs"
    ctx = get_or_create_ctx("to-s3", spec={"spec": {}}, rundb=url)
    ctx.log_output("accuracy", 1)
    ctx.commit()
    assert get_run_db(url).read_run_data(ctx.uid)["status"]["outputs"] == {"accuracy": 1}
