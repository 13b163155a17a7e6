"""The package's shape: the layer order of docs/development.md's layout, no import cycles, short functions, ruff.

Every import in ``mlrun/`` (those inside functions too) is read with ``ast``; a module may import from its
own layer or a lower one, never from a higher one, and no two modules may import each other, directly or
through others.  ``mlrun/__init__.py`` and ``__main__.py`` are the package's front door (they re-export the
public entry points and start the CLI) and stand outside the order.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "mlrun")

#: bottom to top, as docs/development.md's layout section writes them down; a package name covers its modules
LAYERS = [
    ["errors", "config", "utils"],
    ["registry", "model", "params", "secrets", "templates"],
    ["policy", "protocol", "transport"],
    ["datastore"],
    ["rundb"],
    ["context", "artifacts", "lifecycle", "loader", "execution", "runobject"],
    ["runtimes"],
    ["hyper"],
    ["run", "gc"],
    ["kfp", "adapters", "deploy", "server"],
    ["functions", "launcher", "serving", "frameworks"],
    ["projects"],
    ["cli"],
]
FRONT_DOOR = {"mlrun", "mlrun.__main__"}
MAX_FUNCTION_LINES = 50
#: what the restructuring has not reached yet, each to be taken off as it is fixed (the tests fail on anything
#: new, and on an entry that no longer holds, so these lists only shrink):
KNOWN_UPWARD: set[str] = set()
KNOWN_CYCLES: set[str] = set()
KNOWN_LONG: set[str] = set()


def modules() -> dict[str, str]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


def layer_of(module: str) -> int | None:
    if module in FRONT_DOOR:
        return None
    top = module.split(".")[1]
    for number, names in enumerate(LAYERS):
        if top in names:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to the layout section of docs/development.md")


def imports_of(module: str, path: str, known: dict) -> set[str]:
    """The package's modules ``module`` imports, anywhere in its file."""
    with open(path, encoding="utf-8") as fp:
        tree = ast.parse(fp.read(), filename=path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # ``from .x import y``: y is a module, else a name in module x (``from . import name``: the package)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def test_every_module_has_a_layer_and_no_import_points_up():
    upward = []
    for module, imported in sorted(import_graph().items()):
        here = layer_of(module)
        if here is None:
            continue
        for target in sorted(imported):
            there = layer_of(target)
            if there is not None and there > here:
                upward.append(f"{module} (layer {here}) imports {target} (layer {there})")
    assert set(upward) == KNOWN_UPWARD, "\n".join(sorted(set(upward) ^ KNOWN_UPWARD))


def test_no_import_cycles():
    graph = {m: {t for t in targets if t not in FRONT_DOOR} for m, targets in import_graph().items()
             if m not in FRONT_DOOR}
    cycles = {" <-> ".join(group) for group in strongly_connected(graph)}
    assert cycles == KNOWN_CYCLES, "\n".join(sorted(cycles ^ KNOWN_CYCLES))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (Tarjan's algorithm), each sorted; only groups of two or more."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def long_functions() -> list[str]:
    found = []
    for module, path in sorted(modules().items()):
        with open(path, encoding="utf-8") as fp:
            tree = ast.parse(fp.read(), filename=path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # from the def line: decorators excluded
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{module}.{node.name}")
    return found


def test_no_function_is_longer_than_50_lines():
    found = set(long_functions())
    assert found == KNOWN_LONG, "\n".join(sorted(found ^ KNOWN_LONG))


def test_the_checker_sees_upward_imports_and_cycles(tmp_path):
    """The graph walk itself: relative imports resolve, a cycle is found."""
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "mlrun.protocol" in graph["mlrun.adapters.nuclio"]  # from ..protocol import ...
    assert "mlrun.cli" in graph["mlrun.cli.run"]  # from . import user_errors
    assert layer_of("mlrun.cli.run") > layer_of("mlrun.run") > layer_of("mlrun.context") > layer_of("mlrun.model")


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    assert ruff, "ruff is part of the test extra: pip install -e '.[test]'"
    done = subprocess.run([ruff, "check", "--no-cache", "mlrun", "tests", "bench"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
