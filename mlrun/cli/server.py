"""``mlrun server``: the command line for the run server (kept light: Flask loads only when it starts)."""
from __future__ import annotations

import os

import click

from ..errors import InvalidInputError
from ..server.limits import MAX_BODY, MAX_RECORD
from . import UsageLine, user_errors


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves every interface. Any address but a loopback one needs "
                   "a token (or --insecure).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--store", default=None, envvar="MLRUN_DBPATH", metavar="PATH_OR_URL",
              help="Run store to serve: a directory, s3://bucket/prefix or postgresql://user@host/db (password: "
                   "PGPASSWORD, ~/.pgpass or MLRUN_PG_PASSWORD rather than in the URL). "
                   "Default: the folder ~/.mlrun/db.")
@click.option("--token", default=None, envvar="MLRUN_TOKEN", metavar="TOKEN",
              help="Require this token (API: 'Authorization: Bearer TOKEN'; UI: a login page). "
                   "Prefer the environment variable: a command line is visible to other users.")
@click.option("--insecure", is_flag=True, default=False, envvar="MLRUN_SERVER_INSECURE",
              help="Serve a non-loopback address without a token: anyone who can reach it reads and changes runs.")
@click.option("--artifact-root", "artifact_roots", multiple=True, metavar="PREFIX",
              help="Serve artifact content (downloads, previews) from under PREFIX: a directory, "
                   "s3://bucket/prefix or https://host/prefix; repeatable. The store's own folder or prefix "
                   "always is one; an artifact stored anywhere else is refused (403), whatever its record says. "
                   "[env: MLRUN_ARTIFACT_ROOTS, comma-separated]")
@click.option("--max-body-size", default=MAX_BODY, show_default=True, envvar="MLRUN_SERVER_MAX_BODY",
              type=click.IntRange(1), metavar="BYTES",
              help="Refuse request bodies larger than this (413).")
@click.option("--max-record-size", default=MAX_RECORD, show_default=True, envvar="MLRUN_SERVER_MAX_RECORD",
              type=click.IntRange(1), metavar="BYTES",
              help="Refuse to store a run record larger than this as JSON (413).")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 512),
              help="Requests served at once (by each worker).")
@click.option("--workers", default=1, show_default=True, envvar="MLRUN_SERVER_WORKERS", type=click.IntRange(1, 64),
              help="Server processes sharing the port. Each is stateless: every answer is read from the store, "
                   "so any worker serves any request. Meant for postgresql:// stores; a directory store also takes "
                   "several (SQLite in WAL mode serializes writers across processes, so writes do not scale).")
@click.option("--behind-tls", is_flag=True, default=False, envvar="MLRUN_SERVER_BEHIND_TLS",
              help="Browsers reach the server over HTTPS through a TLS proxy: the login cookie is marked Secure.")
@user_errors
def server(host, port, store, token, insecure, artifact_roots, max_body_size, max_record_size, threads,
           workers, behind_tls) -> None:
    """Serve the run store over HTTP, with a web UI.

    Other machines store their runs here with MLRUN_DBPATH=http://HOST:PORT (and MLRUN_TOKEN);
    a browser at the same address lists, charts and compares runs.

    \b
    Example:
      MLRUN_TOKEN=s3cret mlrun server --host 0.0.0.0 --port 8080 --store ~/.mlrun/db \\
          --artifact-root /data/artifacts
    """
    if store and store.split("://", 1)[0].lower() in ("http", "https"):
        raise InvalidInputError(f"--store {store!r} is a run server itself; serve a directory or s3:// store "
                                "(is MLRUN_DBPATH pointing at a server? pass --store)")
    from ..adapters.wsgi import check_listen
    from ..policy import is_loopback

    try:  # checked before anything binds: an open server is never up, even for a moment
        check_listen(host, token, insecure, token_env="MLRUN_TOKEN")
    except InvalidInputError as exc:
        raise UsageLine(str(exc)) from None
    if not artifact_roots:
        artifact_roots = [root for root in os.environ.get("MLRUN_ARTIFACT_ROOTS", "").split(",") if root.strip()]
    import logging

    from ..server.app import create_app, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(store, token=token or None, artifact_roots=artifact_roots, max_body=max_body_size,
                     max_record=max_record_size, behind_tls=behind_tls)
    if not token and not is_loopback(host):
        click.echo(f"warning: serving on {host} without a token (--insecure): anyone who can reach it can read "
                   "and change runs", err=True)
    serve(app, host=host, port=port, threads=threads, workers=workers, announce=click.echo)
