"""How the CLI talks: a summary on a terminal and the record in a pipe, option typos, listings that fit."""
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml
from helpers import ROOT, mlrun_cli, terminal_reader

from mlrun.rundb import get_run_db

TRAIN = """
from mlrun import get_or_create_ctx

ctx = get_or_create_ctx("train")
print("training with", ctx.get_param("p1", 1))
with open("model.txt", "w") as fp:
    fp.write("weights")
ctx.log_output("accuracy", ctx.get_param("p1", 1) * 2)
ctx.log_artifact("model.txt")
"""

FAILING = """
from mlrun import get_or_create_ctx

ctx = get_or_create_ctx("broken")
print("about to fail")
raise RuntimeError("the data is gone")
"""


def on_terminal(*args: str, cwd: str, columns: int = 100) -> tuple[int, str]:
    """Run ``python -m mlrun ARGS`` with stdout and stderr on a real pseudo-terminal; its code and screen."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave)
    os.close(slave)
    screen = terminal_reader(master)
    code = proc.wait(timeout=120)
    return code, screen().replace("\r\n", "\n")


def test_a_terminal_gets_a_short_summary_after_the_log(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    code, screen = on_terminal("run", "-p", "p1=4", "train.py", cwd=str(tmp_path))
    assert code == 0, screen
    (run,) = get_run_db().list_runs()
    uid = run["uid"]
    assert "metadata:" not in screen and "spec:" not in screen  # not the record
    assert screen.index("training with 4") < screen.index(f"run:        train (uid {uid})")
    assert "state:      completed in " in screen
    assert "results:    accuracy=8" in screen
    assert f"artifact:   model.txt: {tmp_path / 'model.txt'}" in screen
    assert f"stored in:  {os.environ['MLRUN_DBPATH']}" in screen
    assert screen.rstrip().endswith(f"more:       mlrun get run {uid}")


def test_a_pipe_gets_the_record_as_before_and_o_chooses_either_way(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    piped = mlrun_cli("run", "-p", "p1=4", "train.py", cwd=str(tmp_path))
    assert piped.returncode == 0, piped.stderr
    record = yaml.safe_load(piped.stdout[piped.stdout.index("metadata:\n"):])
    assert record["status"]["state"] == "completed" and record["status"]["outputs"] == {"accuracy": 8}

    summary = mlrun_cli("run", "-o", "summary", "-o", "model.txt=out/model.txt", "train.py", cwd=str(tmp_path))
    assert summary.returncode == 0, summary.stderr
    assert "results:    accuracy=2" in summary.stdout and "metadata:" not in summary.stdout
    assert (tmp_path / "out" / "model.txt").read_text() == "weights"  # the other -o is still an artifact target

    code, screen = on_terminal("run", "-o", "json", "train.py", cwd=str(tmp_path))
    assert code == 0, screen
    assert json.loads(screen[screen.index("{"):])["status"]["state"] == "completed"
    code, screen = on_terminal("run", "-o", "yaml", "train.py", cwd=str(tmp_path))
    assert code == 0 and "  state: completed" in screen and "iterations:" in screen

    both = mlrun_cli("run", "-o", "yaml", "-o", "json", "train.py", cwd=str(tmp_path))
    assert both.returncode == 2 and "-o: one of summary, yaml, json, not yaml and json" in both.stderr


def test_quiet_prints_only_the_uid(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    quiet = mlrun_cli("run", "-q", "train.py", cwd=str(tmp_path))
    assert quiet.returncode == 0, quiet.stderr
    (run,) = get_run_db().list_runs()
    assert quiet.stdout == run["uid"] + "\n" and quiet.stderr == ""
    code, screen = on_terminal("run", "-q", "train.py", cwd=str(tmp_path))
    assert code == 0 and screen.strip() in {r["uid"] for r in get_run_db().list_runs()}


def test_a_failure_on_a_terminal_ends_with_its_error_line(tmp_path):
    (tmp_path / "broken.py").write_text(FAILING)
    code, screen = on_terminal("run", "broken.py", cwd=str(tmp_path))
    assert code == 1
    (run,) = get_run_db().list_runs()
    assert "metadata:" not in screen
    assert screen.index("about to fail") < screen.index("state:      error") < screen.index("Error: run")
    assert screen.rstrip().splitlines()[-1] == f"Error: run {run['uid']} failed: RuntimeError: the data is gone"


def test_a_mistyped_option_before_the_target_is_an_option_error(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    typo = mlrun_cli("run", "--parm", "p1=2", "train.py", cwd=str(tmp_path))
    assert typo.returncode == 2 and typo.stdout == ""
    assert "No such option '--parm'" in typo.stderr and "'--param'" in typo.stderr
    assert "file not found" not in typo.stderr
    joined = mlrun_cli("run", "--db=" + os.environ["MLRUN_DBPATH"], "--nmae=x", "train.py", cwd=str(tmp_path))
    assert joined.returncode == 2 and "No such option '--nmae'" in joined.stderr and "'--name'" in joined.stderr
    assert get_run_db().list_runs() == []

    command = mlrun_cli("gte", "runs")
    assert command.returncode == 2 and "No such command 'gte'. Did you mean 'get'?" in command.stderr


def test_options_after_the_target_are_the_scripts_own(tmp_path):
    (tmp_path / "echo.py").write_text("import sys\nprint('argv', sys.argv[1:])\n")
    proc = mlrun_cli("run", "-o", "yaml", "echo.py", "--parm", "-z", "x", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "argv ['--parm', '-z', 'x']" in proc.stdout


def test_parameters_for_a_script_without_a_context_are_said_unread_once(tmp_path):
    (tmp_path / "plain.py").write_text("print('plain')\n")
    (tmp_path / "train.py").write_text(TRAIN)
    unread = mlrun_cli("run", "-p", "p1=2", "-p", "p2=a", "plain.py", cwd=str(tmp_path))
    assert unread.returncode == 0, unread.stderr
    hints = [line for line in unread.stderr.splitlines() if "get_or_create_ctx" in line]
    assert hints == ["mlrun: plain.py never calls get_or_create_ctx, so its parameters (p1, p2) went unread; "
                     "--mode noctx passes them as --KEY VALUE arguments"]
    for args in (["-p", "p1=2", "train.py"], ["-p", "p1=2", "--mode", "noctx", "plain.py"], ["plain.py"]):
        quiet = mlrun_cli("run", *args, cwd=str(tmp_path))
        assert quiet.returncode == 0 and "get_or_create_ctx" not in quiet.stderr, args


RESULTS = """
from mlrun import get_or_create_ctx

ctx = get_or_create_ctx("wide")
ctx.log_output("a_rather_long_result_name", 0.123456789)
ctx.log_output("another_long_result_name", "with some text in it")
if ctx.get_param("fail", False):
    raise ValueError("bad input: " + "detail " * 40)
"""


def test_get_runs_fits_the_terminal_and_shows_errors_in_short(tmp_path):
    (tmp_path / "wide.py").write_text(RESULTS)
    assert mlrun_cli("run", "wide.py", cwd=str(tmp_path)).returncode == 0
    assert mlrun_cli("run", "-p", "fail=true", "wide.py", cwd=str(tmp_path)).returncode == 1
    failed, done = get_run_db().list_runs()  # newest first
    code, screen = on_terminal("get", "runs", cwd=str(tmp_path), columns=60)
    assert code == 0, screen
    header, *rows = screen.strip().splitlines()
    assert header.split() == ["UID", "NAME", "STATE", "START", "RESULTS"]
    assert [row.split()[:3] for row in rows] == [[failed["uid"][:8], "wide", "error"],
                                                 [done["uid"][:8], "wide", "completed"]]
    assert all(len(line) <= 60 for line in [header, *rows]) and rows[1].endswith("...")

    piped = mlrun_cli("get", "runs", cwd=str(tmp_path))
    assert piped.stdout.splitlines()[1].split()[0] == failed["uid"]  # whole uids for scripts
    assert "error: ValueError: bad input: detail" in piped.stdout and "detail " * 20 not in piped.stdout

    shown = mlrun_cli("get", "run", failed["uid"][:8])  # the short uid a terminal shows is enough
    assert shown.returncode == 0 and f"uid: {failed['uid']}" in shown.stdout


def test_an_empty_listing_says_no_runs_match(tmp_path):
    (tmp_path / "wide.py").write_text(RESULTS)
    assert mlrun_cli("run", "wide.py", cwd=str(tmp_path)).returncode == 0
    empty = mlrun_cli("get", "runs", "--name", "nothing-like-it")
    assert empty.returncode == 0 and empty.stdout == "" and empty.stderr == "no runs match\n"
    assert mlrun_cli("get", "runs", "--name", "nothing-like-it", "-o", "json").stdout.strip() == "[]"


def test_a_store_folder_that_does_not_exist_is_an_error(tmp_path):
    missing = tmp_path / "typo-db"
    for args in (["get", "runs"], ["get", "run", "abc"], ["logs", "abc"], ["get", "artifacts"]):
        proc = mlrun_cli(*args, "--db", str(missing))
        assert proc.returncode == 1 and proc.stdout == "", args
        assert proc.stderr == f"Error: run store {missing} not found: no such folder (a run creates it)\n"
    assert not missing.exists()
    fresh = mlrun_cli("get", "runs")  # the default store ($MLRUN_DBPATH here) is created on first use
    assert fresh.returncode == 0 and fresh.stderr == "no runs match\n"


def test_the_readme_install_block_names_every_extra():
    extras = set(tomllib.loads(Path(ROOT, "pyproject.toml").read_text())["project"]["optional-dependencies"])
    readme = Path(ROOT, "README.md").read_text()
    install = readme[readme.index("## Install"):]
    install = install[:install.index("```\n", install.index("```bash") + 7)]
    listed = set(re.findall(r"pip install '\.\[(\w+)\]'", install))
    assert listed == extras - {"test", "docs"}  # docs: building the documentation site, not a feature
    assert "Default: the folder `~/.mlrun/db`" in readme


def test_every_db_option_names_the_stores_it_takes():
    for command in (["run"], ["get", "runs"], ["get", "run"], ["logs"], ["delete", "run"], ["gc"]):
        helped = mlrun_cli(*command, "--help", env={"COLUMNS": "200"})
        assert helped.returncode == 0
        line = next(line for line in helped.stdout.splitlines() if "--db" in line)
        text = " ".join(helped.stdout[helped.stdout.index(line):].split())
        assert "a folder, s3://bucket/prefix, postgresql://user@host/db or http(s)://server" in text, command


def test_the_summary_names_the_store_without_its_password_and_counts_iterations():
    from mlrun.cli.runs import format_run_summary

    record = {"metadata": {"name": "sweep", "uid": "u1"},
              "status": {"state": "completed", "start_time": "2024-01-01T00:00:00+00:00",
                         "last_update": "2024-01-01T00:03:00+00:00", "outputs": {"best_iteration": 2},
                         "iterations": [["state", "iter"], ["completed", 1], ["completed", 2]]}}
    lines = format_run_summary(record, "postgresql://team:s3cret-pw@127.0.0.1:5432/runs").splitlines()
    assert lines == ["run:        sweep (uid u1)", "state:      completed in 3.0 min", "iterations: 2",
                     "results:    best_iteration=2", "stored in:  postgresql://team@127.0.0.1:5432/runs",
                     "more:       mlrun get run u1"]
