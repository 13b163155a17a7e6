"""The filter language: parsing, errors, and the same answers from Python, SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rundb_contract import make_record

from mlrun.rundb.filters import BoolOp, Compare, FilterError, Not, matches, parse, sort_summaries
from mlrun.rundb.postgres import PostgresRunDB
from mlrun.rundb.sqlite import SQLiteRunDB


def test_precedence_and_aliases():
    tree = parse("name = a or state = error and not (params.lr > 1 or end_time < 2024-01-01)")
    assert tree == BoolOp("or", (Compare("name", "=", "a"), BoolOp("and", (
        Compare("state", "=", "error"),
        Not(BoolOp("or", (Compare("parameters.lr", ">", 1.0),
                          Compare("last_update", "<", "2024-01-01T00:00:00+00:00"))))))))
    assert parse("labels.epochs == 10") == Compare("labels.epochs", "=", "10")  # labels are text
    assert parse("outputs.best = '0.9'") == Compare("outputs.best", "=", "0.9")  # quoted: text
    assert parse("start_time > '2024-01-01T02:00:00+02:00'").value == "2024-01-01T00:00:00+00:00"


@pytest.mark.parametrize("text, message", [
    ("", "empty expression"),
    ("outputs.accuracy > ", "expected a value after '>' at the end (position 20)"),
    ("outputs.accuracy 0.9", "expected an operator (= != < <= > >= ~) after 'outputs.accuracy' at position 18"),
    ("outputs.accuracy > 0.9 labels.team = x", "expected 'and', 'or' or the end at position 24, got 'labels.team'"),
    ("(name = a", "expected ')' at the end (position 10)"),
    ("name = a; drop table runs", "unexpected character ';' at position 9"),
    ("outputs. = 1", "unknown field 'outputs.' at position 1"),
    ("iteration = x", "iteration compares with a number, got 'x' at position 13"),
    ("start_time > yesterday", "expected an ISO-8601 date or time at position 14, got 'yesterday'"),
    ("name = " + "x" * 5000, "longer than 4096 characters"),
])
def test_errors_name_the_token_and_position(text, message):
    with pytest.raises(FilterError) as err:
        parse(text)
    assert message in str(err.value) and err.value.field == "filter" and "\n" not in str(err.value)


RUNS = []
for i, (acc, lr, opt, team) in enumerate([(0.9, 0.1, "adam", "vision"), (0.5, 0.01, "sgd", "nlp"),
                                          ("high", 1, "adam", None), (None, 0.5, True, "vision"),
                                          (0.95, None, "Ädam", "x y"), (0, -2, "", "nlp")]):
    record = make_record(f"r{i}", name=["train", "eval", "Train"][i % 3], state=["completed", "error"][i % 2],
                         start=f"2024-01-0{i + 1}T00:00:00+00:00", labels={"team": team} if team else {},
                         outputs={"accuracy": acc} if acc is not None else {}, iteration=i % 2).to_dict()
    record["spec"]["parameters"] = {k: v for k, v in (("lr", lr), ("opt", opt)) if v is not None}
    record["status"]["outputs"] = {k: v for k, v in record["status"]["outputs"].items() if v is not None}
    RUNS.append(record)

FIELDS = ["name", "state", "uid", "iteration", "start_time", "end_time", "labels.team", "labels.none",
          "outputs.accuracy", "parameters.lr", "params.opt", "outputs.missing"]
VALUES = ["0.9", "0.5", "1", "-2", "0", "adam", "'adam'", "vision", "'x y'", "train", "Train", "error", "r1", "''",
          "2024-01-03", "'Ädam'", "high", "1e-2"]
comparisons = st.builds(lambda f, o, v: f"{f} {o} {v}", st.sampled_from(FIELDS),
                        st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "~"]), st.sampled_from(VALUES))
expressions = st.recursive(comparisons, lambda inner: st.one_of(
    st.builds(lambda a, b: f"({a} and {b})", inner, inner), st.builds(lambda a, b: f"({a} or {b})", inner, inner),
    st.builds(lambda a: f"not {a}", inner)), max_leaves=5)


@pytest.fixture(scope="module")
def stores(pg_server, tmp_path_factory):
    sqlite = SQLiteRunDB(str(tmp_path_factory.mktemp("filters") / "store"))
    postgres = PostgresRunDB(pg_server.new_database())
    for record in RUNS:
        sqlite.store_run_data(record)
        postgres.store_run_data(record)
    return sqlite, postgres


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expressions)
def test_python_sqlite_and_postgresql_agree(stores, text):
    from mlrun.model import RunRecord

    try:
        parse(text)
    except FilterError:  # e.g. a time compared with a number: every store refuses it alike
        for db in stores:
            with pytest.raises(FilterError):
                db.search_runs(text)
        return
    expected = sorted(RunRecord.from_dict(r).metadata.uid + f"@{r['metadata']['iteration']}" for r in RUNS
                      if matches(parse(text), RunRecord.from_dict(r).summary()))
    summaries = sorted((RunRecord.from_dict(r).summary() for r in RUNS), key=lambda s: (s["start_time"], s["uid"]),
                       reverse=True)
    for desc in (True, False):  # sorted by a number through run_numbers' index, a page into the listing
        ranked = sort_summaries([s for s in summaries if matches(parse(text), s)], "outputs.accuracy", desc)
        for db in stores:
            runs, total = db.search_runs(text, sort="outputs.accuracy", desc=desc, limit=2, offset=1, iterations=True,
                                         total_exact=True)
            assert [(r["uid"], r["iteration"]) for r in runs] == [(s["uid"], s["iteration"]) for s in ranked[1:3]]
            assert total == len(expected), (type(db).__name__, text)
    for db in stores:
        runs, total = db.search_runs(text, iterations=True)
        assert sorted(f"{r['uid']}@{r['iteration']}" for r in runs) == expected, (type(db).__name__, text)
        assert total == len(expected)


def test_cli_filter_and_sort_on_the_local_store(isolated_store):
    import json

    from helpers import mlrun_cli

    db = SQLiteRunDB(isolated_store)
    for record in RUNS:
        db.store_run_data(record)
    result = mlrun_cli("get", "runs", "--filter", "outputs.accuracy >= 0.5", "--sort", "outputs.accuracy", "--asc",
                       "-o", "json")
    assert result.returncode == 0, result.stderr
    assert [r["uid"] for r in json.loads(result.stdout)] == ["r0", "r4"]  # r1: an iteration; r2: text
    bad = mlrun_cli("get", "runs", "--sort", "outputs")
    assert bad.returncode == 2 and "cannot sort runs by 'outputs'" in bad.stderr and "Traceback" not in bad.stderr
