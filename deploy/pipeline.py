"""The seed's "My MLRUN pipeline": one step running ``example1.py`` with mlrun, compiled offline.

    python deploy/pipeline.py -o pipeline.yaml                      # image mlrun/mlrun
    MLRUN_IMAGE=registry/my-mlrun:1 python deploy/pipeline.py -o pipeline.yaml

Upload the YAML in the Kubeflow Pipelines UI (or ``kfp.Client().create_run_from_pipeline_package``).
The image needs mlrun and ``example1.py`` in its working directory.  The step's results,
``accuracy`` and the ``test.txt`` artifact's path, are the task's output parameters
(``accuracy``, ``test_txt``).  Needs ``pip install 'mlrun[kfp]'``.

(No ``from __future__ import annotations`` here: kfp reads the pipeline's annotations as types.)
"""
import argparse
import os

from kfp import compiler, dsl

from mlrun.kfp import DEFAULT_IMAGE, mlrun_op

IMAGE = os.environ.get("MLRUN_IMAGE") or DEFAULT_IMAGE


def mlrun_run(p1, save_to):
    """MLRun run"""
    return mlrun_op("example1.py", params={"p1": p1}, outputs=["accuracy", "test.txt"], save_to=save_to,
                    image=IMAGE)


@dsl.pipeline(name="My MLRUN pipeline", description="Shows how to use mlrun.")
def mlrun_pipeline(save_to: str = "./", p1: int = 5):
    mlrun_run(p1, save_to)


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description="Compile the seed's mlrun pipeline to a pipeline YAML file.")
    parser.add_argument("-o", "--output", default="pipeline.yaml", help="the file to write (default: %(default)s)")
    options = parser.parse_args(argv)
    compiler.Compiler().compile(mlrun_pipeline, options.output)
    print(f"wrote {options.output} (image {IMAGE})")


if __name__ == "__main__":
    main()
