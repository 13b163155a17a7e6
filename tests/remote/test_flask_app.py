"""The Flask app behind `mlrun serve`, in process: nuclio-style handlers, their answers and failures."""
import textwrap

import pytest

from mlrun.adapters.flask import create_app, load_handler

ENVELOPE = "application/vnd.mlrun.run+json"
HANDLERS = '''
import sys
from mlrun import get_or_create_ctx

calls = []

def init_context(context):
    calls.append(context.worker_id)
    context.user_data.greeting = "hello"

def failing(context, event):
    ctx = get_or_create_ctx("fails", event=event)
    print("about to fail")
    raise KeyError(f"no such model for {ctx.get_secret('TOKEN')}")

def greeting(context, event):
    return context.user_data.greeting

def headers(context, event):
    return dict(event.headers)

def as_dict(context, event):
    ctx = get_or_create_ctx("dict", event=event)
    ctx.log_output("n", 1)
    return ctx.to_dict()

def teapot(context, event):
    return 418, {"short": "and stout"}

def leaky(context, event):
    ctx = get_or_create_ctx("leaky", event=event)
    return f"the token is {ctx.get_secret('TOKEN')}"

def quits(context, event):
    sys.exit(3)
'''


@pytest.fixture
def client_for(tmp_path, monkeypatch):
    path = tmp_path / "nuclio_handlers.py"
    path.write_text(textwrap.dedent(HANDLERS))
    monkeypatch.chdir(tmp_path)

    def make(name):
        handler, module, run_name = load_handler(f"{path}:{name}")
        return create_app(handler, module, name=run_name).test_client(), module

    return make


def post(client, accept="", **body):
    body.setdefault("secrets", {"TOKEN": "tok-secret-42"})
    return client.post("/", json=body, headers={"Accept": accept} if accept else {})


def test_a_raising_nuclio_handler_answers_500_with_an_error_record_and_its_log(client_for):
    client, _ = client_for("failing")
    answer = post(client, ENVELOPE, metadata={"uid": "u-fail"})
    assert answer.status_code == 500
    data = answer.get_json()
    assert data["record"]["metadata"] == {**data["record"]["metadata"], "uid": "u-fail", "name": "nuclio_handlers"}
    assert data["record"]["status"]["state"] == "error"
    assert data["record"]["status"]["error"] == "KeyError: 'no such model for ******'"
    assert data["log"].startswith("about to fail\nTraceback") and "in failing" in data["log"]
    assert "tok-secret-42" not in answer.get_data(as_text=True)


def test_init_context_runs_once_per_worker_and_answers_pass_through(client_for):
    client, module = client_for("greeting")
    assert [post(client).get_data(as_text=True) for _ in range(3)] == ["hello"] * 3
    assert module.calls == [0]
    teapot, _ = client_for("teapot")
    answer = post(teapot)
    assert answer.status_code == 418 and answer.get_json() == {"short": "and stout"}


def test_a_record_returned_as_a_dict_is_given_in_the_form_asked_for(client_for):
    client, _ = client_for("as_dict")
    as_json = post(client, "application/json")
    assert as_json.content_type == "application/json" and as_json.get_json()["status"]["outputs"] == {"n": 1}
    envelope = post(client, ENVELOPE).get_json()
    assert envelope["record"]["metadata"]["name"] == "dict" and envelope["log"] == ""


def test_secret_values_are_masked_in_a_handlers_own_answer(client_for):
    client, _ = client_for("leaky")
    assert post(client).get_data(as_text=True) == "the token is ******"


def test_a_handler_that_exits_is_a_failed_run_not_a_dead_worker(client_for):
    client, _ = client_for("quits")
    first, second = post(client, "application/json"), post(client, "application/json")
    assert first.status_code == second.status_code == 500
    assert first.get_json()["status"]["error"] == "SystemExit: 3"


def test_a_bad_spec_is_a_400_even_for_a_nuclio_handler(client_for):
    client, _ = client_for("as_dict")
    answer = client.post("/", json={"spec": {"parameters": [1]}}, headers={"Accept": "application/json"})
    assert answer.status_code == 400 and answer.get_json() == {"error": "spec.parameters must be a mapping, got list"}


def test_handlers_see_the_request_headers_as_nuclio_gives_them(client_for):
    client, _ = client_for("headers")
    answer = client.post("/", json={}, headers={"X-Trace_Id": "t-1", "x-custom-thing": "v"})
    headers = answer.get_json()
    assert headers["X-Custom-Thing"] == "v" and headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == "2" and headers["X-Trace-Id"] == "t-1"


def test_access_log_lines_stay_whole_when_threads_log_at_once(tmp_path):
    import re
    import threading

    from mlrun.adapters.flask import AccessLog

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with open(tmp_path / "access.log", "w", buffering=1) as stream:  # line-buffered text, as stderr is
        logged = AccessLog(app, stream)

        def requests(n: int) -> None:
            for i in range(300):
                environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "POST", "PATH_INFO": f"/t{n}/{i}",
                           "SERVER_PROTOCOL": "HTTP/1.1"}
                b"".join(logged(environ, lambda status, headers, exc_info=None: None))

        threads = [threading.Thread(target=requests, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = (tmp_path / "access.log").read_text().splitlines()
    line = re.compile(r'127\.0\.0\.1 "POST /t(\d)/(\d+) HTTP/1\.1" 200 2 \d+\.\dms')
    assert len(lines) == 8 * 300 and all(line.fullmatch(text) for text in lines)
    assert sorted(tuple(map(int, line.fullmatch(t).groups())) for t in lines) == [
        (n, i) for n in range(8) for i in range(300)]
