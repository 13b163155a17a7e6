"""The documentation site (mkdocs.yml, docs/): it builds strictly, every page's blocks run from an empty folder,
every page is in the navigation, and the generated references match the code.

The strict build runs here rather than as its own step of scripts/test.sh: ``pytest`` alone (locally, and in
CI, which runs scripts/test.sh) then catches a broken link, and the one build also gives the CLI reference
page its test below.
"""
from __future__ import annotations

import ast
import html
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import click
import pytest
import yaml
from docblocks import block_problems, run_document
from helpers import ROOT

DOCS = Path(ROOT) / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
ENV_NAME = re.compile(r"MLRUN_[A-Z0-9_]*[A-Z0-9]")


@pytest.mark.parametrize("page", PAGES)
def test_page_blocks_run_from_an_empty_folder(page, tmp_path):
    run_document(DOCS / page, tmp_path)


SAMPLE = """\
<!-- docs-test: save-as params.yaml -->
```yaml
p1: 5
```

<!-- docs-test: save-as job.py -->
```python
import os, yaml
open("job-ran", "a").write("x")
print("p1 =", yaml.safe_load(open("params.yaml"))["p1"], os.environ["GREETING"])
```

```bash
test "$(ls -A | tr '\\n' ' ')" = "job.py params.yaml "  # the saved files, nothing else
export GREETING=hello
python job.py | grep -x "p1 = 5 hello"
```

!!! note
    ```python
    import os
    assert os.environ["GREETING"] == "hello" and open("job-ran").read() == "x"
    ```

<!-- docs-test: fails: on purpose -->
```bash
mlrun get run no-such-uid
```

<!-- docs-test: skip: never run -->
```bash
exit 1
```
"""


def test_runner_saves_files_keeps_the_session_and_expects_failures(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(SAMPLE)
    assert run_document(page, tmp_path / "ok") == [13, 20, 26]
    page.write_text(SAMPLE.replace("<!-- docs-test: fails: on purpose -->", ""))  # an error not expected
    with pytest.raises(AssertionError, match=r"page.md:26 \(bash\) exited [1-9]"):
        run_document(page, tmp_path / "bad")


def test_fences_are_tagged_and_markers_known():
    assert [problem for page in PAGES for problem in block_problems(DOCS / page)] == []


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_every_page_is_in_the_navigation_and_every_entry_has_its_page():
    # the base loader: Material's settings may hold !!python/name tags, which only mkdocs resolves
    config = yaml.load(Path(ROOT, "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    nav = _nav_pages(config["nav"])
    assert sorted(set(PAGES) - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(PAGES)) == [], "nav entries without a page under docs/"
    assert len(nav) == len(set(nav)), "a page listed twice in the nav"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built with ``mkdocs build --strict``: a broken link, anchor or reference fails it."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           os.path.join(ROOT, "mkdocs.yml"), "-d", str(out)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return out


def _commands(command: click.Command, ctx: click.Context):
    """(context, command) for the command and every command under it, as ``mlrun`` finds them."""
    yield ctx, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def test_site_builds_strictly_and_the_cli_reference_has_every_option(site):
    from mlrun.cli import cli

    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    headings = {m.group(1): m.start() for m in re.finditer(r'<h\d id="(mlrun[\w-]*)"', page)}
    missing, checked = [], 0
    for ctx, command in _commands(cli, click.Context(cli, info_name="mlrun")):
        slug = ctx.command_path.replace(" ", "-")
        if slug not in headings:
            missing.append(f"{ctx.command_path}: no section")
            continue
        after = [pos for pos in headings.values() if pos > headings[slug]]
        section = html.unescape(re.sub(r"<[^>]+>", "", page[headings[slug]:min(after, default=len(page))]))
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            option = isinstance(param, click.Option)
            for name in param.opts + param.secondary_opts if option else [param.human_readable_name]:
                checked += 1
                if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", section):
                    missing.append(f"{ctx.command_path}: {name}")
    assert missing == [], "docs/reference/cli.md does not show what the commands take"
    assert checked > 50, checked  # the walk found the commands' options


def test_the_python_api_reference_has_every_public_name(site):
    import mlrun

    page = (site / "reference" / "python-api" / "index.html").read_text(encoding="utf-8")
    shown = {name.rsplit(".", 1)[-1] for name in re.findall(r'id="(mlrun\.[\w.]+)"', page)}
    aliases = {"MLClientCtx": "RunContext", "NewRun": "new_task"}  # the 2019 names, said beside the new ones
    public = {aliases.get(name, name) for name in mlrun.__all__ if name != "__version__"}
    assert sorted(public - shown) == [], "mlrun's public names missing from docs/reference/python-api.md"


def _is_config(node) -> bool:
    """``app.config``, ``current_app.config`` or a local ``config``: Flask's settings, not the environment."""
    return (isinstance(node, ast.Attribute) and node.attr == "config"
            or isinstance(node, ast.Name) and node.id == "config")


def environment_variables() -> dict[str, set[str]]:
    """Every ``MLRUN_*`` name the code spells as a string (read from the environment, or named for a
    command's option), and the modules that name it; keys of Flask's ``app.config`` are not variables."""
    found = defaultdict(set)
    for path in sorted(Path(ROOT, "mlrun").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        config_keys = {id(node.slice) for node in ast.walk(tree)
                       if isinstance(node, ast.Subscript) and _is_config(node.value)}
        config_keys |= {id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call) and node.args
                        and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                        and _is_config(node.func.value)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.fullmatch(node.value) \
                    and id(node) not in config_keys:
                found[node.value].add(path.relative_to(ROOT).as_posix())
    return found


def test_environment_reference_lists_every_variable_the_code_reads():
    table = [line for line in (DOCS / "reference" / "environment.md").read_text().splitlines() if line.startswith("|")]
    documented = {name for line in table for name in ENV_NAME.findall(line.split("|")[1])}
    code = set(environment_variables())
    assert len(code) > 40, sorted(code)
    assert sorted(code - documented) == [], "variables missing from docs/reference/environment.md's table"
    assert sorted(documented - code) == [], "variables in docs/reference/environment.md that no code reads"
