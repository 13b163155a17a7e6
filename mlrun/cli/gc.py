"""``mlrun gc``: list (and with ``--yes`` remove) what unfinished writes left behind (``mlrun.gc``)."""
from __future__ import annotations

import click

from . import user_errors


@click.command()
@click.argument("places", nargs=-1, metavar="[PLACE]...")
@click.option("--db", "--rundb", "rundb", default=None, envvar="MLRUN_DBPATH", metavar="URL",
              help="Run store whose records say what is in use: a folder, s3://bucket/prefix, "
                   "postgresql://user@host/db or http(s)://server (unset: $MLRUN_META_DBPATH, else ~/.mlrun/db).")
@click.option("--older-than", default=3600.0, show_default=True, type=click.FloatRange(0), metavar="SECONDS",
              help="Only leftovers older than this (a younger one may belong to a write in progress); a temp file "
                   "whose writer on this machine is gone counts at any age.")
@click.option("--unreferenced/--no-unreferenced", default=None,
              help="Also files and objects no record points to (default: only in the store's own folder or prefix).")
@click.option("--yes", is_flag=True, default=False, help="Remove them (without it: only list them).")
@user_errors
def gc(places, rundb, older_than, unreferenced, yes) -> None:
    """List leftovers of writes that never finished: temp files of dead writers, incomplete S3 multipart uploads,
    files and objects no run record points to; --yes removes them.

    PLACE is a local folder or s3://bucket/prefix (default: the run store's own folder or prefix).

    \b
    Example:
      mlrun gc s3://bucket/artifacts --older-than 86400          # list
      mlrun gc s3://bucket/artifacts --older-than 86400 --yes    # remove
    """
    from ..gc import find_orphans, remove_orphans

    orphans = find_orphans(places, rundb, older_than, unreferenced)
    for orphan in orphans:
        click.echo(str(orphan))
    if not yes:
        click.echo(f"{len(orphans)} orphan(s) found" + ("; remove them with --yes" if orphans else ""), err=True)
        return
    failed = remove_orphans(orphans)
    for line in failed:
        click.echo(f"cannot remove {line}", err=True)
    click.echo(f"removed {len(orphans) - len(failed)} orphan(s)", err=True)
    if failed:
        raise SystemExit(1)
