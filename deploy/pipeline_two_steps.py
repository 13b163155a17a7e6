"""Two mlrun steps chained in Kubeflow Pipelines: train, then validate what it trained.

    python deploy/pipeline_two_steps.py -o two_steps.yaml          # compile (Lightweight Python Components)
    python deploy/pipeline_two_steps.py --local --lr 0.2            # run here with KFP's local runner
    python deploy/pipeline_two_steps.py --local --sweep             # the training step as a sweep over lr

Both handlers are in ``examples/train_validate.py``.  The training step's ``accuracy`` result becomes
the validation step's ``min_accuracy`` parameter, and its ``model.txt`` artifact the validation
step's ``model.txt`` input (KFP hands the file over).  With ``--sweep`` the training step is one
hyper-parameter run (``-x lr=[...] --selector max.accuracy``): its outputs are the best iteration's,
its iterations table a Dataset (``iteration_results.csv``) and a web page (``iterations``).
Needs ``pip install 'mlrun-lite[kfp]'``; see deploy/KFP.md for what the steps install.

(No ``from __future__ import annotations`` here: kfp reads the pipeline's annotations as types.)
"""
import argparse
import os
from typing import Callable, List, NamedTuple, Optional

from kfp import compiler, dsl
from kfp.dsl import HTML, Artifact, Dataset, Metrics

from mlrun.kfp import mlrun_component

HANDLERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "train_validate.py")


class Outputs(NamedTuple):
    accuracy: float
    model_txt: Artifact
    train_metrics: Metrics
    validation_accuracy: float
    model_summary: str
    passed: bool


class SweepOutputs(NamedTuple):
    accuracy: float
    best_iteration: int
    iteration_results: Dataset
    iterations: HTML
    validation_accuracy: float


def two_steps_pipeline(requirement: Optional[str] = None, save_to: str = ""):
    """Train, then validate: built when called (see ``deploy/pipeline.py``'s ``component_pipeline``)."""

    @dsl.pipeline(name="mlrun train and validate", description="A training step's result and artifact feed "
                                                             "a validation step.")
    def train_and_validate(lr: float = 0.1, epochs: int = 3) -> Outputs:
        train = mlrun_component(HANDLERS, handler="train", name="train", params={"lr": lr, "epochs": epochs},
                                outputs={"accuracy": float, "model.txt": Artifact, "loss.html": HTML},
                                save_to=save_to, requirement=requirement)
        validate = mlrun_component(HANDLERS, handler="validate", name="validate",
                                   params={"min_accuracy": train.outputs["accuracy"]},
                                   inputs={"model.txt": train.outputs["model_txt"]},
                                   outputs={"validation_accuracy": float, "model_summary": str, "passed": bool},
                                   save_to=save_to, requirement=requirement)
        return Outputs(accuracy=train.outputs["accuracy"], model_txt=train.outputs["model_txt"],
                       train_metrics=train.outputs["metrics"],
                       validation_accuracy=validate.outputs["validation_accuracy"],
                       model_summary=validate.outputs["model_summary"], passed=validate.outputs["passed"])

    return train_and_validate


def sweep_pipeline(requirement: Optional[str] = None, save_to: str = "", rates: List[float] = (0.1, 0.3, 0.2)):
    """The training step as one hyper-parameter run over ``rates``; the best model is validated."""

    @dsl.pipeline(name="mlrun sweep and validate", description="A sweep as one step; its best result feeds "
                                                             "a validation step.")
    def sweep_and_validate(epochs: int = 3) -> SweepOutputs:
        train = mlrun_component(HANDLERS, handler="train", name="train", params={"epochs": epochs},
                                hyperparams={"lr": list(rates)}, hyper_options={"selector": "max.accuracy"},
                                outputs={"accuracy": float, "best_iteration": int, "model.txt": Artifact,
                                         "iteration_results.csv": Dataset},
                                save_to=save_to, requirement=requirement)
        validate = mlrun_component(HANDLERS, handler="validate", name="validate",
                                   params={"min_accuracy": train.outputs["accuracy"]},
                                   inputs={"model.txt": train.outputs["model_txt"]},
                                   outputs={"validation_accuracy": float}, save_to=save_to, requirement=requirement)
        return SweepOutputs(accuracy=train.outputs["accuracy"], best_iteration=train.outputs["best_iteration"],
                            iteration_results=train.outputs["iteration_results_csv"],
                            iterations=train.outputs["iterations"],
                            validation_accuracy=validate.outputs["validation_accuracy"])

    return sweep_and_validate


def run_locally(make_pipeline: Callable, arguments: dict, pipeline_root: str = "local_outputs",
                use_venv: bool = False):
    """Run ``make_pipeline()`` with KFP's ``SubprocessRunner`` (see ``deploy/pipeline.py``'s ``run_locally``)."""
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=use_venv), pipeline_root=os.path.abspath(pipeline_root))
    return make_pipeline()(**arguments)


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description="Compile the two-step mlrun pipeline, or run it here with KFP's "
                                                 "local runner.")
    parser.add_argument("-o", "--output", default="two_steps.yaml", help="the file to write (default: %(default)s)")
    parser.add_argument("--sweep", action="store_true", help="the training step as a sweep over lr=[0.1,0.3,0.2]")
    parser.add_argument("--local", action="store_true", help="run with kfp.local.SubprocessRunner instead of compiling")
    parser.add_argument("--venv", action="store_true", help="with --local: each task in a fresh virtual environment")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="the learning rate (default: %(default)s; not with --sweep)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (default: %(default)s)")
    parser.add_argument("--save-to", default="", help="also write each run's record (YAML) to this folder")
    parser.add_argument("--pipeline-root", default="local_outputs",
                        help="with --local: where KFP keeps the tasks' outputs (default: %(default)s)")
    options = parser.parse_args(argv)

    def make():
        if options.sweep:
            return sweep_pipeline(save_to=options.save_to)
        return two_steps_pipeline(save_to=options.save_to)

    if options.local:
        arguments = {"epochs": options.epochs} if options.sweep else {"lr": options.lr, "epochs": options.epochs}
        outputs = run_locally(make, arguments, options.pipeline_root, options.venv).outputs
        for name, value in outputs.items():
            print(f"{name}: {value.path if hasattr(value, 'path') else value}")
        return
    compiler.Compiler().compile(make(), options.output)
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
