"""The canary: one secret, single- and multi-line, from a secrets file and from the environment, pushed
through every field of a run and every path a record or the process's output takes; every byte the
project writes or answers is searched for it (and for each of its lines).  Each path must also show the
masked value, so nothing passes by carrying nothing.
"""
from __future__ import annotations

import json
import os
import sys

import pytest
import requests
from helpers import ROOT, mlrun_cli, stop_process

sys.path[:0] = [os.path.join(ROOT, "tests", "remote"), os.path.join(ROOT, "tests", "server")]
from remote_helpers import serving  # noqa: E402
from server_process import running_server  # noqa: E402

SINGLE = "canary-7Hq2-single-secret"
MULTI = "canary-ml-line-one-9Zx\ncanary-ml-line-two-4Kp"
NEEDLES = [SINGLE, MULTI, *MULTI.splitlines()]
MASK = "******"

#: what a run does with its secrets: every field of the record, its output, logging and a late thread
FIELDS = r'''
import atexit, logging, sys, threading

early = logging.StreamHandler(sys.stderr)  # made before any secret is known: holds the raw stream
logging.getLogger("canary").addHandler(early)
logging.getLogger("canary").setLevel(logging.INFO)


def use_secrets(ctx):
    for name in ("CANARY_SINGLE", "CANARY_MULTI"):
        s = ctx.get_secret(name)
        assert s, name + " missing"
        tag = name.split("_")[1].lower()
        ctx.log_output("key_" + tag + "_" + s, s)
        ctx.log_output("nested_" + tag, {"v": s, "k_" + s: [s]})
        ctx.log_metric("metric_" + tag + "_" + s, 1.5)
        ctx.set_label("label_" + tag + "_" + s, s)
        ctx.set_annotation("ann_" + tag + "_" + s, s)
        ctx.get_param("password_" + tag, s)
        ctx.log_artifact("art_" + tag + ".txt", body="no secret here", description="desc " + s,
                         labels={"lk_" + s: s})
        print("printed", s)
        print("stderr", s, file=sys.stderr)
        sys.stdout.write("split " + s[:6])
        sys.stdout.write(s[6:] + " end\n")
        logging.getLogger("canary").info("early handler %s", s)
        late = logging.StreamHandler(sys.stdout)
        logging.getLogger("canary.late").addHandler(late)
        logging.getLogger("canary.late").warning("late handler " + s)
        logging.getLogger("canary.late").removeHandler(late)
    ctx.log_output("region", ctx.get_secret("AWS_REGION"))  # configuration, not a secret: stays visible
    ctx.commit("commit with " + ctx.get_secret("CANARY_SINGLE"))


def late_print(ctx):
    """A thread that prints a secret once the run has ended (polling the state, with a deadline)."""
    import time

    def run():
        deadline = time.monotonic() + 30
        while ctx.state == "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        print("late thread", ctx.get_secret("CANARY_SINGLE"), ctx.get_secret("CANARY_MULTI"), flush=True)

    threading.Thread(target=run).start()
'''

SCRIPT = FIELDS + r'''
import mlrun

ctx = mlrun.get_or_create_ctx("canary")
use_secrets(ctx)
late_print(ctx)
atexit.register(lambda: print("after the run", ctx.get_secret("CANARY_SINGLE"), ctx.get_secret("CANARY_MULTI")))
raise RuntimeError("failed with " + ctx.get_secret("CANARY_SINGLE") + " / " + ctx.get_secret("CANARY_MULTI"))
'''

HANDLER = FIELDS + r'''
def handler(ctx):
    use_secrets(ctx)
    late_print(ctx)
    return {"done": True}
'''


def clean(text, where: str) -> None:
    """No secret and none of its lines in ``text`` (str or bytes)."""
    if isinstance(text, bytes):
        for needle in NEEDLES:
            assert needle.encode() not in text, f"{where}: leaked {needle!r}"
        text = text.decode("utf-8", "replace")
    for needle in NEEDLES:
        assert needle not in text, f"{where}: leaked {needle!r}"
        assert json.dumps(needle)[1:-1] not in text, f"{where}: leaked {needle!r} (escaped)"


def carried(text, where: str, *expected: str) -> None:
    """The path carried the masked values (it is not clean because it is empty)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for item in (MASK, *expected):
        assert item in text, f"{where}: {item!r} not found"


def clean_tree(root: str, skip: tuple = ()) -> int:
    """Every file's bytes and every name under ``root``; the number of files read."""
    count = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            clean(name, os.path.join(folder, name))
        for name in files:
            path = os.path.join(folder, name)
            if path in skip:
                continue
            with open(path, "rb") as fp:
                clean(fp.read(), path)
            count += 1
    return count


@pytest.fixture(params=["file", "env"])
def canary(request, tmp_path):
    """``(work folder, secrets arguments, environment)``: the secrets from a file or from the environment."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "canary.py").write_text(SCRIPT)
    (work / "handler.py").write_text(HANDLER)
    env = {"CANARY_MULTI_VALUE": MULTI, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    secrets_file = tmp_path / "canary-secrets.txt"  # outside the folders searched: it holds the values
    if request.param == "file":
        secrets_file.write_text(f"CANARY_SINGLE={SINGLE}\nCANARY_MULTI=$CANARY_MULTI_VALUE\nAWS_REGION=eu-canary-1\n")
        args = ["-s", f"file={secrets_file}"]
    else:
        env.update(CANARY_SINGLE=SINGLE, CANARY_MULTI=MULTI, AWS_REGION="eu-canary-1")
        args = ["-s", "env=CANARY_SINGLE,CANARY_MULTI,AWS_REGION"]
    return work, args, env, request.param


def run_script(work, args, env, *extra):
    result = mlrun_cli("run", *args, *extra, "canary.py", cwd=str(work), env=env)
    clean(result.stdout, "mlrun run stdout")
    clean(result.stderr, "mlrun run stderr")
    assert result.returncode == 1, result.stderr  # the script raises at its end
    carried(result.stdout, "mlrun run stdout", "printed ******", "split ****** end", "late handler ******",
            "key_single_******", "after the run ****** ******", "late thread ****** ******")
    carried(result.stderr, "mlrun run stderr", "stderr ******", "early handler ******",
            "RuntimeError: failed with ****** / ******")
    return result


def check_cli_reads(work, env, uid, dbpath, in_log=("late thread ****** ******",)):
    env = {**env, "MLRUN_DBPATH": dbpath}
    logs = mlrun_cli("logs", uid, cwd=str(work), env=env)
    assert logs.returncode == 0, logs.stderr
    clean(logs.stdout + logs.stderr, "mlrun logs")
    carried(logs.stdout, "mlrun logs", "printed ******", "stderr ******", *in_log)
    for fmt in ("yaml", "json"):
        got = mlrun_cli("get", "run", uid, "-o", fmt, cwd=str(work), env=env)
        assert got.returncode == 0, got.stderr
        clean(got.stdout + got.stderr, f"get run -o {fmt}")
        carried(got.stdout, f"get run -o {fmt}", "key_single_******", "label_multi_******", "eu-canary-1")
    for fmt in ("table", "yaml", "json"):
        got = mlrun_cli("get", "runs", "-o", fmt, cwd=str(work), env=env)
        assert got.returncode == 0, got.stderr
        clean(got.stdout + got.stderr, f"get runs -o {fmt}")
        carried(got.stdout, f"get runs -o {fmt}", uid[:8])
        if fmt != "table":
            carried(got.stdout, f"get runs -o {fmt}", "label_single_******")


def record_checks(record: dict, where: str) -> None:
    """The masked record keeps every field, each with its secret hidden."""
    text = json.dumps(record)
    clean(text, where)
    status, meta, spec = record["status"], record["metadata"], record["spec"]
    assert status["outputs"]["key_single_******"] == MASK, where
    assert status["outputs"]["key_multi_******"] == MASK, where
    assert status["outputs"]["nested_multi"] == {"v": MASK, "k_******": [MASK]}, where
    assert status["outputs"]["region"] == "eu-canary-1", where
    assert "metric_single_******" in status["metrics"], where
    assert meta["labels"]["label_single_******"] == MASK and meta["annotations"]["ann_multi_******"] == MASK
    assert spec["parameters"]["password_single"] == MASK, where
    artifact = next(a for a in status["output_artifacts"] if a["key"] == "art_multi.txt")
    assert artifact["description"] == "desc ******" and artifact["labels"] == {"lk_******": MASK}, where


def test_mlrun_run_sqlite_kfp_and_save_to(canary, tmp_path):
    work, args, env, _ = canary
    db = tmp_path / "store"
    kfp_dir, outputs_dir, saved = tmp_path / "kfp", tmp_path / "kfp-outputs", tmp_path / "saved.yaml"
    env = {**env, "MLRUN_DBPATH": str(db)}
    run_script(work, args, env, "--kfp", "--kfp-dir", str(kfp_dir), "--kfp-outputs-dir", str(outputs_dir),
               "--save-to", str(saved))
    import yaml

    record = yaml.safe_load(saved.read_text())
    record_checks(record, "--save-to")
    # an error is one line: the multi-line secret's lines are joined, and each is hidden
    assert record["status"]["state"] == "error"
    assert record["status"]["error"] == "RuntimeError: failed with ****** / ****** ******"
    assert record["status"]["commit_message"] == "commit with ******"
    check_cli_reads(work, env, record["metadata"]["uid"], str(db))
    assert clean_tree(str(db)) >= 1  # the SQLite store's bytes on disk
    assert clean_tree(str(kfp_dir)) == 2
    carried((kfp_dir / "mlpipeline-ui-metadata.json").read_text(), "ui metadata", "key_single_******")
    assert clean_tree(str(outputs_dir)) >= 4
    assert (outputs_dir / "key_single_******").read_text() == MASK  # a file named after a secret: masked name
    assert clean_tree(str(work)) >= 3  # artifacts and whatever else the run left


def test_s3_run_store(canary, s3_env, tmp_path):
    work, args, env, _ = canary
    bucket = s3_env.make_bucket()
    dbpath = f"s3://{bucket}/runs"
    env = {**env, **s3_env.env, "MLRUN_DBPATH": dbpath}
    result = run_script(work, args, env)
    uid = next(line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("uid:"))
    check_cli_reads(work, env, uid, dbpath)
    client = s3_env.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys
    blobs = b""
    for key in keys:
        clean(key, f"s3 key {key}")
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        clean(body, f"s3 object {key}")
        blobs += body
    carried(blobs, "s3 objects", "key_single_******")


def test_mlrun_serve(canary, tmp_path):
    work, args, env, source = canary
    with serving("handler.py", cwd=str(work), env=env) as served:
        # a caller sends the values themselves: the function knows them only from the request
        body = {"metadata": {"name": "served"}, "secrets": {"CANARY_SINGLE": SINGLE, "CANARY_MULTI": MULTI,
                                                             "AWS_REGION": "eu-canary-1"}}
        for accept in ("application/vnd.mlrun.run+json", "application/json", "application/yaml"):
            answer = requests.post(served.url, json=body, headers={"Accept": accept}, timeout=30)
            assert answer.status_code == 200, answer.text
            clean(answer.content, f"serve answer {accept}")
            carried(answer.text, f"serve answer {accept}", "key_single_", "eu-canary-1")
        # and through the CLI, the caller reading its own sources
        result = mlrun_cli("run", *args, served.url, cwd=str(work), env={**env, "MLRUN_DBPATH": str(tmp_path / "db")})
        assert result.returncode == 0, result.stderr
        clean(result.stdout + result.stderr, "mlrun run URL")
        carried(result.stdout, "mlrun run URL", "key_single_******", "printed ******")
        caller_env = {**env, "MLRUN_DBPATH": str(tmp_path / "db")}
        uid = json.loads(mlrun_cli("get", "runs", "-o", "json", env=caller_env, cwd=str(work)).stdout)[0]["uid"]
        record_checks(json.loads(mlrun_cli("get", "run", uid, "-o", "json", env=caller_env, cwd=str(work)).stdout),
                      "serve via mlrun run")
        check_cli_reads(work, env, uid, str(tmp_path / "db"), in_log=())  # the late thread prints on the server
        wait_for_output(served, "late thread", 4)
    output = "".join(served.output)
    clean(output, "mlrun serve's stdout/stderr")
    carried(output, "mlrun serve's stdout/stderr", "late thread ****** ******")


def wait_for_output(served, marker: str, count: int, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "".join(served.output).count(marker) >= count:
            return
        time.sleep(0.05)  # polling the server's output for the line, with a deadline
    raise AssertionError(f"{marker!r} not printed {count} times: {''.join(served.output)[-2000:]}")


def test_mlrun_server_as_run_store(canary, tmp_path):
    work, args, env, _ = canary
    with running_server(str(tmp_path / "server-store")) as server:
        env = {**env, "MLRUN_DBPATH": server.url}
        result = run_script(work, args, env)
        uid = next(line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("uid:"))
        check_cli_reads(work, env, uid, server.url)
        for path in ("/api/runs", f"/api/runs/{uid}", f"/api/runs/{uid}/log", "/", f"/runs/{uid}"):
            page = requests.get(server.url + path, timeout=30)
            assert page.status_code == 200, (path, page.status_code)
            clean(page.content, f"server {path}")
            if path.endswith("/log"):
                carried(page.text, f"server {path}", "printed ******")
            else:
                carried(page.text, f"server {path}", uid[:8], "_single_")
        stop_process(server.proc)
        clean(server.log(), "mlrun server's output")
        assert clean_tree(server.store) >= 1
