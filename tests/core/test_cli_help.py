"""The command line's help: every option explained, environment variables shown (the generated CLI reference
page is checked against the commands in tests/test_docs.py)."""

import click
import pytest
from helpers import mlrun_cli

from mlrun.cli import cli


def commands() -> dict[str, click.Command]:
    """Every command, by its path under ``mlrun`` ("get runs"), as ``mlrun -h`` lists them."""
    found = {}

    def walk(group: click.Group, ctx: click.Context, path: str) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            sub = click.Context(command, info_name=name, parent=ctx)
            if isinstance(command, click.Group):
                walk(command, sub, f"{path}{name} ")
            else:
                found[f"{path}{name}"] = command

    walk(cli, click.Context(cli, info_name="mlrun"), "")
    return found


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def test_every_option_has_help():
    missing = {(name, option.opts[-1] if option.opts[-1].startswith("--") else option.opts[0])
               for name, command in commands().items() for option in options(command) if not option.help}
    assert not missing, f"options without help: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_environment_variable_an_option_reads_is_in_the_commands_help(name):
    command = commands()[name]
    ctx = click.Context(command, info_name=name, max_content_width=100)
    helptext = command.get_help(ctx)
    for option in options(command):
        names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
        for var in names:
            assert var in helptext, f"mlrun {name} {option.opts[0]}: {var} not in the help"


@pytest.mark.parametrize("name", ["get runs", "get run", "logs", "delete run", "run"])
def test_db_shows_mlrun_dbpath_wherever_it_is_taken(name):
    result = mlrun_cli(*name.split(), "-h")
    assert result.returncode == 0
    # its help, up to the next option (--rundb: the seed system's spelling of --db)
    db = " ".join(result.stdout.split(" --db, --rundb URL ", 1)[1].split(" -", 1)[0].split())
    assert "[env var: MLRUN_DBPATH]" in db and "MLRUN_META_DBPATH" in db


def test_mlrun_alone_prints_the_whole_help_and_succeeds():
    result = mlrun_cli(env={"COLUMNS": "80"})
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == mlrun_cli("--help", env={"COLUMNS": "80"}).stdout
    listed = " ".join(result.stdout[result.stdout.index("Commands:"):].split())
    assert "..." not in listed  # descriptions wrap, never cut
    for name in ("run", "serve", "server", "function-config"):
        first = commands()[name].help.split("\n\n")[0]
        assert " ".join(first.split()) in listed, name
