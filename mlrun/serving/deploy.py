"""A serving function deployed on this machine (``mlrun serve`` in a child process) and calls to it.

The child listens on loopback only, with a token made for it (passed in its environment, never on its
command line); its output goes to ``serve.log`` beside its function file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from ..config import env_seconds
from ..errors import MLRunError
from .v2 import ServingError

INVOKE_TIMEOUT_ENV = "MLRUN_SERVING_INVOKE_TIMEOUT"
INVOKE_MAX_ANSWER_ENV = "MLRUN_SERVING_MAX_ANSWER"


def serve_locally(spec_path: str, allow: list[str] | None = None, verbose: bool = False
                  ) -> tuple[subprocess.Popen, str, str]:
    """Start ``mlrun serve SPEC`` on 127.0.0.1 at a free port; ``(process, address, token)`` once it answers.

    ``verbose``: its output goes to this process's instead of ``serve.log``.
    """
    import atexit
    import secrets

    from ..functions.nuclio import _free_port, _wait_until_up
    from ..protocol import TOKEN_ENV

    port = _free_port()
    token = secrets.token_urlsafe(24)
    command = [sys.executable, "-m", "mlrun", "serve", spec_path, "--host", "127.0.0.1", "--port", str(port)]
    for prefix in allow or []:
        command += ["--allow", prefix]
    log_path = os.path.join(os.path.dirname(spec_path), "serve.log")
    with open(log_path, "wb") as log:  # the token goes by environment: a command line is visible to every user
        process = subprocess.Popen(command, stdout=None if verbose else log,
                                   stderr=None if verbose else subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, TOKEN_ENV: token}, cwd=os.path.dirname(spec_path))
    atexit.register(stop, process)
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(address, process, log_path)
    except BaseException:
        stop(process)
        raise
    return process, address, token


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
    import requests

    from .. import transport
    from ..protocol import answer_error

    method = (method or ("POST" if body is not None else "GET")).upper()
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    sent = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    url = address.rstrip("/") + "/" + path.lstrip("/")
    with transport.session() as http:
        try:
            answer = transport.request(http, method, url, data=data, headers=sent,
                                       deadline=env_seconds(INVOKE_TIMEOUT_ENV, 60), deadline_env=INVOKE_TIMEOUT_ENV,
                                       limit=transport.env_bytes(INVOKE_MAX_ANSWER_ENV, 64 * 1024 * 1024),
                                       limit_env=INVOKE_MAX_ANSWER_ENV)
        except requests.ConnectionError:
            raise MLRunError(f"cannot reach the serving function at {address}") from None
    if answer.status_code >= 400:
        raise ServingError(answer_error(answer.content), answer.status_code)
    return answer.json()
