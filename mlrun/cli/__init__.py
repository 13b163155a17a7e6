"""The ``mlrun`` command line: a thin layer over the Python API (``mlrun.run``, ``mlrun.rundb``, ...).

This module holds the root group, ``main`` and what every command shares (``user_errors``, the UTF-8
check); each command lives in a module of this package (``run``, ``runs``, ``serve``, ``server``, ``gc``),
imported only when invoked or listed, and found through the ``COMMANDS`` registry (entry-point group
``mlrun.commands``), so ``mlrun --help`` and every command stay fast.
"""
from __future__ import annotations

import functools
import os
import sys

import click

from .. import __version__
from ..errors import InvalidInputError, MLRunError
from ..registry import Registry, missing_extra

#: command name -> (click command, "module:attribute" or "module:" for the attribute named after it, pip extra)
COMMANDS = Registry("the mlrun {name} command", "mlrun.commands", {
    "run": ("mlrun.cli.run:", ""),
    ("get", "logs", "delete"): ("mlrun.cli.runs:", ""),
    ("serve", "function-config", "serve-model"): ("mlrun.cli.serve:", ""),
    "server": ("mlrun.cli.server:", ""),
    "gc": ("mlrun.cli.gc:", ""),
    "project": ("mlrun.cli.project:", ""),
}, lower=False)


def user_errors(fn):
    """Show mlrun errors as one line: usage errors exit 2, failures exit 1; no tracebacks.

    A missing optional module names the extra that provides it; a reader that closed our stdout
    (``mlrun get run UID | head``) ends the command quietly (``closed_stdout``).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InvalidInputError as exc:
            raise click.UsageError(str(exc)) from None
        except BrokenPipeError:
            closed_stdout()
        except ModuleNotFoundError as exc:
            ctx = click.get_current_context(silent=True)
            raise click.ClickException(str(missing_extra(exc, ctx.command_path if ctx else "mlrun") or exc)) from None
        except (MLRunError, ImportError, OSError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def closed_stdout() -> None:
    """Exit quietly (code 1, as Python's own advice has it) once whoever read our stdout has gone.

    Later writes, and the interpreter's flush at exit, go to the null device instead of raising again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured): nothing left to flush
        pass
    sys.exit(1)


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


def show_envvars(command: click.Command) -> click.Command:
    """Show, in ``command``'s help, the environment variable each option reads (``[env var: NAME]``).

    One rule for every command, so an option such as ``--db`` (``MLRUN_DBPATH``) says it wherever it is
    taken; an option whose help already names its variable keeps its own wording.
    """
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar and not param.show_envvar:
            names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
            param.show_envvar = not any(name in (param.help or "") for name in names)
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


def strict_option(help_text: str):
    """``--strict`` (or ``$MLRUN_STRICT_SPEC``): specs with unknown fields are refused by this process and by the
    processes it starts (they inherit the variable), instead of losing the field with a warning."""
    from ..model import STRICT_SPEC_ENV

    def set_strict(ctx, param, value):
        if value:
            os.environ[STRICT_SPEC_ENV] = "1"

    return click.option("--strict", is_flag=True, envvar=STRICT_SPEC_ENV, show_envvar=True, expose_value=False,
                        callback=set_strict, help=help_text)


class TargetCommand(click.Command):
    """A command whose options come before its target; what follows the target is the target's own arguments.

    Options after the target pass through untouched, but an unknown option before it is a mistyped one:
    refused as click refuses any, with its "did you mean" (``--parm``), not taken for the target.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = {name: param for param in self.get_params(ctx) if isinstance(param, click.Option)
                 for name in param.opts + param.secondary_opts}
        rest = iter(args)
        for arg in rest:
            if arg == "--" or not arg.startswith("-") or arg == "-":
                break  # the target: the rest is its own
            name = arg.partition("=")[0] if arg.startswith("--") else arg[:2]
            param = known.get(name)
            if param is None:
                raise click.NoSuchOption(name, possibilities=list(known), ctx=ctx)
            if not (param.is_flag or param.count) and arg == name:  # its value is the next argument
                next(rest, None)
        return super().parse_args(ctx, args)


class Group(click.Group):
    """A command group whose commands refuse arguments that are not valid UTF-8 (``refuse_undecodable``)."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """A mistyped command name suggests the nearest one (``mlrun gte``: did you mean ``get``)."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            import difflib

            name = args[0] if args else ""
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.5)
            if not close or name in self.list_commands(ctx):
                raise
            raise click.UsageError(f"No such command {name!r}. Did you mean {close[0]!r}?", ctx) from None

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None or isinstance(command, click.Group):
            return command
        return refuse_undecodable(show_envvars(command))

    def format_commands(self, ctx, formatter):
        """The commands with their whole first paragraph, wrapped rather than cut at the terminal's width."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(Group):
    """Commands come from the ``COMMANDS`` registry, imported only when invoked (``--help`` stays fast)."""

    def list_commands(self, ctx):
        # the built-in commands and those registered in-process: a plug-in's command (entry point) runs by its
        # name, but reading every installed package's entry points would cost ``--help`` half its time
        return sorted({*super().list_commands(ctx), *COMMANDS.registered()})

    def get_command(self, ctx, name):
        if name in COMMANDS:
            command = COMMANDS.get(name)
            return command if isinstance(command, click.Group) else refuse_undecodable(show_envvars(command))
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, message="mlrun %(version)s")  # right even where installed metadata is stale
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run ML code anywhere with one run context, and record every run.

    \b
    Runs are stored in $MLRUN_DBPATH (default ~/.mlrun/db; --db on each command),
    a run server's token is read from $MLRUN_TOKEN. `mlrun COMMAND -h` tells more.
    """
    if ctx.invoked_subcommand is None:  # ``mlrun`` alone: the help, and success (it is what was asked for)
        click.echo(ctx.get_help())


def main() -> None:
    try:
        cli(prog_name="mlrun")
    except BrokenPipeError:  # help or a listing cut short by ``| head``
        closed_stdout()


if __name__ == "__main__":
    main()
