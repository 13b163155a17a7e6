"""``mlrun run`` sweeps and ``mlrun get runs`` listings, through the real command line."""
import json
import os

import pytest
from helpers import mlrun_cli

from mlrun.cli.runs import format_runs_table

HANDLERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sweep_handlers.py")


def stored_runs(cwd) -> list:
    result = mlrun_cli("get", "runs", "--iterations", "-o", "json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_sweep_from_the_cli_and_its_listing(tmp_path):
    result = mlrun_cli("run", "-x", "p1=[1,2,3]", "-x", "p2=[a,c]", "--selector", "max.accuracy", "--parallel", "2",
                       "--handler", "train", HANDLERS, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "best_iteration: 6" in result.stdout and "- [completed, 6, 3, c, 9, 97]" in result.stdout
    assert result.stderr.count("mlrun: iteration ") == 6
    table = (tmp_path / "iteration_results.csv").read_text().splitlines()
    assert table[0] == "state,iter,param.p1,param.p2,output.accuracy,output.loss"  # the seed system's columns
    assert table[-1] == "completed,6,3,c,9,97"

    listing = mlrun_cli("get", "runs", "--iterations", cwd=tmp_path).stdout.splitlines()
    assert listing[0].split() == ["UID", "NAME", "STATE", "START", "RESULTS"]
    assert "best_iteration=6, accuracy=9, loss=97" in listing[1]
    assert [line.split()[:3] for line in listing[2:]] == [["iteration", str(n), "sweep_handlers"] for n in range(1, 7)]
    assert "accuracy=9, loss=97" in listing[7]
    assert len(mlrun_cli("get", "runs", cwd=tmp_path).stdout.splitlines()) == 2  # the parent only


def test_a_param_file_and_a_failing_sweep_exit_1(tmp_path):
    (tmp_path / "params.json").write_text('[{"p1": 0, "p2": "a"}, {"p1": 1, "p2": "boom"}]')
    result = mlrun_cli("run", "--param-file", "params.json", "--handler", "train", HANDLERS, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].endswith(
        "failed: all 2 iterations failed; iteration 1: RuntimeError: cannot train with p1=0 p2=a")
    assert {(r["iteration"], r["state"]) for r in stored_runs(tmp_path)} == {(0, "error"), (1, "error"), (2, "error")}


@pytest.mark.parametrize("args, problem", [
    (["-x", "p1=[1,2"], "-x 'p1=[1,2': expected KEY=[v1,v2,...]"),
    (["-x", "p1=[a,,b]"], "-x 'p1=[a,,b]': malformed list"),
    (["-x", "p1=[1]", "--strategy", "best"], "unknown strategy 'best' (expected one of: grid, list, random)"),
    (["-x", "p1=[1]", "--selector", "max"], "selector 'max': expected max.OUTPUT or min.OUTPUT"),
    (["-x", "p1=[1]", "--selector", "best.accuracy"], "selector 'best.accuracy': expected max.OUTPUT or min.OUTPUT"),
    (["--param-file", "bad.json"], "param file bad.json is not valid JSON (line 1, column"),
    (["--param-file", "bad.csv"], "param file bad.csv, row 3: 1 values for 2 columns"),
    (["--param-file", "nope.csv"], "param file not found: nope.csv"),
    (["-x", "p1=[1]", "--stop-condition", "accuracy >"], "stop condition 'accuracy >': syntax error"),
    (["-x", "p1=[1,2]", "-x", "p2=[a]", "--strategy", "list"], "strategy list needs lists of one length"),
    (["--selector", "max.accuracy"], "needs values to sweep"),
    (["-x", "p1=[1]", "--parallel", "0"], "Invalid value for '--parallel'"),
])
def test_bad_sweep_input_is_one_line_exit_2_and_nothing_runs(tmp_path, args, problem):
    (tmp_path / "bad.json").write_text('{"p1": [1, 2')
    (tmp_path / "bad.csv").write_text("p1,p2\n1,a\n2\n")
    result = mlrun_cli("run", *args, "--handler", "train", HANDLERS, cwd=tmp_path)

    assert result.returncode == 2
    assert problem in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert stored_runs(tmp_path) == []
    assert not (tmp_path / "iteration_results.csv").exists()


def summary(uid, iteration, state="completed", **outputs):
    return {"uid": uid, "name": "train", "project": "", "iteration": iteration, "labels": {}, "state": state,
            "start_time": f"2024-01-01T00:00:0{iteration}", "last_update": "", "outputs": outputs, "error": ""}


def test_the_table_puts_iterations_under_their_parent_and_names_orphans_in_full():
    runs = [summary("b" * 32, 2, accuracy=2), summary("b" * 32, 0, best_iteration=2), summary("a" * 32, 1),
            summary("b" * 32, 1, state="error"), summary("c" * 32, 0)]
    lines = format_runs_table(runs).splitlines()

    assert [line.split()[0] for line in lines[1:]] == ["b" * 32, "iteration", "iteration", "a" * 32 + ".1", "c" * 32]
    assert lines[2].split()[:4] == ["iteration", "1", "train", "error"]
    assert lines[3].split()[:4] == ["iteration", "2", "train", "completed"] and lines[3].endswith("accuracy=2")
