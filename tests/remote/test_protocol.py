"""Run contexts built from HTTP events: nuclio events, Flask requests, bytes, text and mappings."""
import json

import nuclio_sdk
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from mlrun import get_or_create_ctx
from mlrun.errors import InvalidSpecError
from mlrun.model import load_yaml
from mlrun.protocol import (
    JSON_TYPE,
    RUN_ANSWER_TYPE,
    YAML_TYPE,
    answer_error,
    answer_type,
    event_header,
    read_answer,
    render_error,
    render_run,
)

SPEC = {
    "metadata": {"uid": "0123456789abcdef", "labels": {"team": "ml"}},
    "spec": {"parameters": {"p1": 5}, "input_objects": [{"key": "infile.txt", "path": "s3://bucket/infile.txt"}]},
    "secrets": {"ACCESS_KEY": "event-secret-value"},
}
YAML_BODY = """
metadata: {uid: 0123456789abcdef, labels: {team: ml}}
spec:
  parameters: {p1: 5}
  input_objects: [{key: infile.txt, path: s3://bucket/infile.txt}]
secrets: {ACCESS_KEY: event-secret-value}
"""


def flask_request(body: bytes, content_type: str = "application/json", **headers) -> Request:
    return Request(EnvironBuilder(method="POST", data=body, content_type=content_type, headers=headers).get_environ())


@pytest.mark.parametrize("event", [
    nuclio_sdk.Event(body=json.dumps(SPEC).encode(), content_type="application/json"),
    nuclio_sdk.Event(body=SPEC),                        # nuclio decodes JSON bodies itself
    nuclio_sdk.Event(body=YAML_BODY, content_type="text/plain"),
    nuclio_sdk.Event(body=YAML_BODY.encode()),
    flask_request(json.dumps(SPEC).encode()),
    flask_request(YAML_BODY.encode(), "application/yaml"),
    json.dumps(SPEC).encode(),
    bytearray(json.dumps(SPEC).encode()),
    YAML_BODY,
    SPEC,
], ids=["nuclio-json-bytes", "nuclio-dict", "nuclio-yaml-str", "nuclio-yaml-bytes", "flask-json", "flask-yaml",
        "bytes", "bytearray", "str", "dict"])
def test_the_event_spec_gives_params_inputs_secrets_labels_and_uid(event):
    ctx = get_or_create_ctx("myfunc", event=event)
    assert ctx.name == "myfunc"
    assert ctx.uid == "0123456789abcdef"
    assert ctx.get_param("p1") == 5 and ctx.get_param("p2", "a-string") == "a-string"
    assert ctx.inputs == {"infile.txt": "s3://bucket/infile.txt"}
    assert ctx.labels["team"] == "ml"
    assert ctx.get_secret("ACCESS_KEY") == "event-secret-value"
    assert "event-secret-value" not in ctx.to_yaml()
    assert ctx.to_dict()["spec"]["secret_sources"] == [{"kind": "inline", "source": ["ACCESS_KEY"]}]


def test_each_event_gets_a_new_context_and_the_process_context_stays_apart():
    first = get_or_create_ctx("myfunc", event=nuclio_sdk.Event(body={"spec": {"parameters": {"p1": 1}}}))
    second = get_or_create_ctx("myfunc", event=nuclio_sdk.Event(body={"spec": {"parameters": {"p1": 2}}}))
    assert first is not second and first.uid != second.uid
    assert (first.get_param("p1"), second.get_param("p1")) == (1, 2)
    assert get_or_create_ctx("script").uid not in (first.uid, second.uid)


def test_a_mapping_event_is_the_callers_own_and_is_left_alone():
    event = {"spec": {"parameters": {"p1": 1}}, "status": {"metrics": {}, "outputs": {}}}
    first = get_or_create_ctx("f", event=event)
    first.log_metric("loss", 0.5)
    first.log_output("accuracy", 0.9)
    second = get_or_create_ctx("f", event=event)
    assert event == {"spec": {"parameters": {"p1": 1}}, "status": {"metrics": {}, "outputs": {}}}
    assert second.to_dict()["status"]["metrics"] == {} and second.to_dict()["status"]["outputs"] == {}


def test_an_event_never_reads_secret_sources_named_in_its_spec(tmp_path):
    # the caller resolved its own files; a request must not make the function read one of its own
    local_file = tmp_path / "server-secrets.txt"
    local_file.write_text("SERVER_KEY=server-only-value\n")
    sources = [{"kind": "file", "source": str(local_file)}, {"kind": "env", "source": "PATH"}]
    body = {"spec": {"secret_sources": sources}}
    ctx = get_or_create_ctx("f", event=nuclio_sdk.Event(body=body))
    assert ctx.get_secret("SERVER_KEY") is None and ctx.get_secret("PATH") is None


def test_an_empty_body_runs_with_defaults():
    ctx = get_or_create_ctx("f", event=nuclio_sdk.Event(body=b""))
    assert ctx.get_param("p1", 1) == 1 and ctx.state == "running" and ctx.uid


@pytest.mark.parametrize("body, message", [
    (b"{not json", "request body is not valid JSON or YAML"),
    (b"a: [", "request body is not valid JSON or YAML (line 2, column 1)"),
    (b"- a list", "request body must be a mapping, got list"),
    (b"\xff\xfe", "request body is not UTF-8"),
    (b'{"spec": {"parameters": [1, 2]}}', "spec.parameters must be a mapping, got list"),
    (b'{"spec": {"paramters": {}}}', "spec.paramters is not a known field"),
    (b'{"metadata": {"uid": 5}}', "metadata.uid must be a string, got int"),
    (b'{"secrets": "ACCESS_KEY=x"}', "secrets must be a mapping"),
])
def test_a_bad_body_is_refused_with_the_culprit_named(body, message, monkeypatch):
    monkeypatch.setenv("MLRUN_STRICT_SPEC", "1")  # unknown fields are refused in strict mode only
    with pytest.raises(InvalidSpecError) as info:
        get_or_create_ctx("f", event=nuclio_sdk.Event(body=body))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_headers_are_read_case_insensitively_from_every_kind_of_event():
    assert event_header(nuclio_sdk.Event(headers={"Accept": JSON_TYPE}), "accept") == JSON_TYPE
    assert event_header(flask_request(b"", Accept=RUN_ANSWER_TYPE), "ACCEPT") == RUN_ANSWER_TYPE
    assert event_header(b"raw bytes", "Accept") == ""


@pytest.mark.parametrize("accept, expected", [
    ("", YAML_TYPE), ("*/*", YAML_TYPE), ("application/json", JSON_TYPE),
    (f"{RUN_ANSWER_TYPE}, application/json;q=0.9", RUN_ANSWER_TYPE),
])
def test_the_answer_takes_the_form_the_request_accepts(accept, expected):
    record = {"metadata": {"uid": "u1"}, "status": {"state": "completed"}}
    kind = answer_type(accept)
    assert kind == expected
    body = render_run(record, "a log line\n", kind)
    assert read_answer(kind, body.encode()) == (record, "a log line\n" if kind == RUN_ANSWER_TYPE else "")
    if kind == YAML_TYPE:
        assert load_yaml(body) == record


def test_error_answers_carry_one_line_for_every_form():
    for kind in (YAML_TYPE, JSON_TYPE, RUN_ANSWER_TYPE):
        content_type, body = render_error("request body is empty", kind)
        assert answer_error(body.encode()) == "request body is empty"
    assert answer_error(b"<html>\n<h1>Bad Gateway</h1>\n</html>") == "<html> <h1>Bad Gateway</h1> </html>"


@pytest.mark.parametrize("secret", ["plain-value-123", 'quote"and\\backslash', "ünïcödé-välue", "tab\there"])
def test_records_are_masked_wherever_a_secret_value_hides(secret):
    from mlrun.secrets import mask_data

    record = {"status": {"outputs": {"leak": f"token={secret};", secret: 1, "n": [1, {"deep": secret}]},
                         "error": ""}, "metadata": {"uid": "u1"}}
    masked = mask_data(record, [secret, "ab"])
    assert secret not in json.dumps(masked, ensure_ascii=False)
    assert masked["status"]["outputs"] == {"leak": "token=******;", "******": 1, "n": [1, {"deep": "******"}]}
    assert record["status"]["outputs"]["leak"] == f"token={secret};"  # the original is left alone
    clean = {"metadata": {"uid": "u1"}}
    assert mask_data(clean, [secret]) is clean and mask_data(clean, []) is clean


@pytest.mark.parametrize("kind", [YAML_TYPE, JSON_TYPE, RUN_ANSWER_TYPE])
@pytest.mark.parametrize("secret", ["plain-value-123", 'quote"and\\backslash', "ünïcödé-välue"])
def test_answers_hide_secret_values_in_the_record(kind, secret):
    record = {"metadata": {"uid": "u1", "labels": {secret: "x"}},
              "status": {"state": "completed", "outputs": {"leak": f"token={secret};"}}}
    body = render_run(record, "a masked log\n", kind, [secret])
    answered, log = read_answer(kind, body.encode())
    assert secret not in json.dumps(answered, ensure_ascii=False) and secret not in body
    assert answered["status"]["outputs"]["leak"] == "token=******;"
    assert answered["metadata"]["labels"] == {"******": "x"}
    clean = {"metadata": {"uid": "u1"}, "status": {"state": "completed"}}
    assert read_answer(kind, render_run(clean, "", kind, [secret]).encode())[0] == clean
