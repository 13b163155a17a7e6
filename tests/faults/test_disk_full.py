"""A disk that fills while a run writes: a log or an artifact that could not be written fails the run, the
record says why (naming the target) and what was kept, and no half-written file stays behind."""
from __future__ import annotations

import os

from helpers import mlrun_cli

from mlrun.rundb import get_run_db

LINES = 30_000


def test_a_log_the_full_store_could_not_take_fails_the_run_and_says_what_was_kept(small_disk, tmp_path):
    store = os.path.join(small_disk("1m"), "db")
    script = tmp_path / "chatty.py"
    script.write_text(f"for i in range({LINES}):\n    print(f'line {{i:06d}} ' + 'x' * 50)\n")
    result = mlrun_cli("run", "--db", store, "--uid", "a" * 32, str(script),
                       env={"MLRUN_FINAL_WRITE_TIMEOUT": "0.5", "MLRUN_LOG_FLUSH_INTERVAL": "0.05"})
    assert "Traceback" not in result.stderr
    if "could not record the end of run" in result.stderr:
        # the disk was too full for even the record: the whole end, log included, is kept for later
        import base64
        import json

        (kept,) = (tmp_path / "mlrun-home" / "spool").rglob("*.json")
        body = json.loads(kept.read_text())
        assert body["record"]["status"]["state"] == "completed"
        log = base64.b64decode(body["log"]).splitlines()
        assert sum(line.startswith(b"line ") for line in log) == LINES  # every line the script wrote
        # and at most mlrun's own note of where the end is kept
        assert all(b"spool" in line for line in log if not line.startswith(b"line ")), log[LINES:]
        return
    assert result.returncode == 1
    db = get_run_db(store)
    record = db.read_run_data("a" * 32)
    error = record["status"]["error"]
    assert record["status"]["state"] == "error", record["status"]
    assert error.startswith("the run's log could not be stored: ") and "full" in error
    kept = db.read_log("a" * 32)
    lines = kept.count(b"\n")
    assert f"the store keeps {lines:,} of its {LINES:,} lines" in error
    assert 0 < lines < LINES and kept.startswith(b"line 000000 ")


def test_an_artifact_the_full_disk_could_not_take_fails_the_run_naming_its_target(small_disk, tmp_path):
    out = small_disk("1m")
    script = tmp_path / "writer.py"
    script.write_text(
        "import mlrun\n"
        "ctx = mlrun.get_or_create_ctx('writer')\n"
        "ctx.log_artifact('small.txt', body='fits')\n"
        "try:\n"
        "    ctx.log_artifact('big.bin', body=b'x' * (3 * 1024 * 1024))\n"
        "except mlrun.errors.StoreError as exc:\n"
        "    print('caught:', exc)\n"  # the code goes on: the run still fails
        "ctx.log_output('after', 1)\n")
    result = mlrun_cli("run", "--db", str(tmp_path / "db"), "--uid", "b" * 32, "--out-path", out, str(script))
    assert result.returncode == 1, result.stderr
    target = os.path.join(out, "big.bin")
    message = f"artifact 'big.bin': cannot write {target}: No space left on device (nothing was written there)"
    assert f"caught: {message}" in result.stdout
    record = get_run_db(str(tmp_path / "db")).read_run_data("b" * 32)
    assert record["status"]["state"] == "error" and record["status"]["error"] == message
    assert record["status"]["outputs"] == {"after": 1}
    assert [a["key"] for a in record["status"]["output_artifacts"]] == ["small.txt"]  # what was kept
    assert sorted(os.listdir(out)) == ["small.txt"]  # no temp file, no half of big.bin
