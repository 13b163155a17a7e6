"""Masking: one pass over every record that leaves, keys included, multi-line secrets whole and per line,
the values that are configuration left visible, and the process's own output masked once secrets are known."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import run_python

import mlrun
from mlrun import secrets
from mlrun.errors import InvalidInputError
from mlrun.model import RunRecord
from mlrun.secrets import MASK, SecretsStore, mask, mask_bytes, mask_data

SECRET = "s3cr3t-masking-value"
MULTI = "-----BEGIN KEY-----\nmultiline-body-AbCd\nxy\n-----END KEY-----"


@pytest.fixture
def registry(monkeypatch):
    """The process-wide registry, emptied for the test and restored after it."""
    monkeypatch.setattr(secrets, "_registry", {})
    monkeypatch.setattr(secrets, "_view", ([], frozenset(), []))
    monkeypatch.setattr(secrets, "_requests_registry", {})
    monkeypatch.setattr(secrets, "_console_view", ([], frozenset(), []))
    return secrets


def test_multi_line_secrets_hide_whole_and_line_by_line():
    text = f"whole: {MULTI}\nalone: multiline-body-AbCd\nshort: xy"
    masked = mask(text, [MULTI])
    assert masked == f"whole: {MASK}\nalone: {MASK}\nshort: xy"  # lines under 3 characters stay: too common
    assert b"multiline-body" not in mask_bytes(b"line multiline-body-AbCd\n", [MULTI])
    store = SecretsStore()
    store.add_source("inline", {"KEY": MULTI})
    assert store.mask("-----END KEY----- and -----BEGIN KEY-----") == f"{MASK} and {MASK}"
    joined = " ".join(MULTI.split())  # an error message is one line: each line still hides
    assert "multiline-body" not in store.mask(joined) and "BEGIN KEY" not in store.mask(joined)


def test_endpoint_and_region_are_configuration_not_secrets(tmp_path):
    path = tmp_path / "secrets.txt"
    path.write_text("AWS_SECRET_ACCESS_KEY=very-secret-key\nS3_ENDPOINT_URL=http://127.0.0.1:9000\n"
                    "AWS_ENDPOINT_URL=http://127.0.0.1:9001\nAWS_ENDPOINT_URL_S3=http://127.0.0.1:9002\n"
                    "AWS_REGION=eu-west-3\nAWS_DEFAULT_REGION=eu-west-3\n")
    store = SecretsStore()
    store.add_source("file", str(path))
    store.add_source("file", str(path), prefix="other_")
    text = "cannot reach http://127.0.0.1:9000 (eu-west-3) with very-secret-key"
    assert store.mask(text) == f"cannot reach http://127.0.0.1:9000 (eu-west-3) with {MASK}"
    assert store.mask_record({"error": text})["error"] == store.mask(text)
    assert mask(text, {k: v for k, v in store.items().items() if not k.startswith("other_")}) == store.mask(text)
    assert mask(text, list(store.items().values())) == f"cannot reach {MASK} ({MASK}) with {MASK}"  # values only
    assert {"S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                                       "AWS_REGION", "AWS_DEFAULT_REGION"} <= secrets.NOT_SECRET_KEYS


def test_a_record_without_a_secret_value_is_not_copied():
    store = SecretsStore()
    data = {"status": {"outputs": {"a": "plain"}}}
    assert store.mask_record(data) is data  # no secrets at all: nothing done
    store.add_source("inline", {"K": SECRET})
    assert store.mask_record(data) is data  # one serialisation, no walk
    masked = mask_data({"x": [SECRET]}, [SECRET])
    assert masked == {"x": [MASK]}


@pytest.mark.parametrize("where", ["xvalue", "deep", "key", "unicode"])
def test_the_scan_finds_a_value_wherever_it_is(where):
    value = "sécret-ünïcode-€" if where == "unicode" else SECRET
    history = {"labels": {}, "xvalues": [str(n) for n in range(50_000)], "yvalues": [n / 7 for n in range(50_000)]}
    data = {"status": {"metrics": {"loss": history}, "outputs": {"a": [1, {"b": ("x",)}]}}}
    clean = mask_data(data, [value])
    assert clean is data  # nothing shows: nothing copied
    if where == "xvalue":
        history["xvalues"][-1] = f"step {value}"
    elif where == "deep":
        data["status"]["outputs"]["a"][1]["b"] = ("x", f"deep {value}")
    else:
        data["status"]["outputs"][f"k {value}"] = 1
    masked = mask_data(data, [value])
    assert masked is not data and value not in json.dumps(masked, ensure_ascii=False)
    assert MASK in json.dumps(masked)


def test_every_field_key_and_value_is_masked_on_the_way_out(tmp_path, isolated_store):
    ctx = mlrun.get_or_create_ctx("fields", secrets={"PW": SECRET, "KEY": MULTI},
                                  spec={"spec": {"default_output_path": str(tmp_path / "out")}})
    for s in (SECRET, MULTI):
        ctx.log_output("key_" + s, s)
        ctx.log_outputs({"nested": {"k_" + s: [s]}})
        ctx.log_metric("metric_" + s, 1.0)
        ctx.set_label("label_" + s, s)
        ctx.set_annotation("ann_" + s, s)
    assert ctx.get_param("password", SECRET) == SECRET  # the code gets the real value; the record does not
    ctx.log_artifact("art_" + SECRET + ".txt", body="data", description="about " + SECRET, labels={SECRET: MULTI})
    ctx.commit("commit " + SECRET)
    ctx.set_state("error", "failed with " + SECRET)
    outbound = {
        "to_dict": json.dumps(ctx.to_dict()), "to_json": ctx.to_json(), "to_yaml": ctx.to_yaml(),
        "record": ctx.record.to_json(),
        "store": json.dumps(mlrun.rundb.get_run_db(isolated_store).read_run_data(ctx.uid)),
    }
    for where, text in outbound.items():
        for needle in (SECRET, *[line for line in MULTI.splitlines() if len(line) >= 3]):
            assert needle not in text and json.dumps(needle)[1:-1] not in text, (where, needle)
    data = ctx.to_dict()
    status, meta = data["status"], data["metadata"]
    assert status["outputs"][f"key_{MASK}"] == MASK and status["outputs"]["nested"] == {f"k_{MASK}": [MASK]}
    assert f"metric_{MASK}" in status["metrics"]
    assert meta["labels"][f"label_{MASK}"] == MASK and meta["annotations"][f"ann_{MASK}"] == MASK
    assert data["spec"]["parameters"]["password"] == MASK
    artifact = status["output_artifacts"][0]
    assert artifact["key"] == f"art_{MASK}.txt" and artifact["description"] == f"about {MASK}"
    assert artifact["labels"] == {MASK: MASK} and SECRET not in artifact["target_path"]
    assert status["commit_message"] == f"commit {MASK}" and status["error"] == f"failed with {MASK}"
    assert ctx.outputs["key_" + SECRET] == SECRET  # the live record is the code's own: masked only on the way out
    ctx.finish(commit=False)


def test_log_metric_does_not_mask_per_point():
    store = SecretsStore()
    store.add_source("inline", {"PW": SECRET})
    ctx = mlrun.context.RunContext(RunRecord(), store)
    calls = []
    store.mask, store.mask_record = (lambda t: calls.append(t) or t), store.mask_record
    for i in range(1000):
        ctx.log_metric("loss", i)
    assert calls == []
    assert len(ctx.record_data(copy=False, masked=False)["status"]["metrics"]["loss"]["yvalues"]) == 1000


def test_the_registry_keeps_only_the_newest_values(registry, monkeypatch):
    monkeypatch.setenv(secrets.MASK_REGISTRY_SIZE_ENV, "3")
    monkeypatch.setattr(secrets, "_install_output_masking", lambda: None)
    for n in range(6):
        secrets.register([f"value-number-{n}"])
    assert sorted(secrets.registered()) == ["value-number-3", "value-number-4", "value-number-5"]
    secrets.register(["value-number-3"])  # used again: the newest now
    secrets.register(["value-number-6"])
    assert "value-number-3" in secrets.registered() and "value-number-4" not in secrets.registered()


def test_the_stream_holds_back_a_secret_split_across_writes(registry, monkeypatch):
    monkeypatch.setattr(secrets, "_install_output_masking", lambda: None)
    secrets.register([SECRET, MULTI])
    out = io.StringIO()
    stream = secrets.MaskedStream(out)
    stream.write("token " + SECRET[:7])
    assert SECRET[:7] not in out.getvalue()  # could begin the secret: held back
    stream.write(SECRET[7:] + " done\n")
    stream.write("-----BEGIN KEY-----\nmulti")
    stream.write("line-body-AbCd\nxy\n-----END KEY-----\n")
    stream.writelines(["ends with s3c"])
    stream.flush()  # a flush lets out what is held: it was not a secret after all
    # the whole of a multi-line secret written in pieces: each of its lines hides as it completes
    assert out.getvalue() == f"token {MASK} done\n{MASK}\n{MASK}\nxy\n{MASK}\nends with s3c"
    assert secrets.held_tail("nothing like it\n") == 0


PROCESS_SCRIPT = textwrap.dedent('''
    import logging, sys, threading

    class Notebook:  # what ipykernel puts in sys.stdout: any object with write and flush
        def __init__(self, stream):
            self.stream = stream
        def write(self, text):
            return self.stream.write(text)
        def flush(self):
            self.stream.flush()

    sys.stdout = Notebook(sys.stdout)
    before = logging.StreamHandler(sys.stderr)  # holds the raw stderr: made before any secret is known
    logging.getLogger().addHandler(before)
    logging.getLogger().setLevel(logging.INFO)
    print("no secrets yet:", type(sys.stdout).__name__)

    import mlrun

    S, M = sys.argv[1], sys.argv[2]
    ctx = mlrun.get_or_create_ctx("script", secrets={"PW": S, "KEY": M, "AWS_REGION": "eu-visible-1"})
    print("printed", S, "region eu-visible-1")
    print("multi", M)
    print("a line alone", M.splitlines()[1])
    sys.stdout.write("split " + S[:5])
    sys.stdout.write(S[5:] + "\\n")
    logging.info("before %s", S)
    after = logging.StreamHandler(sys.stdout)
    logging.getLogger("after").addHandler(after)
    logging.getLogger("after").warning("after " + S)
    try:
        raise ValueError("in an exception " + S)
    except ValueError:
        logging.exception("logged exception")
    ctx.commit()
    t = threading.Thread(target=lambda: print("thread after commit", S))
    t.start(); t.join()
    ctx.finish()
    print("after the run ended", S)
    sys.stdout.write("tail " + S[:4])
    raise RuntimeError("uncaught " + M)
''')


def test_a_plain_python_script_masks_its_own_output(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(PROCESS_SCRIPT)
    result = subprocess.run([sys.executable, str(script), SECRET, MULTI], capture_output=True, text=True,
                            cwd=str(tmp_path), env={**os.environ, "MLRUN_DBPATH": str(tmp_path / "db")}, timeout=60)
    out, err = result.stdout, result.stderr
    for needle in (SECRET, "multiline-body-AbCd", "BEGIN KEY", "END KEY"):
        assert needle not in out + err, needle
    assert "no secrets yet: Notebook" in out
    for line in (f"printed {MASK} region eu-visible-1", f"multi {MASK}", f"a line alone {MASK}", f"split {MASK}",
                 f"after {MASK}", f"thread after commit {MASK}", f"after the run ended {MASK}"):
        assert line in out, line
    assert out.endswith("tail s3cr")  # held back until exit, then let out: not a whole secret
    for line in (f"before {MASK}", f"ValueError: in an exception {MASK}", f"RuntimeError: uncaught {MASK}"):
        assert line in err, line
    assert result.returncode == 1


def test_no_secrets_no_wrapper(tmp_path):
    code = ("import sys, mlrun; out = sys.stdout; ctx = mlrun.get_or_create_ctx('x'); ctx.commit(); "
            "print(sys.stdout is out, type(sys.stdout).__name__)")
    result = run_python(code, timeout=60, env={**os.environ, "MLRUN_DBPATH": str(tmp_path / "db")})
    assert result.stdout.strip() == "True TextIOWrapper", result.stderr


NUCLIO_SCRIPT = textwrap.dedent('''
    import json, sys, threading
    from mlrun.adapters.nuclio import run_event

    S = sys.argv[1]
    done = threading.Event()

    def fn(ctx):
        print("inside", ctx.get_secret("PW"))
        def later():
            done.wait(30)
            print("after the answer", ctx.get_secret("PW"), flush=True)
        threading.Thread(target=later).start()
        ctx.log_output("key_" + ctx.get_secret("PW"), 1)

    status, content_type, body = run_event(fn, {"metadata": {"name": "n"}, "secrets": {"PW": S}})
    print("answer", status, body)
    done.set()
''')


def test_a_nuclio_handler_thread_printing_after_its_run_is_masked(tmp_path):
    """Under nuclio's Python wrapper, what a handler prints goes to sys.stdout: the container's log."""
    script = tmp_path / "nuclio_like.py"
    script.write_text(NUCLIO_SCRIPT)
    result = subprocess.run([sys.executable, str(script), SECRET], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "MLRUN_DBPATH"})
    assert SECRET not in result.stdout + result.stderr
    assert f"after the answer {MASK}" in result.stdout and f"key_{MASK}" in result.stdout, result.stderr
    assert "answer 200" in result.stdout


def test_kfp_files_and_names_are_masked(tmp_path):
    from mlrun.kfp.outputs import KfpOutputs

    csv = tmp_path / "table.csv"
    csv.write_text(f"a,b\n1,{SECRET}\n")
    record = RunRecord.from_dict({
        "metadata": {"name": "k", "uid": "u1"},
        "spec": {"parameters": {"p": SECRET}},
        "status": {"state": "completed", "outputs": {"key_" + SECRET: 5, "plain": SECRET, "multi": MULTI},
                   "output_artifacts": [{"key": "table.csv", "target_path": str(csv), "format": "csv", "size": 20}]},
    })
    kfp = KfpOutputs(str(tmp_path / "kfp"), str(tmp_path / "outputs"))
    assert kfp.write(record, {"PW": SECRET, "KEY": MULTI}) == ""
    names = sorted(os.listdir(tmp_path / "outputs"))
    assert f"key_{MASK}" in names and not any(SECRET in n for n in names)
    assert (tmp_path / "outputs" / "plain").read_text() == MASK
    assert (tmp_path / "outputs" / "multi").read_text() == MASK
    for name in ("mlpipeline-metrics.json", "mlpipeline-ui-metadata.json"):
        text = (tmp_path / "kfp" / name).read_text()
        assert SECRET not in text and "multiline-body" not in text and MASK in text, name


@pytest.mark.parametrize("given", [[("inline", "K=V")], ["inline=K=V"], {"K": "V"}, [("file", {"K": "V"})]])
def test_mlrun_op_refuses_inline_secrets(given):
    from mlrun.kfp import mlrun_op

    with pytest.raises(InvalidInputError) as info:
        mlrun_op("train.py", secrets=given)
    message = str(info.value)
    assert "\n" not in message and "inline" in message and "V" not in message.split(":", 1)[1].replace(
        "values", "").replace("never", "").replace("(inline)", "").replace("pipeline would store them", "")


def test_mlrun_op_keeps_references():
    from mlrun.kfp.ops import component_spec

    spec, _ = component_spec("train.py", secrets=[("file", "/etc/s.txt"), "env=A,B"])
    args = spec["implementation"]["container"]["args"]
    assert args[args.index("-s") + 1] == "file=/etc/s.txt" and "env=A,B" in args


def test_hyper_parameter_parent_and_iterations_are_masked(tmp_path, isolated_store):
    script = tmp_path / "sweep.py"
    script.write_text("import mlrun\nctx = mlrun.get_or_create_ctx('sweep')\ns = ctx.get_secret('PW')\n"
                      "ctx.log_output('acc_' + s, ctx.get_param('p', 0))\n"
                      "ctx.log_output('score', ctx.get_param('p'))\n")
    record = mlrun.run_function(str(script), secrets={"PW": SECRET}, hyperparams={"p": [1, 2], "pw": [SECRET]},
                                hyper_options={"selector": "max.score"}, stream=False)
    assert record.state == "completed", record.status.error
    db = mlrun.rundb.get_run_db(isolated_store)
    parent, *iterations = [db.read_run_data(record.uid, n) for n in (0, 1, 2)]
    for data in (parent, *iterations):
        assert SECRET not in json.dumps(data)
    assert [i["status"]["outputs"][f"acc_{MASK}"] for i in iterations] == [1, 2]
    assert [i["spec"]["parameters"]["pw"] for i in iterations] == [MASK, MASK]
    assert parent["spec"]["hyperparams"]["pw"] == [MASK] and parent["status"]["outputs"][f"acc_{MASK}"] == 2
    header, *rows = parent["status"]["iterations"]
    assert f"output.acc_{MASK}" in header and all(MASK in row for row in rows)
    table = Path(parent["status"]["output_artifacts"][0]["target_path"]).read_text()
    assert SECRET not in table and MASK in table
    assert SECRET not in record.to_json()
