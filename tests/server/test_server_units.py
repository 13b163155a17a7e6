"""The server's parts in-process: listing queries, downsampling, merge patches, pages (Flask's test client)."""
from __future__ import annotations

import json
import math
import os

import pytest
from helpers import run_python
from sample_runs import sample_record

from mlrun.errors import InvalidSpecError, StoreError
from mlrun.rundb.sqlite import SQLiteRunDB
from mlrun.server import create_app
from mlrun.server.api import merge_patch
from mlrun.server.charts import lttb, metric_series
from mlrun.server.listing import ListQuery
from mlrun.server.records import clean_text, lenient_record
from mlrun.server.views import clean_log, diff_rows, is_local_path


# -- listing queries --------------------------------------------------------------------------
def test_list_query_defaults_and_round_trip():
    query = ListQuery.from_args({})
    assert (query.filters, query.sort, query.desc, query.limit, query.offset) == ({}, "start_time", True, 100, 0)
    from werkzeug.datastructures import MultiDict

    args = MultiDict([("name", "train"), ("label", "team=a"), ("label", "owner"), ("state", "error"),
                      ("sort", "name"), ("desc", "false"), ("limit", "25"), ("offset", "50"), ("iterations", "1")])
    query = ListQuery.from_args(args)
    assert query.filters == {"name": "train", "state": "error", "labels": {"team": "a", "owner": None},
                             "iterations": True}
    again = ListQuery.from_args(MultiDict([(k, v) for k, vs in query.to_args().items()
                                           for v in (vs if isinstance(vs, list) else [vs])]))
    assert vars(again) == vars(query)


def test_times_are_compared_in_utc():
    query = ListQuery.from_args({"since": "2024-05-03T10:00:00+02:00", "until": "2024-05-04"})
    assert query.filters["since"] == "2024-05-03T08:00:00+00:00"
    assert query.filters["until"] == "2024-05-04T23:59:59.999999+00:00"  # a bare date includes that day
    assert ListQuery.from_args({"since": "2024-05-03T10:00"}).filters["since"] == "2024-05-03T10:00:00+00:00"


def test_non_strict_queries_ignore_other_parameters():
    with pytest.raises(InvalidSpecError) as failure:
        ListQuery.from_args({"page": "2"})
    assert failure.value.field == "page"
    assert ListQuery.from_args({"page": "2"}, strict=False).filters == {}


# -- charts -----------------------------------------------------------------------------------
def test_lttb_keeps_the_shape_in_fewer_points():
    x = [float(i) for i in range(10_000)]
    y = [math.sin(i / 500) for i in x]
    y[4321] = 50.0  # a spike every-n-th sampling would miss
    sx, sy = lttb(x, y, 1000)
    assert len(sx) == 1000 and sx[0] == 0 and sx[-1] == 9999 and sx == sorted(sx)
    assert 50.0 in sy and sx[sy.index(50.0)] == 4321
    assert lttb([1.0, 2.0], [3.0, 4.0], 1000) == ([1.0, 2.0], [3.0, 4.0])


def test_metric_series_numbers_times_and_gaps():
    series = metric_series({"xvalues": ["3", "1", "2", "4", "5"], "yvalues": [0.3, 0.1, float("nan"), None, True]},
                           "loss")
    assert (series["x"], series["y"], series["points"], series["time"]) == ([1.0, 3.0], [0.1, 0.3], 5, False)
    timed = metric_series({"xvalues": ["2024-01-01T00:00:00+00:00", "2024-01-01T00:00:10+00:00"],
                           "yvalues": [1, 2]}, "t")
    assert timed["time"] and timed["x"][1] - timed["x"][0] == 10
    named = metric_series({"xvalues": ["warmup", "main"], "yvalues": [1, 2]}, "n")
    assert named["x"] == [1.0, 2.0] and not named["time"]
    long = metric_series({"xvalues": [str(i) for i in range(50_000)], "yvalues": list(range(50_000))}, "l")
    assert len(long["x"]) == 1000 and long["points"] == 50_000


# -- helpers ----------------------------------------------------------------------------------
def test_odd_numbers_in_metric_histories_are_left_out_of_charts():
    series = metric_series({"xvalues": [1, 10**400, "inf", 4], "yvalues": [1.0, 2.0, 3.0, 10**400]}, "m")
    # steps that are not all floats are charted by position; a value past any float is left out
    assert series["x"] == [1.0, 2.0, 3.0] and series["y"] == [1.0, 2.0, 3.0] and series["points"] == 4


def test_clean_text_escapes_lone_surrogates_and_keeps_clean_data_as_is():
    clean = {"a": ["b", 1, {"c": "d"}]}
    assert clean_text(clean) is clean
    assert clean_text({"k\udcff": ["x\udc80"]}) == {"k\\udcff": ["x\\udc80"]}


def test_lenient_record_drops_what_the_model_refuses_and_notes_it():
    data = sample_record("r1", epochs=3)
    data["status"]["state"], data["metadata"]["labels"], data["spec"]["input_objects"] = "odd", ["x"], [5]
    data["status"]["outputs"]["val.loss"] = 1
    record, notes = lenient_record(data)
    assert record.uid == "r1" and record.spec.parameters["lr"] == 0.1 and record.status.outputs["val.loss"] == 1
    assert record.metadata.labels == {} and record.spec.input_objects == [] and record.status.state == "created"
    assert len(notes) == 3 and all(note.startswith("not shown: ") for note in notes)
    assert data["metadata"]["labels"] == ["x"]  # the stored record is left as it was
    assert lenient_record("not a record")[0].uid == ""


@pytest.mark.parametrize("target, local", [
    ("/runs/x?iteration=2", True), ("/", True), ("/?name=my run", True), ("//evil.com", False),
    ("/\\evil.com", False), ("/\t/evil.com", False), ("https://evil.com", False), ("evil.com", False), ("", False),
    ("/\x00", False), ("/\x9b", False),
])
def test_login_targets(target, local):
    assert is_local_path(target) is local


def test_times_past_the_utc_range_name_the_parameter():
    with pytest.raises(InvalidSpecError) as caught:
        ListQuery.from_args({"until": "9999-12-31T23:59:59-23:59"})
    assert caught.value.field == "until" and "out of range" in str(caught.value)


def test_merge_patch_follows_rfc_7386():
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == \
        {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge_patch({"a": 1}, {"b": {"c": 2}}) == {"a": 1, "b": {"c": 2}}


def test_logs_read_as_a_terminal_left_them():
    raw = b"\x1b[32mgreen\x1b[0m done\nprogress 10%\rprogress 50%\rprogress 100%\nbad byte \xff\n"
    assert clean_log(raw) == "green done\nprogress 100%\nbad byte \ufffd\n"


def test_diff_rows_mark_differences_and_missing_keys():
    rows = diff_rows([{"lr": 0.1, "opt": "adam", "layers": [1, 2]}, {"lr": 0.2, "opt": "adam", "layers": [1, 2]},
                      {"opt": "adam", "layers": [1, 2]}])
    assert [(r["key"], r["differs"]) for r in rows] == [("lr", True), ("opt", False), ("layers", False)]
    assert rows[0]["cells"] == [0.1, 0.2, None] and rows[0]["missing"] == [False, False, True]
    assert [r["key"] for r in diff_rows([{"a": 1, "b": 2}, {"a": 1, "b": 3}], only_diff=True)] == ["b"]


# -- pages and errors (in-process) ------------------------------------------------------------
@pytest.fixture
def client(tmp_path):
    db = SQLiteRunDB(str(tmp_path / "store"))
    app = create_app(db)
    return app.test_client(), db


def test_pages_escape_whatever_records_hold(client, tmp_path):
    web, db = client
    evil = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'
    record = sample_record("xss", name=evil, labels={evil: evil}, artifacts_dir=str(tmp_path / "art"))
    record["spec"]["parameters"][evil] = evil
    record["status"]["outputs"][evil] = evil
    record["status"]["metrics"][evil] = {"labels": {}, "xvalues": ["1"], "yvalues": [1]}
    record["status"]["output_artifacts"][2]["target_path"] = str(tmp_path / "evil.txt")
    (tmp_path / "evil.txt").write_text(evil)
    db.store_run_data(record)
    db.store_log("xss", evil.encode())
    db.store_run_data(sample_record("other"))
    for url in ("/", "/runs/xss", "/compare?uid=xss&uid=other", f"/?name={evil}"):
        html = web.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;/script&gt;" in html or "\\u003c/script\\u003e" in html, url


def test_run_page_downsamples_long_histories(client):
    web, db = client
    record = sample_record("long", epochs=30_000)
    db.store_run_data(record)
    html = web.get("/runs/long").get_data(as_text=True)
    data = json.loads(html.split('<script type="application/json" id="chart-data">')[1].split("</script>")[0])
    loss = next(chart for chart in data if chart["title"] == "loss")
    assert loss["points"] == 30_000 and loss["downsampled"] and len(loss["series"][0]["x"]) == 1000
    assert "29,980 more (download the record for all)" in html  # the YAML shown is cut short too
    assert len(html) < 300_000


def test_ui_errors_are_pages_with_one_line(client):
    web, db = client
    db.store_run_data(sample_record("only"))
    for url, status, text in [("/runs/ghost", 404, "run ghost not found"),
                              ("/compare?uid=only", 400, "pick from 2 to 10 runs to compare (got 1)"),
                              ("/compare?uid=only&uid=ghost", 404, "run ghost not found"),
                              ("/?state=finished", 400, "state must be one of")]:
        response = web.get(url)
        assert response.status_code == status and response.mimetype == "text/html", url
        assert text in response.get_data(as_text=True)


def test_hyper_parameter_runs_link_and_compare_their_iterations(client):
    web, db = client
    parent = sample_record("sweep")
    parent["status"]["iterations"] = [["state", "iter", "param.lr", "output.accuracy"],
                                      ["completed", 1, 0.1, 0.85], ["completed", 2, 0.3, 0.95]]
    db.store_run_data(parent)
    for number, lr in ((1, 0.1), (2, 0.3)):
        child = sample_record("sweep", lr=lr)
        child["metadata"]["iteration"] = number
        db.store_run_data(child)
    html = web.get("/runs/sweep").get_data(as_text=True)
    assert 'href="/runs/sweep?iteration=2"' in html and 'href="/compare?uid=sweep@1&amp;uid=sweep@2"' in html
    child_page = web.get("/runs/sweep?iteration=2").get_data(as_text=True)
    assert "iteration 2 of sweep" in child_page and "0.3" in child_page
    compared = web.get("/compare?uid=sweep@1&uid=sweep@2")
    assert compared.status_code == 200 and "sweep@2" in compared.get_data(as_text=True)
    assert web.get("/compare?uid=sweep@1&uid=sweep@x").status_code == 400


class _BrokenDB(SQLiteRunDB):
    def list_runs(self, **kwargs):
        raise RuntimeError("internal detail /etc/secret-path")

    def read_run_data(self, uid, iteration=0):
        raise StoreError("run store /data: disk I/O error")


def test_failures_become_one_line_json_without_internals(tmp_path, caplog):
    web = create_app(_BrokenDB(str(tmp_path / "store"))).test_client()
    response = web.get("/api/runs")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error (the server log has the details)"}
    assert "internal detail" in caplog.text  # the operator still learns what happened
    response = web.get("/api/runs/x")
    # the store's own words name its files: the operator's log has them, the client learns only that it failed
    assert response.status_code == 503
    assert response.get_json() == {"error": "the run store failed (the server log has the details)"}
    assert "run store /data: disk I/O error" in caplog.text
    page = web.get("/")
    assert page.status_code == 500 and "Traceback" not in page.get_data(as_text=True)


def test_importing_mlrun_and_the_cli_stays_light():
    code = ("import sys, mlrun, mlrun.rundb, mlrun.server, mlrun.cli.server; from mlrun.cli import cli\n"
            "try:\n    cli(['--help'], prog_name='mlrun')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('flask', 'waitress', 'requests', 'jinja2', 'mlrun.server.app') "
            "if m in sys.modules))")
    done = run_python(code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "server" in done.stdout and done.stdout.strip().splitlines()[-1] == "[]"


def test_sweep_page_draws_parallel_coordinates_and_a_picked_scatter(client):
    web, db = client
    parent = sample_record("sweep")
    parent["status"]["iterations"] = [
        ["iteration", "state", "param.lr", "param.opt", "output.accuracy", "output.loss"],
        [1, "completed", 0.1, "adam", 0.85, 0.4], [2, "completed", 0.3, "sgd", 0.95, 0.2],
        [3, "error", 0.5, "<b>evil</b>", "", ""]]
    db.store_run_data(parent)
    html = web.get("/runs/sweep").get_data(as_text=True)
    assert 'id="sweep-parallel"' in html and html.count('class="sweep-line"') == 3
    assert [axis in html for axis in ('data-axis="param.lr"', 'data-axis="param.opt"', 'data-axis="output.accuracy"',
                                      'data-axis="output.loss"')] == [True] * 4
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt;" in html  # record text is escaped in the SVG
    assert html.count('class="sweep-point"') == 2  # iteration 3 has no output: no point
    assert 'class="x-label">lr<' in html and 'class="y-label">loss<' in html
    picked = web.get("/runs/sweep?sx=param.opt&sy=output.accuracy").get_data(as_text=True)
    assert 'class="x-label">opt<' in picked and 'class="y-label">accuracy<' in picked
    assert 'href="/runs/sweep?iteration=2"' in picked
    single = sample_record("single")
    db.store_run_data(single)
    assert 'id="sweep' not in web.get("/runs/single").get_data(as_text=True)


def test_runs_page_filter_box_and_sort_by_output(client):
    web, db = client
    for uid, accuracy in (("a1", 0.5), ("a2", 0.9), ("a3", 0.7)):
        record = sample_record(uid)
        record["status"]["outputs"] = {"accuracy": accuracy}
        db.store_run_data(record)
    page = web.get("/?filter=outputs.accuracy+>+0.6&sort=outputs.accuracy&desc=false")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="filter" value="outputs.accuracy &gt; 0.6"' in html
    assert html.index("/runs/a3") < html.index("/runs/a2") and "/runs/a1" not in html
    bad = web.get("/?filter=outputs.accuracy+>")
    assert bad.status_code == 400 and "expected a value after &#39;&gt;&#39; at the end (position 19)" in \
        bad.get_data(as_text=True)


def test_sweep_axes_are_ticked_on_their_values_without_overlap():
    from mlrun.server.sweeps import MAX_TICKS, Axis

    grid = Axis("param.lr", [0.1, 0.01, 0.1, 0.001, None, ""])
    assert [text for _, text in grid.ticks()] == ["0.001", "0.01", "0.1"]  # each value of the grid once
    assert [round(at, 3) for at, _ in grid.ticks()] == [0.0, round(0.009 / 0.099, 3), 1.0]
    assert [text for _, text in grid.ticks(min_gap=0.2)] == ["0.001", "0.1"]  # 0.001 and 0.01 would overlap
    many = Axis("output.loss", list(range(100)))
    texts = [text for _, text in many.ticks()]
    assert len(texts) == MAX_TICKS and texts[0] == "0" and texts[-1] == "99"  # spread, the ends kept
    assert [text for _, text in Axis("param.opt", ["sgd", "adam"]).ticks()] == ["adam", "sgd"]


def test_compared_runs_are_named_by_the_parameters_that_differ(client):
    web, db = client
    for uid, lr in (("p1", 0.1), ("p2", 0.3)):
        record = sample_record(uid, lr=lr)
        record["spec"]["parameters"]["note"] = "<script>x</script>" if uid == "p2" else "same"
        db.store_run_data(record)
    html = web.get("/compare?uid=p1&uid=p2").get_data(as_text=True)
    assert '<div class="run-params" title="the parameters that differ">lr=0.1, note=same</div>' in html
    assert "lr=0.3, note=&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html
    assert '"label": "lr=0.1, note=same"' in html or '"label":"lr=0.1, note=same"' in html  # the charts' lines


def test_the_serving_hint_repeats_the_servers_options_never_its_token(tmp_path, monkeypatch):
    import shlex

    from mlrun.server.views import server_command

    start, roots = tmp_path / "start", tmp_path / "roots"
    start.mkdir()
    monkeypatch.chdir(start)
    db = SQLiteRunDB(str(tmp_path / "store"))
    app = create_app(db, token="s3cret-token", artifact_roots=[str(roots)], max_body=1000, behind_tls=True)
    app.config.update(MLRUN_HOST="0.0.0.0", MLRUN_THREADS=2, MLRUN_WORKERS=3)
    with app.test_request_context("/runs/x", base_url="http://127.0.0.1:9000/"):
        command = server_command(str(start))
    assert shlex.split(command) == [
        "mlrun", "server", "--host", "0.0.0.0", "--port", "9000", "--store", os.path.realpath(tmp_path / "store"),
        "--max-body-size", "1000", "--threads", "2", "--workers", "3", "--behind-tls",
        "--artifact-root", str(roots), "--artifact-root", str(start)]
    assert "s3cret" not in command
    plain = create_app(db)
    plain.config.update(MLRUN_HOST="0.0.0.0")
    with plain.test_request_context("/runs/x", base_url="http://127.0.0.1:8080/"):
        assert shlex.split(server_command("/data")) == [
            "mlrun", "server", "--host", "0.0.0.0", "--store", os.path.realpath(tmp_path / "store"), "--insecure",
            "--artifact-root", "/data"]
