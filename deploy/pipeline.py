"""The seed's "My MLRUN pipeline": one step running ``example1.py`` with mlrun, in two forms.

    python deploy/pipeline.py -o pipeline.yaml                      # container step, image mlrun/mlrun
    MLRUN_IMAGE=registry/my-mlrun:1 python deploy/pipeline.py -o pipeline.yaml
    python deploy/pipeline.py --form component -o pipeline.yaml     # Lightweight Python Component
    python deploy/pipeline.py --local -p1 7 --save-to runs/         # run it here, with KFP's local runner

The container form (``mlrun_op``) needs an image with mlrun and ``example1.py`` in its working
directory; the component form (``mlrun_component``) carries ``example1.py`` and installs mlrun
with ``packages_to_install`` (``$MLRUN_KFP_REQUIREMENT``, else a wheel built from this checkout:
see deploy/KFP.md).  Either way the step's results, ``accuracy`` and the ``test.txt`` artifact,
are the task's outputs (``accuracy``, ``test_txt``).  ``--local`` runs the component form with
``kfp.local.SubprocessRunner`` (no Docker) in the current directory, which needs the seed's
``infile.txt``.  Needs ``pip install 'mlrun-lite[kfp]'``.

(No ``from __future__ import annotations`` here: kfp reads the pipeline's annotations as types.)
"""
import argparse
import os
from typing import Callable, NamedTuple, Optional

from kfp import compiler, dsl
from kfp.dsl import Artifact, Metrics

from mlrun.kfp import DEFAULT_IMAGE, mlrun_component, mlrun_op

IMAGE = os.environ.get("MLRUN_IMAGE") or DEFAULT_IMAGE
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "example1.py")


def mlrun_run(p1, save_to):
    """MLRun run"""
    return mlrun_op("example1.py", params={"p1": p1}, outputs=["accuracy", "test.txt"], save_to=save_to,
                    image=IMAGE)


@dsl.pipeline(name="My MLRUN pipeline", description="Shows how to use mlrun.")
def mlrun_pipeline(save_to: str = "./", p1: int = 5):
    mlrun_run(p1, save_to)


class Outputs(NamedTuple):
    accuracy: int
    test_txt: Artifact
    metrics: Metrics


def component_pipeline(requirement: Optional[str] = None):
    """The seed's pipeline with the step as a Lightweight Python Component.

    Built when called, not at import: the step's ``packages_to_install`` (``requirement``, see
    ``mlrun_component``) depends on where it runs, and KFP builds a pipeline when it is defined.
    """

    def mlrun_step(p1, save_to):
        """MLRun run, as a Lightweight Python Component"""
        return mlrun_component(EXAMPLE, params={"p1": p1}, outputs={"accuracy": int, "test.txt": Artifact},
                               save_to=save_to, requirement=requirement)

    @dsl.pipeline(name="My MLRUN pipeline", description="Shows how to use mlrun.")
    def mlrun_component_pipeline(save_to: str = "./", p1: int = 5) -> Outputs:
        mlrun = mlrun_step(p1, save_to)
        return Outputs(accuracy=mlrun.outputs["accuracy"], test_txt=mlrun.outputs["test_txt"],
                       metrics=mlrun.outputs["metrics"])

    return mlrun_component_pipeline


def run_locally(make_pipeline: Callable, arguments: dict, pipeline_root: str = "local_outputs",
                use_venv: bool = False):
    """Run the pipeline ``make_pipeline()`` builds here, with KFP's ``SubprocessRunner``; return the run.

    ``use_venv=False``: the tasks run in this interpreter, which has mlrun, so the steps install
    nothing; ``True``: each task in a fresh virtual environment, where ``packages_to_install``
    installs a wheel of this checkout.  The pipeline is built after the runner is set up, so that
    its steps know which.
    """
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=use_venv), pipeline_root=os.path.abspath(pipeline_root))
    return make_pipeline()(**arguments)


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description="Compile the seed's mlrun pipeline to a pipeline YAML file, "
                                                 "or run it here with KFP's local runner.")
    parser.add_argument("-o", "--output", default="pipeline.yaml", help="the file to write (default: %(default)s)")
    parser.add_argument("--form", choices=["container", "component"], default="container",
                        help="container: mlrun_op, an image with mlrun; component: mlrun_component, a Lightweight "
                             "Python Component (default: %(default)s)")
    parser.add_argument("--local", action="store_true",
                        help="run the component form with kfp.local.SubprocessRunner instead of compiling")
    parser.add_argument("--venv", action="store_true",
                        help="with --local: each task in a fresh virtual environment (installs mlrun into it)")
    parser.add_argument("-p1", "--p1", type=int, default=5, help="the pipeline's p1 (default: %(default)s)")
    parser.add_argument("--save-to", default="./", help="the pipeline's save_to (default: %(default)s)")
    parser.add_argument("--pipeline-root", default="local_outputs",
                        help="with --local: where KFP keeps the tasks' outputs (default: %(default)s)")
    options = parser.parse_args(argv)
    if options.local:
        outputs = run_locally(component_pipeline, {"p1": options.p1, "save_to": options.save_to},
                              options.pipeline_root, options.venv).outputs
        print(f"accuracy: {outputs['accuracy']}")
        print(f"test.txt: {outputs['test_txt'].path}")
        print(f"metrics: {dict(outputs['metrics'].metadata)}")
        return
    pipeline = mlrun_pipeline if options.form == "container" else component_pipeline()
    compiler.Compiler().compile(pipeline, options.output)
    print(f"wrote {options.output}" + (f" (image {IMAGE})" if options.form == "container" else " (component)"))


if __name__ == "__main__":
    main()
