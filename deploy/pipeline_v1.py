"""The seed's "My MLRUN pipeline" for KFP 1.x: a ``dsl.ContainerOp`` compiled by kfp SDK 1.8 to an Argo workflow.

    pip install 'kfp==1.8.*'             # in its own virtual environment: kfp 1.8 and 2.x do not mix
    python deploy/pipeline_v1.py -o pipeline_v1.yaml

The step runs ``python -m mlrun run --kfp`` in an image with mlrun and ``example1.py``
(``$MLRUN_IMAGE``, default ``mlrun/mlrun``); Argo's run id (``{{workflow.uid}}``) is the run's
``workflow`` label, and ``file_outputs`` point at the files ``--kfp`` writes, so ``accuracy`` and
``test_txt`` are the task's outputs.  KFP 1.x also reads ``/mlpipeline-metrics.json`` and
``/mlpipeline-ui-metadata.json`` from the step by itself.  This file imports kfp 1.8 only, not mlrun.
"""
import argparse
import os

from kfp import compiler, dsl

IMAGE = os.environ.get("MLRUN_IMAGE") or "mlrun/mlrun"


def mlrun_run(p1, save_to):
    """MLRun run"""
    return dsl.ContainerOp(
        name="mlrun",
        image=IMAGE,
        command=["python", "-m", "mlrun", "run", "--kfp", "-p", f"p1={p1}", "--save-to", save_to,
                 "--workflow", "{{workflow.uid}}", "example1.py"],
        file_outputs={"accuracy": "/tmp/accuracy", "test_txt": "/tmp/test.txt"},
    )


@dsl.pipeline(name="My MLRUN pipeline", description="Shows how to use mlrun.")
def mlrun_pipeline(save_to="./", p1=5):
    mlrun = mlrun_run(p1, save_to)  # noqa: F841 (the seed names its step)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Compile the seed's mlrun pipeline with kfp 1.8 (an Argo workflow).")
    parser.add_argument("-o", "--output", default="pipeline_v1.yaml", help="the file to write (default: %(default)s)")
    options = parser.parse_args(argv)
    compiler.Compiler().compile(mlrun_pipeline, options.output)
    print(f"wrote {options.output} (kfp 1.8, image {IMAGE})")


if __name__ == "__main__":
    main()
