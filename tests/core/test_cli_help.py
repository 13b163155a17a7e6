"""The command line's help: every option explained, environment variables shown, and the README in agreement."""
import os
import re

import click
import pytest
from helpers import ROOT, mlrun_cli

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


def readme_synopsis() -> dict[str, set[str]]:
    """The options the README's CLI block lists for each command (``mlrun CMD ...`` lines and their indented rest)."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fp:
        text = fp.read()
    section = text[text.index("\n## CLI\n"):]
    start = section.index("```text\n") + 8
    block = section[start:section.index("\n```", start)]
    lines: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if line.startswith("mlrun "):
            words = line.split()[1:]
            name = " ".join(words[:2] if words[0] in ("get", "delete") else words[:1])
            lines[name] = line
        else:
            assert line.startswith("    ") and name, f"README CLI block: a line outside a command: {line!r}"
            lines[name] += " " + line
    return {name: set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line.split(" ", 1 + name.count(" "))[-1]))
            for name, line in lines.items()}


def test_the_readme_lists_every_command_and_option_and_no_other():
    readme, known = readme_synopsis(), commands()
    assert set(readme) == set(known)
    for name, command in known.items():
        spellings = {opt for option in options(command) for opt in option.opts}
        assert readme[name] <= spellings, f"mlrun {name}: the README lists options it lacks"
        missing = [option.opts[0] for option in options(command) if not set(option.opts) & readme[name]]
        assert not missing, f"mlrun {name}: the README does not list {missing}"


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
