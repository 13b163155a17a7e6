"""Projects (MLRun 1.x): a folder with ``project.yaml`` naming its functions, parameters, artifacts and workflows.

    project = mlrun.get_or_create_project("tutorial", "./", user_project=True)
    project.set_function("trainer.py", name="trainer", handler="train")
    run = project.run_function("trainer", params={"p1": 5})
    project.set_workflow("main", "workflow.py"); project.run("main", engine="local")

``project`` holds the project object and how it is made and loaded (``new_project``, ``get_or_create_project``,
``load_project``, ``get_current_project``); ``source`` brings a project's files into its context folder (a folder,
an archive, a git repository); ``pipelines`` runs workflows (engines ``local`` and ``kfp``).
"""
from __future__ import annotations

from .pipelines import pipeline_context
from .project import (
    PROJECT_FILE,
    MlrunProject,
    get_current_project,
    get_or_create_project,
    load_project,
    new_project,
    run_function,
    validate_project_name,
)

__all__ = ["MlrunProject", "new_project", "get_or_create_project", "load_project", "get_current_project",
           "pipeline_context", "run_function", "validate_project_name", "PROJECT_FILE"]
