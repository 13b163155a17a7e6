"""``mode='noctx'``: a script that never calls ``get_or_create_ctx``, recorded all the same (Python and CLI)."""
from __future__ import annotations

import pytest
from helpers import mlrun_cli

import mlrun
from mlrun.errors import InvalidInputError
from mlrun.rundb import get_run_db

SCRIPT = """\
import argparse, sys
parser = argparse.ArgumentParser()
parser.add_argument("--p1", type=int, default=1)
parser.add_argument("--name", default="")
parser.add_argument("--values", default="[]")
args = parser.parse_args()
print(f"p1={args.p1} name={args.name} values={args.values} argv={sys.argv[1:3]}")
sys.exit(3 if args.p1 < 0 else 0)
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text(SCRIPT)
    return str(path)


def test_run_start_passes_the_parameters_as_arguments_and_keeps_the_output_as_the_log(script):
    run = mlrun.run_start(command=script, mode="noctx", params={"p1": 5, "name": "abc", "values": [1, 2]},
                          args=["--name", "first"], stream=False)
    assert run.state() == "completed", run.error
    assert run.spec.runtime["mode"] == "noctx" and run.spec.parameters == {"p1": 5, "name": "abc", "values": [1, 2]}
    log = get_run_db().read_log(run.uid).decode()
    # the command's own args first, then the parameters (argparse keeps the last --name)
    assert log == "p1=5 name=abc values=[1, 2] argv=['--name', 'first']\n"


def test_its_exit_code_decides_the_state(script):
    run = mlrun.run_start(command=script, mode="noctx", params={"p1": -1}, stream=False)
    assert run.state() == "error" and run.error == "script exited with code 3"
    assert get_run_db().read_run_data(run.uid)["status"]["state"] == "error"


def test_the_cli_takes_mode_noctx(script, tmp_path):
    db = str(tmp_path / "cli-db")
    proc = mlrun_cli("run", "--mode", "noctx", "-p", "p1=7", "--db", db, script)
    assert proc.returncode == 0, proc.stderr
    assert "p1=7 name= values=[]" in proc.stdout and "mode: noctx" in proc.stdout
    (summary,) = get_run_db(db).list_runs()
    assert summary["state"] == "completed"
    assert get_run_db(db).read_log(summary["uid"]).decode().startswith("p1=7 name=")
    failed = mlrun_cli("run", "--mode", "noctx", "-p", "p1=-4", "--db", db, "-q", script)
    assert failed.returncode == 1 and "script exited with code 3" in failed.stderr


@pytest.mark.parametrize("args, message", [
    (["--mode", "ctx"], "unknown run mode 'ctx' (expected: noctx)"),
    (["--mode", "noctx", "--handler", "main"], "mode noctx runs a Python file as a script"),
])
def test_the_cli_refuses_a_mode_that_does_not_fit(script, args, message, tmp_path):
    db = str(tmp_path / "cli-db")
    with open(script, "a") as fp:
        fp.write("def main(ctx):\n    pass\n")
    proc = mlrun_cli("run", *args, "--db", db, script)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert get_run_db(db).list_runs() == []


def test_a_function_url_is_no_noctx_target():
    with pytest.raises(InvalidInputError, match="mode noctx runs a Python file"):
        mlrun.run_start(command="http://127.0.0.1:9/", mode="noctx")
    assert get_run_db().list_runs() == []
