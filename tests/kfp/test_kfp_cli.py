"""``mlrun run --kfp`` end to end: a real child run, the files KFP reads, and the run record."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from helpers import SEED_EXAMPLE, mlrun_cli

from mlrun.kfp.outputs import METRIC_NAME, METRICS_FILE, UI_METADATA_FILE
from mlrun.rundb import get_run_db

ODD_OUTPUTS = textwrap.dedent("""
    from mlrun import get_or_create_ctx

    ctx = get_or_create_ctx("odd")
    ctx.log_outputs({"val.acc": 0.5, "1st": 1, "name": "abc", "flag": True, "nan": float("nan"),
                     "sizes": [1, 2], "val-acc": 0.75})
    ctx.log_artifact("scores.csv", body="model,score\\na,1\\nb,2\\n")
    ctx.log_artifact("report.html", body="<h1>report</h1>")
""")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The seed's example with its input file; KFP folders inside the test's temp dir."""
    shutil.copy(SEED_EXAMPLE, tmp_path / "example1.py")
    (tmp_path / "infile.txt").write_text("hello from infile.txt\n")
    monkeypatch.delenv("MLRUN_KFP_DIR", raising=False)
    monkeypatch.delenv("MLRUN_KFP_OUTPUTS_DIR", raising=False)
    monkeypatch.delenv("KFPMETA_OUT_DIR", raising=False)
    return tmp_path


def kfp_args(workdir):
    return ["--kfp", "--kfp-dir", str(workdir / "kfp"), "--kfp-outputs-dir", str(workdir / "out")]


def only_run(dbpath) -> dict:
    runs = get_run_db(dbpath).list_runs()
    assert len(runs) == 1
    return get_run_db(dbpath).read_run_data(runs[0]["uid"])


def test_the_seed_step_writes_what_kfp_reads_without_importing_kfp(workdir, isolated_store):
    (workdir / "secrets.txt").write_text("ACCESS_KEY=my-access-key-123\n")
    # -X importtime lists every module the command imports on stderr
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlrun", "run", *kfp_args(workdir), "-q",
                             "-p", "p1=6", "-s", "file=secrets.txt", "--workflow", "4e128362-9ac2-11e9",
                             "--kfp-output", f"accuracy={workdir}/v2/accuracy", "example1.py"],
                            cwd=str(workdir), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time")}
    assert "mlrun.kfp.outputs" in imported and not {m for m in imported if m == "kfp" or m.startswith("kfp.")}

    record = only_run(isolated_store)
    assert record["status"]["state"] == "completed"
    assert record["metadata"]["labels"]["workflow"] == "4e128362-9ac2-11e9"
    out = workdir / "out"
    assert (out / "accuracy").read_text() == "12" and (workdir / "v2" / "accuracy").read_text() == "12"
    assert (out / "test.txt").read_text() == str(workdir / "test.txt")
    assert (workdir / "test.txt").read_bytes() == b"abc is 123"
    metrics = json.loads((workdir / "kfp" / METRICS_FILE).read_text())
    assert metrics == {"metrics": [{"name": "accuracy", "numberValue": 12, "format": "RAW"}]}
    ui = json.loads((workdir / "kfp" / UI_METADATA_FILE).read_text())
    report = ui["outputs"][0]
    assert ui["version"] == 1 and report["type"] == "markdown" and report["storage"] == "inline"
    assert f"uid `{record['metadata']['uid']}`, state **completed**" in report["source"]
    assert "| p1 | 6 |" in report["source"] and "| accuracy | 12 |" in report["source"]
    assert f"| test.txt | {workdir / 'test.txt'} | 10 | txt |" in report["source"]
    written = [p for folder in ("kfp", "out", "v2") for p in (workdir / folder).rglob("*") if p.is_file()]
    assert len(written) == 5 and not [p for p in written if "my-access-key-123" in p.read_text()]


def test_odd_results_are_left_out_or_renamed_and_small_tables_and_pages_are_shown(workdir, isolated_store):
    (workdir / "odd.py").write_text(ODD_OUTPUTS)
    result = mlrun_cli("run", *kfp_args(workdir), "-q", "odd.py", cwd=str(workdir))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((workdir / "kfp" / METRICS_FILE).read_text())["metrics"]
    assert {m["name"]: m["numberValue"] for m in metrics} == {"metric-1st": 1, "val-acc": 0.75, "val-acc-2": 0.5}
    assert all(METRIC_NAME.match(m["name"]) and m["format"] == "RAW" for m in metrics)
    out = workdir / "out"
    assert (out / "name").read_text() == "abc" and (out / "flag").read_text() == "true"
    assert (out / "sizes").read_text() == "[1, 2]" and (out / "scores.csv").read_text() == str(workdir / "scores.csv")
    viewers = json.loads((workdir / "kfp" / UI_METADATA_FILE).read_text())["outputs"]
    assert [v["type"] for v in viewers] == ["markdown", "table", "web-app"]
    assert viewers[1]["header"] == ["model", "score"] and viewers[1]["source"] == "a,1\nb,2\n"
    assert viewers[2]["source"] == "<h1>report</h1>"


def test_a_hyper_parameter_run_shows_the_best_results_and_the_iterations_table(workdir, isolated_store):
    result = mlrun_cli("run", *kfp_args(workdir), "-q", "-x", "p1=[1,3,2]", "--selector", "max.accuracy",
                       "example1.py", cwd=str(workdir))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((workdir / "kfp" / METRICS_FILE).read_text())["metrics"]
    assert {m["name"]: m["numberValue"] for m in metrics} == {"accuracy": 6, "best_iteration": 2}
    assert (workdir / "out" / "accuracy").read_text() == "6"
    report, table = json.loads((workdir / "kfp" / UI_METADATA_FILE).read_text())["outputs"]
    assert "| p1 | [1, 3, 2] |" in report["source"]
    # the swept parameter first, then the fixed ones (p2: the default the code recorded), then the results
    header = ["state", "iter", "param.p1", "param.p2", "output.accuracy"]
    assert table["type"] == "table" and table["header"] == header
    assert table["source"].splitlines() == ["completed,1,1,a-string,2", "completed,2,3,a-string,6",
                                            "completed,3,2,a-string,4"]
    # the same table as an output file of its own, JSON, beside the results' files
    iterations = json.loads((workdir / "out" / "iterations").read_text())
    assert iterations == [header, ["completed", 1, 1, "a-string", 2], ["completed", 2, 3, "a-string", 6],
                          ["completed", 3, 2, "a-string", 4]]
    assert iterations == only_run(isolated_store)["status"]["iterations"]


def test_an_unwritable_folder_fails_before_the_code_runs_and_the_record_says_why(workdir, isolated_store):
    (workdir / "a-file").write_text("")
    (workdir / "marker.py").write_text("open('ran.txt', 'w').write('ran')\n")
    result = mlrun_cli("run", "--kfp", "--kfp-dir", str(workdir / "a-file" / "kfp"), "marker.py", cwd=str(workdir))
    reason = f"cannot write the KFP outputs to {workdir / 'a-file' / 'kfp'}: Not a directory"
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].endswith(f"failed: {reason}")
    assert "Traceback" not in result.stderr + result.stdout
    record = only_run(isolated_store)
    assert record["status"]["state"] == "error" and record["status"]["error"] == reason
    assert not (workdir / "ran.txt").exists()


def test_a_declared_output_the_run_did_not_log_fails_the_step(workdir, isolated_store):
    result = mlrun_cli("run", *kfp_args(workdir), "-q", "--kfp-output", f"loss={workdir}/loss", "example1.py",
                       cwd=str(workdir))
    reason = "KFP output 'loss': the run logged no result or artifact with that key"
    assert result.returncode == 1 and result.stderr.strip().endswith(reason)
    record = only_run(isolated_store)
    assert record["status"]["state"] == "error" and record["status"]["error"] == reason
    assert record["status"]["outputs"] == {"accuracy": 2}  # what the run did is still recorded
    assert (workdir / "out" / "accuracy").read_text() == "2"


def test_kfp_options_without_kfp_are_a_usage_error(workdir, isolated_store):
    result = mlrun_cli("run", "--kfp-output", "a=b", "example1.py", cwd=str(workdir))
    assert result.returncode == 2
    assert "--kfp-dir, --kfp-outputs-dir and --kfp-output need --kfp" in result.stderr
    assert get_run_db(isolated_store).list_runs() == []
    bad_pair = mlrun_cli("run", "--kfp", "--kfp-output", "accuracy", "example1.py", cwd=str(workdir))
    assert bad_pair.returncode == 2 and "--kfp-output 'accuracy': expected key=value" in bad_pair.stderr


def test_environment_defaults_for_non_root_containers(workdir, isolated_store):
    env = {"MLRUN_KFP_DIR": str(workdir / "envkfp"), "MLRUN_KFP_OUTPUTS_DIR": str(workdir / "envout")}
    result = mlrun_cli("run", "--kfp", "-q", "example1.py", cwd=str(workdir), env=env)
    assert result.returncode == 0, result.stderr
    assert os.path.isfile(workdir / "envkfp" / METRICS_FILE) and (workdir / "envout" / "accuracy").read_text() == "2"


def test_the_seed_systems_kfpmeta_out_dir_holds_the_mlpipeline_files_when_mlrun_kfp_dir_is_unset(workdir,
                                                                                               isolated_store):
    env = {"KFPMETA_OUT_DIR": str(workdir / "meta"), "MLRUN_KFP_OUTPUTS_DIR": str(workdir / "envout")}
    result = mlrun_cli("run", "--kfp", "-q", "example1.py", cwd=str(workdir), env=env)
    assert result.returncode == 0, result.stderr
    assert os.path.isfile(workdir / "meta" / METRICS_FILE) and os.path.isfile(workdir / "meta" / UI_METADATA_FILE)
    assert (workdir / "envout" / "accuracy").read_text() == "2"  # the values' folder is not moved by it
    assert not os.path.exists(workdir / "envout" / "iterations")  # no sweep, no table

    env["MLRUN_KFP_DIR"] = str(workdir / "own")  # the project's own variable wins
    result = mlrun_cli("run", "--kfp", "-q", "example1.py", cwd=str(workdir), env=env)
    assert result.returncode == 0, result.stderr
    assert os.path.isfile(workdir / "own" / METRICS_FILE)
