"""``mlrun run``: run a file or a function URL and record the run (``mlrun.run.run_function``)."""
from __future__ import annotations

import sys

import click

from ..errors import InvalidInputError
from . import TargetCommand, strict_option, user_errors

#: the most iterations a sweep runs, and the most ``--parallel`` starts at once
MAX_SWEEP = 1_000_000
MAX_PARALLEL = 1024


#: the ways ``-o`` shows the finished run (any other ``-o`` value is an artifact target, KEY=TARGET)
RUN_FORMATS = ("summary", "yaml", "json")

#: what each sweep option does, by its long name
SWEEP_HELP = {
    "hyperparam": "Sweep KEY over these values (repeatable): a hyper-parameter run, one iteration per set.",
    "strategy": "Every combination (grid, default), position by position (list) or random draws.",
    "max-iterations": "At most N iterations (random: draw N, default 10).",
    "param-file": "Sweep values from CSV (header, one row per iteration) or JSON ({KEY: [values]}).",
    "selector": "The iteration with the highest (lowest) output KEY gives the run's results.",
    "parallel": "Iterations at once [default: the CPU count; 8 for a URL].",
    "dask": "Run iterations on Dask: 'local' starts a LocalCluster, tcp://HOST:8786 joins one.",
    "stop-condition": "Start no more iterations once one meets EXPR, e.g. 'accuracy >= 0.9'.",
    "max-errors": "Start no more iterations after N failed ones.",
    "seed": "Seed of --strategy random [default: drawn, recorded].",
}


def sweep_options(fn):
    """The hyper-parameter options of ``mlrun run``: apart from ``-x``, each is named as its ``hyper_options`` key."""
    count, text = click.IntRange(1, MAX_SWEEP), SWEEP_HELP
    options = [
        click.option("-x", "--hyperparam", "hyperparams", multiple=True, metavar="KEY=[V1,V2,...]",
                     help=text["hyperparam"]),
        click.option("--strategy", metavar="grid|list|random", help=text["strategy"]),
        click.option("--max-iterations", type=count, metavar="N", help=text["max-iterations"]),
        click.option("--param-file", metavar="PATH", help=text["param-file"]),
        click.option("--selector", metavar="max.KEY|min.KEY", help=text["selector"]),
        click.option("--parallel", type=click.IntRange(1, MAX_PARALLEL), metavar="N", help=text["parallel"]),
        click.option("--dask", metavar="local|ADDRESS", help=text["dask"]),
        click.option("--stop-condition", metavar="EXPR", help=text["stop-condition"]),
        click.option("--max-errors", type=count, metavar="N", help=text["max-errors"]),
        click.option("--seed", type=click.IntRange(-2**63, 2**63 - 1), help=text["seed"]),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command(cls=TargetCommand, context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Parameter; values typed: 5, 0.5, true, null, [1,2], {\"a\":1}, else a string.")
@click.option("-s", "--secrets", "secrets", multiple=True, metavar="KIND=SOURCE",
              help="Secret source: file=PATH (KEY=VALUE lines), env=VAR1,VAR2, or inline=KEY=VALUE[,KEY=VALUE] "
                   "or inline=\"{'KEY': 'VALUE'}\" (its values show in the shell history and the process list).")
@click.option("-i", "--input", "--in-artifact", "inputs", multiple=True, metavar="KEY=URL",
              help="Input object for get_object(KEY).")
@click.option("-o", "--output", "--out-artifact", "outputs", multiple=True, metavar="KEY=TARGET|FORMAT",
              help="Target for artifact KEY; or how the finished run is shown: summary, yaml or json "
                   "[default: a summary on a terminal, else the record as YAML].")
@click.option("--out-path", default="", metavar="DIR",
              help="Where artifacts go (a folder or URL) [default: $MLRUN_OUT_PATH, else the working directory].")
@click.option("--name", default="", help="Run name (default: the name the code gives, else the file's).")
@click.option("--uid", default="", help="Run uid: letters, digits, '_', '-', '.' (default: a new one).")
@click.option("--project", default="", help="Project the run belongs to.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Label the run.")
@click.option("--workflow", default="", metavar="ID", help="Workflow id, recorded as the 'workflow' label.")
@click.option("--save-to", default="", metavar="PATH",
              help="Also write the final record (YAML) to a file or directory.")
@click.option("--kfp", is_flag=True, help="Also write what Kubeflow Pipelines reads: results, metrics, a run report.")
@click.option("--kfp-dir", default=None, metavar="DIR",
              help="Where --kfp writes mlpipeline-metrics.json and mlpipeline-ui-metadata.json "
                   "[default: $MLRUN_KFP_DIR, else $KFPMETA_OUT_DIR, else /].")
@click.option("--kfp-outputs-dir", default=None, metavar="DIR",
              help="Where --kfp writes one file per result or artifact key "
                   "[default: $MLRUN_KFP_OUTPUTS_DIR, else /tmp].")
@click.option("--kfp-output", "kfp_outputs", multiple=True, metavar="KEY=PATH",
              help="With --kfp, also write result (or artifact path) KEY to PATH (KFP v2 output parameters).")
@click.option("--handler", default="", metavar="NAME", help="Run the file's NAME(ctx, **params) instead of the file.")
@click.option("--mode", default="", metavar="noctx",
              help="noctx: the file never calls get_or_create_ctx; it gets the parameters as --KEY VALUE "
                   "arguments and is recorded all the same (its output as the run's log).")
@click.option("--db", "--rundb", "rundb", default=None, envvar="MLRUN_DBPATH", show_envvar=True, metavar="URL",
              help="Run store: a folder, s3://bucket/prefix, postgresql://user@host/db or http(s)://server "
                   "[unset: $MLRUN_META_DBPATH, else the folder ~/.mlrun/db]")
@click.option("-q", "--quiet", is_flag=True, help="Print only the run's uid: no output streamed, no record.")
@strict_option("Refuse a spec the code passes to get_or_create_ctx when it has a field mlrun does not know, "
               "instead of leaving the field out with a warning.")
@sweep_options
@user_errors
def run(target, args, params, secrets, inputs, outputs, out_path, name, uid, project, labels, workflow, save_to,
        handler, mode, rundb, quiet, kfp, kfp_dir, kfp_outputs_dir, kfp_outputs, hyperparams, **hyper_options) -> None:
    """Run TARGET (a Python file, or a function's http(s):// URL) and record the run.

    \b
    Example:
      mlrun run -p p1=5 -s file=secrets.txt -i infile.txt=s3://bucket/infile.txt example.py
      mlrun run -x p1=[1,2,3] -x p2=[a,b] --selector max.accuracy --parallel 2 example.py

    \b
    Environment:
      MLRUN_TOKEN               the run server's token (--db http(s)://...)
      MLRUN_FUNCTION_TOKEN      the function's token (TARGET a URL)
      MLRUN_REMOTE_TIMEOUT      seconds a function call may take in all (default 600)
      MLRUN_REMOTE_MAX_ANSWER   the largest function answer taken, bytes (default 64 MiB)
      MLRUN_LOG_FLUSH_INTERVAL  seconds between log appends to the store (default 1; 0: at the end)
      MLRUN_STOP_TIMEOUT        seconds a stopped run gets before it is killed (default 10)
    """
    from ..hyper.sources import parse_hyperparams
    from ..kfp.outputs import KfpOutputs
    from ..params import parse_pairs, split_pair
    from ..run import RunRequest, run_with_kfp, save_record

    shown, outputs = split_formats(outputs)
    if not kfp and (kfp_dir or kfp_outputs_dir or kfp_outputs):
        raise InvalidInputError("--kfp-dir, --kfp-outputs-dir and --kfp-output need --kfp")
    request = RunRequest(
        target,
        params=parse_pairs(params, "-p"),
        inputs=parse_pairs(inputs, "-i", typed=False),
        outputs=parse_pairs(outputs, "-o", typed=False),
        secrets=[split_pair(s, "-s") for s in secrets],
        name=name, handler=handler, args=args, out_path=out_path, project=project,
        labels=parse_pairs(labels, "--label", typed=False), uid=uid, workflow=workflow,
        rundb=rundb, stream=not quiet, mode=mode,
        hyperparams=parse_hyperparams(hyperparams) if hyperparams else None,
        hyper_options={k: v for k, v in hyper_options.items() if v is not None},
    )
    if kfp:  # its files are written after the run, from the final record
        writer = KfpOutputs(kfp_dir, kfp_outputs_dir, parse_pairs(kfp_outputs, "--kfp-output", typed=False))
        record = run_with_kfp(request, writer)
    else:
        record = request.run()
    show_run(record, "uid" if quiet else shown, rundb)
    if record.state == "error":
        click.echo(f"Error: run {record.uid} failed: {record.status.error}", err=True)
    if save_to:  # after the record and its state are shown: a failure to save is one more line, exit 1
        save_record(record, save_to, request.secret_store().items())
    if record.state == "error":
        sys.exit(1)


def split_formats(outputs: tuple) -> tuple[str | None, list]:
    """``-o`` values as (the format asked for, if any; the artifact targets)."""
    shown = [value for value in outputs if value in RUN_FORMATS]
    if len(shown) > 1:
        raise InvalidInputError(f"-o: one of {', '.join(RUN_FORMATS)}, not {' and '.join(shown)}")
    return (shown[0] if shown else None), [value for value in outputs if value not in RUN_FORMATS]


def show_run(record, fmt: str | None, rundb: str | None) -> None:
    """Print the finished run: its ``uid`` alone, a ``summary``, or the record as ``yaml`` or ``json``.

    Unasked (``fmt`` None), a terminal gets the summary and a pipe or file the record YAML, which scripts read.
    """
    if fmt is None:
        fmt = "summary" if sys.stdout.isatty() else "yaml"
    if fmt == "uid":
        click.echo(record.uid)
    elif fmt == "summary":
        from ..config import default_dbpath
        from .runs import format_run_summary

        click.echo(format_run_summary(record.to_dict(copy=False), rundb or default_dbpath()))
    elif fmt == "json":
        click.echo(record.to_json(indent=2))
    else:
        click.echo(record.to_yaml(), nl=False)
