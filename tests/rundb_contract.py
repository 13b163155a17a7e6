"""The behaviour every run store back end must show (the interface: ``mlrun.rundb.base.RunDB``).

A back end's test module subclasses ``RunDBContract`` and provides a ``db`` fixture returning a fresh,
empty store.  Callers store and read ``RunRecord``s; the back end implements the same verbs on plain data
(``store_run_data``, ``read_run_data``, ``store_run_data_and_log``), which the run server uses."""
from __future__ import annotations

import pytest

from mlrun.errors import InvalidInputError, MLRunError, NotFoundError
from mlrun.model import RunRecord


def make_record(uid: str, name: str = "train", state: str = "completed", start: str = "2024-01-01T00:00:00+00:00",
                labels: dict | None = None, project: str = "", outputs: dict | None = None,
                iteration: int = 0) -> RunRecord:
    record = RunRecord()
    record.metadata.uid, record.metadata.name, record.metadata.project = uid, name, project
    record.metadata.iteration = iteration
    record.metadata.labels = dict(labels or {"owner": "tester"})
    record.spec.parameters = {"p1": 1}
    record.status.state, record.status.start_time, record.status.last_update = state, start, start
    record.status.outputs = dict(outputs or {"accuracy": 0.5})
    record.status.metrics = {"loss": {"labels": {}, "xvalues": ["1", "2"], "yvalues": [0.5, 0.25]}}
    return record


class RunDBContract:
    def test_store_and_read_round_trip(self, db):
        record = make_record("u1")
        db.store_run(record)
        read = db.read_run("u1")
        assert isinstance(read, RunRecord) and read == record
        assert db.read_run_data("u1") == record.to_dict()  # the plain-data form the run server serves

    def test_plain_data_round_trip_and_validation(self, db):
        data = make_record("u1").to_dict()
        db.store_run_data(data)
        assert db.read_run_data("u1") == data and db.read_run("u1").to_dict() == data
        data["status"]["state"] = "finished"
        with pytest.raises(InvalidInputError, match="status.state"):
            db.store_run_data(data)
        with pytest.raises(MLRunError):
            db.store_run(make_record(""))

    def test_secrets_are_hidden_in_what_is_stored(self, db):
        from mlrun.secrets import SecretsStore

        secrets = SecretsStore()
        secrets.add_source("inline", {"TOKEN": "s3cr3t-value"})
        record = make_record("u1", outputs={"echo": "s3cr3t-value"}, labels={"s3cr3t-value": "x"})
        db.store_run_and_log(record, b"log\n", secrets)
        stored = db.read_run("u1")
        assert "s3cr3t-value" not in stored.to_json() and stored.outputs["echo"] == "******"
        assert record.outputs["echo"] == "s3cr3t-value"  # the caller's record is left as it was
        db.store_run(record, secrets)
        assert "s3cr3t-value" not in db.read_run("u1").to_json()

    def test_store_replaces(self, db):
        db.store_run(make_record("u1", state="running"))
        db.store_run(make_record("u1", name="renamed", state="completed", labels={"stage": "final"}))
        assert db.read_run("u1").state == "completed"
        assert len(db.list_runs()) == 1
        # listings (and their indexes) see the new values only
        assert [r["uid"] for r in db.list_runs(state="completed", name="renamed", labels={"stage": "final"})] == ["u1"]
        assert db.list_runs(state="running") == [] and db.list_runs(name="train") == []

    def test_read_unknown_raises_not_found(self, db):
        with pytest.raises(NotFoundError, match="nope"):
            db.read_run("nope")

    def test_list_filters(self, db):
        db.store_run(make_record("a", name="train", labels={"team": "x"}, start="2024-01-01T00:00:00+00:00"))
        db.store_run(make_record("b", name="train", state="error", start="2024-01-02T00:00:00+00:00"))
        db.store_run(make_record("c", name="eval", project="p", labels={"team": "y"},
                                 start="2024-01-03T00:00:00+00:00"))
        assert [r["uid"] for r in db.list_runs()] == ["c", "b", "a"]
        assert [r["uid"] for r in db.list_runs(desc=False)] == ["a", "b", "c"]
        assert [r["uid"] for r in db.list_runs(name="train")] == ["b", "a"]
        assert [r["uid"] for r in db.list_runs(project="p")] == ["c"]
        assert [r["uid"] for r in db.list_runs(state="error")] == ["b"]
        assert [r["uid"] for r in db.list_runs(labels={"team": "x"})] == ["a"]
        assert [r["uid"] for r in db.list_runs(labels={"team": None})] == ["c", "a"]
        assert [r["uid"] for r in db.list_runs(since="2024-01-02T00:00:00+00:00")] == ["c", "b"]
        assert [r["uid"] for r in db.list_runs(until="2024-01-01T12:00:00+00:00")] == ["a"]
        assert [r["uid"] for r in db.list_runs(sort="name", desc=False, limit=1)] == ["c"]

    def test_list_pagination(self, db):
        for i in range(7):
            db.store_run(make_record(f"u{i}", start=f"2024-01-0{i + 1}T00:00:00+00:00"))
        pages = [db.list_runs(limit=3, offset=o) for o in (0, 3, 6)]
        assert [[r["uid"] for r in p] for p in pages] == [["u6", "u5", "u4"], ["u3", "u2", "u1"], ["u0"]]

    def test_summaries_carry_listing_fields(self, db):
        db.store_run(make_record("u1", outputs={"accuracy": 0.9, "table": [1, 2]}))
        (summary,) = db.list_runs()
        assert summary["outputs"] == {"accuracy": 0.9}  # only scalars: listings stay small
        assert summary["state"] == "completed" and summary["name"] == "train"
        assert "metrics" not in summary

    def test_iterations_hidden_unless_asked(self, db):
        db.store_run(make_record("u1"))
        db.store_run(make_record("u1", iteration=1))
        db.store_run(make_record("u1", iteration=2))
        assert len(db.list_runs()) == 1
        assert len(db.list_runs(iterations=True)) == 3
        assert db.read_run("u1", 2).metadata.iteration == 2

    def test_delete(self, db):
        db.store_run(make_record("u1"))
        db.store_log("u1", b"hello\n")
        db.del_run("u1")
        with pytest.raises(NotFoundError):
            db.read_run("u1")
        with pytest.raises(NotFoundError):
            db.del_run("u1")
        assert db.list_runs() == []

    def test_logs_append_and_replace(self, db):
        db.store_run(make_record("u1"))
        assert db.read_log("u1") == b""
        db.store_log("u1", b"one\n")
        db.store_log("u1", b"two\n")
        assert db.read_log("u1") == b"one\ntwo\n"
        db.store_log("u1", b"new\n", append=False)
        assert db.read_log("u1") == b"new\n"
        assert db.get_log("u1") == b"new\n"  # the MLRun 1.x name

    def test_a_finished_run_stores_its_record_and_whole_log(self, db):
        db.store_run(make_record("u1"))
        db.store_log("u1", b"streamed while running\n")
        final = make_record("u1", state="completed")
        db.store_run_and_log(final, b"the whole log\n")
        assert db.read_run("u1") == final
        assert db.read_log("u1") == b"the whole log\n"
        bad = make_record("u1", state="completed")
        bad.status.outputs = "not a mapping"
        with pytest.raises(InvalidInputError):
            db.store_run_and_log(bad, b"never stored\n")
        assert db.read_run("u1") == final and db.read_log("u1") == b"the whole log\n"

    def test_log_of_unknown_run(self, db):
        with pytest.raises(NotFoundError):
            db.read_log("nope")

    def test_bad_sort_is_refused(self, db):
        with pytest.raises(ValueError, match="sort"):
            db.list_runs(sort="password")

    def test_search_with_a_filter_expression(self, db):
        for i in range(6):
            record = make_record(f"u{i}", labels={"team": "vision" if i % 2 else "nlp"}, outputs={"accuracy": i / 10},
                                 start=f"2024-01-0{i + 1}T00:00:00+00:00", state="error" if i == 5 else "completed")
            record.spec.parameters = {"lr": 10.0 ** -i, "opt": "adam" if i < 3 else "sgd"}
            db.store_run(record)
        db.store_run(make_record("text", outputs={"accuracy": "high"}, start="2024-02-01T00:00:00+00:00"))

        def uids(expr, **kw):
            runs, total = db.search_runs(expr, **kw)
            assert total >= len(runs)
            return [r["uid"] for r in runs]

        assert uids("outputs.accuracy > 0.2 and labels.team = vision") == ["u5", "u3"]
        assert uids("outputs.accuracy = high") == ["text"]  # text with text, numbers with numbers
        assert uids("parameters.lr < 0.005 and parameters.opt = sgd") == ["u5", "u4", "u3"]
        assert uids("not (state = completed) or name ~ xyz") == ["u5"]
        assert uids("labels.missing != x") == [] and "u0" in uids("not labels.missing = x")
        assert uids("start_time >= 2024-01-05 and start_time < 2024-02-01") == ["u5", "u4"]
        assert uids(None, sort="outputs.accuracy", limit=3) == ["u5", "u4", "u3"]
        assert uids(None, sort="outputs.accuracy", desc=False)[:2] == ["u0", "u1"]
        assert uids(None, sort="outputs.accuracy", desc=False)[-1] == "text"  # no number: last either way
        assert db.search_runs("outputs.accuracy >= 0.1", limit=2, offset=1, total_exact=True)[1] == 5
        assert 4 <= db.search_runs("outputs.accuracy >= 0.1", limit=2, offset=1)[1] <= 5  # 4: "and more"
        for desc in (True, False):  # pages of 3 (across runs with a number and without) make the whole order
            whole = uids(None, sort="outputs.accuracy", desc=desc)
            assert [u for o in range(0, 9, 3) for u in uids(None, sort="outputs.accuracy", desc=desc, limit=3,
                                                             offset=o)] == whole and len(whole) == 7
            assert uids(None, sort="outputs.accuracy", desc=desc, limit=2, offset=6) == whole[6:]
        assert uids("outputs.accuracy >= 0", state="error") == ["u5"]

    def test_counts_are_exact_when_asked_and_free_otherwise(self, db):
        for i in range(12):
            db.store_run(make_record(f"u{i:02d}", labels={"team": "a" if i % 3 else "b"}, outputs={"accuracy": i / 12},
                                     start=f"2024-01-01T00:00:{i:02d}+00:00"))
        for expr, sort, matching in ((None, "start_time", 12), ("outputs.accuracy >= 0.25", "start_time", 9),
                                     ("labels.team = a", "outputs.accuracy", 8), (None, "outputs.accuracy", 12)):
            runs, total = db.search_runs(expr, sort=sort, limit=3)
            assert len(runs) == 3 and 4 <= total <= matching  # at least this page and one more: nothing counted
            assert db.search_runs(expr, sort=sort, limit=3, total_exact=True)[1] == matching
            last, total = db.search_runs(expr, sort=sort, limit=3, offset=matching - 2)
            assert len(last) == 2 and total == matching  # the page reaches the end: exact for free
            assert db.search_runs(expr, sort=sort, limit=3, offset=matching + 5)[1] == matching  # past the end
            assert db.search_runs(expr, sort=sort)[1] == matching
        assert db.count_runs() == 12 and db.count_runs(labels={"team": "b"}) == 4  # exact, whatever the store
        # labels in every form list_runs takes
        assert db.count_runs(labels="team=b") == db.count_runs(labels=["team=b"]) == 4
        assert db.count_runs(labels=["team"]) == 12
        assert db.search_runs("outputs.accuracy >= 0.25", labels=["team=b"], total_exact=True)[1] == 3

    def test_search_errors_point_at_the_token(self, db):
        with pytest.raises(InvalidInputError, match="after .>. .*position 20, got .and."):
            db.search_runs("outputs.accuracy > and x = 1")
        with pytest.raises(InvalidInputError, match="unknown field 'colour' at position 1"):
            db.search_runs("colour = red")
        with pytest.raises(InvalidInputError, match="sort"):
            db.search_runs(None, sort="password")

    # --- the seed system's run store API ---------------------------------------------------------------

    def test_seed_list_runs_filters_sorts_and_shows(self, db):
        from mlrun.rundb.lists import RunList

        assert db.connect() is db and db.connect().connect() is db  # the seed's get_run_db(url).connect()
        db.store_run(make_record("a", labels={"team": "x", "env": "dev"}, start="2024-01-01T00:00:00+00:00"))
        db.store_run(make_record("b", state="error", labels={"team": "y"}, start="2024-01-02T00:00:00+00:00"))
        db.store_run(make_record("c", name="eval", project="p", start="2024-01-03T00:00:00+00:00",
                                 outputs={"note": "<script>alert(1)</script>"}))
        db.store_run(make_record("c", name="eval", project="p", iteration=1, start="2024-01-03T00:00:01+00:00"))

        runs = db.list_runs()
        assert isinstance(runs, RunList) and [r["uid"] for r in runs] == ["c", "b", "a"]  # newest first
        assert [r["uid"] for r in db.list_runs(sort=False)] == ["a", "b", "c"]
        assert [r["uid"] for r in db.list_runs(last=2)] == ["c", "b"]
        assert [r["uid"] for r in db.list_runs(sort=False, last=2)] == ["b", "c"]  # the 2 newest, oldest first
        assert [(r["uid"], r["iteration"]) for r in db.list_runs(iter=True)] == [("c", 1), ("c", 0), ("b", 0),
                                                                                  ("a", 0)]
        assert [r["uid"] for r in db.list_runs(labels="team=x")] == ["a"]
        assert [r["uid"] for r in db.list_runs(labels=["team", "env=dev"])] == ["a"]
        assert [r["uid"] for r in db.list_runs(labels=["team"])] == ["b", "a"]
        assert [r["uid"] for r in db.list_runs(labels={"team": "y"})] == ["b"]
        assert [r["uid"] for r in db.list_runs(name="eval", project="p", state="completed")] == ["c"]
        assert db.list_runs(name="", project="", state="", labels=None) == runs  # empty texts filter nothing
        with pytest.raises(InvalidInputError, match="label filter '=x' has no key"):
            db.list_runs(labels="=x")
        with pytest.raises(InvalidInputError, match="last must be a whole number, 0 or more, got -1"):
            db.list_runs(last=-1)

        html = runs.show(display=False)
        assert html.startswith("<table") and html.count("<tr>") == 4 and "<th>iter</th>" in html
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # escaped
        assert "team=x" in html and "env=dev" in html and "accuracy=0.5" in html

    def test_seed_artifact_api(self, db):
        from mlrun.rundb.lists import ArtifactList

        first = make_record("a", labels={"team": "x"}, start="2024-01-01T00:00:00+00:00")
        first.status.output_artifacts = [{"key": "model.pkl", "target_path": "/art/a/model.pkl", "format": "pkl"},
                                         {"key": "data.csv", "target_path": "/art/a/data.csv", "format": "csv",
                                          "labels": {"kind": "raw"}}]
        second = make_record("b", project="p", start="2024-01-02T00:00:00+00:00")
        second.status.output_artifacts = [{"key": "model.pkl", "target_path": "/art/b/model.pkl"}]
        db.store_run(first)
        db.store_run(second)

        found = db.list_artifacts()
        assert isinstance(found, ArtifactList)
        assert [(a["key"], a["uid"]) for a in found] == [("model.pkl", "b"), ("model.pkl", "a"), ("data.csv", "a")]
        assert found[0]["run_name"] == "train" and found[0]["project"] == "p" and found[0]["iteration"] == 0
        assert [a["uid"] for a in db.list_artifacts(name="model.pkl", project="p")] == ["b"]
        assert [a["key"] for a in db.list_artifacts(labels="team=x")] == ["model.pkl", "data.csv"]  # run's labels
        assert [a["key"] for a in db.list_artifacts(labels=["kind=raw"])] == ["data.csv"]  # the artifact's own
        assert "<td>/art/b/model.pkl</td>" in found.show(display=False)

        # store_artifact / read_artifact: MLRun 1.x names; an entry of the run's record
        db.store_artifact("plot.html", {"target_path": "/art/b/plot.html", "format": "html"}, "b", tag="v2")
        assert db.read_run("b").status.output_artifacts[-1]["key"] == "plot.html"
        assert db.read_artifact("plot.html")["target_path"] == "/art/b/plot.html"
        assert [a["key"] for a in db.list_artifacts(tag="v2")] == ["plot.html"]
        assert db.read_artifact("model.pkl")["uid"] == "b"  # the newest run's
        assert db.read_artifact("model.pkl", uid="a")["target_path"] == "/art/a/model.pkl"
        with pytest.raises(NotFoundError, match="artifact 'plot.html' not found"):
            db.read_artifact("plot.html", tag="v1")
        with pytest.raises(NotFoundError):
            db.store_artifact("x.txt", {"target_path": "/x"}, "nope")
        with pytest.raises(InvalidInputError, match="project"):
            db.store_artifact("x.txt", {"target_path": "/x"}, "b", project="other")
        with pytest.raises(InvalidInputError, match="output_artifacts"):
            db.store_artifact("x.txt", {"target_path": 7}, "b")  # validated as the record's field
        assert [a["key"] for a in db.list_artifacts(project="p")] == ["model.pkl", "plot.html"]

        # del_artifacts: entries leave the records (the files are not the store's)
        assert db.del_artifacts(name="model.pkl") == 2
        assert [a["key"] for a in db.list_artifacts()] == ["plot.html", "data.csv"]
        assert db.read_run("a").status.output_artifacts[0]["key"] == "data.csv"

        # del_runs: the runs matching every filter, with their iterations and logs
        db.store_run(make_record("a", iteration=1, labels={"team": "x"}))
        db.store_run(make_record("old", start="2000-01-01T00:00:00+00:00"))
        assert db.del_runs(days_ago=365 * 20) == 1 and [r["uid"] for r in db.list_runs()] == ["b", "a"]
        assert db.del_runs(labels="team=x") == 1
        assert [r["uid"] for r in db.list_runs(iter=True)] == ["b"]
        with pytest.raises(InvalidInputError, match="days_ago"):
            db.del_runs(days_ago=-1)  # a cut-off in the future would delete every run
        assert db.del_runs(state="running") == 0 and db.del_runs() == 1 and db.list_runs() == []

    def test_artifact_tags_kinds_and_best_iteration(self, db):
        def run_with(uid, start, tag="", iteration=0, key="model"):
            record = make_record(uid, project="p", start=start, iteration=iteration)
            record.status.output_artifacts = [{"key": key, "kind": "model", "target_path": f"/art/{uid}/{iteration}",
                                               **({"tag": tag} if tag else {})},
                                              {"key": "data", "kind": "dataset", "target_path": f"/art/{uid}/d"}]
            db.store_run(record)

        run_with("a", "2024-01-01T00:00:00+00:00", tag="prod")
        run_with("b", "2024-01-02T00:00:00+00:00")
        run_with("c", "2024-01-03T00:00:00+00:00", iteration=1)  # an iteration of a sweep
        run_with("c", "2024-01-03T00:00:01+00:00")
        assert [a["uid"] for a in db.list_artifacts("model", tag="prod")] == ["a"]
        assert [(a["uid"], a["iteration"]) for a in db.list_artifacts("model", tag="latest")] == [("c", 0), ("c", 1)]
        assert db.read_artifact("model", tag="prod", project="p")["uid"] == "a"
        assert db.read_artifact("model", project="p", iter=1)["uid"] == "c"
        run_with("d", "2024-01-04T00:00:00+00:00", tag="prod")  # prod moves to the newer version
        assert [a["uid"] for a in db.list_artifacts("model", tag="prod")] == ["d"]
        assert {a["key"] for a in db.list_artifacts(kind="dataset")} == {"data"}
        assert {a["key"] for a in db.list_artifacts(category="model")} == {"model"}
        assert [a["uid"] for a in db.list_artifacts("data", best_iteration=True)] == ["d", "c", "b", "a"]
        assert db.list_artifacts(project="default") == []  # every run here has a project
        with pytest.raises(InvalidInputError, match="category must be one of"):
            db.list_artifacts(category="plots")
