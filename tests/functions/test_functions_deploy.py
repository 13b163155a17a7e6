"""Served functions: fn.deploy() writes the nuclio bundle and serves it on 127.0.0.1 (mlrun serve, a token);
fn.invoke() and fn.run() call it; the same handler gives the same results and artifact hashes on every path."""
import os

import pytest
import requests
import yaml
from assets import write_handlers
from helpers import mlrun_cli

import mlrun
import mlrun.errors
from mlrun.rundb import get_run_db


@pytest.fixture()
def deployed(tmp_path):
    fn = mlrun.code_to_function("served", filename=write_handlers(tmp_path), kind="nuclio", handler="train")
    url = fn.deploy(bundle_dir=str(tmp_path / "bundle"))
    yield fn, url
    fn.stop()


def test_deploy_serves_the_function_on_loopback_with_a_token_and_writes_the_bundle(deployed, tmp_path):
    fn, url = deployed

    assert url.startswith("http://127.0.0.1:") and fn.status.address == url and fn.status.state == "ready"
    assert requests.post(url, json={"spec": {}}, timeout=30).status_code == 401  # the token is required
    assert fn.invoke("/healthz") == {"status": "ok"}
    config = yaml.safe_load((tmp_path / "bundle" / "function.yaml").read_text())
    assert config["kind"] == "NuclioFunction" and config["spec"]["handler"] == "served:mlrun_nuclio_handler"
    assert any(name.endswith(".whl") for name in os.listdir(tmp_path / "bundle"))


def test_run_on_the_deployed_function_is_recorded_here(deployed):
    fn, url = deployed
    run = fn.run(params={"p1": 4})

    assert run.state() == "completed" and run.output("accuracy") == 9
    assert run.spec.runtime == {"kind": "remote", "command": url}
    assert run.metadata.labels["kind"] == "remote" and run.metadata.project == "default"
    assert get_run_db().read_run_data(run.uid)["status"]["outputs"]["accuracy"] == 9


def test_invoke_sends_a_body_and_reports_http_errors_in_one_line(deployed):
    fn, _ = deployed
    answer = yaml.safe_load(fn.invoke("", {"spec": {"parameters": {"p1": 1}}}))
    assert answer["status"]["outputs"]["accuracy"] == 3
    with pytest.raises(mlrun.errors.MLRunError, match="answered HTTP 400"):
        fn.invoke("", "not: [a spec")


def test_after_stop_the_function_is_no_longer_served(deployed):
    fn, url = deployed
    fn.stop()
    assert fn.status.state == "stopped"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=5)


def test_a_function_not_deployed_says_so_and_runs_locally_when_asked(tmp_path):
    fn = mlrun.new_function("n", kind="nuclio", command=write_handlers(tmp_path), handler="train")
    with pytest.raises(mlrun.errors.MLRunInvalidArgumentError, match="is not deployed: call fn.deploy"):
        fn.run(params={"p1": 1})
    with pytest.raises(mlrun.errors.MLRunInvalidArgumentError, match="is not deployed"):
        fn.invoke()
    assert fn.run(params={"p1": 1}, local=True).output("accuracy") == 3


def test_a_nuclio_platform_needs_nuctl_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRUN_NUCLIO_DASHBOARD", "http://nuclio.example:8070")
    fn = mlrun.new_function("n", kind="nuclio", command=write_handlers(tmp_path), handler="train")
    with pytest.raises(mlrun.errors.MLRunError, match=r"needs nuctl and a cluster: run nuctl deploy --path .*bundle"):
        fn.deploy(bundle_dir=str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "function.yaml").is_file()


def test_the_same_handler_gives_the_same_results_and_hashes_on_every_path(deployed, tmp_path):
    fn, _ = deployed
    handlers = write_handlers(tmp_path, "same.py")
    local = mlrun.new_function("same", command=handlers, handler="train").run(params={"p1": 3}, local=True)
    started = mlrun.run_start(handler=mlrun.function_to_module(handlers).train, params={"p1": 3})
    cli = mlrun_cli("run", "--handler", "train", "-p", "p1=3", "--save-to", str(tmp_path / "cli.yaml"), handlers,
                    cwd=str(tmp_path))
    assert cli.returncode == 0, cli.stderr
    from_cli = yaml.safe_load((tmp_path / "cli.yaml").read_text())
    remote = fn.run(params={"p1": 3})

    runs = [local.to_dict(), started.to_dict(), from_cli, remote.to_dict()]
    assert [r["status"]["outputs"]["accuracy"] for r in runs] == [7] * 4
    assert [r["status"]["outputs"]["p2_used"] for r in runs] == ["a"] * 4
    hashes = {a["sha256"] for r in runs for a in r["status"]["output_artifacts"] if a["key"] == "model.txt"}
    assert len(hashes) == 1


def test_a_function_made_from_a_served_url_runs_there(deployed):
    _, url = deployed
    fn = mlrun.new_function("by-url", command=url)
    assert fn.kind == "remote" and fn.status.address == url
    assert fn.run(params={"p1": 5}).output("accuracy") == 11


def test_the_token_and_secrets_never_leave_in_the_function_or_its_runs(deployed, tmp_path):
    fn, _ = deployed
    fn.export(str(tmp_path / "served.yaml"))
    assert fn._token and fn._token not in (tmp_path / "served.yaml").read_text()
    assert fn._token not in fn.to_yaml()

    def uses_secret(context):
        context.log_result("seen", context.get_secret("API_KEY") == "s3cr3t-value")
        print("the key is", context.get_secret("API_KEY"))

    run = mlrun.new_function("secretive").run(handler=uses_secret, secrets={"API_KEY": "s3cr3t-value"})
    assert run.output("seen") is True
    assert "s3cr3t-value" not in run.to_yaml()
    assert "s3cr3t-value" not in str(get_run_db().read_run_data(run.uid))
