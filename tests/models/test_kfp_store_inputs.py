"""A Kubeflow Pipelines step (KFP's own local runner) whose input is a store:// URI reads the dataset through the
run store and records the version it read."""
import mlrun
from mlrun.rundb import get_run_db

COUNT = "def count(context, data):\n    context.log_output('rows', len(data.as_df()))\n"


def test_a_pipeline_step_reads_a_store_uri_input(tmp_path, isolated_store):
    from kfp import dsl, local
    from test_datasets import gen

    from mlrun.kfp import mlrun_component

    producer = mlrun.run_start(handler=gen, params={"rows": 35}, project="shop", artifact_path=str(tmp_path / "art"))
    assert producer.state() == "completed", producer.error
    (tmp_path / "count.py").write_text(COUNT)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))

    @dsl.pipeline(name="count rows")
    def count_rows(data: str = "store://datasets/shop/dataset") -> int:
        step = mlrun_component(str(tmp_path / "count.py"), handler="count", name="count", project="shop",
                               inputs={"data": data}, outputs={"rows": int}, requirement="")
        return step.outputs["rows"]

    assert count_rows().output == 35
    runs = [r for r in get_run_db(isolated_store).list_runs(project="shop") if r["name"] != producer.metadata.name]
    read = get_run_db(isolated_store).read_run(runs[0]["uid"]).status.input_objects[0]
    assert read["url"] == "store://datasets/shop/dataset" and read["uid"] == producer.uid
    assert read["sha256"] == producer.artifact("dataset")["sha256"]
