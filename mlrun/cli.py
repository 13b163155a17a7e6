"""The ``mlrun`` command line: a thin layer over the Python API (``mlrun.run.run_function``, ``mlrun.rundb``)."""
from __future__ import annotations

import functools
import json
import sys

import click

from .errors import InvalidInputError, MLRunError
from .model import MAX_ITERATION

#: the most runs ``get runs --limit`` lists, and the most iterations a sweep runs or ``--parallel`` starts at once
MAX_LISTED = 1_000_000
MAX_SWEEP = 1_000_000
MAX_PARALLEL = 1024


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


def refuse_undecodable(command: click.Command) -> click.Command:
    """Make ``command`` refuse, before it does anything, an argument or option value that is not valid UTF-8.

    Python hands such bytes over as lone surrogates (``-p p1=$'\\xff'``): text that cannot be printed,
    stored as YAML or shown on a page.  The error names the option (``-p: not valid UTF-8 text``), exit 2.
    """
    if getattr(command, "_refuses_undecodable", False) or command.callback is None:
        return command
    callback, params = command.callback, command.params

    @functools.wraps(callback)
    def checked(*args, **kwargs):
        for param in params:
            if not _is_text(kwargs.get(param.name)):
                name = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
                raise click.UsageError(f"{name}: not valid UTF-8 text")
        return callback(*args, **kwargs)

    command.callback, command._refuses_undecodable = checked, True
    return command


def _is_text(value) -> bool:
    """False for a string (or a tuple of them, as repeated options give) holding lone surrogates."""
    if isinstance(value, (tuple, list)):
        return all(_is_text(item) for item in value)
    if not isinstance(value, str) or value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Group(click.Group):
    """A command group whose commands refuse arguments that are not valid UTF-8 (``refuse_undecodable``)."""

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        return refuse_undecodable(command) if command is not None and not isinstance(command, click.Group) \
            else command


class LazyGroup(Group):
    """Commands that live in other modules are imported only when invoked (``--help`` stays fast)."""

    #: command name -> "module:attribute"
    lazy_commands: dict = {}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.lazy_commands])

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            from .plugins import load

            return refuse_undecodable(load(self.lazy_commands[name]))
        return super().get_command(ctx, name)


LazyGroup.lazy_commands = {
    # "name": "mlrun.module:command",
    "serve": "mlrun.adapters.cli:serve",
    "function-config": "mlrun.adapters.cli:function_config",
    "server": "mlrun.server.cli:server",
}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlrun", message="mlrun %(version)s")
def cli() -> None:
    """Run ML code anywhere with one run context, and record every run.

    \b
    Runs are stored in $MLRUN_DBPATH (default ~/.mlrun/db).
    """


def sweep_options(fn):
    """The hyper-parameter options of ``mlrun run``: apart from ``-x``, each is named as its ``hyper_options`` key."""
    options = [
        click.option("-x", "--hyperparam", "hyperparams", multiple=True, metavar="KEY=[V1,V2,...]",
                     help="Sweep KEY over these values (repeatable): a hyper-parameter run, one iteration per set."),
        click.option("--strategy", default=None, metavar="grid|list|random",
                     help="Every combination (grid, default), position by position (list) or random draws."),
        click.option("--max-iterations", type=click.IntRange(1, MAX_SWEEP), default=None, metavar="N",
                     help="At most N iterations (random: draw N, default 10)."),
        click.option("--param-file", default=None, metavar="PATH",
                     help="Sweep values from CSV (header, one row per iteration) or JSON ({KEY: [values]})."),
        click.option("--selector", default=None, metavar="max.KEY|min.KEY",
                     help="The iteration with the highest (lowest) output KEY gives the run's results."),
        click.option("--parallel", type=click.IntRange(1, MAX_PARALLEL), default=None, metavar="N",
                     help="Iterations at once [default: the CPU count; 8 for a URL]."),
        click.option("--dask", default=None, metavar="local|ADDRESS",
                     help="Run iterations on Dask: 'local' starts a LocalCluster, tcp://HOST:8786 joins one."),
        click.option("--stop-condition", default=None, metavar="EXPR",
                     help="Start no more iterations once one meets EXPR, e.g. 'accuracy >= 0.9'."),
        click.option("--max-errors", type=click.IntRange(1, MAX_SWEEP), default=None, metavar="N",
                     help="Start no more iterations after N failed ones."),
        click.option("--seed", type=click.IntRange(-2**63, 2**63 - 1), default=None, help="Seed of --strategy random [default: drawn, recorded]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


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
@click.option("--kfp", is_flag=True, help="Also write what Kubeflow Pipelines reads: results, metrics, a run report.")
@click.option("--kfp-dir", default=None, metavar="DIR",
              help="Where --kfp writes mlpipeline-metrics.json and mlpipeline-ui-metadata.json "
                   "[default: $MLRUN_KFP_DIR, else /].")
@click.option("--kfp-outputs-dir", default=None, metavar="DIR",
              help="Where --kfp writes one file per result or artifact key [default: $MLRUN_KFP_OUTPUTS_DIR, else /tmp].")
@click.option("--kfp-output", "kfp_outputs", multiple=True, metavar="KEY=PATH",
              help="With --kfp, also write result (or artifact path) KEY to PATH (KFP v2 output parameters).")
@click.option("--handler", default="", metavar="NAME", help="Call NAME(ctx) from the file instead of running it.")
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL",
              help="Run store: a directory, s3://... or http(s)://... [env: MLRUN_DBPATH]")
@click.option("-q", "--quiet", is_flag=True, help="Do not stream the run's output or print the record.")
@sweep_options
@user_errors
def run(target, args, params, secrets, inputs, outputs, out_path, name, uid, project, labels, workflow, save_to,
        handler, dbpath, quiet, kfp, kfp_dir, kfp_outputs_dir, kfp_outputs, hyperparams, **hyper_options) -> None:
    """Run TARGET (a Python file, or a function's http(s):// URL) and record the run.

    \b
    Example:
      mlrun run -p p1=5 -s file=secrets.txt -i infile.txt=s3://bucket/infile.txt example.py
      mlrun run -x p1=[1,2,3] -x p2=[a,b] --selector max.accuracy --parallel 2 example.py
    """
    from .hyper.sources import parse_hyperparams
    from .kfp.outputs import KfpOutputs
    from .params import parse_pairs, split_pair
    from .run import run_function

    if not kfp and (kfp_dir or kfp_outputs_dir or kfp_outputs):
        raise InvalidInputError("--kfp-dir, --kfp-outputs-dir and --kfp-output need --kfp")
    record = run_function(
        target,
        params=parse_pairs(params, "-p"),
        inputs=parse_pairs(inputs, "-i", typed=False),
        outputs=parse_pairs(outputs, "-o", typed=False),
        secrets=[split_pair(s, "-s") for s in secrets],
        name=name, handler=handler, args=args, out_path=out_path, project=project,
        labels=parse_pairs(labels, "--label", typed=False), uid=uid, workflow=workflow, save_to=save_to,
        rundb=dbpath, stream=not quiet,
        kfp=KfpOutputs(kfp_dir, kfp_outputs_dir, parse_pairs(kfp_outputs, "--kfp-output", typed=False)) if kfp else None,
        hyperparams=parse_hyperparams(hyperparams) if hyperparams else None,
        hyper_options={k: v for k, v in hyper_options.items() if v is not None},
    )
    if not quiet:
        click.echo(record.to_yaml(), nl=False)
    if record.state == "error":
        click.echo(f"Error: run {record.uid} failed: {record.status.error}", err=True)
        sys.exit(1)


@cli.group(cls=Group)
def get() -> None:
    """Show stored runs."""


@get.command("runs")
@click.option("--name", default=None, help="Only runs with this name.")
@click.option("--project", default=None, help="Only runs of this project.")
@click.option("--label", "labels", multiple=True, metavar="KEY[=VALUE]", help="Only runs with this label (value).")
@click.option("--state", default=None, type=click.Choice(["created", "running", "completed", "error"]))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0, MAX_LISTED),
              help=f"At most this many (0: all; at most {MAX_LISTED:,}).")
@click.option("--iterations", is_flag=True, help="Include hyper-parameter iterations.")
@click.option("--filter", "expr", default=None, metavar="EXPR",
              help="Only runs matching this expression, e.g. \"outputs.accuracy > 0.9 and labels.team = vision\" "
                   "(fields: name, project, state, uid, iteration, start_time, end_time, labels.KEY, outputs.KEY, "
                   "parameters.KEY; operators = != < <= > >= ~ (contains); and, or, not, parentheses).")
@click.option("--sort", default="start_time", show_default=True, metavar="FIELD",
              help="Sort by start_time, last_update, name, state, uid, or the number in outputs.KEY or "
                   "parameters.KEY (runs without one last).")
@click.option("--asc", is_flag=True, help="Ascending order (default: descending, newest or largest first).")
@click.option("--output", "-o", "fmt", default="table", type=click.Choice(["table", "yaml", "json"]),
              show_default=True)
@click.option("--db", "dbpath", default=None, envvar="MLRUN_DBPATH", metavar="URL", help="Run store.")
@user_errors
def get_runs(name, project, labels, state, limit, iterations, expr, sort, asc, fmt, dbpath) -> None:
    """List runs, newest first (or as --sort says)."""
    from .rundb import get_run_db

    label_filter = {}
    for item in labels:
        key, sep, value = item.partition("=")
        label_filter[key] = value if sep else None
    runs, _ = get_run_db(dbpath).search_runs(expr, sort=sort, desc=not asc, name=name, project=project,
                                             labels=label_filter, state=state, limit=limit or None,
                                             iterations=iterations)
    if fmt == "json":
        click.echo(json.dumps(runs, indent=2))
    elif fmt == "yaml":
        from .model import dump_yaml

        click.echo(dump_yaml(runs), nl=False)
    else:
        from .model import printable

        click.echo(format_runs_table(printable(runs)))  # stores written by older versions may hold raw text


def format_runs_table(runs: list) -> str:
    rows = [("UID", "NAME", "STATE", "START", "RESULTS")]
    for run, under_parent in _children_under_parents(runs):
        uid = run["uid"] + (f".{run['iteration']}" if run.get("iteration") else "")
        if under_parent:  # right under its parent an iteration needs no uid
            uid = f"  iteration {run['iteration']}"
        results = ", ".join(f"{k}={v}" for k, v in list(run["outputs"].items())[:4])
        rows.append((uid, run["name"], run["state"], run["start_time"][:19].replace("T", " "), results))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[4] for r in rows).rstrip()


def _children_under_parents(runs: list):
    """``(run, under_parent)`` pairs: hyper-parameter iterations follow their listed parent, in iteration order."""
    listed = {run["uid"] for run in runs if not run.get("iteration")}
    children: dict = {}
    for run in runs:
        if run.get("iteration") and run["uid"] in listed:
            children.setdefault(run["uid"], []).append(run)
    for run in runs:
        if not run.get("iteration"):
            yield run, False
            for child in sorted(children.get(run["uid"], ()), key=lambda c: c["iteration"]):
                yield child, True
        elif run["uid"] not in listed:
            yield run, False


@get.command("run")
@click.argument("uid")
@click.option("--iteration", default=0, type=click.IntRange(0, MAX_ITERATION),
              help="A hyper-parameter iteration of the run.")
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


@cli.group(cls=Group)
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
