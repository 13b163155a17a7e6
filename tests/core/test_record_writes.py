"""How often a local run writes its record: counted by a run store of a test scheme, used through ``--db``."""
import textwrap

import pytest
from helpers import mlrun_cli

from mlrun.rundb import get_run_db

COUNTING_STORE = '''
import os

from mlrun.rundb.sqlite import SQLiteRunDB


class CountingRunDB(SQLiteRunDB):
    """A directory run store (``countdb://DIR``) noting each record write in ``DIR/writes``."""

    def __init__(self, url):
        super().__init__(url[len("countdb://"):])

    def _note(self, what, data):
        with open(os.path.join(self.dirpath, "writes"), "a") as fp:
            fp.write(f"{what} {data['status']['state']}\\n")

    def store_run_data(self, data):
        self._note("record", data)
        super().store_run_data(data)

    def store_run_data_and_log(self, data, log):
        self._note("record+log", data)
        super().store_run_data_and_log(data, log)
'''


@pytest.fixture
def counting_db(tmp_path):
    """A ``countdb://`` URL and the file listing its record writes; the scheme is an installed plug-in
    (a ``mlrun.run_stores`` entry point on ``PYTHONPATH``), so the run's child process finds it too."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "counting_store.py").write_text(COUNTING_STORE)
    dist = plugins / "counting_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: counting-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mlrun.run_stores]\ncountdb = counting_store:CountingRunDB\n")
    store = tmp_path / "db"
    store.mkdir()
    return f"countdb://{store}", store / "writes", {"PYTHONPATH": str(plugins)}


def run_script(tmp_path, counting_db, code: str):
    url, writes, env = counting_db
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(code))
    result = mlrun_cli("run", "--db", url, str(script), env=env)
    (summary,) = get_run_db(str(writes.parent)).list_runs()
    return result, writes.read_text().splitlines(), summary["uid"], str(writes.parent)


@pytest.mark.parametrize("code, state, code_exit", [
    ("print('hello')\n", "completed", 0),
    ("print('hello')\nraise SystemExit(3)\n", "error", 1),
])
def test_a_local_run_writes_its_record_at_start_and_at_end(tmp_path, counting_db, code, state, code_exit):
    result, writes, uid, store = run_script(tmp_path, counting_db, code)
    assert result.returncode == code_exit, result.stderr
    # the launcher records the run as running, the child commits its end; the log is stored after it
    # without the record again
    assert writes == ["record running", f"record {state}"]
    db = get_run_db(store)
    assert db.read_run(uid).state == state
    assert b"hello" in db.read_log(uid)


def test_an_explicit_commit_is_one_write_more(tmp_path, counting_db):
    result, writes, uid, _ = run_script(tmp_path, counting_db, """
        import mlrun
        ctx = mlrun.get_or_create_ctx("job")
        ctx.log_result("x", 1)
        ctx.commit("half way")
    """)
    assert result.returncode == 0, result.stderr
    assert writes == ["record running", "record running", "record completed"]
