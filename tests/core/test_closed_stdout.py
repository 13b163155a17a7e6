"""``mlrun ... | head``: a reader that closed the pipe ends the command quietly, as other command-line tools do."""
import os
import subprocess
import sys

import pytest
from helpers import ROOT, mlrun_cli


def with_closed_stdout(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``mlrun ARGS`` writing into a pipe nobody reads any more (its read end closed before it starts)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "mlrun", *args], stdout=write, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **(env or {})}, timeout=60)
    finally:
        os.close(write)


@pytest.fixture
def stored_run(tmp_path):
    db = str(tmp_path / "db")
    (tmp_path / "r.py").write_text("import mlrun\nprint('hello')\nmlrun.get_or_create_ctx('r').log_result('a', 1)\n")
    assert mlrun_cli("run", "--uid", "piped01", "--db", db, "-q", "r.py", cwd=str(tmp_path)).returncode == 0
    return db


@pytest.mark.parametrize("args", [["get", "run", "piped01"], ["get", "runs", "-o", "json"], ["logs", "piped01"]])
def test_reading_runs_into_a_closed_pipe_exits_quietly(stored_run, args):
    result = with_closed_stdout(*args, "--db", stored_run)
    assert result.returncode == 1
    assert result.stderr == ""  # no "Error: [Errno 32] Broken pipe", no traceback


def test_help_and_a_config_into_a_closed_pipe_exit_quietly():
    for args in (["--help"], ["function-config", os.path.join(ROOT, "handlers", "seed_nuclio.py"),
                              "--mlrun-requirement", "git+https://127.0.0.1/x.git"]):
        result = with_closed_stdout(*args)
        assert (result.returncode, result.stderr) == (1, ""), args
