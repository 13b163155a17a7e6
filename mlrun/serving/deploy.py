"""A serving function deployed on this machine (``mlrun serve`` in a child process) and calls to it.

The child listens on loopback only, with a token made for it (passed in its environment, never on its
command line); its output goes to ``serve.log`` beside its function file.
"""
from __future__ import annotations

import os
import subprocess
from typing import Any

from ..config import env_seconds
from .v2 import ServingError

INVOKE_TIMEOUT_ENV = "MLRUN_SERVING_INVOKE_TIMEOUT"


def serve_locally(spec_path: str, allow: list[str] | None = None, verbose: bool = False
                  ) -> tuple[subprocess.Popen, str, str]:
    """Start ``mlrun serve SPEC`` on 127.0.0.1 at a free port; ``(process, address, token)`` once it answers.

    ``verbose``: its output goes to this process's instead of ``serve.log``.
    """
    from ..functions.nuclio import serve_locally as serve

    return serve(spec_path, os.path.dirname(spec_path), allow=tuple(allow or ()), verbose=verbose)


def invoke(address: str, path: str = "/v2/models/", body: Any = None, method: str = "",
           headers: dict | None = None) -> Any:
    """``method`` (default: POST with a body, else GET) on ``address + path``: the answer's JSON.

    Bounded by ``$MLRUN_SERVING_INVOKE_TIMEOUT`` seconds (default 60) and ``$MLRUN_INVOKE_MAX_ANSWER`` bytes
    (64 MiB); an error answer raises ``ServingError`` with its status and one line.
    """
    from ..functions.nuclio import call
    from ..protocol import answer_error

    sent = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    answer = call(address, path, body, method, sent, env_seconds(INVOKE_TIMEOUT_ENV, 60), "the serving function")
    if answer.status_code >= 400:
        raise ServingError(answer_error(answer.content), answer.status_code)
    return answer.json()
