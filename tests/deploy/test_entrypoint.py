"""The image's entrypoint (deploy/entrypoint.sh): the handler from the first argument or $MLRUN_HANDLER."""
from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT

ENTRYPOINT = os.path.join(ROOT, "deploy", "entrypoint.sh")


def entrypoint(*args: str, handler: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLRUN_HANDLER"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]  # `python` is the image's venv
    if handler is not None:
        env["MLRUN_HANDLER"] = handler
    return subprocess.run(["sh", ENTRYPOINT, *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_handler_is_the_argument_else_the_variable_and_options_follow_it(tmp_path):
    by_argument = entrypoint(str(tmp_path / "from-argument.py:fn"), handler=str(tmp_path / "from-env.py"))
    assert by_argument.returncode == 2 and "from-argument.py" in by_argument.stderr
    by_variable = entrypoint("--threads", "2", handler=str(tmp_path / "from-env.py:fn"))
    assert by_variable.returncode == 2 and "from-env.py" in by_variable.stderr, by_variable.stderr
    neither = entrypoint()
    assert neither.returncode != 0 and "set MLRUN_HANDLER or pass FILE[:HANDLER]" in neither.stderr
