"""The embedded store under stress: many writer processes at once, and a writer killed mid-commit."""
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter

from mlrun.model import RunRecord
from mlrun.rundb import get_run_db
from mlrun.rundb.sqlite import DB_FILE

WRITERS, RUNS_PER_WRITER = 32, 50

# waits for "go" on stdin so that every writer starts committing at the same moment
WRITER = """
import sys
from mlrun import get_or_create_ctx
worker = sys.argv[1]
sys.stdin.readline()
for i in range(RUNS_PER_WRITER):
    ctx = get_or_create_ctx("stress", spec={"metadata": {"labels": {"worker": worker}}})
    ctx.log_output("i", i)
    ctx.log_metric("loss", 1.0 / (i + 1))
    ctx.finish()
""".replace("RUNS_PER_WRITER", str(RUNS_PER_WRITER))


def test_concurrent_writers_leave_every_run_readable(tmp_path):
    db_path = str(tmp_path / "db")
    env = {**os.environ, "MLRUN_DBPATH": db_path}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w)], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) for w in range(WRITERS)]
    for proc in procs:
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    failures = [proc.stderr.read() for proc in procs if proc.wait(timeout=120) != 0]
    assert failures == []

    db = get_run_db(db_path)
    summaries = db.list_runs(labels={"worker": None})
    assert len(summaries) == WRITERS * RUNS_PER_WRITER
    assert len({s["uid"] for s in summaries}) == WRITERS * RUNS_PER_WRITER
    assert Counter(s["labels"]["worker"] for s in summaries) == {str(w): RUNS_PER_WRITER for w in range(WRITERS)}
    for summary in summaries:
        record = RunRecord.from_dict(db.read_run_data(summary["uid"]))
        assert record.status.state == "completed" and record.status.outputs == summary["outputs"]
        assert record.status.metrics["loss"]["yvalues"] == [1.0 / (record.status.outputs["i"] + 1)]


# commits ever larger records; writes one byte to the pipe from inside SQLite's execution of each commit
KILLED_WRITER = """
import os, sys
from mlrun.model import RunRecord
from mlrun.rundb import get_run_db
db = get_run_db(sys.argv[1])
signal_fd = int(sys.argv[2])
armed = False

def signal_once_per_commit():
    global armed
    if armed:
        armed = False
        os.write(signal_fd, b".")
    return 0

db._db.set_progress_handler(signal_once_per_commit, 1)
db._db.execute("PRAGMA cache_size = 8")  # spill pages to disk during the insert: more to tear
points = [float(p) for p in range(150_000)]
i = 0
while True:
    record = RunRecord()
    record.metadata.uid, record.status.state = f"run-{i}", "completed"
    record.status.outputs = {"points": len(points)}
    record.status.metrics = {"loss": {"labels": {}, "xvalues": [str(p) for p in range(len(points))],
                                      "yvalues": points}}
    armed = True
    db.store_run_data(record.to_dict())
    points.append(float(i))
    i += 1
"""


def test_a_writer_killed_mid_commit_leaves_no_torn_record(tmp_path):
    db_path = str(tmp_path / "db")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, db_path, str(write_end)], pass_fds=(write_end,))
    os.close(write_end)
    try:
        commits_started = 0
        while commits_started < 4:  # kill while SQLite is writing the fourth record
            chunk = os.read(read_end, 1)
            assert chunk, "the writer died before it was killed"
            commits_started += 1
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        os.close(read_end)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    with sqlite3.connect(os.path.join(db_path, DB_FILE)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db = get_run_db(db_path)
    summaries = db.list_runs()
    uids = sorted(s["uid"] for s in summaries)
    assert uids in (["run-0", "run-1", "run-2"], ["run-0", "run-1", "run-2", "run-3"])
    for summary in summaries:
        record = RunRecord.from_dict(db.read_run_data(summary["uid"]))
        loss = record.status.metrics["loss"]
        assert len(loss["yvalues"]) == len(loss["xvalues"]) == record.status.outputs["points"]
    db.store_run_data({"metadata": {"uid": "after-the-crash"}})  # and the store still takes writes
    assert db.read_run_data("after-the-crash")["metadata"]["uid"] == "after-the-crash"
