"""The invoker (``RemoteRuntime``) against scripted HTTP servers: retries, timeouts, garbage, what is sent."""
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
from helpers import LoopbackHTTPServer, free_port, mlrun_cli

import mlrun
from mlrun.errors import InvalidInputError
from mlrun.protocol import RUN_ANSWER_TYPE
from mlrun.rundb import get_run_db
from mlrun.runtimes.remote import warn_plain_http

SECRET = "caller-side-secret-41ab"


class Scripted:
    """An HTTP server on 127.0.0.1 answering POSTs from a script; it keeps every request it got."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        self.release = threading.Event()  # a "slow" answer waits for this, set when the test ends
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                scripted.requests.append({"headers": dict(self.headers), "body": json.loads(body), "path": self.path,
                                          "port": self.client_address[1]})
                answer = scripted.answers.pop(0) if len(scripted.answers) > 1 else scripted.answers[0]
                if answer == "slow":
                    scripted.release.wait(30)
                    return
                status, content_type, text = answer(scripted.requests[-1]["body"]) if callable(answer) else answer
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = LoopbackHTTPServer(Handler)
        self.url = f"{self.server.url}/run"


@contextmanager
def scripted(*answers):
    server = Scripted(answers)
    try:
        yield server
    finally:
        server.release.set()
        server.server.close()


def echo_record(outputs=None, log="remote log line\n", state="completed"):
    """An mlrun answer built from the request: the record the function would send back."""

    def answer(body):
        record = {k: body[k] for k in ("metadata", "spec", "status")}
        record["status"] = {**record["status"], "state": state, "outputs": outputs or {"accuracy": 10}}
        return 200, RUN_ANSWER_TYPE, json.dumps({"record": record, "log": log})

    return answer


def run(url, **kwargs):
    return mlrun.run_function(url, params={"p1": 5}, secrets={"ACCESS_KEY": SECRET}, stream=False, **kwargs)


def test_the_spec_goes_as_json_with_secret_values_only_in_their_field(monkeypatch):
    monkeypatch.setenv("MLRUN_FUNCTION_TOKEN", "tok-123")
    with scripted(echo_record()) as server:
        record = run(server.url, inputs={"infile.txt": "s3://bucket/infile.txt"}, labels={"team": "ml"})
    sent = server.requests[0]
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["Accept"].startswith(RUN_ANSWER_TYPE)
    assert sent["headers"]["Authorization"] == "Bearer tok-123"
    assert sent["body"]["secrets"] == {"ACCESS_KEY": SECRET}
    without_secrets = {k: v for k, v in sent["body"].items() if k != "secrets"}
    assert SECRET not in json.dumps(without_secrets)
    assert sent["body"]["spec"]["parameters"] == {"p1": 5}
    assert sent["body"]["spec"]["input_objects"] == [{"key": "infile.txt", "path": "s3://bucket/infile.txt"}]
    assert sent["body"]["metadata"]["labels"]["team"] == "ml"
    assert sent["body"]["metadata"]["uid"] == record.uid
    assert record.state == "completed" and record.outputs == {"accuracy": 10}
    assert record.spec.runtime == {"kind": "remote", "command": server.url}
    assert get_run_db().read_log(record.uid) == b"remote log line\n"


def test_gateway_errors_are_retried_with_backoff_then_the_answer_counts():
    with scripted((503, "text/plain", "no free worker"), (502, "text/plain", "bad gateway"),
                  echo_record()) as server:
        record = run(server.url)
    assert len(server.requests) == 3 and record.state == "completed"


def test_retries_are_bounded_and_the_last_answer_is_the_reason():
    with scripted((503, "text/plain", "no free worker")) as server:
        record = run(server.url)
    assert len(server.requests) == 4  # the first try and three retries
    assert record.state == "error"
    assert record.status.error == f"{server.url} answered HTTP 503: no free worker"
    assert get_run_db().read_run_data(record.uid)["status"]["state"] == "error"


@pytest.mark.parametrize("answer, reason", [
    ((200, "text/html", "<html><body>It works!</body></html>"), "answered HTTP 200: no run record in it"),
    ((200, "application/json", '{"metadata": {"uid": 7}}'), "answered HTTP 200: no run record in it "
                                                              "(metadata.uid must be a string, got int)"),
    ((400, "application/json", '{"error": "spec.parameters must be a mapping, got list"}'),
     "answered HTTP 400: spec.parameters must be a mapping, got list"),
    ((401, "text/plain", "missing or wrong bearer token\n"), "answered HTTP 401: missing or wrong bearer token"),
    ((404, "text/html", "<h1>Not Found</h1>"), "answered HTTP 404: <h1>Not Found</h1>"),
])
def test_an_answer_without_a_record_ends_the_run_in_error_with_the_reason(answer, reason):
    with scripted(answer) as server:
        record = run(server.url)
    assert len(server.requests) == 1
    assert record.state == "error" and reason in record.status.error
    assert get_run_db().read_run_data(record.uid)["status"]["error"] == record.status.error


def test_an_error_record_from_the_function_is_kept(tmp_path):
    with scripted(echo_record(state="error", log="Traceback ...\n")) as server:
        record = run(server.url)
    assert record.state == "error" and get_run_db().read_log(record.uid) == b"Traceback ...\n"


def test_secret_values_echoed_by_a_function_are_masked_on_arrival():
    with scripted(echo_record(outputs={"leak": SECRET}, log=f"key={SECRET}\n")) as server:
        record = run(server.url)
    assert record.outputs == {"leak": "******"}
    stored = json.dumps(get_run_db().read_run_data(record.uid)) + get_run_db().read_log(record.uid).decode()
    assert SECRET not in stored


def test_proxies_from_the_environment_are_used(monkeypatch, capsys):
    with scripted(echo_record()) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.rsplit("/", 1)[0])
        monkeypatch.setenv("NO_PROXY", "")
        record = run("http://function.invalid/run")  # only the proxy (on 127.0.0.1) knows this host
    assert record.state == "completed" and proxy.requests[0]["path"] == "http://function.invalid/run"
    assert "warning: sending secrets to function.invalid over plain http" in capsys.readouterr().err


def test_a_slow_function_times_out_without_a_retry(monkeypatch):
    monkeypatch.setenv("MLRUN_REMOTE_TIMEOUT", "0.5")
    with scripted("slow") as server:
        record = run(server.url)
    # the function may be running it: a POST is not sent twice (on a loaded machine the server may not even have
    # read it within the 0.5 s)
    assert len(server.requests) <= 1
    assert record.state == "error"
    assert record.status.error == f"{server.url}: no answer within 0.5s (set $MLRUN_REMOTE_TIMEOUT to wait longer)"


def test_an_unreachable_function_leaves_an_error_record_and_the_cli_exits_1(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = mlrun_cli("run", "-p", "p1=5", "--uid", "down0001", url, cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (f"Error: run down0001 failed: {url}: cannot reach the function: "
                                                       "Connection refused (tried 4 times)")
    assert "Traceback" not in result.stderr
    stored = get_run_db().read_run_data("down0001")
    assert stored["status"]["state"] == "error" and "Connection refused" in stored["status"]["error"]


def test_bad_invocations_are_refused_before_anything_is_recorded(monkeypatch):
    with pytest.raises(InvalidInputError, match="--handler applies to files"):
        mlrun.run_function("http://127.0.0.1:9/", handler="my_func")
    with pytest.raises(InvalidInputError, match="has no host"):
        mlrun.run_function("http:///path")
    monkeypatch.setenv("MLRUN_REMOTE_TIMEOUT", "soon")
    with pytest.raises(InvalidInputError, match=r"\$MLRUN_REMOTE_TIMEOUT must be a positive number"):
        mlrun.run_function("http://127.0.0.1:9/")
    monkeypatch.setenv("MLRUN_REMOTE_TIMEOUT", "5")
    monkeypatch.setenv("MLRUN_REMOTE_MAX_ANSWER", "64M")
    with pytest.raises(InvalidInputError, match=r"\$MLRUN_REMOTE_MAX_ANSWER must be a positive number of bytes"):
        mlrun.run_function("http://127.0.0.1:9/")
    assert get_run_db().list_runs() == []


@pytest.mark.parametrize("url, sending, warned", [
    ("http://models.example.com/fn", True, True),
    ("http://10.0.0.7:8080", True, True),
    ("https://models.example.com/fn", True, False),
    ("http://127.0.0.1:8080", True, False),
    ("http://localhost:8080", True, False),
    ("http://[::1]:8080", True, False),
    ("http://models.example.com/fn", False, False),
])
def test_secrets_over_plain_http_to_another_machine_are_warned_about(url, sending, warned, capsys):
    assert warn_plain_http(url, sending) is warned
    err = capsys.readouterr().err
    assert ("warning: sending secrets" in err) is warned and err.count("\n") == int(warned)


def _run_in_child(url, queue):
    record = run(url)
    queue.put(record.state)


def test_a_forked_caller_does_not_share_its_parents_connections():
    import multiprocessing

    with scripted(echo_record()) as server:
        assert run(server.url).state == "completed"  # the parent now holds a keep-alive connection
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        children = [context.Process(target=_run_in_child, args=(server.url, queue)) for _ in range(4)]
        for child in children:
            child.start()
        states = [queue.get(timeout=30) for _ in children]
        for child in children:
            child.join(30)
        assert run(server.url).state == "completed"
    assert states == ["completed"] * 4
    ports = [r["port"] for r in server.requests]
    assert ports[0] == ports[-1]  # the parent kept its connection
    assert len(set(ports[1:5])) == 4 and ports[0] not in ports[1:5]  # each child opened its own
