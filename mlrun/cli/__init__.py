"""The ``mlrun`` command line: a thin layer over the Python API (``mlrun.run``, ``mlrun.rundb``, ...).

This module holds the root group, ``main`` and what every command shares (``user_errors``, the UTF-8
check); each command lives in a module of this package (``run``, ``runs``, ``serve``, ``server``),
imported only when invoked or listed, and found through the ``COMMANDS`` registry (entry-point group
``mlrun.commands``), so ``mlrun --help`` and every command stay fast.
"""
from __future__ import annotations

import functools

import click

from ..errors import InvalidInputError, MLRunError
from ..registry import Registry

#: command name -> (click command or "module:attribute", pip extra)
COMMANDS = Registry("the mlrun {name} command", "mlrun.commands", {
    "run": ("mlrun.cli.run:run", ""),
    "get": ("mlrun.cli.runs:get", ""),
    "logs": ("mlrun.cli.runs:logs", ""),
    "delete": ("mlrun.cli.runs:delete", ""),
    "serve": ("mlrun.cli.serve:serve", ""),
    "function-config": ("mlrun.cli.serve:function_config", ""),
    "server": ("mlrun.cli.server:server", ""),
}, lower=False)


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


class UsageLine(click.ClickException):
    """A usage error told in one line (no usage text), exit code 2."""

    exit_code = 2


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
    """Commands come from the ``COMMANDS`` registry, imported only when invoked (``--help`` stays fast)."""

    def list_commands(self, ctx):
        # the built-in commands and those registered in-process: a plug-in's command (entry point) runs by its
        # name, but reading every installed package's entry points would cost ``--help`` half its time
        return sorted({*super().list_commands(ctx), *COMMANDS.registered()})

    def get_command(self, ctx, name):
        if name in COMMANDS:
            command = COMMANDS.get(name)
            return command if isinstance(command, click.Group) else refuse_undecodable(command)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlrun", message="mlrun %(version)s")
def cli() -> None:
    """Run ML code anywhere with one run context, and record every run.

    \b
    Runs are stored in $MLRUN_DBPATH (default ~/.mlrun/db).
    """


def main() -> None:
    cli(prog_name="mlrun")


if __name__ == "__main__":
    main()
