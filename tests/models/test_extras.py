"""PlotlyArtifact, the install hints of the data and plotly extras, store:// URIs refused or not found by name."""
import pytest
from core.test_missing_extras import without

import mlrun
from mlrun.artifacts import PlotlyArtifact
from mlrun.errors import InvalidInputError, NotFoundError
from mlrun.registry import install_hint
from mlrun.rundb.artifactstore import StoreURI, parse, store_uri


def test_a_plotly_figure_is_a_self_contained_page():
    import plotly.graph_objects as go

    def plot(context):
        figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="loss"))
        context.log_artifact(PlotlyArtifact(figure=figure, key="loss"))

    run = mlrun.run_start(handler=plot)
    assert run.state() == "completed", run.error
    entry = run.artifact("loss")
    page = entry.get(encoding="utf-8")
    assert entry["kind"] == "plotly" and entry["viewer"] == "web-app" and entry["target_path"].endswith("loss.html")
    assert page.lower().startswith("<!doctype html>") and "Plotly.newPlot" in page and '"loss"' in page
    assert 'src="http' not in page and len(page) > 1_000_000  # plotly.js is inside: nothing to fetch
    with pytest.raises(InvalidInputError, match="figure must be a plotly figure"):
        PlotlyArtifact(figure=[1, 2], key="x.html")


@pytest.mark.parametrize("refused, code, what, extra", [
    ("pandas", "import mlrun; mlrun.get_dataitem('t.csv').as_df()", "reading csv as a DataFrame (as_df)", "data"),
    ("pandas", "import mlrun; ctx = mlrun.get_or_create_ctx('x'); ctx.log_dataset('d', {'a': [1]})",
     "dataset 'd'", "data"),
    ("pyarrow", "import mlrun, pandas; ctx = mlrun.get_or_create_ctx('x'); "
                "ctx.log_dataset('d', pandas.DataFrame({'a': [1]}), format='parquet')", "dataset 'd' as parquet",
     "data"),
])
def test_missing_data_packages_name_the_extra(tmp_path, refused, code, what, extra):
    (tmp_path / "t.csv").write_text("a\n1\n")
    result = without({refused}, code, tmp_path)
    assert result.returncode != 0 and f"{what} needs {refused}; install it with: {install_hint(extra)}" in result.stderr


def test_without_pyarrow_a_dataset_is_csv_with_pandas_stats(tmp_path):
    code = ("import mlrun, pandas; ctx = mlrun.get_or_create_ctx('x', spec={'metadata': {'uid': 'u1'}}); "
            "e = ctx.log_dataset('d', pandas.DataFrame({'a': [1, 2, 3]})); ctx.commit(); "
            "print(e['format'], e['stats']['a']['mean'], mlrun.get_dataitem(e['uri']).as_df()['a'].sum())")
    result = without({"pyarrow"}, code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["csv", "2.0", "6"]


def test_store_uris_parse_and_refuse_by_name():
    assert parse("store://models/p/m#3:prod@abc") == StoreURI("models", "p", "m", 3, "prod", "abc")
    assert parse("store://artifacts/p/dir/file.txt") == StoreURI("artifacts", "p", "dir/file.txt")
    assert str(parse("store://datasets/p/d")) == "store://datasets/p/d:latest"
    assert store_uri("table", "", "t.csv", 2, "", "u") == "store://artifacts/default/t.csv#2:latest@u"
    for bad, message in (("store://things/p/k", "bad store URI"), ("store://models/p", "bad store URI"),
                         ("store://models/p/k#x", "iteration after '#'"), ("s3://b/k", "not a store:// URI")):
        with pytest.raises(InvalidInputError, match=message):
            parse(bad)
    with pytest.raises(NotFoundError, match="artifact store://models/p/none not found in the run store"):
        mlrun.get_dataitem("store://models/p/none")
    with pytest.raises(InvalidInputError, match="cannot write to store://"):
        mlrun.datastore.get_item("store://models/p/none", action="write")


def test_a_bad_store_input_fails_the_run_with_one_line():
    def use(context, data):
        data.as_df()

    run = mlrun.run_start(handler=use, inputs={"data": "store://datasets/p/missing"})
    assert run.state() == "error"
    assert run.error == "NotFoundError: artifact store://datasets/p/missing not found in the run store"


def test_the_store_scheme_is_a_read_only_data_store():
    from mlrun.datastore import get_store
    from mlrun.errors import StoreError

    def log(context):
        context.log_artifact("notes.txt", body="hello")

    run = mlrun.run_start(handler=log, project="p")
    store = get_store("store://artifacts/p/notes.txt")
    uri = "store://artifacts/p/notes.txt"
    assert store.read(uri)[0] == b"hello" and store.stat(uri).size == 5
    assert store.resolve(uri)["uid"] == run.uid and store.local_path(uri) == run.artifact("notes.txt")["target_path"]
    with pytest.raises(StoreError, match="written by logging it"):
        store.open(uri, "wb")
