"""``mlrun get runs``, ``mlrun get run``, ``mlrun get artifacts``, ``mlrun logs`` and ``mlrun delete run``: reading
the run store."""
from __future__ import annotations

import json
import os

import click

from ..errors import NotFoundError
from ..model import MAX_ITERATION
from ..rundb.base import MAX_LISTED
from ..rundb.filters import filter_help
from . import Group, UsageLine, user_errors

#: the run store a command reads: ``--db URL``, else ``$MLRUN_DBPATH``
db_option = click.option("--db", "--rundb", "rundb", default=None, envvar="MLRUN_DBPATH", metavar="URL",
                         help="Run store: a folder, s3://bucket/prefix, postgresql://user@host/db or http(s)://server "
                              "(unset: $MLRUN_META_DBPATH, else the folder ~/.mlrun/db).")


@click.group(cls=Group)
def get() -> None:
    """Show stored runs."""


@get.command("runs")
@click.option("--name", default=None, help="Only runs with this name.")
@click.option("--project", default=None, help="Only runs of this project.")
@click.option("--label", "labels", multiple=True, metavar="KEY[=VALUE]", help="Only runs with this label (value).")
@click.option("--state", default=None, type=click.Choice(["created", "running", "completed", "error"]),
              help="Only runs in this state.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0, MAX_LISTED),
              help=f"At most this many (0: all; at most {MAX_LISTED:,}).")
@click.option("--iterations", is_flag=True, help="Include hyper-parameter iterations.")
@click.option("--filter", "expr", default=None, metavar="EXPR",
              help="Only runs matching this expression, e.g. \"outputs.accuracy > 0.9 and labels.team = vision\" "
                   f"({filter_help()}).")
@click.option("--sort", default="start_time", show_default=True, metavar="FIELD",
              help="Sort by start_time, last_update, name, state, uid, or the number in outputs.KEY or "
                   "parameters.KEY (runs without one last).")
@click.option("--asc", is_flag=True, help="Ascending order (default: descending, newest or largest first).")
@click.option("--output", "-o", "fmt", default="table", type=click.Choice(["table", "yaml", "json"]),
              show_default=True, help="A table of summaries, or the summaries as YAML or JSON.")
@db_option
@user_errors
def get_runs(name, project, labels, state, limit, iterations, expr, sort, asc, fmt, rundb) -> None:
    """List runs, newest first (or as --sort says)."""
    from ..rundb.filters import FilterError, check_listing_text, parse

    label_filter = {}
    for item in labels:
        key, sep, value = item.partition("=")
        label_filter[key] = value if sep else None
    try:  # a bad filter is a usage error told in one line, before any store is opened
        if expr:
            parse(expr)
        check_listing_text(name=name, project=project, labels=label_filter)
    except FilterError as exc:
        raise UsageLine(f"--{exc.field}: {exc}" if exc.field == "label" else str(exc)) from None
    from ..rundb.liveness import mark_gone

    db = open_store(rundb)
    runs, _ = db.search_runs(expr, sort=sort, desc=not asc, name=name, project=project, labels=label_filter,
                             state=state, limit=limit or None, iterations=iterations)
    mark_gone(db, runs)  # runs whose process is gone are recorded as such when seen
    if not runs and fmt == "table":
        click.echo("no runs match", err=True)
    elif not echo_structured(runs, fmt):
        from ..model import printable

        # stores written by older versions may hold raw bytes: escaped in the text, not walked value by value
        width = terminal_width() if click.get_text_stream("stdout").isatty() else None
        click.echo(printable(format_runs_table(runs, width)))


def open_store(rundb: str | None):
    """The run store a reading command was pointed at; a local folder named with ``--db`` must exist
    (only a run creates a store: a mistyped path is an error, not an empty store)."""
    from click.core import ParameterSource

    from ..rundb import get_run_db

    ctx = click.get_current_context(silent=True)
    given = ctx is not None and ctx.get_parameter_source("rundb") is ParameterSource.COMMANDLINE
    if given and rundb and ("://" not in rundb or rundb.startswith("file://")):
        folder = os.path.expanduser(rundb.removeprefix("file://"))
        if not os.path.isdir(folder):
            raise click.ClickException(f"run store {rundb} not found: no such folder (a run creates it)")
    return get_run_db(rundb)


def full_uid(db, prefix: str) -> str:
    """The uid of the one stored run whose uid starts with ``prefix`` (as a terminal's listing shows them);
    ``prefix`` itself when none does; an error when several do."""
    if len(prefix) < 4 or not prefix.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return prefix
    found = sorted({run["uid"] for run in db.search_runs(f'uid ~ "{prefix}"', limit=50, iterations=True)[0]
                    if run["uid"].startswith(prefix)})
    if len(found) > 1:
        raise click.ClickException(f"uid {prefix} is the start of {len(found)} runs' uids: give more of it")
    return found[0] if found else prefix


def echo_structured(items: list, fmt: str) -> bool:
    """Print ``items`` as JSON or YAML when ``fmt`` asks for it; ``False`` for a table (the caller's)."""
    if fmt == "json":
        click.echo(json.dumps(items, indent=2))
    elif fmt == "yaml":
        from ..model import dump_yaml

        click.echo(dump_yaml(items), nl=False)
    return fmt in ("json", "yaml")


def format_runs_table(runs: list, width: int | None = None) -> str:
    """Runs as a table; a failed run's results column holds its error, in short.

    With ``width`` (a terminal's), uids are cut to 8 characters (``mlrun get run`` takes no prefix: piped, they
    stay whole) and each line to ``width``.
    """
    rows = [("UID", "NAME", "STATE", "START", "RESULTS")]
    for run, under_parent in _children_under_parents(runs):
        uid = (run["uid"][:8] if width else run["uid"]) + (f".{run['iteration']}" if run.get("iteration") else "")
        if under_parent:  # right under its parent an iteration needs no uid
            uid = f"  iteration {run['iteration']}"
        results = ", ".join(f"{k}={v}" for k, v in list(run["outputs"].items())[:4])
        if run["state"] == "error" and run.get("error"):
            results = ", ".join(filter(None, (results, "error: " + short_line(run["error"], 60))))
        rows.append((uid, run["name"], run["state"], run["start_time"][:19].replace("T", " "), results))
    table = aligned(rows)
    return "\n".join(elide(line, width) for line in table.splitlines()) if width else table


def format_run_summary(record: dict, store: str) -> str:
    """A finished run in a few lines for a terminal: what ran, how it ended, what it made, where to see more."""
    meta, status = record["metadata"], record["status"]
    uid = meta["uid"]
    state = status["state"] + _took(status.get("start_time", ""), status.get("last_update", ""))
    rows = [("run", f"{meta['name']} (uid {uid})"), ("state", state)]
    if status.get("iterations"):  # a header row, then one row per iteration
        rows.append(("iterations", str(len(status["iterations"]) - 1)))
    if status.get("outputs"):
        results = ", ".join(f"{k}={v}" for k, v in status["outputs"].items())
        rows.append(("results", elide(results, terminal_width() - 12)))  # all of them: mlrun get run
    for artifact in status.get("output_artifacts") or ():
        rows.append(("artifact", f"{artifact.get('key', '')}: {artifact.get('target_path', '')}"))
    # a failure's error is not repeated here: the command ends with it, after the log and this summary
    rows += [("stored in", _without_password(store)), ("more", f"mlrun get run {uid}")]
    return "\n".join(f"{label + ':':<12}{text}" for label, text in rows)


def _took(start: str, end: str) -> str:
    """`` in 1.2 s`` between two ISO times, or nothing when one is missing."""
    from datetime import datetime

    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return ""
    return f" in {seconds:.1f} s" if seconds < 120 else f" in {seconds / 60:.1f} min"


def _without_password(url: str) -> str:
    """A store URL fit to print: ``postgresql://user:secret@host/db`` loses ``:secret``."""
    import re

    return re.sub(r"^([a-z0-9+.-]+://[^/:@]*):[^/@]*@", r"\1@", url, flags=re.IGNORECASE)


def short_line(text: str, limit: int = 120) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return elide(line, limit)


def elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in "..." when cut."""
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first), at least 40."""
    import shutil

    return max(shutil.get_terminal_size((100, 24)).columns, 40)


def aligned(rows: list) -> str:
    """Rows as text columns, each but the last padded to its widest cell (the last one runs free)."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + str(r[-1]) for r in rows)
    return "\n".join(lines).rstrip()


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


@get.command("artifacts")
@click.option("--name", default="", help="Only artifacts with this key.")
@click.option("--project", default="", help="Only artifacts of this project ('default': of runs with none too).")
@click.option("--tag", default="", help="Only the version holding this tag ('latest': the newest of each key).")
@click.option("--kind", default="", help="Only artifacts of this kind (dataset, model, table, chart, plot, ...).")
@click.option("--category", default="", type=click.Choice(["", "model", "dataset", "other"]),
              help="Only models, datasets or other artifacts.")
@click.option("--label", "labels", multiple=True, metavar="KEY[=VALUE]", help="Only artifacts with this label.")
@click.option("--best-iteration", is_flag=True, help="Leave out the iterations of hyper-parameter runs.")
@click.option("--output", "-o", "fmt", default="table", type=click.Choice(["table", "yaml", "json"]),
              show_default=True, help="A table, or the entries as YAML or JSON.")
@db_option
@user_errors
def get_artifacts(name, project, tag, kind, category, labels, best_iteration, fmt, rundb) -> None:
    """List the artifacts of stored runs, newest first, with their store:// URIs."""
    found = list(open_store(rundb).list_artifacts(name, project, tag, list(labels) or None, kind=kind,
                                                  category=category, best_iteration=best_iteration))
    if not echo_structured(found, fmt):
        from ..model import printable

        rows = [("KEY", "KIND", "SIZE", "URI")] + [
            (a.get("key", ""), a.get("kind") or "artifact", a.get("size", ""), a.get("uri") or a.get("target_path", ""))
            for a in found]
        click.echo(printable(aligned(rows)))


@get.command("run")
@click.argument("uid")
@click.option("--iteration", default=0, type=click.IntRange(0, MAX_ITERATION),
              help="A hyper-parameter iteration of the run.")
@click.option("--output", "-o", "fmt", default="yaml", type=click.Choice(["yaml", "json"]), show_default=True,
              help="The record as YAML or JSON.")
@db_option
@user_errors
def get_run(uid, iteration, fmt, rundb) -> None:
    """Show one run's full record."""
    db = open_store(rundb)
    try:
        record = db.read_run(uid, iteration)
    except NotFoundError:
        record = db.read_run(full_uid(db, uid), iteration)
    click.echo(record.to_yaml() if fmt == "yaml" else record.to_json(indent=2), nl=fmt == "json")


@click.command()
@click.argument("uid")
@db_option
@user_errors
def logs(uid, rundb) -> None:
    """Print a run's log (its captured stdout and stderr)."""
    db = open_store(rundb)
    try:
        log = db.read_log(uid)
    except NotFoundError:
        log = db.read_log(full_uid(db, uid))
    out = click.get_binary_stream("stdout")
    out.write(log)
    out.flush()


@click.group(cls=Group)
def delete() -> None:
    """Delete stored runs."""


@delete.command("run")
@click.argument("uid")
@db_option
@user_errors
def delete_run(uid, rundb) -> None:
    """Delete a run, its iterations and its log."""
    open_store(rundb).del_run(uid)
    click.echo(f"deleted run {uid}")
