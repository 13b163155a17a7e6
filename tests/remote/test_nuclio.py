"""The nuclio adapter, with nuclio-sdk's real Event, Context, Logger and Response and its test platform."""
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys

import nuclio_sdk
import nuclio_sdk.test
import pytest
from remote_helpers import ACCESS_KEY, INFILE_TEXT, SEED_HANDLERS, SEED_NUCLIO

from mlrun.adapters.nuclio import nuclio_handler
from mlrun.model import RunRecord
from mlrun.protocol import JSON_TYPE, RUN_ANSWER_TYPE, YAML_TYPE
from mlrun.rundb import get_run_db


def seed_event(workdir, accept: str = "", **spec) -> nuclio_sdk.Event:
    body = {"metadata": {"uid": "feedc0de"},
            "spec": {"parameters": {"p1": 5}, "input_objects": [{"key": "infile.txt", "path": workdir.infile}], **spec},
            "secrets": {"ACCESS_KEY": ACCESS_KEY}}
    headers = {"Accept": accept} if accept else {}
    return nuclio_sdk.Event(body=json.dumps(body).encode(), content_type="application/json", headers=headers,
                            method="POST", path="/")


def my_func(ctx):
    print(f"p1 is {ctx.get_param('p1', 1)}, key is {ctx.get_secret('ACCESS_KEY')}")
    ctx.log_output("accuracy", ctx.get_param("p1", 1) * 2)
    ctx.log_artifact("test.txt", body=b"abc is 123")


def test_the_seed_function_code_runs_unchanged(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir.path)  # where the seed's chart.png is
    import seed_function as seed  # tests/remote/seed_function.py
    answer = nuclio_sdk.test.Platform().call_handler(seed.handler, seed_event(workdir))
    record = RunRecord.from_text(answer)
    assert record.metadata.name == "myfunc" and record.uid == "feedc0de"
    assert record.status.state == "running"  # the seed answers before it ends its run
    assert record.spec.parameters == {"p1": 5, "p2": "a-string"}
    assert record.outputs == {"accuracy": 10}
    assert record.status.metrics["loss"] == {"labels": {}, "xvalues": ["1", "2", "3"], "yvalues": [2, 4, 6]}
    with open(workdir.path + "/chart.png", "rb") as fp:
        chart = hashlib.sha256(fp.read()).hexdigest()
    assert [(a["key"], a["sha256"]) for a in record.status.output_artifacts] == [("chart.png", chart)]
    assert record.status.input_objects[0]["key"] == "infile.txt"
    printed = capsys.readouterr().out
    assert f"file\nb{INFILE_TEXT!r}" in printed and "This is an unstructured log" in printed
    assert ACCESS_KEY not in answer


def test_a_plain_function_becomes_a_handler_answering_with_its_committed_record(workdir):
    handler = nuclio_handler(my_func, name="myfunc")
    response = nuclio_sdk.test.Platform().call_handler(handler, seed_event(workdir))
    assert isinstance(response, nuclio_sdk.Response)
    assert (response.status_code, response.content_type) == (200, YAML_TYPE)
    record = RunRecord.from_text(response.body)
    assert record.state == "completed" and record.outputs == {"accuracy": 10} and record.metadata.name == "myfunc"
    assert RunRecord.from_dict(get_run_db().read_run_data("feedc0de")) == record  # the function's own store
    assert ACCESS_KEY not in response.body


def test_json_and_the_mlrun_answer_are_given_when_asked_for(workdir):
    handler = nuclio_handler(my_func)
    platform = nuclio_sdk.test.Platform()
    as_json = platform.call_handler(handler, seed_event(workdir, accept=JSON_TYPE))
    assert as_json.content_type == JSON_TYPE and json.loads(as_json.body)["status"]["outputs"] == {"accuracy": 10}
    full = platform.call_handler(handler, seed_event(workdir, accept=RUN_ANSWER_TYPE))
    answer = json.loads(full.body)
    assert full.content_type == RUN_ANSWER_TYPE and answer["record"]["metadata"]["name"] == "my_func"
    assert answer["log"] == "p1 is 5, key is ******\n"


def test_a_failing_function_answers_500_with_its_error_record_and_no_secret(workdir):
    def failing(ctx):
        print("about to fail")
        raise RuntimeError(f"cannot log in with {ctx.get_secret('ACCESS_KEY')}")

    response = nuclio_sdk.test.Platform().call_handler(nuclio_handler(failing),
                                                       seed_event(workdir, accept=RUN_ANSWER_TYPE))
    answer = json.loads(response.body)
    assert response.status_code == 500
    assert answer["record"]["status"]["state"] == "error"
    assert answer["record"]["status"]["error"] == "RuntimeError: cannot log in with ******"
    assert answer["log"].startswith("about to fail\nTraceback")
    assert "in failing" in answer["log"] and "mlrun/adapters" not in answer["log"]
    assert ACCESS_KEY not in response.body
    assert get_run_db().read_run_data("feedc0de")["status"]["state"] == "error"


@pytest.mark.parametrize("body, status, message", [
    (b"{oops", 400, "request body is not valid JSON or YAML"),
    (b'{"spec": {"parameters": "p1=5"}}', 400, "spec.parameters must be a mapping, got str"),
])
def test_a_bad_body_answers_400_naming_the_problem(body, status, message):
    called = []
    handler = nuclio_handler(lambda ctx: called.append(ctx))
    event = nuclio_sdk.Event(body=body, headers={"Accept": JSON_TYPE})
    response = nuclio_sdk.test.Platform().call_handler(handler, event)
    assert response.status_code == status and message in json.loads(response.body)["error"]
    assert called == []


def test_the_adapter_logs_failures_and_bad_requests_through_the_nuclio_logger(workdir):
    stream = io.StringIO()
    logger = nuclio_sdk.Logger(logging.DEBUG, "mlrun-test-function")
    logger.set_handler("test", stream, nuclio_sdk.logger.JSONFormatter())
    context = nuclio_sdk.Context(logger, nuclio_sdk.Platform("test"))

    def failing(ctx):
        raise ValueError(f"no good: {ctx.get_secret('ACCESS_KEY')}")

    assert nuclio_handler(my_func, name="myfunc")(context, seed_event(workdir)).status_code == 200
    assert nuclio_handler(failing, name="myfunc")(context, seed_event(workdir)).status_code == 500
    assert nuclio_handler(my_func)(context, nuclio_sdk.Event(body=b"[1, 2]")).status_code == 400
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [("error", "run failed"), ("warning", "bad request")]
    # the second request named the uid the first run was stored under: its run got a uid of its own
    uid = lines[0]["with"].pop("uid")
    assert uid != "feedc0de" and len(uid) == 32
    assert lines[0]["with"] == {"name": "myfunc", "error": "ValueError: no good: ******"}
    assert lines[1]["with"] == {"error": "request body must be a mapping, got list"}


def test_the_decorator_form_and_the_result_of_a_function_are_recorded():
    @nuclio_handler(name="scorer")
    def score(ctx):
        return {"score": ctx.get_param("x", 0) + 1}

    event = nuclio_sdk.Event(body={"spec": {"parameters": {"x": 41}}})
    response = nuclio_sdk.test.Platform().call_handler(score, event)
    record = RunRecord.from_text(response.body)
    assert record.metadata.name == "scorer" and record.outputs == {"score": 42} and record.state == "completed"


@pytest.mark.parametrize("path", [SEED_NUCLIO, SEED_HANDLERS])
def test_the_ready_made_handlers_run_on_nuclio(path, workdir, monkeypatch):
    monkeypatch.setenv("MLRUN_OUT_PATH", workdir.path)  # the operator lets runs use the inputs' folder
    name = f"ready_made_{os.path.basename(path)[:-3]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # nuclio's test platform looks the module up
    spec.loader.exec_module(module)
    answer = nuclio_sdk.test.Platform().call_handler(module.handler, seed_event(workdir))
    record = RunRecord.from_text(answer if isinstance(answer, str) else answer.body)
    assert record.metadata.name == "myfunc" and record.outputs == {"accuracy": 10}
    assert [(a["key"], a["size"]) for a in record.status.output_artifacts] == [("test.txt", 10)]
