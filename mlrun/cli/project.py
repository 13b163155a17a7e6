"""``mlrun project``: create or load a project in a folder, and run one of its workflows (``mlrun.projects``)."""
from __future__ import annotations

import sys

import click

from . import user_errors


@click.command()
@click.argument("context", default="./", type=click.Path(file_okay=False))
@click.option("-n", "--name", default="", help="The project's name (a new project) or its new name (a loaded one).")
@click.option("-u", "--url", default="", metavar="URL",
              help="Load the project from URL first: a folder, a project.yaml, a .zip/.tar.gz archive or a git URL "
                   "(git://, file://, a local repository).")
@click.option("-r", "--run", "workflow", default="", metavar="WORKFLOW",
              help="Run this workflow of the project (a name in project.yaml, or a workflow .py file).")
@click.option("-a", "--arguments", multiple=True, metavar="KEY=VALUE", help="A workflow argument; repeatable.")
@click.option("-p", "--artifact-path", default="", help="Where the workflow's artifacts go.")
@click.option("--engine", type=click.Choice(["local", "kfp"]), default=None,
              help="Run the workflow here, step by step (local), or as a KFP pipeline (kfp); default: the "
                   "workflow's own, else local.")
@click.option("--init-git", is_flag=True, default=False, help="Make a new project's folder a git repository.")
@click.option("--user-project", is_flag=True, default=False, help="Append the user's name to the project's name.")
@user_errors
def project(context, name, url, workflow, arguments, artifact_path, engine, init_git, user_project) -> None:
    """Create or load the project in CONTEXT (default ./), and run one of its workflows.

    \b
    Example:
      mlrun project ./ -n my-project
      mlrun project ./ -r main -a lr=0.2 --engine local
    """
    import os

    from ..params import parse_pairs
    from ..projects import PROJECT_FILE, get_or_create_project, load_project

    if url or os.path.isfile(os.path.join(context, PROJECT_FILE)):
        proj = load_project(context, url or None, name=name or None, user_project=user_project)
    elif name:
        proj = get_or_create_project(name, context, init_git=init_git, user_project=user_project)
    else:
        raise click.UsageError(f"no {PROJECT_FILE} in {context}: give -n NAME to create a project, or -u URL")
    click.echo(f"project {proj.name} in {proj.context}: {len(proj.functions)} functions, "
               f"{len(proj.workflows)} workflows")
    if not workflow:
        return
    from ..runtimes.utils import RunError

    path = workflow if workflow.endswith(".py") else ""
    try:
        run = proj.run(name="" if path else workflow, workflow_path=path, arguments=parse_pairs(arguments, "-a"),
                       artifact_path=artifact_path, engine=engine)
    except RunError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    for step in run.steps:
        step = step if isinstance(step, dict) else {"name": step.metadata.name, "uid": step.metadata.uid,
                                                    "state": step.state(), "outputs": step.status.outputs}
        click.echo(f"  {step['name']} {step['uid']} {step['state']} {step.get('outputs', {})}")
    click.echo(f"workflow {run.workflow} {run.run_id} {run.state}")
