"""``mlrun serve`` and ``mlrun function-config``: serving a handler, and deploying it to nuclio.

Loaded only when one of these commands runs (``mlrun.cli.COMMANDS``); the work is done by
``mlrun.adapters.flask.serve`` and ``mlrun.deploy.nuclio.function_config``.
"""
from __future__ import annotations

import click

from ..config import OUT_PATH_ENV
from ..errors import InvalidInputError
from ..protocol import DEFAULT_MAX_BODY_SIZE, TOKEN_ENV
from . import UsageLine, strict_option, user_errors


def serving_options(fn):
    """The options every served function takes (``mlrun serve``, ``mlrun serve-model``): where it listens,
    who may call it, how large a request may be, what it may read and write."""
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, envvar="MLRUN_SERVE_HOST", show_envvar=True,
                     help="Address to listen on (0.0.0.0: every interface). Any address but loopback needs a token "
                          "(or --insecure)."),
        click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
                     envvar="MLRUN_SERVE_PORT", show_envvar=True, help="Port to listen on (0: a free one)."),
        click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 1024),
                     envvar="MLRUN_SERVE_THREADS", show_envvar=True, help="Requests served at once."),
        click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256),
                     envvar="MLRUN_SERVE_WORKERS", show_envvar=True,
                     help="Processes sharing the port (each with --threads): CPU-bound handlers need "
                          "more than one to use more than one core."),
        click.option("--token", default="", envvar=TOKEN_ENV, show_envvar=True,
                     help="Require 'Authorization: Bearer TOKEN' on runs (prefer the environment variable)."),
        click.option("--max-body-size", default=DEFAULT_MAX_BODY_SIZE, show_default=True,
                     type=click.IntRange(min=1), metavar="BYTES", help="Larger requests get 413."),
        click.option("--allow", "allow", multiple=True, metavar="PREFIX",
                     help="Let runs read and write under PREFIX (repeatable): a local folder, file://, "
                          "s3://BUCKET[/PREFIX], http(s)://HOST[:PORT][/PREFIX], or '*' for anything. Without it runs "
                          "may read the handler's folder, read and write --out-path, use s3:// with credentials the "
                          "request carries, and read http(s):// on public addresses. "
                          "[env var: MLRUN_SERVE_ALLOW, comma-separated]"),
        click.option("--out-path", default="", metavar="DIR", envvar=OUT_PATH_ENV, show_envvar=True,
                     help="Where runs write their artifacts (a folder or URL); a request may only name a sub-path "
                          "of it. [default: a fresh folder of the function's own under $MLRUN_HOME/serve, printed at "
                          "start]"),
        click.option("--insecure", is_flag=True, envvar="MLRUN_SERVE_INSECURE", show_envvar=True,
                     help="Listen on an address other than loopback without a token (anyone who reaches it runs "
                          "the function)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _check_listen(host: str, token: str, insecure: bool) -> None:
    """One line, exit code 2, before anything is bound or loaded."""
    from ..adapters.wsgi import check_listen

    try:
        check_listen(host, token, insecure)
    except InvalidInputError as exc:
        raise UsageLine(str(exc)) from None


@click.command("serve")
@click.argument("target", metavar="FILE[:HANDLER]")
@serving_options
@click.option("--name", default="", help="Run name when neither the request nor the code names the run "
                                         "(default: the file's name).")
@strict_option("Refuse a request whose spec has a field mlrun does not know (400) instead of leaving the field "
               "out with a warning in the run's log.")
@user_errors
def serve(target, host, port, threads, workers, token, max_body_size, name, allow, out_path, insecure) -> None:
    """Serve a handler over HTTP: POST a run spec, get the run record back.

    HANDLER (default: handler) is a plain fn(ctx) or a nuclio handler(context, event).
    GET /healthz answers {"status": "ok"}. A serving function's spec file (function.yaml,
    kind: serving) serves its models with the V2 inference protocol instead (mlrun serve-model).

    \b
    Example:
      mlrun serve handlers/seed.py:my_func --port 8080
      mlrun run -p p1=5 -s file=secrets.txt http://127.0.0.1:8080
    """
    from ..serving.app import is_serving_spec

    _check_listen(host, token, insecure)
    options = dict(host=host, port=port, threads=threads, token=token, max_body_size=max_body_size, workers=workers,
                   allow=allow or None, out_path=out_path, insecure=insecure)
    if is_serving_spec(target):
        from ..serving.app import serve as serve_models
        from ..serving.spec import ServingSpec

        spec = ServingSpec.from_file(target)
        serve_models(spec, spec.base_dir, **options)
        return
    from ..adapters.flask import serve as serve_handler

    serve_handler(target, name=name, **options)


@click.command("serve-model")
@click.argument("model_uri", metavar="MODEL_URI")
@click.option("--class", "class_name", default="", metavar="NAME",
              help="The model server class, as module.Class [default: mlrun.frameworks.sklearn.SklearnModelServer].")
@click.option("--name", default="", help="The model's name in its routes (default: from the URI).")
@serving_options
@user_errors
def serve_model(model_uri, class_name, name, host, port, threads, workers, token, max_body_size, allow, out_path,
                insecure) -> None:
    """Serve a model with the V2 inference protocol: GET /v2/models/, POST /v2/models/NAME/infer.

    MODEL_URI is a model file or folder, a URL or a store:// model URI; the model's own folder may be
    read. Every model is loaded before the port opens.

    \b
    Example:
      mlrun serve-model model.pkl --port 8080
      curl -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}' http://127.0.0.1:8080/v2/models/model/infer
    """
    from ..serving.app import model_spec
    from ..serving.app import serve as serve_models

    _check_listen(host, token, insecure)
    spec, folder = model_spec(model_uri, class_name, name)
    serve_models(spec, folder, host=host, port=port, threads=threads, token=token, max_body_size=max_body_size,
                 workers=workers, allow=allow or None, out_path=out_path, insecure=insecure)


@click.command("function-config")
@click.argument("target", metavar="FILE[:HANDLER]")
@click.option("--name", default="", help="Function name (default: the file's name, made DNS-safe).")
@click.option("-r", "--requirement", "requirements", multiple=True, metavar="REQ",
              help="A pip requirement to install at build time (repeatable).")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="An environment variable (repeatable).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1), help="HTTP trigger workers.")
@click.option("--max-body-size", default=DEFAULT_MAX_BODY_SIZE, show_default=True, type=click.IntRange(min=1),
              metavar="BYTES", help="The HTTP trigger's request body limit.")
@click.option("--base-image", default="", help="Build on this image (default: nuclio's for the runtime).")
@click.option("--namespace", default="", help="Kubernetes namespace.")
@click.option("--mlrun-requirement", default="", metavar="REQ",
              help="How the build installs mlrun, as a pip requirement (e.g. git+https://HOST/REPO.git); "
                   "instead of the wheel a --bundle ships. (The name mlrun on the package index is another project.)")
@click.option("--bundle", default="", metavar="DIR",
              help="Write a bundle into DIR: function.yaml, the handler file and a wheel of this mlrun, which "
                   "the build installs from /opt/nuclio; deploy with: nuctl deploy --path DIR --file DIR/function.yaml")
@click.option("--extras", default="s3", show_default=True, metavar="LIST",
              help="mlrun extras the bundle's build installs with the wheel (comma-separated; '' for none).")
@click.option("-o", "--output", default="", metavar="PATH", help="Write here (local or s3://) instead of stdout.")
@click.pass_context
@user_errors
def function_config(ctx, target, name, requirements, env, workers, max_body_size, base_image, namespace,
                    mlrun_requirement, bundle, extras, output) -> None:
    """Print a nuclio function config (function.yaml) for a handler file, or write a bundle (--bundle).

    HANDLER (default: handler) must be a nuclio handler(context, event): a plain fn(ctx) is refused
    (exit 2); wrap it in the file, handler = mlrun.adapters.nuclio.nuclio_handler(fn), and deploy
    FILE:handler. Without --bundle, --mlrun-requirement is needed. A serving function's YAML
    (kind: serving) makes a bundle with its models and a V2 serving handler.

    \b
    Example:
      mlrun function-config handlers/seed_nuclio.py:handler --name myfunc --bundle build/myfunc
      nuctl deploy --path build/myfunc --file build/myfunc/function.yaml
    """
    from ..deploy.nuclio import InvalidHandlerError
    from ..params import parse_pairs

    options = dict(name=name, requirements=requirements, env=parse_pairs(env, "--env", typed=False), workers=workers,
                   max_body_size=max_body_size, base_image=base_image, namespace=namespace,
                   mlrun_requirement=mlrun_requirement, extras=[e.strip() for e in extras.split(",") if e.strip()])
    if bundle and output:
        raise InvalidInputError("--bundle writes DIR/function.yaml: leave out --output")
    try:
        _write_config(ctx, target, bundle, output, options)
    except InvalidHandlerError as exc:  # one line, exit 2: the fix is in the message
        raise UsageLine(str(exc)) from None


def _write_config(ctx: click.Context, target: str, bundle: str, output: str, options: dict) -> None:
    from ..deploy.nuclio import config_yaml
    from ..deploy.nuclio import function_config as make_config
    from ..serving.app import is_serving_spec

    if is_serving_spec(target):
        if not bundle:
            raise InvalidInputError(f"{target} is a serving function: it deploys as a bundle (add --bundle DIR)")
        from ..serving.nuclio import write_serving_bundle

        files = write_serving_bundle(target, bundle, _command_line(ctx), **options)
        click.echo(f"wrote {', '.join(files.values())}", err=True)
        return
    if bundle:
        from ..deploy.bundle import write_bundle

        files = write_bundle(target, bundle, _command_line(ctx), **options)
        click.echo(f"wrote {', '.join(files.values())}", err=True)
        return
    config = make_config(target, **options)
    text = config_yaml(config, _command_line(ctx), output or "function.yaml")
    if output:
        from ..datastore import get_item

        get_item(output).put(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _command_line(ctx: click.Context) -> str:
    """The command, canonically spelled with only the options given: it makes the same file again."""
    import shlex

    parts = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            parts.append(value)
        elif value not in (param.default, (), "", None):
            for item in value if param.multiple else [value]:
                parts += [param.opts[-1], str(item)]
    return shlex.join(parts)
