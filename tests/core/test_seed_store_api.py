"""The seed system's spellings and run store API, as its users wrote them: ``mlrun run --rundb`` with
``--in-artifact``/``--out-artifact``, ``MLRUN_META_DBPATH``, and ``get_run_db(url).connect()`` listings with
``.show()`` (text in a terminal, HTML in a notebook)."""
import shutil
import sys
import types

from helpers import SEED_EXAMPLE, mlrun_cli

import mlrun
from mlrun.rundb.lists import ArtifactList, RunList, in_notebook


def seed_example(folder) -> str:
    shutil.copy(SEED_EXAMPLE, folder / "example1.py")
    (folder / "infile.txt").write_text("hello from infile.txt\n")
    return str(folder / "example1.py")


def test_the_seed_cli_line_with_rundb_and_artifact_spellings_then_the_listings(tmp_path, isolated_store):
    seed_example(tmp_path)
    store, target = tmp_path / "seed-store", tmp_path / "kept" / "test.txt"
    result = mlrun_cli("run", "--rundb", str(store), "-p", "p1=5", "--in-artifact", f"infile.txt={tmp_path}/infile.txt",
                       "--out-artifact", f"test.txt={target}", "-q", "example1.py", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == b"abc is 123"

    db = mlrun.get_run_db(str(store)).connect()
    runs = db.list_runs(name="mytask")
    assert isinstance(runs, RunList) and len(runs) == 1 and runs[0]["outputs"] == {"accuracy": 10}
    assert mlrun.get_run_db(isolated_store).list_runs() == []  # the default store was not used
    html = runs.show(display=False)
    assert "<td>mytask</td>" in html and "<td>completed</td>" in html and "accuracy=10" in html
    record = db.read_run(runs[0]["uid"])
    assert record.status.input_objects[0]["key"] == "infile.txt"

    artifacts = db.list_artifacts(name="test.txt")
    assert isinstance(artifacts, ArtifactList) and [a["target_path"] for a in artifacts] == [str(target)]
    assert f"<td>{target}</td>" in artifacts.show(display=False)

    listing = mlrun_cli("get", "runs", "--rundb", str(store), cwd=str(tmp_path))
    assert listing.returncode == 0 and runs[0]["uid"] in listing.stdout
    deleted = mlrun_cli("delete", "run", runs[0]["uid"], "--rundb", str(store), cwd=str(tmp_path))
    assert deleted.returncode == 0 and db.list_runs() == []


def test_mlrun_meta_dbpath_is_read_when_mlrun_dbpath_is_unset(tmp_path, isolated_store, monkeypatch):
    seed_example(tmp_path)
    meta = tmp_path / "meta-store"
    env = {"MLRUN_META_DBPATH": str(meta)}
    monkeypatch.delenv("MLRUN_DBPATH")
    result = mlrun_cli("run", "-q", "-i", f"infile.txt={tmp_path}/infile.txt", "example1.py", cwd=str(tmp_path),
                       env=env)
    assert result.returncode == 0, result.stderr
    assert [r["name"] for r in mlrun.get_run_db(str(meta)).list_runs()] == ["mytask"]
    assert mlrun_cli("get", "runs", cwd=str(tmp_path), env=env).stdout.count("mytask") == 1

    monkeypatch.setenv("MLRUN_DBPATH", isolated_store)  # the project's own variable wins
    result = mlrun_cli("run", "-q", "-i", f"infile.txt={tmp_path}/infile.txt", "example1.py", cwd=str(tmp_path),
                       env=env)
    assert result.returncode == 0, result.stderr
    assert len(mlrun.get_run_db(isolated_store).list_runs()) == 1 and len(mlrun.get_run_db(str(meta)).list_runs()) == 1


def test_show_prints_a_text_table_outside_a_notebook(isolated_store, capsys):
    runs = RunList([{"uid": "u1", "name": "train\x1b[31m", "project": "p", "iteration": 0, "labels": {"a": "b"},
                     "state": "completed", "start_time": "2024-01-01T00:00:00+00:00", "outputs": {"acc": 1},
                     "parameters": {"p1": "x" * 100}}])
    assert not in_notebook()
    assert runs.show() is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["project", "uid", "iter", "start", "state", "name", "labels", "parameters", "results"]
    assert lines[1].split()[:3] == ["p", "u1", "0"] and "train?[31m" in lines[1]  # control characters shown as ?
    assert "p1=" + "x" * 34 + "..." in lines[1]  # long cells cut


def test_show_displays_html_in_a_notebook_kernel(monkeypatch):
    shown = []

    class Shell:
        config = {"IPKernelApp": {}}

    fake = types.ModuleType("IPython")
    fake.get_ipython = Shell
    display = types.ModuleType("IPython.display")
    display.HTML = lambda text: ("html", text)
    display.display = shown.append
    fake.display = display
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    assert in_notebook()
    ArtifactList([{"key": "<img src=x onerror=alert(1)>", "uid": "u1"}]).show()
    ((kind, html),) = shown
    assert kind == "html" and "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html

    Shell.config = {}  # a terminal IPython is no notebook
    assert not in_notebook()


def test_a_run_store_plugin_written_for_the_earlier_interface_still_lists():
    """A back end whose ``list_runs`` took the filters (``name``, ``limit``, ``iterations``, ...) gets the seed
    system's ``list_runs`` on top of it, with its own as ``list_summaries``."""
    from mlrun.rundb import RUN_STORES, RunDB, register_run_db

    class EarlierStore(RunDB):
        def __init__(self, url):
            super().__init__(url)
            self.records = {}

        def store_run_data(self, data):
            self.records[data["metadata"]["uid"]] = data

        def read_run_data(self, uid, iteration=0):
            return self.records[uid]

        def list_runs(self, name=None, project=None, labels=None, state=None, since=None, until=None,
                      sort="start_time", desc=True, limit=None, offset=0, iterations=False):
            found = [{"uid": uid, "name": r["metadata"]["name"]} for uid, r in self.records.items()
                     if name in (None, r["metadata"]["name"])]
            return found[:limit] if limit else found

        def del_run(self, uid):
            self.records.pop(uid)

        def store_log(self, uid, data, append=False):
            pass

        def read_log(self, uid):
            return b""

    with RUN_STORES.saved():
        register_run_db("earlier", EarlierStore)
        db = mlrun.get_run_db("earlier://here").connect()
        for n in range(3):
            db.store_run(mlrun.RunRecord.from_dict({"metadata": {"name": f"r{n % 2}", "uid": f"u{n}"}}))
        assert isinstance(db.list_runs(), RunList) and [r["uid"] for r in db.list_runs(name="r0")] == ["u0", "u2"]
        assert len(db.list_runs(last=1)) == 1 and len(db.list_runs(limit=2)) == 2  # the seed's and the earlier keywords
        assert db.del_runs(name="r1") == 1 and sorted(db.records) == ["u0", "u2"]
