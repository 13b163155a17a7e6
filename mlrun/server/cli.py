"""``mlrun server``: the command line for the run server (kept light: Flask loads only when it starts)."""
from __future__ import annotations

import click

from ..cli import user_errors
from ..errors import InvalidInputError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves every interface (set a token then).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--store", default=None, envvar="MLRUN_DBPATH", metavar="PATH_OR_URL",
              help="Run store to serve: a directory or s3://bucket/prefix. [env: MLRUN_DBPATH; default: ~/.mlrun/db]")
@click.option("--token", default=None, envvar="MLRUN_TOKEN", metavar="TOKEN",
              help="Require this token (API: 'Authorization: Bearer TOKEN'; UI: a login page). "
                   "Prefer the environment variable: a command line is visible to other users. [env: MLRUN_TOKEN]")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 512), help="Requests served at once.")
@user_errors
def server(host, port, store, token, threads) -> None:
    """Serve the run store over HTTP, with a web UI.

    Other machines store their runs here with MLRUN_DBPATH=http://HOST:PORT (and MLRUN_TOKEN);
    a browser at the same address lists, charts and compares runs.

    \b
    Example:
      MLRUN_TOKEN=s3cret mlrun server --host 0.0.0.0 --port 8080 --store ~/.mlrun/db
    """
    if store and store.split("://", 1)[0].lower() in ("http", "https"):
        raise InvalidInputError(f"--store {store!r} is a run server itself; serve a directory or s3:// store "
                                "(is MLRUN_DBPATH pointing at a server? pass --store)")
    import logging

    from .app import create_app, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(store, token=token or None)
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host} without a token: anyone who can reach it can read and change runs",
                   err=True)
    serve(app, host=host, port=port, threads=threads, announce=click.echo)
