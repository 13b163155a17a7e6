"""deploy/Dockerfile for real: built with podman (no registry: deploy/podman-base.sh makes the base image),
run as its non-root user on 127.0.0.1, sent the seed's run, stopped with SIGTERM."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
import requests
from deploy_helpers import INFILE_TEXT, SECRET, check_seed_record
from helpers import ROOT, free_port

import mlrun

TOKEN = "image-test-token-93c1"
#: seconds a SIGTERM may take to stop the container (podman would SIGKILL at 10)
STOP_WITHIN = 5


def podman(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


@pytest.fixture(scope="module")
def image():
    """The image built from the checkout (the base image cached between runs); removed afterwards."""
    yield from built_image("mlrun-function-test")


def built_image(name: str, *build_args: str):
    """Build deploy/Dockerfile from the checkout as ``localhost/NAME:RANDOM`` (``build_args``: more ``podman
    build`` arguments); yields its tag, then removes it.  Skips where podman cannot run."""
    try:
        base = subprocess.run(["bash", os.path.join(ROOT, "deploy", "podman-base.sh")], capture_output=True,
                              text=True, timeout=900)
    except FileNotFoundError:
        pytest.skip("podman cannot run here: no bash")
    if base.returncode == 3:  # the script's verdict after trying `podman info`
        pytest.skip(f"podman cannot run here: {base.stderr.strip().splitlines()[-1]}")
    assert base.returncode == 0, base.stderr
    tag = f"localhost/{name}:{uuid.uuid4().hex[:8]}"
    # docker format: the OCI format has no HEALTHCHECK
    podman("build", "--pull=never", "--format", "docker", "-q", *build_args, "-f",
           os.path.join(ROOT, "deploy", "Dockerfile"), "-t", tag, ROOT, timeout=1800)
    yield tag
    podman("rmi", "-f", tag, check=False)


def wait_healthy(url: str, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if podman("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip() != "true":
            raise AssertionError(f"the container stopped: {podman('logs', name, check=False).stdout}")
        time.sleep(0.2)  # polling a port that is not open yet
    raise AssertionError(f"{url}/healthz did not answer within {timeout}s")


def test_the_image_serves_the_seed_as_its_non_root_user_and_stops_on_sigterm(image, tmp_path, monkeypatch):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "infile.txt").write_text(INFILE_TEXT)
    os.chmod(inputs, 0o755)
    os.chmod(inputs / "infile.txt", 0o644)
    port, name = free_port(), f"mlrun-image-test-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", "-e", f"MLRUN_FUNCTION_TOKEN={TOKEN}",
           "-e", "MLRUN_SERVE_ALLOW=/inputs", "-v", f"{inputs}:/inputs:ro", image)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, name)
        user = podman("exec", name, "id", "-u").stdout.strip()
        assert user not in ("", "0"), f"the function runs as uid {user}"
        assert podman("healthcheck", "run", name, check=False).returncode == 0  # the image's HEALTHCHECK

        monkeypatch.setenv("MLRUN_FUNCTION_TOKEN", TOKEN)
        record = mlrun.run_function(url, params={"p1": 5}, inputs={"infile.txt": "/inputs/infile.txt"},
                                    secrets={"ACCESS_KEY": SECRET}, stream=False)
        artifact = check_seed_record(record.to_dict())
        assert artifact["target_path"] == "/data/artifacts/test.txt"  # the image's default output path
        assert podman("exec", name, "cat", "/data/artifacts/test.txt").stdout == "abc is 123"
        assert requests.post(url, json={}, timeout=10).status_code == 401  # the token is required

        start = time.monotonic()
        podman("kill", "--signal", "TERM", name)
        podman("wait", name, timeout=STOP_WITHIN + 5)
        took = time.monotonic() - start
        state = json.loads(podman("inspect", name).stdout)[0]["State"]
        assert took < STOP_WITHIN and state["ExitCode"] == 0, (took, state)
        assert SECRET not in podman("logs", name).stdout + podman("logs", name).stderr
    finally:
        podman("rm", "-f", name, check=False)
