"""Handlers as nuclio's Python wrapper runs them: msgpack events over a unix socket, nuclio_sdk objects,
the handler's output as the container log (``nuclio_harness``)."""
from __future__ import annotations

import json
import os

import pytest
import yaml
from deploy_helpers import INFILE_TEXT, RUN_ANSWER, SECRET, SEED_HANDLERS, check_seed_record, seed_body
from nuclio_harness import NuclioProcessor, encode_event

HANDLERS_DIR = os.path.dirname(SEED_HANDLERS)
#: the process-wide masking of stdout/stderr (a context holding secrets) lands with the masking work

@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "infile.txt").write_text(INFILE_TEXT)
    return folder


def function_env(tmp_path, inputs) -> dict:
    """What an operator sets on the function: where it writes, what else it may read."""
    return {"MLRUN_OUT_PATH": str(tmp_path / "artifacts"), "MLRUN_SERVE_ALLOW": str(inputs),
            "MLRUN_DBPATH": "", "MLRUN_HOME": str(tmp_path / "function-home")}


def assert_no_secret(answer, log: str) -> None:
    assert SECRET not in answer.text and all(SECRET not in line for line in answer.lines)
    assert all(SECRET not in line for line in log.splitlines()), "the secret is in the container log"


@pytest.mark.parametrize("decode", [True, False], ids=["decoded-strings", "bytes-strings"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"], ids=["json-decoded-body", "bytes-body"])
def test_a_plain_handler_answers_the_run_with_its_log_in_both_string_modes(tmp_path, inputs, decode, content_type):
    env = function_env(tmp_path, inputs)
    with NuclioProcessor("seed:handler", HANDLERS_DIR, decode_strings=decode, env=env) as nuclio:
        answer = nuclio.call(seed_body(str(inputs / "infile.txt")), content_type=content_type,
                             headers={"Accept": RUN_ANSWER, "Content-Type": content_type})
        second = nuclio.call(seed_body(str(inputs / "infile.txt"), p1=7), content_type=content_type,
                             headers={"accept": RUN_ANSWER})  # the wrapper goes on serving; names in any case
    log = "".join(nuclio.log)
    # the Accept header was found (bytes names too): the mlrun answer, with the function's log
    assert (answer.status, answer.content_type) == (200, RUN_ANSWER), answer.text
    data = json.loads(answer.body)
    artifact = check_seed_record(data["record"])
    assert artifact["target_path"] == str(tmp_path / "artifacts" / "test.txt")
    assert (tmp_path / "artifacts" / "test.txt").read_bytes() == b"abc is 123"
    assert "accesskey = ******" in data["log"] and INFILE_TEXT.strip() in data["log"]
    check_seed_record(json.loads(second.body)["record"], p1=7)
    assert_no_secret(answer, log)


@pytest.mark.parametrize("decode", [True, False], ids=["decoded-strings", "bytes-strings"])
def test_the_seed_handler_form_answers_its_record_and_keeps_the_secret_out_of_the_answer(tmp_path, inputs, decode):
    env = function_env(tmp_path, inputs)
    with NuclioProcessor("seed_nuclio:handler", HANDLERS_DIR, decode_strings=decode, env=env) as nuclio:
        answer = nuclio.call(seed_body(str(inputs / "infile.txt")), content_type="application/json")
    assert answer.status == 200 and answer.content_type == "text/plain", answer.text
    check_seed_record(yaml.safe_load(answer.body), state="running")
    assert "This is an unstructured log" in [entry["message"] for entry in answer.logs]
    assert SECRET not in answer.text and all(SECRET not in line for line in answer.lines)


@pytest.mark.parametrize("decode", [True, False], ids=["decoded-strings", "bytes-strings"])
def test_the_seed_handler_form_prints_the_secret_masked_into_the_container_log(tmp_path, inputs, decode):
    env = function_env(tmp_path, inputs)
    with NuclioProcessor("seed_nuclio:handler", HANDLERS_DIR, decode_strings=decode, env=env) as nuclio:
        answer = nuclio.call(seed_body(str(inputs / "infile.txt")), content_type="application/json")
    log = "".join(nuclio.log)
    assert answer.status == 200, answer.text
    assert "Params: p1=5" in log  # the prints did reach the container log
    assert "accesskey = ******" in log
    assert_no_secret(answer, log)


@pytest.mark.parametrize("decode", [True, False], ids=["decoded-strings", "bytes-strings"])
@pytest.mark.parametrize("target", ["seed_nuclio:handler", "seed:handler"])
def test_a_broken_body_gets_one_line_and_no_traceback(tmp_path, inputs, decode, target):
    env = function_env(tmp_path, inputs)
    with NuclioProcessor(target, HANDLERS_DIR, decode_strings=decode, env=env) as nuclio:
        broken = nuclio.call(b'{"spec": {"parameters": ', content_type="application/json",
                             headers={"Accept": "application/json"})
        wrong = nuclio.call(b'{"spec": {"parameters": [1, 2]}}', content_type="application/json")
        after = nuclio.call(seed_body(str(inputs / "infile.txt")), content_type="application/json")
    for answer in (broken, wrong):
        assert answer.status == 400, answer.text
        assert "Traceback" not in answer.text and "Exception caught" not in answer.text
        assert len(answer.text.strip().splitlines()) == 1, answer.text
    assert "parameters" in wrong.text
    assert after.status == 200  # still serving


@pytest.mark.parametrize("decode", [True, False], ids=["decoded-strings", "bytes-strings"])
@pytest.mark.parametrize("target", ["seed_nuclio:handler", "seed:handler"])
def test_a_batch_of_events_is_refused_by_name(tmp_path, inputs, decode, target):
    body = seed_body(str(inputs / "infile.txt"))
    with NuclioProcessor(target, HANDLERS_DIR, decode_strings=decode, env=function_env(tmp_path, inputs)) as nuclio:
        answer = nuclio.send([encode_event(body, content_type="application/json") for _ in range(2)])
    assert answer.status == 400, answer.text
    assert "batch of 2 events" in answer.text and "Traceback" not in answer.text
    assert not (tmp_path / "artifacts").exists()
