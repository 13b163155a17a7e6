"""Typed artifacts: tables, charts and plots render their bodies, and a run records each one's kind and viewer."""
import base64
import hashlib
import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from helpers import run_python

from mlrun import get_or_create_ctx
from mlrun.artifacts import Artifact, ChartArtifact, PlotArtifact, TableArtifact, log_artifact
from mlrun.errors import AccessDeniedError, InvalidInputError, InvalidSpecError, NotFoundError
from mlrun.model import RunRecord
from mlrun.policy import AccessPolicy
from mlrun.rundb import get_run_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class FakeFigure:
    """What a PlotArtifact asks of a figure: ``savefig`` into a stream, in a format."""

    def __init__(self):
        self.saved = []

    def savefig(self, stream, format, bbox_inches=None):
        self.saved.append(format)
        stream.write(PNG if format == "png" else b"<svg xmlns='http://www.w3.org/2000/svg'/>")


class FakeFrame:
    """A DataFrame as far as a TableArtifact uses one (pandas is optional: never imported by mlrun)."""

    def to_csv(self, index, header):
        assert index is False
        names = header if header is not True else ["a", "b"]
        return ",".join(names) + "\n1,2\n"


def test_table_from_rows_text_and_a_dataframe():
    assert TableArtifact("t.csv", body=[[1, "x,y"], [2, None]], header=["n", "s"]).get_body() == 'n,s\n1,"x,y"\n2,\n'
    assert TableArtifact("t.csv", body="1,2\n", header=["a", "b"]).get_body() == "a,b\n1,2\n"
    assert TableArtifact("t.csv", df=FakeFrame()).get_body() == "a,b\n1,2\n"
    assert TableArtifact("t.csv", df=FakeFrame(), header=["x", "y"]).get_body() == "x,y\n1,2\n"
    table = TableArtifact("scores", body=[[1]])
    assert (table.kind, table.viewer, table.format) == ("table", "table", "csv")
    with pytest.raises(InvalidInputError, match="table artifact 't.csv' needs a body"):
        TableArtifact("t.csv")
    with pytest.raises(InvalidInputError, match="'t.csv': body must be CSV text or a list of rows, got int"):
        TableArtifact("t.csv", body=5)
    with pytest.raises(InvalidInputError, match="table artifact 't.csv': a row must be a list of values, got int"):
        TableArtifact("t.csv", body=[[1], 2])
    with pytest.raises(InvalidInputError, match="df must be a pandas DataFrame, got list"):
        TableArtifact("t.csv", df=[[1]]).get_body()


def test_a_dataframe_from_pandas_when_it_is_installed():
    """pandas is optional: with it a real DataFrame, without it one that renders like it."""
    try:
        import pandas
    except ImportError:
        frame = FakeFrame()
    else:
        frame = pandas.DataFrame({"a": [1], "b": [2]})
    assert TableArtifact("t.csv", df=frame).get_body() == "a,b\n1,2\n"


def test_logging_a_table_or_chart_never_imports_pandas_or_matplotlib(tmp_path):
    code = textwrap.dedent("""
        import sys
        from mlrun import get_or_create_ctx
        from mlrun.artifacts import ChartArtifact, TableArtifact
        ctx = get_or_create_ctx("t")
        ctx.log_artifact(TableArtifact("t.csv", body=[[1, 2]], header=["a", "b"]))
        ctx.log_artifact(ChartArtifact("c.html", data=[[1, 2]], header=["x", "y"]))
        print(sorted(m for m in ("pandas", "matplotlib", "numpy") if m in sys.modules))
    """)
    env = {**os.environ, "MLRUN_DBPATH": str(tmp_path / "db")}
    result = run_python(code, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,2\n"


def test_chart_is_a_self_contained_page_with_one_line_per_series():
    chart = ChartArtifact("chart.html", header=["epoch", "loss", "accuracy"], options={"title": "<b>training</b>"})
    assert chart.header == ["epoch", "loss", "accuracy"]
    for epoch in range(1, 6):
        assert chart.add_row([epoch, 1 / epoch, epoch / 10]) is chart
    page = chart.get_body()
    assert (chart.kind, chart.viewer, chart.format) == ("chart", "chart", "html")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and page.count("<polyline") == 2
    assert page.count("<circle") == 10 and "&lt;b&gt;training&lt;/b&gt;" in page and "<b>" not in page
    # nothing to fetch, nothing to run: it shows offline and under default-src 'none'
    assert "<script" not in page and "<style" not in page and "style=" not in page
    assert not re.findall(r"(?:src|href)=", page)
    assert re.findall(r"https?://[^\"']+", page) == ["http://www.w3.org/2000/svg"]  # the SVG namespace, not a fetch
    points = re.search(r'<polyline points="([^"]+)"', page).group(1).split()
    assert len(points) == 5 and float(points[0].split(",")[1]) < float(points[-1].split(",")[1])  # loss goes down
    assert "<td>0.2</td>" in page  # the data as a table too


def test_a_long_chart_stays_small_enough_to_show_inline_in_kfp():
    from mlrun.kfp.outputs import INLINE_LIMIT

    chart = ChartArtifact("long.html", header=["step", "loss", "accuracy"])
    for step in range(1000):
        chart.add_row([step, 1 / (step + 1), step / 1000])
    page = chart.get_body()
    assert len(page.encode()) < INLINE_LIMIT and page.count("<polyline") == 2 and "<circle" not in page
    assert page.count("<tr>") == 101 and "... 900 more rows" in page  # the header and 100 rows, then the note


@pytest.mark.parametrize("kind, marks", [("bar", "<rect"), ("scatter", "<circle")])
def test_chart_types_and_odd_values(kind, marks):
    rows = [["a", 1, None], ["b", "n/a", 3], ["c", float("nan"), 4]]
    page = ChartArtifact("c.html", data=rows, header=["x", "s1", "s2"], options={"chart": kind}).get_body()
    assert page.count(marks) >= 3 and "<polyline" not in page
    assert ">a<" in page and ">c<" in page  # categories label the x axis
    with pytest.raises(InvalidInputError, match="options.chart must be one of line, bar, scatter, got 'pie'"):
        ChartArtifact("c.html", data=rows, options={"chart": "pie"}).get_body()
    assert "<svg" in ChartArtifact("empty.html").get_body()  # an empty chart still renders
    with pytest.raises(InvalidInputError, match="chart artifact 'c.html': a row must be a list of values, got str"):
        ChartArtifact("c.html").add_row("1,2")


def test_plot_artifact_saves_a_figure_as_png_svg_or_html():
    figure = FakeFigure()
    plot = PlotArtifact("plot.png", body=figure)
    assert (plot.kind, plot.viewer, plot.format, plot.get_body()) == ("plot", "image", "png", PNG)
    assert PlotArtifact("plot.svg", body=figure).get_body().startswith(b"<svg")
    page = PlotArtifact("plot.html", body=figure)
    assert page.viewer == "web-app" and base64.b64encode(PNG).decode() in page.get_body()
    assert PlotArtifact("plot", body=figure).format == "png" and figure.saved == ["png", "svg", "png"]
    with pytest.raises(InvalidInputError, match="format must be one of png, svg, html, got 'pdf'"):
        PlotArtifact("plot.pdf", body=figure)
    with pytest.raises(InvalidInputError, match="body must be a matplotlib figure, got str"):
        PlotArtifact("p.png", body="not a figure").get_body()


def test_plot_artifact_of_a_real_matplotlib_figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2])
    ctx = get_or_create_ctx("plots")
    entry = ctx.log_artifact(PlotArtifact("fig.png", body=figure))
    data = Path(entry["target_path"]).read_bytes()
    assert data.startswith(b"\x89PNG") and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert (entry["kind"], entry["viewer"], entry["format"]) == ("plot", "image", "png")


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    code = textwrap.dedent("""
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        from mlrun.artifacts import PlotArtifact
        PlotArtifact("p.png").get_body()
    """)
    result = run_python(code, cwd=tmp_path, timeout=60)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert last == 'ImportError: PlotArtifact without a figure (body) needs matplotlib; install it with: ' \
                   'pip install "mlrun-lite[plots]"'


def test_a_run_records_each_artifacts_kind_and_viewer(tmp_path):
    ctx = get_or_create_ctx("typed")
    (tmp_path / "notes.txt").write_text("notes")
    ctx.log_artifact("notes.txt")
    ctx.log_artifact("page.html", body="<h1>hi</h1>", viewer="web-app", description="a page")
    ctx.log_artifact(TableArtifact("scores.csv", body=[["a", 1]], header=["model", "score"]), labels={"k": "v"})
    ctx.log_artifact(ChartArtifact("chart.html", data=[[1, 2]], header=["x", "y"]))
    ctx.log_artifact(Artifact("raw.csv", body="a\n1\n", viewer="text"))
    ctx.commit()
    record = get_run_db().read_run_data(ctx.uid)
    entries = {a["key"]: a for a in record["status"]["output_artifacts"]}
    assert {k: (a["kind"], a["viewer"], a["format"]) for k, a in entries.items()} == {
        "notes.txt": ("", "", "txt"), "page.html": ("", "web-app", "html"), "scores.csv": ("table", "table", "csv"),
        "chart.html": ("chart", "chart", "html"), "raw.csv": ("", "text", "csv")}
    assert entries["scores.csv"]["labels"] == {"k": "v"} and entries["page.html"]["description"] == "a page"
    assert (tmp_path / "scores.csv").read_text() == "model,score\na,1\n"
    chart = (tmp_path / "chart.html").read_bytes()
    assert entries["chart.html"]["sha256"] == hashlib.sha256(chart).hexdigest()
    assert RunRecord.from_dict(yaml.safe_load(ctx.to_yaml())).status.output_artifacts == \
        record["status"]["output_artifacts"]


def test_arguments_override_an_artifacts_own_without_changing_it():
    ctx = get_or_create_ctx("override")
    table = TableArtifact("t.csv", body=[[1]], description="mine")
    entry = ctx.log_artifact(table, viewer="text", description="given", target_path="elsewhere/t2.csv")
    assert (entry["viewer"], entry["description"]) == ("text", "given")
    assert entry["target_path"] == os.path.abspath("elsewhere/t2.csv") and os.path.isfile("elsewhere/t2.csv")
    assert (table.viewer, table.description, table.target_path) == ("table", "mine", None)
    with pytest.raises(InvalidInputError, match="a TableArtifact renders its own body: give no body or local_path"):
        ctx.log_artifact(table, body="a,b\n")


def test_a_wrong_viewer_or_kind_is_refused_with_one_line():
    ctx = get_or_create_ctx("bad")
    with pytest.raises(InvalidInputError) as info:
        ctx.log_artifact("a.txt", body="x", viewer="pie-chart")
    assert str(info.value) == "artifact viewer must be one of table, chart, web-app, image, text, got 'pie-chart'"
    assert ctx.to_dict()["status"]["output_artifacts"] == []
    record = {"status": {"output_artifacts": [{"key": "a", "kind": 3}]}}
    with pytest.raises(InvalidSpecError, match=r"status.output_artifacts\[0\].kind must be a string, got int"):
        RunRecord.from_dict(record)
    record["status"]["output_artifacts"][0] = {"key": "a", "viewer": ["table"]}
    with pytest.raises(InvalidSpecError, match=r"status.output_artifacts\[0\].viewer must be a string"):
        RunRecord.from_dict(record)


def test_upload_false_records_a_reference_without_copying(tmp_path):
    data = tmp_path / "data" / "big.bin"
    data.parent.mkdir()
    data.write_bytes(b"x" * 1000)
    ctx = get_or_create_ctx("ref", spec={"spec": {"default_output_path": str(tmp_path / "out")}})
    entry = ctx.log_artifact("big.bin", local_path=str(data), upload=False)
    assert entry["target_path"] == str(data) and not (tmp_path / "out").exists()
    assert (entry["size"], entry["sha256"]) == (1000, hashlib.sha256(b"x" * 1000).hexdigest())
    remote = ctx.log_artifact("model", target_path="s3://bucket/models/m.pkl", upload=False, viewer="")
    assert remote["target_path"] == "s3://bucket/models/m.pkl" and "sha256" not in remote and "size" not in remote
    with pytest.raises(InvalidInputError, match="upload=False records a reference to data that exists"):
        ctx.log_artifact("x.txt", body="x", upload=False)
    with pytest.raises(NotFoundError, match="referenced file not found"):
        ctx.log_artifact("gone.txt", local_path=str(tmp_path / "gone.txt"), upload=False)


def test_a_served_run_may_reference_only_what_its_policy_lets_it_read(tmp_path):
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "a.bin").write_bytes(b"a")
    (tmp_path / "private.bin").write_bytes(b"p")
    record = RunRecord.from_dict({"metadata": {"name": "served"}})
    policy = AccessPolicy([str(tmp_path / "allowed")])
    entry = log_artifact(record, "a.bin", local_path=str(tmp_path / "allowed" / "a.bin"), upload=False, policy=policy)
    assert entry["sha256"] == hashlib.sha256(b"a").hexdigest()
    with pytest.raises(AccessDeniedError, match="not allowed to read"):
        log_artifact(record, "p.bin", local_path=str(tmp_path / "private.bin"), upload=False, policy=policy)
    assert [a["key"] for a in record.status.output_artifacts] == ["a.bin"]


def test_rendered_bodies_hide_secret_values_like_the_record(tmp_path):
    secret = "s3cr3t-value-42"
    ctx = get_or_create_ctx("masked", secrets={"TOKEN": secret})
    ctx.log_artifact(TableArtifact("t.csv", body=[["token", secret]], header=["name", secret]))
    ctx.log_artifact(ChartArtifact("c.html", data=[[secret, 1]], header=["x", "y"], options={"title": secret}))
    ctx.log_artifact("raw.txt", body=f"user data {secret}", description=f"about {secret}")
    assert secret not in (tmp_path / "t.csv").read_text() and secret not in (tmp_path / "c.html").read_text()
    assert "token" in (tmp_path / "t.csv").read_text()
    # a body the caller wrote is theirs, stored as given; the record's fields are masked as always
    assert (tmp_path / "raw.txt").read_text() == f"user data {secret}"
    assert secret not in ctx.to_yaml()


def test_hashing_stream_hashes_reused_buffers_across_batches_and_stops_on_error(tmp_path):
    from mlrun.artifacts.writer import HashingStream

    buffer, written = bytearray(100_000), []
    with open(tmp_path / "out", "wb") as target, HashingStream(target) as stream:
        for i in range(40):  # ~4 MB: several batches; the writer refills one buffer each time
            buffer[:] = bytes([i]) * len(buffer)
            stream.write(memoryview(buffer))
            written.append(bytes(buffer))
    data = b"".join(written)
    assert (stream.size, stream.hexdigest) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "out").read_bytes() == data

    with pytest.raises(OSError), open(tmp_path / "bad", "wb") as target, HashingStream(target) as failed:
        failed.write(b"x" * (3 << 20))
        raise OSError("disk full")
    assert not failed._hasher.is_alive() and failed.hexdigest == ""
