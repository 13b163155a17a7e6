"""End to end: ``mlrun run`` / ``get`` / ``logs`` / ``delete`` in subprocesses, on temporary directories."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml
from helpers import ROOT, mlrun_cli
from rundb_contract import make_record

from mlrun.rundb import get_run_db

SECRET = "my-access-key-123"
EXAMPLES = os.path.join(ROOT, "examples")


def printed_record(stdout: str) -> dict:
    """The YAML record ``mlrun run`` prints after the run's own output."""
    start = stdout.index("metadata:\n")
    assert start == 0 or stdout[start - 1] == "\n"
    return yaml.safe_load(stdout[start:])


def only_run(db: str) -> dict:
    (summary,) = get_run_db(db).list_runs()
    return get_run_db(db).read_run_data(summary["uid"])


def error_line(stderr: str) -> str:
    """The one line a failing command explains itself with; never a traceback."""
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("Error:")]
    return line


def write(folder, name: str, code: str) -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as fp:
        fp.write(textwrap.dedent(code))
    return path


@pytest.fixture
def workdir(tmp_path):
    """A directory with the seed's examples, a secrets file and an input file."""
    for name in ("example1.py",):
        shutil.copy(os.path.join(EXAMPLES, name), tmp_path / name)
    (tmp_path / "secrets.txt").write_text(f"# app credentials\nACCESS_KEY={SECRET}\n")
    (tmp_path / "infile.txt").write_text("hello from infile\n")
    return tmp_path


# -- the seed's flows ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """The seed's example1 run once with every kind of override; several tests look at the result."""
    work = tmp_path_factory.mktemp("seed")
    shutil.copy(os.path.join(EXAMPLES, "example1.py"), work / "example1.py")
    (work / "secrets.txt").write_text(f"ACCESS_KEY={SECRET}\n")
    (work / "data").mkdir()
    (work / "data" / "infile.txt").write_text("hello from infile\n")
    db = str(work / "db")
    proc = mlrun_cli("run", "-p", "p1=5", "-s", "file=secrets.txt", "-i", f"infile.txt={work / 'data' / 'infile.txt'}",
                     "--workflow", "4e128362-9ac2-11e9", "--label", "team=ml", "--save-to", "saved/", "example1.py",
                     cwd=str(work), env={"MLRUN_DBPATH": db})
    return proc, work, db


def test_seed_example1_runs_and_prints_the_record_in_the_seed_shape(seed_run):
    proc, work, db = seed_run
    assert proc.returncode == 0, proc.stderr
    record = printed_record(proc.stdout)
    meta, spec, status = record["metadata"], record["spec"], record["status"]
    assert list(record) == ["metadata", "spec", "status"]
    seed_order = {"metadata": ["name", "uid", "project", "tag", "labels", "annotations"],
                  "spec": ["runtime", "parameters", "input_objects", "data_stores", "output_artifacts",
                           "default_output_path"],
                  "status": ["state", "outputs", "metrics", "start_time", "last_update", "output_artifacts"]}
    for section, fields in seed_order.items():
        assert [f for f in record[section] if f in fields] == fields
    assert meta["name"] == "mytask" and len(meta["uid"]) == 32 and meta["project"] == ""
    assert meta["labels"]["workflow"] == "4e128362-9ac2-11e9" and meta["labels"]["team"] == "ml"
    assert meta["labels"]["owner"] and meta["annotations"] == {"mlrun/heartbeat": "30"}
    assert spec["runtime"]["command"] == "example1.py"
    assert spec["parameters"] == {"p1": 5, "p2": "a-string"}
    assert spec["input_objects"] == [{"key": "infile.txt", "path": str(work / "data" / "infile.txt")}]
    assert spec["secret_sources"] == [{"kind": "file", "source": str(work / "secrets.txt")}]
    assert status["state"] == "completed" and status["error"] == "" and status["commit_message"] == "aa"
    assert status["outputs"] == {"accuracy": 10}
    assert status["metrics"] == {"loss": {"labels": {}, "xvalues": ["1", "2", "3"], "yvalues": [2, 4, 6]}}
    (artifact,) = status["output_artifacts"]
    assert artifact["key"] == "test.txt" and artifact["description"] == ""
    assert (work / "test.txt").read_bytes() == b"abc is 123"
    assert status["start_time"] <= status["last_update"] and "+00:00" in status["start_time"]
    assert "xvalues: ['1', '2', '3']" in proc.stdout


def test_seed_example1_output_streams_masked_and_is_kept_as_the_log(seed_run):
    proc, work, db = seed_run
    uid = only_run(db)["metadata"]["uid"]
    assert proc.stdout.startswith(f"Run: mytask (uid={uid})\nParams: p1=5, p2=a-string\naccesskey = ******\n")
    assert "hello from infile" in proc.stdout
    log = mlrun_cli("logs", uid, env={"MLRUN_DBPATH": db})
    assert log.returncode == 0 and log.stdout == proc.stdout[:proc.stdout.index("metadata:\n")]


def test_seed_example1_is_stored_and_saved_exactly_as_printed(seed_run):
    proc, work, db = seed_run
    stored = only_run(db)
    assert stored == printed_record(proc.stdout)
    saved = work / "saved" / f"{stored['metadata']['uid']}.yaml"
    assert yaml.safe_load(saved.read_text()) == stored
    shown = mlrun_cli("get", "run", stored["metadata"]["uid"], env={"MLRUN_DBPATH": db})
    assert shown.returncode == 0 and yaml.safe_load(shown.stdout) == stored


def test_seed_example1_never_leaks_the_secret(seed_run):
    proc, work, db = seed_run
    uid = only_run(db)["metadata"]["uid"]
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert SECRET not in json.dumps(get_run_db(db).read_run_data(uid))
    assert SECRET.encode() not in get_run_db(db).read_log(uid)
    assert SECRET not in (work / "saved" / f"{uid}.yaml").read_text()
    for path in (work / "db").iterdir():  # not even in the store's files
        assert SECRET.encode() not in path.read_bytes()


def test_seed_cli_line_with_a_local_input(workdir):
    proc = mlrun_cli("run", "-p", "p1=5", "-s", "file=secrets.txt", "-i", "infile.txt=infile.txt", "example1.py",
                     cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    record = printed_record(proc.stdout)
    assert record["status"]["outputs"] == {"accuracy": 10} and record["spec"]["parameters"]["p1"] == 5
    assert "file\nb'hello from infile\\n'\n" in proc.stdout and "accesskey = ******" in proc.stdout
    (lineage,) = record["status"]["input_objects"]
    assert lineage["key"] == "infile.txt" and lineage["size"] == len("hello from infile\n")
    assert only_run(os.environ["MLRUN_DBPATH"]) == record


def test_the_seed_code_as_a_plain_script_is_recorded_in_the_default_store(workdir):
    proc = subprocess.run([sys.executable, "example1.py"], cwd=str(workdir), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["metadata"]["name"] == "mytask" and record["status"]["state"] == "completed"
    assert record["spec"]["parameters"] == {"p1": 1, "p2": "a-string"}
    assert record["status"]["outputs"] == {"accuracy": 2} and record["status"]["commit_message"] == "aa"


def test_a_plain_script_takes_its_spec_from_mlrun_exec_config(workdir):
    spec = {"metadata": {"name": "injected", "uid": "cafe01"}, "spec": {"parameters": {"p1": 21}}}
    proc = subprocess.run([sys.executable, "example1.py"], cwd=str(workdir), capture_output=True, text=True,
                          env={**os.environ, "MLRUN_EXEC_CONFIG": json.dumps(spec)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    record = get_run_db().read_run_data("cafe01")
    assert record["metadata"]["name"] == "injected" and record["status"]["outputs"] == {"accuracy": 42}


def test_a_plain_script_that_raises_is_recorded_in_state_error(workdir):
    write(workdir, "fails.py", """\
        from mlrun import get_or_create_ctx
        ctx = get_or_create_ctx("fails")
        ctx.log_output("step", 1)
        raise ValueError("no rows in input")
    """)
    proc = subprocess.run([sys.executable, "fails.py"], cwd=str(workdir), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.rstrip().endswith("ValueError: no rows in input")
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["status"]["state"] == "error" and record["status"]["error"] == "ValueError: no rows in input"
    assert record["status"]["outputs"] == {"step": 1}


AFTER_COMPLETED = """\
    from mlrun import get_or_create_ctx
    with get_or_create_ctx("after") as ctx:
        ctx.log_output("a", 1)
    raise RuntimeError("post-processing failed")
"""


def test_an_exception_after_the_code_completed_the_run_still_fails_it(workdir):
    write(workdir, "after.py", AFTER_COMPLETED)
    proc = mlrun_cli("run", "-q", "after.py", cwd=str(workdir))
    assert proc.returncode == 1
    assert error_line(proc.stderr).endswith("failed: RuntimeError: post-processing failed")
    plain = subprocess.run([sys.executable, "after.py"], cwd=str(workdir), capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode == 1
    runs = get_run_db().list_runs()
    assert [(r["state"], r["error"]) for r in runs] == [("error", "RuntimeError: post-processing failed")] * 2


# -- bad input: one line naming the culprit, exit code 2, nothing stored -------------------------------------

@pytest.mark.parametrize("args, culprit", [
    (["-p", "p1", "example1.py"], "-p 'p1': expected key=value"),
    (["-p", "=5", "example1.py"], "-p '=5': expected key=value"),
    (["-i", "infile.txt", "example1.py"], "-i 'infile.txt': expected key=value"),
    (["--label", "team", "example1.py"], "--label 'team': expected key=value"),
    (["-s", "vault=prod", "example1.py"], "unknown secret source kind 'vault'"),
    (["-s", "secrets.txt", "example1.py"], "-s 'secrets.txt': expected key=value"),
    (["-s", "file=missing-secrets.txt", "example1.py"], "secrets file not found: "),
    (["missing.py"], "file not found: missing.py"),
    (["--handler", "train", "example1.py"], "handler 'train' not found in example1.py"),
    (["--db", "ftp://host/runs", "example1.py"], "unknown run store 'ftp://host/runs'"),
    (["--uid", "../../etc/x", "--save-to", "records/", "example1.py"], "uid '../../etc/x': use letters"),
])
def test_usage_errors(workdir, args, culprit):
    proc = mlrun_cli("run", *args, cwd=str(workdir))
    assert proc.returncode == 2
    assert culprit in error_line(proc.stderr)
    assert proc.stdout == ""
    assert get_run_db().list_runs() == []


def test_a_syntax_error_in_a_handler_file_is_a_usage_error(workdir):
    write(workdir, "broken.py", "def train(ctx):\n    return {\n")
    proc = mlrun_cli("run", "--handler", "train", "broken.py", cwd=str(workdir))
    assert proc.returncode == 2 and "broken.py:2: syntax error" in error_line(proc.stderr)
    assert get_run_db().list_runs() == []


@pytest.mark.parametrize("spec, culprit", [
    ("{bad", "MLRUN_EXEC_CONFIG is not valid JSON or YAML"),
    ('{"spec": {"parameters": [1, 2]}}', "spec.parameters must be a mapping, got list"),
    ('{"spec": {"input_objects": ["infile.txt"]}}', "spec.input_objects[0] must be a mapping, got str"),
    ('{"metadata": {"iteration": "one"}}', "metadata.iteration must be an integer, got str"),
    ('{"spec": {"secret_sources": [{"kind": "file", "source": "/no/such/secrets"}]}}',
     "secrets file not found: /no/such/secrets"),
])
def test_a_bad_mlrun_exec_config_is_one_line_and_exit_code_2(workdir, spec, culprit):
    proc = subprocess.run([sys.executable, "example1.py"], cwd=str(workdir), capture_output=True, text=True,
                          env={**os.environ, "MLRUN_EXEC_CONFIG": spec}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("mlrun: ") and culprit in proc.stderr
    assert get_run_db().list_runs() == []


# -- failing runs: a record in state error with the reason, exit code 1 -------------------------------------

def test_a_script_that_raises_fails_with_its_message_and_the_secret_masked(workdir):
    write(workdir, "boom.py", """\
        import sys
        from mlrun import get_or_create_ctx
        ctx = get_or_create_ctx("boom")
        key = ctx.get_secret("ACCESS_KEY")
        print("stdout has", key, "and", ctx.get_secret("APP_TOKEN"))
        print("stderr has", key, file=sys.stderr)
        ctx.log_output("before", 1)
        raise RuntimeError(f"bad key {key}")
    """)
    proc = mlrun_cli("run", "-s", "file=secrets.txt", "-s", "env=APP_TOKEN", "boom.py", cwd=str(workdir),
                     env={"APP_TOKEN": "env-token-456"})
    assert proc.returncode == 1
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["status"]["state"] == "error" and record["status"]["error"] == "RuntimeError: bad key ******"
    assert record["status"]["outputs"] == {"before": 1}
    assert printed_record(proc.stdout) == record
    uid = record["metadata"]["uid"]
    assert proc.stderr.splitlines()[-1] == f"Error: run {uid} failed: RuntimeError: bad key ******"
    assert "stdout has ****** and ******" in proc.stdout and "stderr has ******" in proc.stderr
    assert 'raise RuntimeError(f"bad key {key}")' in proc.stderr  # the user's own traceback, for debugging
    log = get_run_db().read_log(uid)
    assert b"stdout has ******" in log and b"stderr has ******" in log and b"RuntimeError: bad key ******" in log
    everything = proc.stdout + proc.stderr + json.dumps(record) + log.decode()
    assert SECRET not in everything and "env-token-456" not in everything


@pytest.mark.parametrize("code, reason", [
    ("import sys; sys.exit(3)", "script exited with code 3"),
    ("import sys; sys.exit('out of memory')", "out of memory"),
    ("import os; os._exit(4)", "process exited with code 4"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "process killed by SIGKILL"),
])
def test_a_script_that_exits_non_zero_fails_with_the_reason(workdir, code, reason):
    write(workdir, "exits.py", f"from mlrun import get_or_create_ctx\nctx = get_or_create_ctx('exits')\n{code}\n")
    proc = mlrun_cli("run", "exits.py", cwd=str(workdir))
    assert proc.returncode == 1
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["status"]["state"] == "error" and record["status"]["error"] == reason
    assert error_line(proc.stderr).endswith(f"failed: {reason}")


def test_a_script_that_never_commits_is_recorded_completed(workdir):
    write(workdir, "quiet.py", """\
        import sys
        from mlrun import get_or_create_ctx
        from mlrun.rundb import get_run_db
        ctx = get_or_create_ctx("quiet")
        ctx.log_output("n", len(sys.argv))
        ctx.log_output("args", sys.argv[1:])
        ctx.log_output("state_while_running", get_run_db().read_run_data(ctx.uid)["status"]["state"])
        sys.exit(0)
    """)
    proc = mlrun_cli("run", "quiet.py", "a", "--b", "c", cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["metadata"]["name"] == "quiet" and record["status"]["state"] == "completed"
    assert record["status"]["outputs"] == {"n": 4, "args": ["a", "--b", "c"], "state_while_running": "running"}
    assert record["spec"]["runtime"]["args"] == ["a", "--b", "c"]


def test_a_script_without_mlrun_is_recorded_under_its_file_name(workdir):
    write(workdir, "plain.py", "print('just a script')\n")
    proc = mlrun_cli("run", "--project", "demo", "-q", "plain.py", cwd=str(workdir))
    assert proc.returncode == 0 and proc.stderr == ""
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert proc.stdout == record["metadata"]["uid"] + "\n"  # -q: the uid alone
    assert (record["metadata"]["name"], record["metadata"]["project"]) == ("plain", "demo")
    assert record["status"]["state"] == "completed"
    assert get_run_db().read_log(record["metadata"]["uid"]) == b"just a script\n"


# -- --handler, --save-to ------------------------------------------------------------------------------------

HANDLERS = """\
    def train(ctx):
        ctx.log_metric("loss", 0.5)
        return {"accuracy": ctx.get_param("p1", 1) * 2, "model": "m.pkl"}

    def score(ctx):
        return 0.75

    def fail(ctx):
        raise ValueError("no data")

    if __name__ == "__main__":
        raise SystemExit("a handler run must not run the script's main block")
"""


@pytest.mark.parametrize("handler, state, outputs, error", [
    ("train", "completed", {"accuracy": 14, "model": "m.pkl"}, ""),
    ("score", "completed", {"return": 0.75}, ""),
    ("fail", "error", {}, "ValueError: no data"),
])
def test_handler_mode(workdir, handler, state, outputs, error):
    write(workdir, "handlers.py", HANDLERS)
    proc = mlrun_cli("run", "--handler", handler, "-p", "p1=7", "--name", "h", "handlers.py", cwd=str(workdir))
    assert proc.returncode == (0 if state == "completed" else 1)
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["metadata"]["name"] == "h" and record["spec"]["runtime"]["handler"] == handler
    assert record["status"]["state"] == state and record["status"]["error"] == error
    assert record["status"]["outputs"] == outputs


def test_an_unnamed_handler_run_names_its_artifacts_producer_as_its_record(workdir):
    write(workdir, "tables.py", """\
        def make(ctx):
            ctx.log_artifact("t.txt", body="rows")
    """)
    proc = mlrun_cli("run", "--handler", "make", "tables.py", cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["metadata"]["name"] == "tables"
    assert record["status"]["output_artifacts"][0]["producer"] == {"name": "tables", "uid": record["metadata"]["uid"]}


def test_save_to_a_file_and_to_a_directory(workdir):
    target = workdir / "records" / "nested" / "last.yaml"
    proc = mlrun_cli("run", "-q", "--uid", "u-file", "--save-to", str(target), "example1.py", cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(target.read_text()) == get_run_db().read_run_data("u-file")
    (workdir / "dir").mkdir()
    proc = mlrun_cli("run", "-q", "--uid", "u-dir", "--save-to", "dir", "example1.py", cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load((workdir / "dir" / "u-dir.yaml").read_text()) == get_run_db().read_run_data("u-dir")
    leftovers = [p.name for p in (workdir / "dir").iterdir()] + [p.name for p in target.parent.iterdir()]
    assert sorted(leftovers) == ["last.yaml", "u-dir.yaml"]  # no temporary files left behind


def test_save_to_failing_after_a_completed_run_shows_the_record_first_then_one_line(workdir):
    (workdir / "a-file").write_text("x")
    proc = mlrun_cli("run", "--uid", "u-save", "--save-to", "a-file/r.yaml", "example1.py", cwd=str(workdir))
    assert proc.returncode == 1
    shown = yaml.safe_load(proc.stdout[proc.stdout.index("metadata:"):])  # the record, after the script's lines
    assert shown["metadata"]["uid"] == "u-save" and shown["status"]["state"] == "completed"
    assert proc.stderr.splitlines() == ["Error: cannot save the run record to a-file/r.yaml: Not a directory"]
    assert get_run_db().read_run_data("u-save")["status"]["state"] == "completed"


def test_typed_parameters_out_path_and_output_targets(workdir):
    write(workdir, "arts.py", """\
        from mlrun import get_or_create_ctx
        ctx = get_or_create_ctx("arts")
        ctx.log_output("types", [type(ctx.get_param(k)).__name__ for k in ("cfg", "rate", "flag", "none", "word")])
        ctx.log_artifact("report.html", body="<p>hi</p>")
        ctx.log_artifact("model.bin", body=b"\\x00\\x01")
    """)
    proc = mlrun_cli("run", "-q", "--out-path", "out", "-o", "model.bin=models/m.bin", "-p", 'cfg={"a": [1, 2]}',
                     "-p", "rate=0.5", "-p", "flag=true", "-p", "none=null", "-p", "word=a b", "arts.py",
                     cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    record = only_run(os.environ["MLRUN_DBPATH"])
    assert record["spec"]["parameters"] == {"cfg": {"a": [1, 2]}, "rate": 0.5, "flag": True, "none": None,
                                            "word": "a b"}
    assert record["status"]["outputs"]["types"] == ["dict", "float", "bool", "NoneType", "str"]
    assert (workdir / "out" / "report.html").read_text() == "<p>hi</p>"
    assert (workdir / "models" / "m.bin").read_bytes() == b"\x00\x01"
    assert [(a["key"], a["target_path"]) for a in record["status"]["output_artifacts"]] == [  # recorded absolute
        ("report.html", str(workdir / "out" / "report.html")), ("model.bin", str(workdir / "models" / "m.bin"))]


# -- get runs / get run / logs / delete run ------------------------------------------------------------------

@pytest.fixture
def stored_runs():
    db = get_run_db()
    db.store_run(make_record("aaa1", name="train", labels={"team": "ml", "owner": "x"},
                             start="2024-01-01T00:00:00+00:00", outputs={"accuracy": 0.5}))
    db.store_run(make_record("bbb2", name="train", state="error", project="p1", labels={"team": "data"},
                             start="2024-01-02T00:00:00+00:00"))
    db.store_run(make_record("ccc3", name="eval", project="p1", labels={"team": "ml"},
                             start="2024-01-03T00:00:00+00:00", outputs={"accuracy": 0.9, "f1": 0.8}))
    db.store_log("ccc3", b"line 1\nline 2\n")
    return db


def uids(*args) -> list:
    """``mlrun get runs -o json ARGS`` in-process: the filter matrix needs no fresh interpreter."""
    from click.testing import CliRunner

    from mlrun.cli import cli

    result = CliRunner().invoke(cli, ["get", "runs", "-o", "json", *args])
    assert result.exit_code == 0, result.output
    return [run["uid"] for run in json.loads(result.output)]


def test_get_runs_table(stored_runs):
    proc = mlrun_cli("get", "runs")
    assert proc.returncode == 0
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["UID", "NAME", "STATE", "START", "RESULTS"]
    assert [r.split()[:3] for r in rows] == [["ccc3", "eval", "completed"], ["bbb2", "train", "error"],
                                            ["aaa1", "train", "completed"]]
    assert "2024-01-03 00:00:00" in rows[0] and rows[0].endswith("accuracy=0.9, f1=0.8")


def test_get_runs_filters(stored_runs):
    assert uids() == ["ccc3", "bbb2", "aaa1"]
    assert uids("--name", "train") == ["bbb2", "aaa1"]
    assert uids("--project", "p1") == ["ccc3", "bbb2"]
    assert uids("--label", "team=ml") == ["ccc3", "aaa1"]
    assert uids("--label", "team=ml", "--label", "owner") == ["aaa1"]
    assert uids("--state", "error") == ["bbb2"]
    assert uids("--limit", "2") == ["ccc3", "bbb2"]
    assert uids("--name", "nothing") == []


def test_get_runs_as_yaml(stored_runs):
    proc = mlrun_cli("get", "runs", "-o", "yaml", "--limit", "1")
    (summary,) = yaml.safe_load(proc.stdout)
    assert summary["uid"] == "ccc3" and summary["outputs"] == {"accuracy": 0.9, "f1": 0.8}


def test_get_run_logs_and_delete(stored_runs):
    shown = mlrun_cli("get", "run", "ccc3", "-o", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == stored_runs.read_run_data("ccc3")
    logs = mlrun_cli("logs", "ccc3")
    assert logs.returncode == 0 and logs.stdout == "line 1\nline 2\n"
    deleted = mlrun_cli("delete", "run", "ccc3")
    assert deleted.returncode == 0 and deleted.stdout == "deleted run ccc3\n"
    assert uids() == ["bbb2", "aaa1"]
    for args in (["get", "run", "ccc3"], ["logs", "ccc3"], ["delete", "run", "ccc3"]):
        proc = mlrun_cli(*args)
        assert proc.returncode == 1 and proc.stdout == ""
        assert error_line(proc.stderr) == "Error: run ccc3 not found"


def test_listing_bad_options_are_usage_errors(stored_runs):
    for args, culprit in ((["--state", "done"], "'--state'"), (["--limit", "-1"], "'--limit'"),
                          (["-o", "xml"], "'--output'")):
        proc = mlrun_cli("get", "runs", *args)
        assert proc.returncode == 2 and culprit in error_line(proc.stderr)


def test_the_console_script_and_python_m_agree():
    console = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mlrun"), "--help"],
                             capture_output=True, text=True, timeout=60)
    module = mlrun_cli("--help")
    assert console.returncode == module.returncode == 0
    assert console.stdout == module.stdout and "get" in module.stdout and "run" in module.stdout
