"""A serving function deployed on this machine (``mlrun serve`` in a child process) and calls to it.

The child listens on loopback only, with a token made for it (passed in its environment, never on its
command line); its output goes to ``serve.log`` beside its function file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from ..config import env_seconds
from ..errors import MLRunError
from .v2 import ServingError

DEPLOY_TIMEOUT_ENV = "MLRUN_SERVING_DEPLOY_TIMEOUT"
INVOKE_TIMEOUT_ENV = "MLRUN_SERVING_INVOKE_TIMEOUT"
INVOKE_MAX_ANSWER_ENV = "MLRUN_SERVING_MAX_ANSWER"


def serve_locally(spec_path: str, port: int = 0, allow: list[str] | None = None) -> tuple[subprocess.Popen, str, str]:
    """Start ``mlrun serve SPEC`` on 127.0.0.1; ``(process, address, token)`` once it answers."""
    import atexit
    import secrets
    import socket

    from ..protocol import TOKEN_ENV

    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    command = [sys.executable, "-m", "mlrun", "serve", spec_path, "--host", "127.0.0.1", "--port", str(port)]
    for prefix in allow or []:
        command += ["--allow", prefix]
    log_path = os.path.join(os.path.dirname(spec_path), "serve.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, TOKEN_ENV: token}, cwd=os.path.dirname(spec_path))
    atexit.register(stop, process)
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(address, process, log_path, env_seconds(DEPLOY_TIMEOUT_ENV, 60))
    except BaseException:
        stop(process)
        raise
    return process, address, token


def _wait_ready(address: str, process: subprocess.Popen, log_path: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MLRunError(f"the serving function stopped (exit {process.returncode}): {_last_line(log_path)}")
        try:
            with urllib.request.urlopen(address + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)  # the port is not open yet: poll again, within the deadline
    raise MLRunError(f"the serving function did not answer within {timeout:g}s (${DEPLOY_TIMEOUT_ENV}); "
                     f"see {log_path}")


def _last_line(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fp:
        lines = [line.strip() for line in fp if line.strip()]
    return lines[-1] if lines else "no output"


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a served function (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def invoke(address: str, path: str = "/v2/models/", body: Any = None, method: str = "",
           headers: dict | None = None) -> Any:
    """``method`` (default: POST with a body, else GET) on ``address + path``: the answer's JSON.

    Bounded by ``$MLRUN_SERVING_INVOKE_TIMEOUT`` seconds (default 60) and ``$MLRUN_SERVING_MAX_ANSWER``
    bytes (64 MiB); an error answer raises ``ServingError`` with its status and one line.
    """
    from .. import transport
    from ..protocol import answer_error

    method = (method or ("POST" if body is not None else "GET")).upper()
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    sent = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    with transport.session() as http:
        answer = transport.request(http, method, address.rstrip("/") + "/" + path.lstrip("/"), data=data,
                                   headers=sent, deadline=env_seconds(INVOKE_TIMEOUT_ENV, 60),
                                   deadline_env=INVOKE_TIMEOUT_ENV,
                                   limit=transport.env_bytes(INVOKE_MAX_ANSWER_ENV, 64 * 1024 * 1024),
                                   limit_env=INVOKE_MAX_ANSWER_ENV)
    if answer.status_code >= 400:
        raise ServingError(answer_error(answer.content), answer.status_code)
    return answer.json()
