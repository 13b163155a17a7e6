"""A small project's files: handlers, a notebook, a two-step workflow, and a project file in MLRun 1.x's layout."""
from __future__ import annotations

import json
from pathlib import Path

HANDLERS = '''
def train(context, lr=0.1, epochs=3):
    loss = 1.0
    for _ in range(epochs):
        loss *= 1 - lr
    context.log_result("accuracy", round(1 - loss / 2, 6))
    context.log_artifact("model.txt", body=f"weights lr={lr} epochs={epochs}\\n")


def validate(context, min_accuracy=0.5):
    model = context.get_object("model.txt").get().decode()
    lr = float(model.split("lr=")[1].split()[0])
    context.log_result("validation_accuracy", round(min_accuracy - lr / 100, 6))
    context.log_artifact("report.txt", body=f"validated {model.strip()} at {min_accuracy}\\n")


def show_secret(context, owner="nobody"):
    token = context.get_secret("API_TOKEN")
    print("token is", token)
    context.log_result("owner", owner)
    context.log_result("seen", f"token={token}")


def noop(context):
    pass
'''

WORKFLOW = '''
import mlrun


def pipeline(lr: float = 0.1, epochs: int = 3):
    project = mlrun.get_current_project()
    train = project.run_function("train", params={"lr": lr, "epochs": epochs},
                                 outputs={"accuracy": float, "model.txt": "Artifact"})
    project.run_function("validate", params={"min_accuracy": train.outputs["accuracy"]},
                         inputs={"model.txt": train.outputs["model.txt"]},
                         outputs={"validation_accuracy": float, "report.txt": "Artifact"})
'''

# MLRun 1.x's workflow form: the project through pipeline_context, outputs by name
LEGACY_WORKFLOW = '''
from mlrun.projects import pipeline_context


def kfpipeline(lr=0.1, epochs=3):
    project = pipeline_context.project
    train = project.run_function("trainer", params={"lr": lr, "epochs": epochs}, outputs=["accuracy", "model.txt"])
    project.run_function("checker", params={"min_accuracy": train.outputs["accuracy"]},
                         inputs={"model.txt": train.outputs["model.txt"]})
'''

# a project file as MLRun 1.x writes it (fields this version does not use included)
PROJECT_1X = '''kind: project
metadata:
  name: legacy-demo
  created: '2024-05-01T10:00:00.000000'
spec:
  description: written by MLRun 1.6
  params:
    lr: 0.3
  functions:
  - url: handlers.py
    name: trainer
    kind: job
    image: mlrun/mlrun
    handler: train
  - name: checker
    spec:
      kind: job
      metadata:
        name: checker
        tag: ''
        project: legacy-demo
      spec:
        command: handlers.py
        args: []
        image: mlrun/mlrun
        default_handler: validate
        build:
          commands: []
        env: []
  workflows:
  - name: main
    path: legacy_workflow.py
    engine: local
  artifacts: []
  artifact_path: artifacts
  source: ''
  subpath: ''
  load_source_on_run: false
  conda: ''
  build:
    commands: []
  custom_packagers: []
  default_image: mlrun/mlrun
status:
  state: online
'''


def write_notebook(path: Path) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# training"]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["def nb_train(context, p1=1):\n", "    context.log_result('double', p1 * 2)\n"]}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def write_project_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handlers.py").write_text(HANDLERS)
    (folder / "workflow.py").write_text(WORKFLOW)
    (folder / "legacy_workflow.py").write_text(LEGACY_WORKFLOW)
    write_notebook(folder / "notebook.ipynb")
    return folder
