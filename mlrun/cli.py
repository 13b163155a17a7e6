"""The ``mlrun`` command line: a thin layer over the Python API (``mlrun.run.run_function``, ``mlrun.rundb``)."""
from __future__ import annotations

import functools
import json
import sys

import click

from .errors import InvalidInputError, MLRunError


def user_errors(fn):
    """Show mlrun errors as one line: usage errors exit 2, failures exit 1; no tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InvalidInputError as exc:
            raise click.UsageError(str(exc)) from None
        except (MLRunError, ImportError, OSError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


class LazyGroup(click.Group):
    """Commands that live in other modules are imported only when invoked (``--help`` stays fast)."""

    #: command name -> "module:attribute"
    lazy_commands: dict = {}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.lazy_commands])

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            import importlib

            module_name, _, attr = self.lazy_commands[name].partition(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)


LazyGroup.lazy_commands = {
    # "name": "mlrun.module:command",
}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlrun", message="mlrun %(version)s")
def cli() -> None:
    """Run ML code anywhere with one run context, and record every run.

    \b
    Runs are stored in $MLRUN_DBPATH (default ~/.mlrun/db).
    """


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Parameter; values typed: 5, 0.5, true, null, [1,2], {\"a\":1}, else a string.")
@click.option("-s", "--secrets", "secrets", multiple=True, metavar="KIND=SOURCE",
              help="Secret source: file=PATH (KEY=VALUE lines) or env=VAR1,VAR2.")
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=URL", help="Input object for get_object(KEY).")
@click.option("-o", "--output", "outputs", multiple=True, metavar="KEY=TARGET", help="Target for artifact KEY.")
@click.option("--out-path", default="", help="Where artifacts go (default: the working directory).")
@click.option("--name", default="", help="Run name (default: the name the code gives, else the file's).")
@click.option("--uid", default="", help="Run uid (default: a new one).")
@click.option("--project", default="", help="Project the run belongs to.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Label the run.")
@click.option("--workflow", default="", metavar="ID", help="Workflow id, recorded as the 'workflow' label.")
@click.option("--save-to", default="", metavar="PATH", help="Also write the final record (YAML) to a file or directory.")
@click.option("--handler", default="", metavar="NAME", help="Call NAME(ctx) from the file instead of running it.")
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL",
              help="Run store: a directory, s3://... or http(s)://... [env: MLRUN_DBPATH]")
@click.option("-q", "--quiet", is_flag=True, help="Do not stream the run's output or print the record.")
@user_errors
def run(target, args, params, secrets, inputs, outputs, out_path, name, uid, project, labels, workflow, save_to,
        handler, dbpath, quiet) -> None:
    """Run TARGET (a Python file, or a function's http(s):// URL) and record the run.

    \b
    Example:
      mlrun run -p p1=5 -s file=secrets.txt -i infile.txt=s3://bucket/infile.txt example.py
    """
    from .params import parse_pairs, split_pair
    from .run import run_function

    record = run_function(
        target,
        params=parse_pairs(params, "-p"),
        inputs=parse_pairs(inputs, "-i", typed=False),
        outputs=parse_pairs(outputs, "-o", typed=False),
        secrets=[split_pair(s, "-s") for s in secrets],
        name=name, handler=handler, args=args, out_path=out_path, project=project,
        labels=parse_pairs(labels, "--label", typed=False), uid=uid, workflow=workflow, save_to=save_to,
        rundb=dbpath, stream=not quiet,
    )
    if not quiet:
        click.echo(record.to_yaml(), nl=False)
    if record.state == "error":
        click.echo(f"Error: run {record.uid} failed: {record.status.error}", err=True)
        sys.exit(1)


@cli.group()
def get() -> None:
    """Show stored runs."""


@get.command("runs")
@click.option("--name", default=None, help="Only runs with this name.")
@click.option("--project", default=None, help="Only runs of this project.")
@click.option("--label", "labels", multiple=True, metavar="KEY[=VALUE]", help="Only runs with this label (value).")
@click.option("--state", default=None, type=click.Choice(["created", "running", "completed", "error"]))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=0), help="At most this many (0: all).")
@click.option("--iterations", is_flag=True, help="Include hyper-parameter iterations.")
@click.option("--output", "-o", "fmt", default="table", type=click.Choice(["table", "yaml", "json"]),
              show_default=True)
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL", help="Run store.")
@user_errors
def get_runs(name, project, labels, state, limit, iterations, fmt, dbpath) -> None:
    """List runs, newest first."""
    from .rundb import get_run_db

    label_filter = {}
    for item in labels:
        key, sep, value = item.partition("=")
        label_filter[key] = value if sep else None
    runs = get_run_db(dbpath).list_runs(name=name, project=project, labels=label_filter, state=state,
                                        limit=limit or None, iterations=iterations)
    if fmt == "json":
        click.echo(json.dumps(runs, indent=2))
    elif fmt == "yaml":
        from .model import dump_yaml

        click.echo(dump_yaml(runs), nl=False)
    else:
        click.echo(format_runs_table(runs))


def format_runs_table(runs: list) -> str:
    rows = [("UID", "NAME", "STATE", "START", "RESULTS")]
    for run in runs:
        uid = run["uid"] + (f".{run['iteration']}" if run.get("iteration") else "")
        results = ", ".join(f"{k}={v}" for k, v in list(run["outputs"].items())[:4])
        rows.append((uid, run["name"], run["state"], run["start_time"][:19].replace("T", " "), results))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[4] for r in rows).rstrip()


@get.command("run")
@click.argument("uid")
@click.option("--iteration", default=0, type=int, help="A hyper-parameter iteration of the run.")
@click.option("--output", "-o", "fmt", default="yaml", type=click.Choice(["yaml", "json"]), show_default=True)
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL", help="Run store.")
@user_errors
def get_run(uid, iteration, fmt, dbpath) -> None:
    """Show one run's full record."""
    from .model import RunRecord
    from .rundb import get_run_db

    record = RunRecord.from_dict(get_run_db(dbpath).read_run(uid, iteration))
    click.echo(record.to_yaml() if fmt == "yaml" else record.to_json(indent=2), nl=fmt == "json")


@cli.command()
@click.argument("uid")
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL", help="Run store.")
@user_errors
def logs(uid, dbpath) -> None:
    """Print a run's log (its captured stdout and stderr)."""
    from .rundb import get_run_db

    out = click.get_binary_stream("stdout")
    out.write(get_run_db(dbpath).get_log(uid))
    out.flush()


@cli.group()
def delete() -> None:
    """Delete stored runs."""


@delete.command("run")
@click.argument("uid")
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL", help="Run store.")
@user_errors
def delete_run(uid, dbpath) -> None:
    """Delete a run, its iterations and its log."""
    from .rundb import get_run_db

    get_run_db(dbpath).del_run(uid)
    click.echo(f"deleted run {uid}")


def main() -> None:
    cli(prog_name="mlrun")


if __name__ == "__main__":
    main()
