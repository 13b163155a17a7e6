"""``mlrun run --kfp`` over a handler logging typed artifacts: each gets the KFP viewer its viewer names."""
import base64
import json
import textwrap

import pytest
from helpers import mlrun_cli

from mlrun.kfp.outputs import INLINE_LIMIT, UI_METADATA_FILE, kfp_ui_metadata
from mlrun.model import RunRecord
from mlrun.rundb import get_run_db

SECRET = "kfp-s3cr3t-77"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

HANDLER = textwrap.dedent("""
    from mlrun.artifacts import ChartArtifact, PlotArtifact, TableArtifact

    def handler(context):
        rows = context.get_param("rows", 3)
        token = context.get_secret("TOKEN")
        context.log_artifact(TableArtifact("scores.csv", body=[[f"m{i}", i / 10] for i in range(rows)],
                                           header=["model", "score"]))
        chart = ChartArtifact("loss.html", header=["epoch", "loss"], options={"title": "loss of " + token})
        for epoch in range(1, rows + 1):
            chart.add_row([epoch, 1 / epoch])
        context.log_artifact(chart)
        context.log_artifact("page.html", body="<h1>a page</h1>", viewer="web-app")
        context.log_artifact("image.png", local_path="image.png", viewer="image")
        context.log_artifact("notes.txt", body="plain")
""")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "handlers.py").write_text(HANDLER)
    (tmp_path / "image.png").write_bytes(PNG)
    (tmp_path / "secrets.txt").write_text(f"TOKEN={SECRET}\n")
    monkeypatch.delenv("MLRUN_KFP_DIR", raising=False)
    monkeypatch.delenv("MLRUN_KFP_OUTPUTS_DIR", raising=False)
    return tmp_path


def test_tables_charts_pages_and_images_get_their_kfp_viewers(workdir, isolated_store):
    result = mlrun_cli("run", "--kfp", "--kfp-dir", str(workdir / "kfp"), "--kfp-outputs-dir", str(workdir / "out"),
                       "-s", "file=secrets.txt", "-q", "--handler", "handler", "handlers.py", cwd=str(workdir))
    assert result.returncode == 0, result.stderr
    text = (workdir / "kfp" / UI_METADATA_FILE).read_text()
    outputs = json.loads(text)["outputs"]
    assert [o["type"] for o in outputs] == ["markdown", "table", "web-app", "web-app", "markdown"]
    assert outputs[1] == {"type": "table", "format": "csv", "storage": "inline", "header": ["model", "score"],
                          "source": "m0,0.0\nm1,0.1\nm2,0.2\n"}
    chart = outputs[2]["source"]
    assert outputs[2]["storage"] == "inline" and "<svg" in chart and chart.count("<circle") == 3
    assert chart == (workdir / "loss.html").read_text() and "loss of" in chart
    assert outputs[3] == {"type": "web-app", "storage": "inline", "source": "<h1>a page</h1>"}
    image = outputs[4]
    assert image["storage"] == "inline"
    assert image["source"] == f"![image.png](data:image/png;base64,{base64.b64encode(PNG).decode()})"
    assert SECRET not in text and SECRET not in (workdir / "loss.html").read_text()

    runs = get_run_db(isolated_store).list_runs()
    record = get_run_db(isolated_store).read_run_data(runs[0]["uid"])
    kinds = {a["key"]: (a["kind"], a["viewer"]) for a in record["status"]["output_artifacts"]}
    assert kinds == {"scores.csv": ("table", "table"), "loss.html": ("chart", "chart"),
                     "page.html": ("", "web-app"), "image.png": ("", "image"), "notes.txt": ("", "")}
    assert "| loss.html |" in outputs[0]["source"] and "| notes.txt |" in outputs[0]["source"]


def test_large_artifacts_are_linked_when_kfp_can_fetch_them_else_only_listed():
    def entry(key, target, size, **more):
        return {"key": key, "target_path": target, "size": size, **more}

    record = RunRecord.from_dict({"status": {"output_artifacts": [
        entry("big.html", "s3://bucket/big.html", INLINE_LIMIT + 1, viewer="chart"),
        entry("big-local.html", "/data/big.html", INLINE_LIMIT + 1, viewer="chart"),
        entry("plot.png", "https://host/plot.png", 10 ** 7, format="png"),
        entry("plot2.png", "s3://bucket/plot2.png", 10 ** 7, format="png"),
        entry("tab.tsv", "/a/tab.tsv", 12, format="tsv"),
        entry("as-text.csv", "/a/as-text.csv", 4, format="csv", viewer="text"),
    ]}})
    contents = {"/a/tab.tsv": b"a\tb\n1\t2,3\n", "/a/as-text.csv": b"a\n1\n"}

    def read(url):
        if url not in contents:
            raise OSError(f"not found: {url}")  # the large ones are never read
        return contents[url]

    outputs = kfp_ui_metadata(record, read)["outputs"][1:]
    assert outputs == [
        {"type": "web-app", "source": "s3://bucket/big.html"},
        {"type": "markdown", "storage": "inline", "source": "![plot.png](https://host/plot.png)"},
        {"type": "table", "format": "csv", "storage": "inline", "header": ["a", "b"], "source": '1,"2,3"\n'},
    ]
